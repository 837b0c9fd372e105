"""TIFF decoding with tifffile, for the files Pillow cannot read faithfully.

Pillow refuses float64, float16 and multi-sample float TIFFs and reduces 16-bit RGB TIFFs to
their high byte; tifffile reads them at full precision. Only the first page is decoded. The TIFF
orientation tag is applied here with NumPy (tifffile leaves pixels as stored), matching what
``PIL.ImageOps.exif_transpose`` does on the Pillow path.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import tifffile

from sem_core.data.image_formats import DecodedImage, check_dimensions
from sem_core.errors import ImageErrorKind, ImageLoadError

_ORIENTATION_TAG = 274
_GRAY_PHOTOMETRICS = (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.MINISWHITE)
_TIFFFILE_ERRORS = (ValueError, KeyError, IndexError, OSError, EOFError, struct.error,
                    RuntimeError, TypeError)

_GRAY_MODES = {"b1": "1", "u1": "L", "u2": "I;16", "i2": "I;16S", "u4": "I", "i4": "I",
               "f2": "F;16F", "f4": "F", "f8": "F;64F"}
_COLOR_MODES = {2: "LA", 3: "RGB", 4: "RGBA"}


class TiffDecodeFailure(Exception):
    """tifffile could not decode the file either; ``args[0]`` says why."""


def decode_with_tifffile(label: str, source: str | bytes, *, min_side: int,
                         max_pixels: int) -> DecodedImage:
    """Decode the first page of a TIFF with tifffile.

    Args:
        label: File name or path used in messages.
        source: A file path or the file's bytes.
        min_side: Smallest accepted side in pixels.
        max_pixels: Largest accepted width x height, checked before the pixels are read.

    Returns:
        The decoded, oriented image.

    Raises:
        ImageLoadError: TOO_LARGE, TOO_SMALL, or UNSUPPORTED (colour model or compression).
        TiffDecodeFailure: When tifffile cannot read the file.
    """
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with tifffile.TiffFile(stream) as tiff:
            frame_count = len(tiff.pages)
            if frame_count == 0:
                raise TiffDecodeFailure("the file holds no image page")
            page = tiff.pages.first
            axes = page.axes
            height, width = page.shape[axes.index("Y")], page.shape[axes.index("X")]
            check_dimensions(label, width, height, min_side=min_side, max_pixels=max_pixels)
            photometric = page.photometric
            if photometric not in _GRAY_PHOTOMETRICS and photometric != tifffile.PHOTOMETRIC.RGB:
                raise ImageLoadError(label, ImageErrorKind.UNSUPPORTED,
                                     f"{photometric.name} TIFF images are not supported")
            array = page.asarray()
            orientation_value = page.tags.valueof(_ORIENTATION_TAG, 1)
            bit_depth = int(page.bitspersample)
    except (ImageLoadError, TiffDecodeFailure):
        raise
    except KeyError as error:
        if "imagecodecs" in str(error):
            raise ImageLoadError(
                label, ImageErrorKind.UNSUPPORTED,
                f"this TIFF compression cannot be decoded here ({error})") from error
        raise TiffDecodeFailure(f"KeyError: {error}") from error
    except _TIFFFILE_ERRORS as error:
        raise TiffDecodeFailure(str(error) or type(error).__name__) from error

    array = _to_height_width_samples(array, axes)
    notes = [f"first of {frame_count} pages used"] if frame_count > 1 else []
    if photometric in _GRAY_PHOTOMETRICS and array.ndim == 3:
        notes.append(f"{array.shape[2] - 1} extra samples ignored; the first sample used")
        array = array[:, :, 0]
    mode = _mode_name(array)
    if photometric == tifffile.PHOTOMETRIC.MINISWHITE:
        array = _invert(array)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * np.uint8(255)
    orientation = int(orientation_value) if isinstance(orientation_value, (int, np.integer)) else 1
    return DecodedImage(
        array=orient_array(array, orientation),
        mode=mode,
        bit_depth=bit_depth,
        format="TIFF",
        orientation=orientation,
        frame_count=frame_count,
        notes=tuple(notes) + ("decoded with tifffile",),
    )


def orient_array(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF/TIFF orientation (1..8) to the first two axes, as a viewer would.

    Args:
        array: (H, W) or (H, W, C) pixels as stored.
        orientation: The orientation tag; values outside 1..8 leave the array unchanged.

    Returns:
        The array as it should be displayed (a view where possible).
    """
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return array.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(array, k=-1)
    if orientation == 7:
        return array[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(array, k=1)
    return array


def _to_height_width_samples(array: np.ndarray, axes: str) -> np.ndarray:
    """Keep the first index of every axis but Y, X and S, and order those as (Y, X[, S])."""
    index = tuple(slice(None) if axis in "YXS" else 0 for axis in axes)
    kept = [axis for axis in axes if axis in "YXS"]
    order = [kept.index(axis) for axis in "YXS" if axis in kept]
    return np.transpose(array[index], order)


def _invert(array: np.ndarray) -> np.ndarray:
    """Turn white-is-zero data into black-is-zero (photometric MINISWHITE)."""
    if array.dtype.kind == "u":
        return np.iinfo(array.dtype).max - array
    if array.dtype == np.bool_:
        return ~array
    return np.negative(array.astype(np.float64))


def _mode_name(array: np.ndarray) -> str:
    """A Pillow-style mode name for pixels decoded by tifffile."""
    if array.ndim == 3:
        return _COLOR_MODES.get(array.shape[2], f"{array.shape[2]} samples")
    code = f"{array.dtype.kind}{array.dtype.itemsize}"
    return _GRAY_MODES.get(code, array.dtype.name)
