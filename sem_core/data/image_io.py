"""SEM image input: any PNG, JPEG, TIFF or BMP (path or bytes) to grayscale float32 in [0, 1].

``load_image`` is the one entry point; every bad input raises ``ImageLoadError`` whose message
names the file and the reason, and ``iter_images`` runs it over many files without ever stopping
for one. Decisions a user may rely on:

* 8-bit data is divided by 255. 16-bit, 32-bit and float data are scaled by their own robust
  range (0.1 and 99.9 percentiles), not by 65535; a constant image becomes all zeros; NaN and
  -inf become 0 and +inf becomes 1 (all-NaN is CORRUPT).
* Colour, palette and CMYK files become BT.601 luminance; alpha is ignored, not composited.
* EXIF/TIFF orientation is applied; width and height are reported after it.
* Multi-frame files (TIFF pages, MPO) give their first frame; ``ImageMeta.frame_count`` says so.
* GIF, WebP, JPEG 2000, PNM, ... are refused as UNSUPPORTED, naming the format; supported are
  exactly the formats behind ``IMAGE_EXTENSIONS``, so a folder listing and the loader agree.
* Sizes are checked from the header before decoding: ``max_pixels`` guards against
  decompression bombs (Pillow's own limit, if the process lowered it, also gives TOO_LARGE).
  A file larger than ``max_encoded_bytes(max_pixels)`` is refused as TOO_LARGE before it is read.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sem_core.data.image_decode import decode_image
from sem_core.data.image_formats import PREFIX_LENGTH, max_encoded_bytes, too_large_file_error
from sem_core.data.image_scaling import NoFinitePixelsError, to_unit_gray
from sem_core.errors import DatasetError, ImageErrorKind, ImageLoadError

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
DEFAULT_MIN_SIDE = 16
DEFAULT_MAX_PIXELS = 200_000_000

_HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class ImageMeta:
    """Facts about a loaded image file.

    Attributes:
        source: The path, or the name given for bytes.
        width: Width in pixels, after EXIF orientation.
        height: Height in pixels, after EXIF orientation.
        mode: Pillow mode as found in the file ("L", "I;16", "F", "RGB", "P", "CMYK", ...).
        bit_depth: Bits per sample in the file (1, 8, 16, 32, ...).
        format: "PNG", "JPEG", "TIFF" or "BMP".
        orientation: EXIF orientation tag found (1 when none).
        frame_count: Frames or pages in the file; only the first is used.
        notes: What the loader decided on the way (alpha ignored, NaN replaced, ...).
    """

    source: str
    width: int
    height: int
    mode: str
    bit_depth: int
    format: str
    orientation: int
    frame_count: int = 1
    notes: tuple[str, ...] = ()


# eq=False: comparing or hashing would otherwise touch the pixel array element-wise.
@dataclass(frozen=True, eq=False)
class SemImage:
    """A decoded SEM image.

    Attributes:
        pixels: float32 array of shape (H, W), values in [0, 1].
        meta: Facts about the file it came from.
    """

    pixels: np.ndarray
    meta: ImageMeta


@dataclass(frozen=True)
class LoadResult:
    """The outcome of loading one file in a batch: an image or the reason there is none."""

    source: str
    image: SemImage | None
    error: ImageLoadError | None

    @property
    def ok(self) -> bool:
        """True when the image was loaded."""
        return self.image is not None


def load_image(source: str | os.PathLike | bytes, *, name: str | None = None,
               min_side: int = DEFAULT_MIN_SIDE,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> SemImage:
    """Load one image as grayscale float32 in [0, 1] with its metadata.

    Args:
        source: A file path, or the file's bytes (e.g. an upload).
        name: Name used in messages and ``meta.source``; defaults to the path, or "<bytes>".
        min_side: Smallest accepted width and height in pixels (default 16).
        max_pixels: Largest accepted width x height (default 200,000,000), checked from the
            header before decoding; files above ``max_encoded_bytes(max_pixels)`` bytes are
            refused before they are read.

    Returns:
        The image, oriented for viewing.

    Raises:
        ImageLoadError: For every unusable input, with ``kind`` NOT_FOUND, EMPTY, NOT_AN_IMAGE,
            UNSUPPORTED, CORRUPT, TOO_SMALL or TOO_LARGE.
        TypeError: If ``source`` is neither a path nor bytes.
        ValueError: If ``min_side`` or ``max_pixels`` is below 1.
    """
    _check_limits(min_side, max_pixels)
    label = _label(source, name)
    try:
        decodable, prefix = _read_source(label, source, max_encoded_bytes(max_pixels), max_pixels)
        decoded = decode_image(label, decodable, prefix, min_side=min_side,
                               max_pixels=max_pixels)
        gray = to_unit_gray(decoded.array, fixed_8bit=decoded.fixed_8bit)
    except ImageLoadError:
        raise
    except NoFinitePixelsError as error:
        raise ImageLoadError(label, ImageErrorKind.CORRUPT,
                             "the image holds no finite pixel value (all NaN or infinite)"
                             ) from error
    except MemoryError as error:
        raise ImageLoadError(label, ImageErrorKind.TOO_LARGE,
                             "there is not enough memory to decode the image") from error
    except Exception as error:  # the contract: one typed error for any input a decoder rejects
        raise ImageLoadError(label, ImageErrorKind.CORRUPT,
                             f"the file could not be decoded ({type(error).__name__}: {error})"
                             ) from error
    height, width = gray.pixels.shape
    meta = ImageMeta(source=label, width=width, height=height, mode=decoded.mode,
                     bit_depth=decoded.bit_depth, format=decoded.format,
                     orientation=decoded.orientation, frame_count=decoded.frame_count,
                     notes=decoded.notes + gray.notes)
    return SemImage(pixels=gray.pixels, meta=meta)


def iter_images(sources: Iterable[str | os.PathLike], **load_kwargs) -> Iterator[LoadResult]:
    """Load files one at a time; a bad file gives a result with an error, never an exception.

    Args:
        sources: File paths, consumed lazily.
        **load_kwargs: Passed to ``load_image`` (``min_side``, ``max_pixels``).

    Yields:
        One ``LoadResult`` per source, in order.

    Raises:
        TypeError, ValueError: Only for invalid ``load_kwargs`` (a programming error), at the
            first file.
    """
    for source in sources:
        label = _label(source, None)
        try:
            image = load_image(source, **load_kwargs)
        except ImageLoadError as error:
            yield LoadResult(source=label, image=None, error=error)
        else:
            yield LoadResult(source=label, image=image, error=None)


def list_image_files(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """List the image files of a folder by extension (case-insensitive), skipping hidden ones.

    Files and folders whose name starts with "." are skipped (e.g. macOS "._x.png" companions,
    ".ipynb_checkpoints"). Symbolic links to folders are not followed.

    Args:
        folder: The folder to search.
        recursive: Also search sub-folders (default True).

    Returns:
        Paths (joined onto ``folder``) with an extension in ``IMAGE_EXTENSIONS``, sorted.

    Raises:
        DatasetError: If ``folder`` is not an existing folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"{root}: the folder does not exist or is not a folder")
    found: list[Path] = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [] if not recursive else [
            name for name in subdirectories if not name.startswith(".")]
        found.extend(Path(directory) / name for name in files
                     if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS)
    return sorted(found)


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 digest of a file, read in 1 MiB chunks.

    Raises:
        OSError: If the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_limits(min_side: int, max_pixels: int) -> None:
    """Reject limits that make every image fail or pass meaninglessly."""
    if min_side < 1:
        raise ValueError(f"`min_side` must be at least 1. Received `min_side={min_side}`")
    if max_pixels < 1:
        raise ValueError(f"`max_pixels` must be at least 1. Received `max_pixels={max_pixels}`")


