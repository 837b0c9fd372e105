"""The pointing game: does the hottest pixel of a heat map fall on the defect?

For each image with a defect mask, the heat map's peak is mapped to the mask's pixel grid and
counts as a hit when it lies within ``dilation_px`` pixels (Euclidean) of a defect pixel, i.e.
inside the mask dilated by a disk of that radius. The tolerance forgives the coarse resolution
of a feature map (Zhang et al., "Top-down neural attention by excitation backprop", used 15 px
at 224 px input). A flat heat map points nowhere and counts as a miss; an empty mask (a clean
image) has nothing to point at and is skipped. The hit rate carries a Wilson interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sem_core.explain.heatmap import EPSILON, HeatMap
from sem_core.stats import Proportion, wilson_interval


@dataclass(frozen=True)
class PointingResult:
    """Outcome of the pointing game over a set of images.

    Attributes:
        hits: Images whose heat-map peak falls on the (dilated) defect.
        total: Images played (those with a non-empty mask).
        skipped: Images with an empty mask, not played.
        proportion: hits / total with its Wilson interval.
    """

    hits: int
    total: int
    skipped: int
    proportion: Proportion

    @property
    def rate(self) -> float:
        """Share of played images that were hits (0.0 when none were played)."""
        return self.proportion.rate


def peak_in_mask_grid(heatmap: np.ndarray, mask_shape: tuple[int, int]) -> tuple[int, int] | None:
    """The heat map's hottest pixel, in the pixel grid of a mask of another size.

    Args:
        heatmap: Float (height, width) heat map.
        mask_shape: (height, width) of the mask.

    Returns:
        (row, column) in mask coordinates (pixel centres scaled), or None for a flat heat map.
    """
    values = np.nan_to_num(np.asarray(heatmap, dtype=np.float64), nan=-np.inf)
    if values.size == 0 or not np.isfinite(values.max()) or values.max() - values.min() <= EPSILON:
        return None
    row, column = np.unravel_index(int(np.argmax(values)), values.shape)
    scale_row, scale_column = mask_shape[0] / values.shape[0], mask_shape[1] / values.shape[1]
    return (min(int((row + 0.5) * scale_row), mask_shape[0] - 1),
            min(int((column + 0.5) * scale_column), mask_shape[1] - 1))


def points_at(heatmap: np.ndarray, mask: np.ndarray, dilation_px: float) -> bool:
    """Whether the heat map's peak lies within ``dilation_px`` of a true pixel of ``mask``."""
    defect = np.argwhere(np.asarray(mask, dtype=bool))
    peak = peak_in_mask_grid(heatmap, np.shape(mask))
    if peak is None or defect.size == 0:
        return False
    distance_squared = ((defect - np.asarray(peak)) ** 2).sum(axis=1).min()
    return bool(distance_squared <= dilation_px ** 2)


def pointing_game(heatmaps: Sequence[HeatMap | np.ndarray], masks: Sequence[np.ndarray],
                  dilation_px: float = 15.0, confidence: float = 0.95) -> PointingResult:
    """Score how often heat maps point at the defect.

    Args:
        heatmaps: One ``HeatMap`` or float (h, w) array per image.
        masks: One boolean defect mask per image, at the original image size (may differ from
            the heat map's size).
        dilation_px: Tolerance in mask pixels around the defect. Default: 15.0.
        confidence: Level of the Wilson interval. Default: 0.95.

    Returns:
        A ``PointingResult``.

    Raises:
        ValueError: When the counts differ, a mask is not 2-D, or ``dilation_px`` < 0.
    """
    if len(heatmaps) != len(masks):
        raise ValueError(f"Received {len(heatmaps)} heat maps for {len(masks)} masks; "
                         "they must match one to one.")
    if dilation_px < 0:
        raise ValueError(f"dilation_px must be >= 0; received `dilation_px={dilation_px}`.")
    hits = played = 0
    for index, (heatmap, mask) in enumerate(zip(heatmaps, masks)):
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim != 2:
            raise ValueError(f"masks[{index}] must be a (height, width) array; "
                             f"received shape {mask.shape}.")
        if not mask.any():
            continue
        played += 1
        values = heatmap.heatmap if isinstance(heatmap, HeatMap) else heatmap
        hits += points_at(values, mask, dilation_px)
    return PointingResult(hits, played, len(masks) - played,
                          wilson_interval(hits, played, confidence))
