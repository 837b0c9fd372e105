"""Decode an image file into native pixels with Pillow, falling back to tifffile for TIFFs.

Order of work: sniff the signature (refuse GIF, WebP, ... by name), open the header with Pillow
restricted to the supported formats, refuse by header size (decompression-bomb guard, minimum
side) before any pixel is decoded, then decode the first frame and apply EXIF orientation.
Pillow's own bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``, hard error at twice its value) is left
as the caller's process set it; when it fires it is reported as TOO_LARGE too.
"""

from __future__ import annotations

import io
import re
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from PIL import Image, ImageFile, ImageOps

from sem_core.data.image_formats import (
    SUPPORTED_FORMATS, DecodedImage, check_dimensions, corrupt_error, not_an_image_error,
    sniff_format, unsupported_format_error)
from sem_core.data.image_tiff import TiffDecodeFailure, decode_with_tifffile
from sem_core.errors import ImageErrorKind, ImageLoadError

_ORIENTATION_TAG = 0x0112
_BITS_PER_SAMPLE_TAG = 258
_PHOTOMETRIC_TAG = 262
_EIGHT_BIT_MODES = frozenset({"L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"})
_TO_RGB_MODES = frozenset({"CMYK", "YCbCr", "LAB", "HSV", "RGBX"})
_PILLOW_ERRORS = (OSError, SyntaxError, ValueError, TypeError, IndexError, EOFError,
                  struct.error)
_BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)


class _PillowFailure(Exception):
    """Pillow could not open or decode the file; ``args[0]`` says why."""


def decode_image(label: str, source: str | bytes, prefix: bytes, *, min_side: int,
                 max_pixels: int) -> DecodedImage:
    """Decode the first frame of an image file, oriented for viewing.

    Args:
        label: File name or path used in messages.
        source: A file path or the file's bytes.
        prefix: The file's first bytes (see ``image_formats.PREFIX_LENGTH``).
        min_side: Smallest accepted side in pixels.
        max_pixels: Largest accepted width x height.

    Returns:
        The decoded image in its native dtype.

    Raises:
        ImageLoadError: UNSUPPORTED, NOT_AN_IMAGE, CORRUPT, TOO_SMALL or TOO_LARGE.
    """
    sniffed = sniff_format(prefix)
    if sniffed is not None and sniffed not in SUPPORTED_FORMATS:
        raise unsupported_format_error(label, sniffed)
    try:
        return _decode_with_pillow(label, source, prefix, min_side=min_side,
                                   max_pixels=max_pixels)
    except _PillowFailure as failure:
        pillow_reason = str(failure)
    if sniffed == "TIFF":
        try:
            return decode_with_tifffile(label, source, min_side=min_side, max_pixels=max_pixels)
        except TiffDecodeFailure as failure:
            raise corrupt_error(label, f"Pillow: {pillow_reason}; tifffile: {failure}") from None
    if sniffed is None:
        raise not_an_image_error(label, prefix)
    raise corrupt_error(label, pillow_reason)


def _decode_with_pillow(label: str, source: str | bytes, prefix: bytes, *, min_side: int,
                        max_pixels: int) -> DecodedImage:
    """Decode with Pillow; raise ``_PillowFailure`` when Pillow cannot do it faithfully."""
    with _strict_truncation():
        try:
            image = Image.open(_pillow_input(source), formats=SUPPORTED_FORMATS)
        except _BOMB_ERRORS as error:
            raise _pillow_bomb_error(label, error) from error
        except Image.UnidentifiedImageError as error:
            raise _PillowFailure("its header cannot be read") from error
        except _PILLOW_ERRORS as error:
            raise _PillowFailure(_reason(error)) from error
        with image:
            decoded = _decode_opened(label, image, prefix, min_side=min_side,
                                     max_pixels=max_pixels)
        if decoded.format == "PNG":
            _verify_png_checksums(source)
        return decoded


def _decode_opened(label: str, image: Image.Image, prefix: bytes, *, min_side: int,
                   max_pixels: int) -> DecodedImage:
    """Check the header of an opened image, then decode its first frame."""
    file_format = "JPEG" if image.format == "MPO" else str(image.format)
    mode = image.mode
    check_dimensions(label, image.width, image.height, min_side=min_side, max_pixels=max_pixels)
    bit_depth = _bit_depth(image, prefix)
    if file_format == "TIFF":
        _refuse_lossy_tiff(image, mode, bit_depth)
    frame_count = _frame_count(image)
    orientation = _orientation(image)
    try:
        image.load()
    except _BOMB_ERRORS as error:
        raise _pillow_bomb_error(label, error) from error
    except _PILLOW_ERRORS as error:
        raise _PillowFailure(_reason(error)) from error
    notes = [f"first of {frame_count} frames used"] if frame_count > 1 else []
    oriented = _exif_transpose(image, notes)
    array = _pillow_array(oriented)
    if bit_depth > 8 and array.dtype == np.uint8:
        notes.append(f"{bit_depth}-bit {mode} decoded at 8-bit precision (a Pillow limit)")
    return DecodedImage(array=array, mode=mode, bit_depth=bit_depth, format=file_format,
                        orientation=orientation, frame_count=frame_count, notes=tuple(notes))


