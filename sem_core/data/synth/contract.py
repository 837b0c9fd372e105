"""The visibility contract (spec B7): how far a defect stands out of the noise, in grey levels.

Both the defect image and its clean twin are taken without noise (counts = lambda), through the
same detector lag, and tone-mapped with the one mapping the real image uses (its range comes
from pixels the defect cannot have changed, so it is the twin's too). With Delta the per-pixel
difference and sigma_n the noise standard deviation in the same grey levels:

* d' = sqrt(sum over M of Delta^2) / sigma_n, the matched-filter detectability of the defect
  at a known place, and
* C-half = mean of the upper half of Delta over M / sigma_n, how far the defect's own pixels
  stand out (a large, faint smear cannot pass on area alone), and
* the area of M, so that a defect of a few pixels, visible to a matched filter, is still big
  enough for a person to see what it is (``Preset.min_area``; 0 in ``hard``; half of it is
  enough for a defect whose C-half reaches ``SMALL_AREA_C_HALF``).

M is the defect's visible mask (every pixel whose scene maps the defect changed noticeably,
lips, rims and halos included), carried through drift and scan like the pixels. It is not grown
further: the tone map's exclusion zone reaches as far as bloom, PSF and lag can, and counting
those far pixels would dilute C-half with pixels the defect barely touches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sem_core.classes import DefectClass
from sem_core.data.synth.config import REFERENCE_SIZE
from sem_core.data.synth.imaging_params import ImagingParams
from sem_core.data.synth.presets import Preset

MAX_TRIES = 8
"""Tries per defect image (the first draw and up to seven redraws), spec B7.4."""
EPSILON = 1e-9


@dataclass(frozen=True)
class ContractResult:
    """The contract figures of one defect image (all None for Clean images).

    Attributes:
        d_prime: Matched-filter detectability of the defect.
        c_half: Mean of the upper half of the change over M, in noise sigmas.
        noise_sigma: Noise standard deviation in output grey levels (0-255).
        tries: Defect draws made (1 when the first passed).
        met: Both figures reached the preset's thresholds.
    """

    d_prime: float | None = None
    c_half: float | None = None
    noise_sigma: float | None = None
    tries: int = 0
    met: bool | None = None

    def to_dict(self) -> dict:
        """JSON-able sidecar fields."""
        return {
            "d_prime": self.d_prime,
            "c_half": self.c_half,
            "noise_sigma": self.noise_sigma,
            "tries": self.tries,
            "contract_met": self.met,
        }


def grey_levels(
    image: np.ndarray, tone_range: tuple[float, float], params: ImagingParams
) -> np.ndarray:
    """The tone map of ``tone.tone_map`` in float grey levels (0-255), before rounding."""
    low, high = tone_range
    span = params.tone_out_high - params.tone_out_low
    mapped = params.tone_out_low + (image - low) * (span / max(high - low, EPSILON))
    return 255.0 * np.clip(mapped, 0.0, 1.0) ** params.tone_gamma


def measure(
    defect: np.ndarray,
    twin: np.ndarray,
    noisy: np.ndarray,
    unaffected: np.ndarray,
    mask: np.ndarray,
    tone_range: tuple[float, float],
    params: ImagingParams,
) -> tuple[float, float, float]:
    """(d', C-half, sigma_n) of one defect.

    Args:
        defect: Noise-free signal of the defect image (cropped, after detector lag).
        twin: Noise-free signal of its clean twin, same geometry.
        noisy: The noisy signal actually tone-mapped into the image.
        unaffected: Pixels the defect cannot have changed; there the noisy image is the noisy
            twin, so they give sigma_n = std(noisy twin - noise-free twin).
        mask: The visible defect mask (output px).
        tone_range: The image's (p_lo, p_hi).
        params: Tone parameters (output range, gamma).

    Returns:
        (d_prime, c_half, noise_sigma); d' and C-half are 0 for an empty mask.
    """
    defect_grey = grey_levels(defect, tone_range, params)
    twin_grey = grey_levels(twin, tone_range, params)
    residual = grey_levels(noisy, tone_range, params) - defect_grey
    pool = residual[unaffected] if unaffected.sum() >= 64 else residual.ravel()
    sigma = float(pool.std()) + EPSILON
    delta = np.abs(defect_grey - twin_grey)[mask]
    if delta.size == 0:
        return 0.0, 0.0, sigma
    upper = np.sort(delta)[delta.size // 2 :]
    d_prime = float(np.sqrt(np.sum(delta * delta)) / sigma)
    return d_prime, float(upper.mean() / sigma), sigma


SMALL_AREA_SHARE = 0.5
SMALL_AREA_C_HALF = 5.0
"""A defect of at least half the area floor also passes when it stands out this strongly."""


def passes(d_prime: float, c_half: float, area: float, preset: Preset,
           label: str = "") -> bool:
    """True when every figure reaches the preset's threshold (spec B6, plus the area floor and
    Other's own C-half floor).

    Args:
        d_prime: Matched-filter detectability.
        c_half: Mean of the upper half of the change, in noise sigmas.
        area: Visible defect area in px of a 224-px field (``reference_area``).
        preset: The difficulty preset.
        label: The defect's class; Other's defects need ``preset.min_c_half_other``.
    """
    large_enough = area >= preset.min_area or (
        area >= SMALL_AREA_SHARE * preset.min_area and c_half >= SMALL_AREA_C_HALF
    )
    floor = preset.min_c_half_other if label == DefectClass.OTHER.value else preset.min_c_half
    return d_prime >= preset.min_d_prime and c_half >= floor and large_enough


def reference_area(pixels: int, size: int) -> float:
    """``pixels`` of a ``size``-px image expressed in px of a 224-px field."""
    return pixels * (REFERENCE_SIZE / size) ** 2
