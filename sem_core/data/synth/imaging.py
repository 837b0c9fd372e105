"""Beam, scan and detector operations (spec B4.1-B4.4) on the canvas and the output grid.

Every operator has finite support (the PSF and the detector lag are truncated explicitly), so a
local change in the scene stays local in the image; ``influence_radius`` says how far.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from scipy import signal as scipy_signal

from sem_core.data.synth.canvas import FieldGeometry
from sem_core.data.synth.imaging_params import ImagingParams, ScanRows

PSF_CUTOFF = 1e-3
"""The PSF is zero where it falls below this fraction of its peak."""
LAG_CUTOFF = 1e-2
DETECTOR_NORMAL_REACH = 6.0
"""Output px over which an edit can change the side-detector edge normal (render._facing)."""
"""The detector-lag kernel is cut where a tap falls below this fraction of the first."""


def psf_kernel(params: ImagingParams, geometry: FieldGeometry) -> np.ndarray:
    """Anisotropic Gaussian PSF (spec A1.5) on the output grid, truncated and unit-sum.

    The PSF is applied after pixel integration (block mean) rather than on the supersampled
    canvas: both are linear and shift-invariant up to the decimation, the difference is far
    below the noise, and the FFT is four times smaller.
    """
    sigma = params.psf_sigma * geometry.scale
    ratio, angle = params.psf_ratio, params.psf_angle
    limit = 2.0 * math.log(1.0 / PSF_CUTOFF)
    radius = max(1, math.ceil(math.sqrt(limit) * sigma * ratio))
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1].astype(np.float64)
    along = (x * math.cos(angle) + y * math.sin(angle)) * ratio
    across = (-x * math.sin(angle) + y * math.cos(angle)) / ratio
    quadratic = (along**2 + across**2) / (sigma * sigma)
    kernel = np.where(quadratic <= limit, np.exp(-0.5 * quadratic), 0.0)
    return kernel / kernel.sum()


def apply_psf(canvas: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve by FFT with reflected borders (no dark rim at the canvas edge)."""
    radius = kernel.shape[0] // 2
    padded = np.pad(canvas, radius, mode="reflect")
    return scipy_signal.fftconvolve(padded, kernel, mode="valid")


