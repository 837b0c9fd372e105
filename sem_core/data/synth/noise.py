"""Shot and detector noise by inverse CDF on pre-drawn uniform fields (spec B4.5).

The counts of every pixel are F^-1(U; lambda) for a uniform U drawn before anything is known
about the scene, so the clean twin (same U) gets the same counts wherever its signal is equal,
and counts grow monotonically with U. ``poisson_quantile`` is exact (it equals
``scipy.stats.poisson.ppf``) but about ten times faster: a Cornish-Fisher guess, verified with
the Poisson CDF only where the guess is near a step. ``gamma_quantile`` interpolates a
table of exact standardised quantiles (Wilson-Hilferty for large shapes).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import special

from sem_core.data.synth.config import NoiseModel

SMALL_MEAN = 10.0
"""Below this Poisson mean the quantile is found by summing the probability mass directly."""
TABLE_SHAPE = 100.0
"""Gamma shapes from 1 up to this use the quantile table; above, Wilson-Hilferty."""
TABLE_SCORE = 8.5
"""The table spans normal scores +-8.5 (uniforms down to 1e-17)."""
DOSE_RANGE = (5.0, 5000.0)
EPSILON = 1e-12


def _poisson_small(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Exact quantile by cumulative summation (lam < SMALL_MEAN)."""
    k = np.zeros(lam.shape)
    mass = np.exp(-lam)
    cumulative = mass.copy()
    pending = np.nonzero(cumulative < u)[0]
    step = 0
    while pending.size:
        step += 1
        mass[pending] *= lam[pending] / step
        cumulative[pending] += mass[pending]
        k[pending] = step
        still = cumulative[pending] < u[pending]
        # The float sum can stall just below u for u ~ 1; stop where the mass underflows.
        still &= mass[pending] > 1e-300
        pending = pending[still]
    return k


