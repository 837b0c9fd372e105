"""The choices of deployment as string enums, and the parity gate's limits.

``ExportFormat`` (onnx, litert) and ``Precision`` (float32, float16, int8) name an export;
``Runtime`` names what runs a bundle's cascade (keras, onnx, litert, or auto: the fastest that
passed its gate). ``ParityLimits`` holds the figures an export must meet against the Keras
models it came from before it may be used.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ExportFormat(str, Enum):
    """Portable model formats an export can write."""

    ONNX = "onnx"
    LITERT = "litert"

    @property
    def suffix(self) -> str:
        """File suffix of a model in this format."""
        return ".onnx" if self is ExportFormat.ONNX else ".tflite"


class Precision(str, Enum):
    """Numeric precision of an exported model's weights (int8: activations too)."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"
    INT8 = "int8"


class Runtime(str, Enum):
    """What runs a bundle's models: Keras, an exported format's runtime, or the fastest passed."""

    AUTO = "auto"
    KERAS = "keras"
    ONNX = "onnx"
    LITERT = "litert"

    @property
    def export_format(self) -> ExportFormat | None:
        """The export format this runtime runs, None for keras and auto."""
        return {Runtime.ONNX: ExportFormat.ONNX, Runtime.LITERT: ExportFormat.LITERT}.get(self)


def parse_choice(enum_type: type[Enum], value: object, argument: str):
    """``enum_type(value)``, or a ValueError that quotes the value and lists the choices."""
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(str(value).lower())
    except ValueError:
        choices = ", ".join(member.value for member in enum_type)
        raise ValueError(f"Received `{argument}={value!r}`; expected one of {choices}.") from None


@dataclass(frozen=True)
class ParityLimits:
    """What an export must meet on the gate's images, stage by stage and end to end.

    Attributes:
        max_abs_difference: float32 only: largest absolute difference of any probability from
            the Keras model's. Default: 1e-4.
        min_agreement: float16/int8: share of images whose decision (stage-1 threshold, stage-2
            top class, final cascade label) matches Keras'. Default: 0.995.
        max_macro_f1_difference: float16/int8: how far the export's macro-F1 against the true
            labels may lie from Keras', either way (0.005 = half a point). Default: 0.005.
    """

    max_abs_difference: float = 1e-4
    min_agreement: float = 0.995
    max_macro_f1_difference: float = 0.005


DEFAULT_LIMITS = ParityLimits()