def _label(source: object, name: str | None) -> str:
    """The name an input goes by in messages and metadata."""
    if name:
        return name
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    if isinstance(source, (str, os.PathLike)):
        return os.fsdecode(source) or "<empty path>"
    raise TypeError(f"`source` must be a path or bytes. Received {type(source).__name__}")


def _read_source(label: str, source: str | os.PathLike | bytes, max_bytes: int,
                 max_pixels: int) -> tuple[str | bytes, bytes]:
    """Check that the input can be read and is not over ``max_bytes``; return what to decode
    (path or bytes) and its prefix."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ImageLoadError(label, ImageErrorKind.EMPTY, "the data is empty (0 bytes)")
        if len(data) > max_bytes:
            raise too_large_file_error(label, len(data), max_pixels, "the data")
        return data, data[:PREFIX_LENGTH]
    path = os.fsdecode(source)
    try:
        status = os.stat(path)
        if stat.S_ISDIR(status.st_mode):
            raise ImageLoadError(label, ImageErrorKind.NOT_AN_IMAGE,
                                 "this is a folder, not an image file")
        if not stat.S_ISREG(status.st_mode):
            raise ImageLoadError(label, ImageErrorKind.NOT_AN_IMAGE,
                                 "this is not a regular file (a device, pipe or socket)")
        if status.st_size == 0:
            raise ImageLoadError(label, ImageErrorKind.EMPTY, "the file is empty (0 bytes)")
        if status.st_size > max_bytes:
            raise too_large_file_error(label, status.st_size, max_pixels)
        with open(path, "rb") as handle:
            prefix = handle.read(PREFIX_LENGTH)
    except FileNotFoundError as error:
        raise ImageLoadError(label, ImageErrorKind.NOT_FOUND,
                             "the file does not exist") from error
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ImageLoadError(label, ImageErrorKind.NOT_FOUND,
                             f"the file cannot be read ({reason})") from error
    return path, prefix