def displacement(params: ImagingParams, geometry: FieldGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Drift + vibration displacement (output px) of every pixel of the padded output grid.

    Scan time runs along rows (fast axis x) with a line dead time (spec B4.2); each vibration
    component sin(2 pi f t + phi) is split into row and column factors, so the field is one small
    product instead of a sine per pixel. The warp is applied on the output grid after pixel
    integration (deviation from the spec's canvas-scale resampling: four times fewer samples;
    the displacement is smooth and the PSF that follows dominates the interpolation blur).

    Returns:
        (d_rows, d_cols), each (padded, padded).
    """
    side = geometry.padded
    to_canvas = geometry.scale
    line_time = 1.0 / geometry.padded
    pixel_time = line_time / (geometry.padded * (1.0 + params.line_dead_fraction))
    index = np.arange(side) + 0.5
    t_row, t_col = index * line_time, index * pixel_time
    drift = params.drift_pixels * to_canvas
    d_rows = drift * math.sin(params.drift_angle) * (t_row[:, None] + t_col[None, :])
    d_cols = drift * math.cos(params.drift_angle) * (t_row[:, None] + t_col[None, :])
    if params.vibration_cycles:
        omega = 2.0 * math.pi * np.asarray(params.vibration_cycles)
        phase = np.asarray(params.vibration_phases)
        amplitude = np.asarray(params.vibration_amplitudes) * to_canvas
        angles = np.asarray(params.vibration_angles)
        row_arg = omega[None, :] * t_row[:, None] + phase[None, :]
        col_arg = omega[None, :] * t_col[:, None]
        right = np.concatenate([np.cos(col_arg), np.sin(col_arg)], axis=1)
        for weights, target in (
            (amplitude * np.sin(angles), d_rows),
            (amplitude * np.cos(angles), d_cols),
        ):
            left = np.concatenate([np.sin(row_arg) * weights, np.cos(row_arg) * weights], axis=1)
            # einsum, not matmul: a multithreaded BLAS call costs more than it saves here
            target += np.einsum("ik,jk->ij", left, right)
    return d_rows, d_cols


def warp(canvas: np.ndarray, d_rows: np.ndarray, d_cols: np.ndarray) -> np.ndarray:
    """Sample ``canvas`` at (row + d_rows, col + d_cols) with linear interpolation."""
    rows = np.arange(canvas.shape[0], dtype=np.float64)[:, None] + d_rows
    cols = np.arange(canvas.shape[1], dtype=np.float64)[None, :] + d_cols
    return ndimage.map_coordinates(canvas, [rows, cols], order=1, mode="nearest")


def warp_mask(mask: np.ndarray, d_rows: np.ndarray, d_cols: np.ndarray) -> np.ndarray:
    """Move a mask like ``warp`` moves pixels: the OR (bitwise for integer codes) of the 2 x 2
    source pixels of the bilinear sample, so the mask never loses a changed pixel."""
    side_r, side_c = mask.shape
    rows = np.arange(side_r)[:, None] + d_rows
    cols = np.arange(side_c)[None, :] + d_cols
    r0 = np.clip(np.floor(rows).astype(np.intp), 0, side_r - 1)
    c0 = np.clip(np.floor(cols).astype(np.intp), 0, side_c - 1)
    r1, c1 = np.minimum(r0 + 1, side_r - 1), np.minimum(c0 + 1, side_c - 1)
    return mask[r0, c0] | mask[r0, c1] | mask[r1, c0] | mask[r1, c1]


def block_mean(canvas: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks (pixel integration), as a sum of strided views."""
    if factor == 1:
        return canvas
    total = np.zeros((canvas.shape[0] // factor, canvas.shape[1] // factor))
    for dr in range(factor):
        for dc in range(factor):
            total += canvas[dr::factor, dc::factor]
    return total * (1.0 / (factor * factor))


def block_any(mask: np.ndarray, factor: int) -> np.ndarray:
    """True where any canvas pixel of a block is True (work limited to the mask's bounding box)."""
    if factor == 1:
        return mask
    out = np.zeros((mask.shape[0] // factor, mask.shape[1] // factor), bool)
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if rows.size == 0:
        return out
    r0, r1 = rows[0] // factor, rows[-1] // factor + 1
    c0, c1 = cols[0] // factor, cols[-1] // factor + 1
    part = mask[r0 * factor : r1 * factor, c0 * factor : c1 * factor]
    block = np.zeros((r1 - r0, c1 - c0), bool)
    for dr in range(factor):
        for dc in range(factor):
            block |= part[dr::factor, dc::factor]
    out[r0:r1, c0:c1] = block
    return out


def cubic_weights(count: int, side: int) -> np.ndarray:
    """(side, count) Catmull-Rom interpolation weights from ``count`` grid cells to ``side`` px."""
    position = (np.arange(side) + 0.5) * count / side - 0.5
    base = np.floor(position).astype(int)
    t = position - base
    taps = np.stack(
        [
            ((-t + 2) * t - 1) * t / 2,
            ((3 * t - 5) * t * t + 2) / 2,
            ((-3 * t + 4) * t + 1) * t / 2,
            (t - 1) * t * t / 2,
        ],
        axis=1,
    )
    weights = np.zeros((side, count))
    for offset in range(4):
        np.add.at(
            weights, (np.arange(side), np.clip(base + offset - 1, 0, count - 1)), taps[:, offset]
        )
    return weights


def background(params: ImagingParams, side: int) -> np.ndarray:
    """Multiplicative charging/background factor (1 + B) on the padded output grid (spec B3).

    The k x k grid is interpolated with separable cubic (Catmull-Rom) weights.
    """
    grid = np.asarray(params.background_values).reshape(params.background_grid, -1)
    weights = cubic_weights(grid.shape[0], side)
    wavy = np.einsum("ik,kl,jl->ij", weights, grid, weights, optimize=True)
    axis = (np.arange(side) + 0.5) / side - 0.5
    ramp = params.gradient * (
        axis[None, :] * math.cos(params.gradient_angle)
        + axis[:, None] * math.sin(params.gradient_angle)
    )
    return 1.0 + wavy + ramp


def shift_rows(image: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Shift each row right by ``shifts[row]`` px with linear interpolation (edge-clamped)."""
    cols = np.arange(image.shape[1], dtype=np.float64)[None, :] - shifts[:, None]
    cols = np.clip(cols, 0.0, image.shape[1] - 1.0)
    left = np.floor(cols).astype(np.intp)
    right = np.minimum(left + 1, image.shape[1] - 1)
    weight = cols - left
    first = np.take_along_axis(image, left, axis=1)
    second = np.take_along_axis(image, right, axis=1)
    return first * (1.0 - weight) + second * weight


def scan_artefacts(image: np.ndarray, rows: ScanRows, scale: float) -> np.ndarray:
    """Row jitter/glitches, row gain and row offset (spec B4.4) on the padded output grid."""
    shifted = shift_rows(image, rows.shift * scale)
    return shifted * rows.gain[:, None] + rows.offset[:, None]


def lag_kernel(tau: float) -> np.ndarray:
    """Causal detector-lag taps (1 - a) a^n, a = exp(-1/tau), truncated and unit-sum."""
    if tau <= 1e-3:
        return np.ones(1)
    alpha = math.exp(-1.0 / tau)
    if alpha <= LAG_CUTOFF:  # one tap; also where alpha underflows to 0 (tau just above 1e-3)
        return np.ones(1)
    taps = max(1, math.ceil(math.log(LAG_CUTOFF) / math.log(alpha)))
    weights = (1.0 - alpha) * alpha ** np.arange(taps)
    return weights / weights.sum()


def apply_lag(image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Filter every row causally, y[n] = sum_k w[k] x[n - k] (bright tails right of edges)."""
    taps = weights.size
    if taps == 1:
        return image
    padded = np.pad(image, ((0, 0), (taps - 1, 0)), mode="edge")
    width = image.shape[1]
    out = weights[0] * image
    for k in range(1, taps):
        out = out + weights[k] * padded[:, taps - 1 - k : taps - 1 - k + width]
    return out


def influence_radius(
    params: ImagingParams, rows: ScanRows, geometry: FieldGeometry, reach: float
) -> float:
    """Output px beyond which a scene edit cannot change the image (before presentation).

    Args:
        params: Imaging parameters (PSF extent, detector lag).
        rows: Per-row shifts (the mask is not shifted with the rows, so they add up).
        geometry: Canvas geometry (scale).
        reach: Largest reach (reference px) of the scene's edge and halo terms.

    Returns:
        The radius in output px; the mask is moved by drift and vibration itself.
    """
    psf = math.sqrt(2.0 * math.log(1.0 / PSF_CUTOFF)) * params.psf_sigma * params.psf_ratio
    jitter = float(np.max(np.abs(rows.shift))) if rows.shift.size else 0.0
    lag = lag_kernel(params.lag_tau * geometry.scale).size
    # the side-detector term reads the edge normal from coverage smoothed over 4 output px
    facing = DETECTOR_NORMAL_REACH if params.detector_asymmetry > 0 else 0.0
    return (reach + psf + jitter) * geometry.scale + lag + facing + 2.0