def _refuse_lossy_tiff(image: Image.Image, mode: str, bit_depth: int) -> None:
    """Leave to tifffile the TIFFs that Pillow would decode wrongly without an error."""
    if bit_depth > 8 and mode in _EIGHT_BIT_MODES:
        raise _PillowFailure(f"Pillow reads this {bit_depth}-bit {mode} TIFF as 8-bit")
    white_is_zero = getattr(image, "tag_v2", {}).get(_PHOTOMETRIC_TAG) == 0
    if white_is_zero and mode not in ("1", "L"):
        raise _PillowFailure(f"Pillow ignores white-is-zero in a {mode} TIFF")


def _verify_png_checksums(source: str | bytes) -> None:
    """Check every PNG chunk's CRC; Pillow's decoder alone accepts a damaged pixel stream."""
    try:
        with Image.open(_pillow_input(source), formats=("PNG",)) as probe:
            probe.verify()
    except _PILLOW_ERRORS as error:
        chunk = re.search(r"checksum in b'(\w{4})'", str(error))
        reason = f"PNG checksum mismatch in chunk {chunk[1]}" if chunk else _reason(error)
        raise _PillowFailure(reason) from error


def _pillow_input(source: str | bytes) -> str | io.BytesIO:
    """Pillow reads a path itself; bytes need a fresh stream for every attempt."""
    return io.BytesIO(source) if isinstance(source, bytes) else source


def _pillow_array(image: Image.Image) -> np.ndarray:
    """Pixels of a loaded Pillow image as (H, W) or (H, W, C), palette and CMYK resolved."""
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "PA":
        image = image.convert("RGBA")
    elif mode == "1":
        image = image.convert("L")
    elif mode in _TO_RGB_MODES:
        image = image.convert("RGB")
    return np.asarray(image)


def _bit_depth(image: Image.Image, prefix: bytes) -> int:
    """Bits per sample in the file: from the PNG header or TIFF tag, else from the mode."""
    if image.format == "PNG" and prefix[12:16] == b"IHDR" and len(prefix) >= 26:
        depth, color_type = prefix[24], prefix[25]
        return 8 if color_type == 3 else int(depth)  # palette entries are 8-bit
    if image.format == "TIFF":
        bits = getattr(image, "tag_v2", {}).get(_BITS_PER_SAMPLE_TAG)
        if bits:
            return int(max(bits) if isinstance(bits, tuple) else bits)
    if image.mode == "1":
        return 1
    if image.mode.startswith("I;16"):
        return 16
    return 32 if image.mode in ("I", "F") else 8


def _frame_count(image: Image.Image) -> int:
    """Number of frames (TIFF pages, MPO pictures); 1 when the file cannot say."""
    try:
        return max(1, int(getattr(image, "n_frames", 1)))
    except _PILLOW_ERRORS:
        return 1


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation tag found, 1 when there is none or it cannot be read."""
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except _PILLOW_ERRORS:
        return 1
    return int(value) if isinstance(value, int) else 1


def _exif_transpose(image: Image.Image, notes: list[str]) -> Image.Image:
    """Apply the EXIF orientation; on malformed EXIF keep the stored orientation and say so."""
    try:
        return ImageOps.exif_transpose(image)
    except _PILLOW_ERRORS as error:
        notes.append(f"EXIF orientation could not be applied ({_reason(error)})")
        return image


def _pillow_bomb_error(label: str, error: Exception) -> ImageLoadError:
    """TOO_LARGE for Pillow's own decompression-bomb limit, quoting the pixel counts."""
    numbers = re.findall(r"\((\d+) pixels\) exceeds limit of (\d+)", str(error))
    if numbers:
        pixels, limit = (int(value) for value in numbers[0])
        detail = (f"the image has {pixels:,} pixels, above Pillow's safety limit of {limit:,} "
                  "pixels (PIL.Image.MAX_IMAGE_PIXELS; possible decompression bomb)")
    else:
        detail = f"the image is too large to decode safely ({error})"
    return ImageLoadError(label, ImageErrorKind.TOO_LARGE, detail)


def _reason(error: BaseException) -> str:
    """A short reason from a decoder exception."""
    return str(error) or type(error).__name__


class _TruncationGuard:
    """Holds ``ImageFile.LOAD_TRUNCATED_IMAGES`` at False while any load is in progress.

    A process may have set the flag to True (a common shortcut), which makes Pillow pad a
    truncated file with grey instead of failing. The flag is global, so concurrent loads share
    one saved value and the last one out restores it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._saved = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._active == 0:
                self._saved = ImageFile.LOAD_TRUNCATED_IMAGES
                ImageFile.LOAD_TRUNCATED_IMAGES = False
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0:
                    ImageFile.LOAD_TRUNCATED_IMAGES = self._saved


_strict_truncation = _TruncationGuard()
