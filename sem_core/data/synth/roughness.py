"""Random rough edges and random fields by the FFT-with-PSD method (Mack, Appl. Opt. 2013).

``rough_edges`` gives line-edge roughness with the 3-parameter PSD (sigma, correlation length,
roughness exponent H); ``gaussian_field`` gives unit-variance 2-D textures with a Gaussian
spectrum. Both rescale to the exact target sigma, which removes Mack's variance bias.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft as scipy_fft

EPSILON = 1e-12


def next_power_of_two(value: float) -> int:
    """Smallest power of two >= ``value`` (at least 8)."""
    return max(8, 1 << math.ceil(math.log2(max(value, 1.0))))


def rough_edges(
    rng: np.random.Generator,
    count: int,
    samples: int,
    spacing: float,
    sigma: float,
    correlation: float,
    hurst: float,
) -> np.ndarray:
    """Generate ``count`` independent rough edges of ``samples`` points each.

    Args:
        rng: Random source.
        count: Number of edges.
        samples: Points per edge (a power of two is fastest).
        spacing: Distance between points (same unit as ``sigma`` and ``correlation``).
        sigma: Target standard deviation of every edge.
        correlation: Correlation length xi.
        hurst: Roughness exponent H (0.5 = exponential autocorrelation).

    Returns:
        (count, samples) float64 array, each row zero-mean with standard deviation ``sigma``.
    """
    frequencies = np.fft.rfftfreq(samples, d=spacing)
    psd = 1.0 / (1.0 + (2.0 * math.pi * frequencies * correlation) ** 2) ** (hurst + 0.5)
    spectrum = (
        rng.standard_normal((count, frequencies.size))
        + 1j * rng.standard_normal((count, frequencies.size))
    ) * np.sqrt(psd)
    edges = np.fft.irfft(spectrum, n=samples, axis=1)
    edges -= edges.mean(axis=1, keepdims=True)
    return edges * (sigma / (edges.std(axis=1, keepdims=True) + EPSILON))


def gaussian_field_pair(
    rng: np.random.Generator, shape: tuple[int, int], correlation: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Two independent unit-variance Gaussian random fields with spectrum exp(-(k l)^2 / 2).

    One complex FFT yields both fields (real and imaginary parts of the filtered complex noise).

    Args:
        rng: Random source.
        shape: (rows, cols) of the fields.
        correlation: (along rows, along cols) correlation lengths l in pixels; an anisotropic
            pair gives streaks (e.g. FIB curtaining).

    Returns:
        Two float64 arrays of ``shape`` with zero mean and unit variance.
    """
    noise = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    k_rows = 2.0 * math.pi * np.fft.fftfreq(shape[0])[:, np.newaxis]
    k_cols = 2.0 * math.pi * np.fft.fftfreq(shape[1])[np.newaxis, :]
    spectrum_filter = np.exp(
        -0.5 * ((k_rows * correlation[0]) ** 2 + (k_cols * correlation[1]) ** 2)
    )
    spectrum = scipy_fft.fft2(noise, overwrite_x=True)
    spectrum *= spectrum_filter
    field = scipy_fft.ifft2(spectrum, overwrite_x=True)
    return _standardise(field.real), _standardise(field.imag)


def _standardise(values: np.ndarray) -> np.ndarray:
    centred = values - values.mean()
    return centred / (centred.std() + EPSILON)
