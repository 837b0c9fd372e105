"""Configuration of the synthetic SEM generator: version, choices (str enums) and ``SynthConfig``.

Lengths in the specification are given for a 224-px field; ``field_scale`` converts them to any
other output size so that a 64-px image looks like a downscaled 224-px one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

GENERATOR_VERSION = "synth-sem 2.7.0"
"""Bumped whenever a change alters the pixels produced for a given seed."""

REFERENCE_SIZE = 224
"""The field size (px) for which every length in the specification is stated."""


class Difficulty(str, Enum):
    """Difficulty preset (spec B6): ``standard`` (default) keeps every defect visible and
    recognisable; ``hard`` reproduces version 1 of the specification."""

    STANDARD = "standard"
    HARD = "hard"


class View(str, Enum):
    """How the sample is seen (spec section 4); the same rates in every class."""

    TOP_DOWN = "top_down"
    CROSS_SECTION = "cross_section"
    BLANKET = "blanket"


class Family(str, Enum):
    """Top-down pattern family (spec B1); cross-section and blanket views record their own."""

    LINE_SPACE = "line_space"
    VIA_ARRAY = "via_array"
    LOGIC = "logic"
    STACK = "stack"  # cross-section: films, lines end-on, plugs, optional bump
    FILM = "film"  # blanket film with an array edge


class Look(str, Enum):
    """Material appearance (spec B2), independent of the class."""

    RESIST_ADI = "resist_adi"
    ETCHED_AEI = "etched_aei"
    METAL_CMP = "metal_cmp"
    VC_MODE = "vc_mode"


class Magnification(str, Enum):
    """Pitch regime: low-magnification overview, normal, high-magnification close-up."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class NoiseModel(str, Enum):
    """Shot-noise statistics (spec B4.5)."""

    POISSON = "poisson"
    GAMMA = "gamma"


class LabelNoiseMode(str, Enum):
    """How observed labels are corrupted on the training split (spec C4)."""

    SYMMETRIC = "symmetric"
    STRUCTURED = "structured"


@dataclass(frozen=True)
class SynthConfig:
    """What to generate; everything else is drawn from the per-image seed streams.

    Attributes:
        size: Output image side in px. Default: 224.
        supersample: Supersampling factor of the rendering canvas (2 or 3). Default: 2.
        label_noise_rate: Probability that a training label is flipped. Default: 0.0.
        label_noise_mode: Symmetric or confusion-structured flips. Default: symmetric.
        presentation: Apply the figure-crop presentation layer (annotations, borders, resolution
            mix) after tone mapping. Default: True.
        ease: Moves every image's hardness draws toward the easy end, for curricula and
            demonstrations: 0 follows the preset; 1 gives each defect its largest size
            (z = 1), full visibility (v = 1) and the preset's top SNR. In between, each draw
            moves that fraction of the way (z and v linearly, SNR on a log scale). The same
            uniforms are drawn either way, so scenes, placements and twins stay the same.
            Default: 0.
        difficulty: ``standard`` (every defect meets the visibility contract, spec B6/B7) or
            ``hard`` (version 1's ranges and variety). ``standard`` frames review close-ups
            of a narrower variety (``presets.Preset``). Default: standard.
        tool: A tool profile (``sem_core.data.synth.tools``): ``mixed`` (the preset's own
            framing and variety), or one tool's narrower mix, for domain-shift benchmarks.
            Default: mixed.
    """

    size: int = REFERENCE_SIZE
    supersample: int = 2
    label_noise_rate: float = 0.0
    label_noise_mode: LabelNoiseMode = LabelNoiseMode.SYMMETRIC
    presentation: bool = True
    ease: float = 0.0
    difficulty: Difficulty = Difficulty.STANDARD
    tool: str = "mixed"

    def __post_init__(self) -> None:
        from sem_core.data.synth.tools import tool_profile

        try:
            tool_profile(self.tool)
        except ValueError as error:
            raise ValueError(f"SynthConfig: {error} Received `tool={self.tool}`.") from None
        try:
            object.__setattr__(self, "difficulty", Difficulty(self.difficulty))
        except ValueError:
            choices = ", ".join(d.value for d in Difficulty)
            raise ValueError(
                f"SynthConfig: difficulty must be one of {choices}. "
                f"Received `difficulty={self.difficulty}`."
            ) from None
        if not 0.0 <= self.ease <= 1.0:
            raise ValueError(f"SynthConfig: ease must be in [0, 1]. Received `ease={self.ease}`.")
        if not 16 <= self.size <= 2048:
            raise ValueError(f"SynthConfig: size must be 16..2048 px. Received `size={self.size}`.")
        if self.supersample not in (1, 2, 3):
            raise ValueError(
                "SynthConfig: supersample must be 1, 2 or 3. "
                f"Received `supersample={self.supersample}`."
            )
        if not 0.0 <= self.label_noise_rate < 1.0:
            raise ValueError(
                "SynthConfig: label_noise_rate must be in [0, 1). "
                f"Received `label_noise_rate={self.label_noise_rate}`."
            )
        object.__setattr__(self, "label_noise_mode", LabelNoiseMode(self.label_noise_mode))


def field_scale(size: int) -> float:
    """Return the factor that converts spec lengths (224-px field) to px of a ``size`` field."""
    return size / REFERENCE_SIZE
