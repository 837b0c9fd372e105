"""Turn decoded pixel arrays into grayscale float32 in [0, 1]: luminance, alpha, intensity scaling.

Pure NumPy, no file access. 8-bit data is divided by 255, so an 8-bit image keeps the brightness
it shows in any viewer. Deeper data (16- and 32-bit integers, floats) is scaled by its own robust
range, the 0.1 and 99.9 percentiles, because SEM detectors rarely fill a 16-bit range: values
1000..3000 become ~0..1 instead of a nearly black 0.015..0.046.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROBUST_LOW_PERCENTILE = 0.1
ROBUST_HIGH_PERCENTILE = 99.9

# ITU-R BT.601 luma weights, the ones Pillow's convert("L") uses; they sum to 1, so
# grayscale content stored as R = G = B keeps its value exactly.
LUMINANCE_WEIGHTS: tuple[float, float, float] = (0.299, 0.587, 0.114)

_EPSILON = 1e-12


class NoFinitePixelsError(ValueError):
    """Every pixel of a floating-point image is NaN or infinite."""


@dataclass(frozen=True)
class GrayPixels:
    """Grayscale pixels in [0, 1] and what the conversion had to decide on the way.

    Attributes:
        pixels: float32 array of shape (H, W), values in [0, 1].
        notes: Human-readable remarks (alpha ignored, non-finite pixels replaced, ...).
    """

    pixels: np.ndarray
    notes: tuple[str, ...] = ()


def to_unit_gray(array: np.ndarray, *, fixed_8bit: bool) -> GrayPixels:
    """Convert a (H, W) or (H, W, C) array of any real dtype to grayscale in [0, 1].

    Channels: C = 1 is gray; C = 2 is gray + alpha; C >= 3 is RGB (+ alpha as the 4th channel),
    reduced to BT.601 luminance. Alpha is ignored rather than composited on black: SEM images
    saved with an alpha channel hold their measured intensities in the colour channels, and
    compositing would darken them by an arbitrary amount.

    Args:
        array: Decoded pixels, oriented as the image should be seen.
        fixed_8bit: True for 8-bit data, which is divided by 255; False for deeper data,
            which is scaled by its robust range.

    Returns:
        The grayscale pixels (float32, C-contiguous) and notes.

    Raises:
        NoFinitePixelsError: If every pixel is NaN or infinite.
        ValueError: If ``array`` is not 2-D or 3-D.
    """
    notes: list[str] = []
    gray, alpha_note = _collapse_channels(array)
    if alpha_note:
        notes.append(alpha_note)
    if fixed_8bit:
        pixels = gray.astype(np.float32) / np.float32(255.0)
    else:
        pixels, scale_notes = robust_unit_scale(gray)
        notes.extend(scale_notes)
    pixels = np.clip(pixels, 0.0, 1.0, out=pixels)
    return GrayPixels(np.ascontiguousarray(pixels, dtype=np.float32), tuple(notes))


def robust_unit_scale(values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map values linearly so the 0.1 and 99.9 percentiles land on 0 and 1 (clipped).

    When those percentiles coincide (a flat background with a few outlying pixels) the true
    minimum and maximum are used, so a small defect on a uniform background is not erased.
    A constant image becomes all zeros. NaN and -inf become 0, +inf becomes 1.

    Args:
        values: Array of any real dtype.

    Returns:
        float32 array of the same shape in [0, 1], and notes about what was replaced.

    Raises:
        NoFinitePixelsError: If no value is finite.
    """
    work = values.astype(_work_dtype(values.dtype), copy=False)
    finite = np.isfinite(work)
    finite_count = int(np.count_nonzero(finite))
    nonfinite_count = work.size - finite_count
    if finite_count == 0:
        raise NoFinitePixelsError("every pixel is NaN or infinite")
    sample = work[finite] if nonfinite_count else work.ravel()
    # Python floats, so a float32 array is not promoted to float64 by the arithmetic below.
    low, high = (float(value) for value in
                 np.percentile(sample, [ROBUST_LOW_PERCENTILE, ROBUST_HIGH_PERCENTILE]))
    if high <= low:
        low, high = float(sample.min()), float(sample.max())
    notes: list[str] = []
    if high <= low:
        notes.append("constant image (no contrast); mapped to 0")
        scaled = np.zeros(work.shape, dtype=np.float32)
    else:
        scaled = np.subtract(work, low)
        scaled *= 1.0 / max(high - low, _EPSILON)
        scaled = scaled.astype(np.float32, copy=False)
    if nonfinite_count:
        scaled[np.isnan(work) | np.isneginf(work)] = 0.0
        scaled[np.isposinf(work)] = 1.0
        notes.append(f"{nonfinite_count} non-finite pixels (NaN/inf) replaced: NaN and -inf by 0, "
                     "+inf by 1")
    return np.clip(scaled, 0.0, 1.0, out=scaled), tuple(notes)


def _collapse_channels(array: np.ndarray) -> tuple[np.ndarray, str]:
    """Reduce (H, W, C) to (H, W); return the gray array and a note if alpha was ignored."""
    if array.ndim == 2:
        return array, ""
    if array.ndim != 3:
        raise ValueError(f"expected a 2-D or 3-D pixel array, received shape {array.shape}")
    channels = array.shape[2]
    if channels == 1:
        return array[:, :, 0], ""
    if channels == 2:
        return array[:, :, 0], _alpha_note(array[:, :, 1])
    work = array[:, :, :3].astype(_work_dtype(array.dtype), copy=False)
    gray = work @ np.asarray(LUMINANCE_WEIGHTS, dtype=work.dtype)
    alpha_note = _alpha_note(array[:, :, 3]) if channels >= 4 else ""
    return gray, alpha_note


def _alpha_note(alpha: np.ndarray) -> str:
    """A note when the alpha channel is not fully opaque (its values are ignored)."""
    opaque = np.iinfo(alpha.dtype).max if alpha.dtype.kind in "ui" else 1.0
    translucent = int(np.count_nonzero(alpha < opaque))
    if translucent == 0:
        return ""
    share = 100.0 * translucent / alpha.size
    return f"alpha channel ignored ({share:.1f}% of pixels not fully opaque)"


def _work_dtype(dtype: np.dtype) -> type:
    """float64 where float32 would lose precision (32/64-bit data), float32 otherwise."""
    dtype = np.dtype(dtype)
    if dtype == np.float32 or dtype.itemsize < 4:
        return np.float32
    return np.float64
