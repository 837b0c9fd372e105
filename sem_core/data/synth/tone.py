"""Tone mapping to uint8 (spec B4.6).

The defect never sets the grey scale. Version 1 (``hard``) takes the percentiles from the pixels
outside the dilated defect mask; that region also holds designed features, so where they are
the darkest or brightest of the scene (a logic close-up's landings around a via defect) leaving
them out moves the whole image's grey scale by class. ``standard`` (synth-sem 2.7) takes them
from the clean scene's noisy render, every pixel (``Preset.scene_tone``), so an image and its
clean twin share one mapping that no defect can move.
"""

from __future__ import annotations

import numpy as np

from sem_core.data.synth.imaging_params import ImagingParams

HIGH_PERCENTILE = 99.7
EPSILON = 1e-9


def tone_range(
    image: np.ndarray, exclude: np.ndarray | None, params: ImagingParams
) -> tuple[float, float]:
    """(p_lo, p_hi) of the pixels outside ``exclude`` (all pixels if it is None or too few
    remain)."""
    pool = image.ravel() if exclude is None else image[~exclude]
    if pool.size < 0.1 * image.size:
        pool = image.ravel()
    low, high = np.percentile(pool, [params.tone_low_percentile, HIGH_PERCENTILE])
    return float(low), float(max(high, low + EPSILON))


def tone_map(image: np.ndarray, exclude: np.ndarray, params: ImagingParams) -> np.ndarray:
    """Map the noisy signal linearly to [o_lo, o_hi], clip, apply gamma, quantise to uint8.

    Args:
        image: Float signal (H, W).
        exclude: Boolean (H, W) dilated defect mask whose pixels do not set the range.
        params: Tone parameters (low percentile, output range, gamma).

    Returns:
        uint8 (H, W).
    """
    return apply_tone(image, tone_range(image, exclude, params), params)


def apply_tone(
    image: np.ndarray, tone: tuple[float, float], params: ImagingParams
) -> np.ndarray:
    """Map ``image`` linearly from ``tone`` = (p_lo, p_hi) to [o_lo, o_hi], clip, apply gamma,
    quantise to uint8."""
    low, high = tone
    span = params.tone_out_high - params.tone_out_low
    mapped = params.tone_out_low + (image - low) * (span / (high - low))
    mapped = np.clip(mapped, 0.0, 1.0) ** params.tone_gamma
    return np.rint(mapped * 255.0).astype(np.uint8)
