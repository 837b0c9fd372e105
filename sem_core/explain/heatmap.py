"""The typed result of an explanation, and the numerics that keep it finite.

Kept free of TensorFlow so overlays and the pointing game can be used (and imported quickly)
without loading a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

EPSILON = 1e-7


class CamMethod(str, Enum):
    """Which class activation map to compute."""

    GRADCAM = "gradcam"
    GRADCAM_PLUS_PLUS = "gradcampp"
    SCORECAM = "scorecam"  # the fast variant: only the max_n most varied channels are scored
    LAYERCAM = "layercam"  # each position weighted by its own positive gradient (Jiang et al. 2021)


DEFAULT_CAM_METHOD = CamMethod.LAYERCAM
"""What the app, the ``explain`` command and ``BundleExplainer`` show unless asked otherwise: on
the shipped default's recorded layer its peak lands on the defect 0.955 (stage 1) and 0.950
(stage 2) of the time, against 0.745 and 0.785 for Grad-CAM++ and 0.15 and 0.38 for Grad-CAM
(200 seed-777 defect images, benchmarks/results/cascade.json), at the same cost. ``Explainer``
itself keeps Grad-CAM as its default, the method's reference point."""


@dataclass(frozen=True, eq=False)
class HeatMap:
    """Where the model looked for one image and one class.

    Attributes:
        heatmap: Read-only float32 (height, width) in [0, 1] at the model's input size; all
            zeros when the map is flat (no evidence for the class anywhere).
        method: The method that made it.
        class_index: Explained output class (for a sigmoid stage-1 model 0 = Clean,
            1 = Defective).
        probability: The model's probability of that class for this image.
        layer_name: The feature-map layer the map was computed on.
        seconds: Wall time per image of the explanation (batch time / batch size).
    """

    heatmap: np.ndarray
    method: CamMethod
    class_index: int
    probability: float
    layer_name: str
    seconds: float

    @property
    def peak(self) -> tuple[int, int]:
        """(row, column) of the hottest pixel (the first one when tied)."""
        row, column = np.unravel_index(int(np.argmax(self.heatmap)), self.heatmap.shape)
        return int(row), int(column)


def normalise_maps(maps: np.ndarray) -> np.ndarray:
    """Scale each (height, width) map of a batch to [0, 1]; flat or non-finite maps become 0.

    Args:
        maps: Array (batch, height, width).

    Returns:
        Float32 array of the same shape, finite, in [0, 1].
    """
    maps = np.nan_to_num(np.asarray(maps, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    scaled = (maps - low) / np.maximum(span, EPSILON)
    return np.clip(np.where(span > EPSILON, scaled, 0.0), 0.0, 1.0).astype(np.float32)