def _verify(u: np.ndarray, lam: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Move k until CDF(k - 1) < u <= CDF(k); re-checks only the entries that moved."""
    k = k.copy()
    pending = np.arange(k.size)
    for _ in range(64):
        kp, lp, up = k[pending], lam[pending], u[pending]
        low = special.pdtr(kp, lp) < up
        high = ~low & (kp > 0) & (special.pdtr(kp - 1, lp) >= up)
        moved = low | high
        if not moved.any():
            break
        k[pending] = kp + low - high
        pending = pending[moved]
    return k


def poisson_quantile(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Exact Poisson quantile: the smallest k with P(X <= k; lam) >= u, element-wise.

    Args:
        u: Uniforms in (0, 1).
        lam: Non-negative means, same shape.

    Returns:
        Float64 counts, equal to ``scipy.stats.poisson.ppf(u, lam)``.
    """
    shape = np.shape(lam)
    u, lam = np.asarray(u, np.float64).ravel(), np.maximum(np.asarray(lam, np.float64), 0).ravel()
    out = np.empty(lam.shape)
    small = lam < SMALL_MEAN
    out[small] = _poisson_small(u[small], lam[small])
    large = np.nonzero(~small)[0]
    lam_l, u_l = lam[large], u[large]
    z = special.ndtri(u_l)
    root = np.sqrt(lam_l)
    z2 = z * z
    guess = (
        lam_l
        + root * z
        + (z2 - 1.0) / 6.0
        + (z2 * z - 7.0 * z) / (72.0 * root)
        - (3.0 * z2 * z2 + 7.0 * z2 - 16.0) / (1620.0 * lam_l)
        + 0.5
    )
    k = np.maximum(np.floor(guess), 0.0)
    fraction = guess - np.floor(guess)
    distance = np.minimum(fraction, 1.0 - fraction)
    margin = 0.03 + 0.3 * (1.0 + z2 * z2) / lam_l**1.5
    check = np.nonzero((distance < margin) | (np.abs(z) > 3.0))[0]
    k[check] = _verify(u_l[check], lam_l[check], k[check])
    out[large] = k
    return out.reshape(shape)


@lru_cache(maxsize=1)
def _gamma_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised Gamma quantiles (q - a) / sqrt(a) on a (log shape, normal score) grid.

    Computed once per process with scipy's exact inverse (about 0.1 s); every entry is exact,
    so the table depends on nothing but the scipy version recorded in the sidecar.
    """
    log_shape = np.linspace(0.0, math.log(TABLE_SHAPE), 257)
    score = np.linspace(-TABLE_SCORE, TABLE_SCORE, 1025)
    shape = np.exp(log_shape)[:, np.newaxis]
    quantile = special.gammaincinv(shape, special.ndtr(score)[np.newaxis, :])
    return log_shape, score, (quantile - shape) / np.sqrt(shape)


def gamma_quantile(u: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Gamma(shape, scale 1) quantile, element-wise, within a small fraction of its sigma.

    Shapes below 1 use scipy's exact inverse; shapes in [1, 100) interpolate bilinearly in a
    table of exact standardised quantiles over (log shape, normal score), which keeps the result
    monotone in ``u``; from 100 on, the Wilson-Hilferty transform is within 1 % of sigma.

    Args:
        u: Uniforms in (0, 1).
        shape: Positive shape parameters, same shape as ``u``.

    Returns:
        Float64 quantiles, monotone in ``u``.
    """
    u = np.asarray(u, np.float64)
    a = np.maximum(np.asarray(shape, np.float64), EPSILON)
    out = np.empty(a.shape)
    tiny = a < 1.0
    if tiny.any():
        out[tiny] = special.gammaincinv(a[tiny], u[tiny])
    middle = ~tiny & (a < TABLE_SHAPE)
    if middle.any():
        out[middle] = _gamma_interpolated(u[middle], a[middle])
    large = a >= TABLE_SHAPE
    if large.any():
        out[large] = _wilson_hilferty(u[large], a[large])
    return out


def _gamma_interpolated(u: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Bilinear interpolation in the standardised quantile table (1 <= a < TABLE_SHAPE)."""
    log_shape, score, table = _gamma_table()
    row = np.log(a) / (log_shape[1] - log_shape[0])
    column = (np.clip(special.ndtri(u), -TABLE_SCORE, TABLE_SCORE) + TABLE_SCORE) / (
        score[1] - score[0]
    )
    r0 = np.minimum(row.astype(np.intp), log_shape.size - 2)
    c0 = np.minimum(column.astype(np.intp), score.size - 2)
    tr, tc = row - r0, column - c0
    low = table[r0, c0] * (1 - tc) + table[r0, c0 + 1] * tc
    high = table[r0 + 1, c0] * (1 - tc) + table[r0 + 1, c0 + 1] * tc
    return a + np.sqrt(a) * (low * (1 - tr) + high * tr)


def _wilson_hilferty(u: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Wilson-Hilferty quantile; for shape >= 100 its error is below 1 % of the noise sigma."""
    ninth = 1.0 / (9.0 * a)
    return a * np.maximum(1.0 - ninth + special.ndtri(u) * np.sqrt(ninth), 0.0) ** 3


def dose_for_snr(
    mean_signal: float,
    contrast: float,
    snr: float,
    detector_sigma: float,
    excess: float,
    noise_gain: float = 1.0,
) -> tuple[float, float]:
    """Electrons per pixel D that realise a target SNR = |contrast| / noise sigma at the mean.

    The noise variance at signal S is excess * S / D + detector_sigma^2, scaled by
    ``noise_gain`` (the variance gain of any linear filter applied after the noise).

    Args:
        mean_signal: Mean signal of the field (outside the defect).
        contrast: Pattern step Delta (signed).
        snr: Target |Delta| / sigma.
        detector_sigma: Additive detector noise sigma.
        excess: Excess-noise factor kappa (1 for Poisson).
        noise_gain: Sum of squared taps of a later filter (1 for none). Default: 1.

    Returns:
        (dose, detector_sigma actually used): the detector sigma is halved until the shot
        noise has room; the dose is clipped to DOSE_RANGE.
    """
    target = (abs(contrast) / snr) ** 2 / max(noise_gain, EPSILON)
    sigma = detector_sigma
    while target - sigma * sigma <= 0.1 * target and sigma > 1e-6:
        sigma *= 0.5
    dose = excess * max(mean_signal, EPSILON) / (target - sigma * sigma)
    return float(np.clip(dose, *DOSE_RANGE)), float(sigma)


def add_noise(
    signal: np.ndarray,
    uniform: np.ndarray,
    normal: np.ndarray,
    dose: float,
    model: NoiseModel,
    excess: float,
    detector_sigma: float,
) -> np.ndarray:
    """Noisy signal counts/D + sigma_d Z from pre-drawn uniform and normal fields.

    Args:
        signal: Noise-free signal S (>= 0 expected; negatives count as 0).
        uniform: Pre-drawn uniforms in (0, 1), same shape.
        normal: Pre-drawn standard normals, same shape.
        dose: Electrons per unit signal D.
        model: Poisson, or Gamma with excess-noise factor ``excess`` (shape lam/kappa).
        excess: Excess-noise factor kappa (ignored for Poisson).
        detector_sigma: Additive Gaussian detector noise sigma.

    Returns:
        Float64 noisy signal.
    """
    lam = dose * np.maximum(signal, 0.0)
    if model == NoiseModel.POISSON:
        counts = poisson_quantile(uniform, lam)
    else:
        counts = excess * gamma_quantile(uniform, lam / excess)
    return counts / dose + detector_sigma * normal


def noise_gain_of(weights: np.ndarray) -> float:
    """Variance gain of a linear filter on white noise (sum of squared taps)."""
    return float(np.sum(np.square(weights)))
