"""Hostile and odd image files for the image-input tests, built in memory (no binary fixtures).

``HOSTILE_FILES`` is a table: file name, a builder returning the file's bytes (or a marker for a
folder / a missing file), and the error kind expected (None when the file must decode). The
arrays behind the decodable files are exposed so tests can check values, not just shapes.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from sem_core.errors import ImageErrorKind

HEIGHT, WIDTH = 48, 64
BATCH_MAX_PIXELS = 1_000_000
"""The pixel limit the batch runs with, so a 4000x4000 zip bomb is refused cheaply."""

# A horizontal 8-bit ramp 0..252 (values differ across columns, equal down rows).
RAMP8 = np.tile((np.arange(WIDTH) * 4).astype(np.uint8), (HEIGHT, 1))
# 16-bit detector data using only 1000..3000 of the 0..65535 range.
RAMP16 = np.tile(np.linspace(1000, 3000, WIDTH).round().astype(np.uint16), (HEIGHT, 1))
RAMP_FLOAT = np.tile(np.linspace(-2.5, 7.5, WIDTH, dtype=np.float32), (HEIGHT, 1))
# A white 8x8 marker in the top-left corner of a 32x64 (H x W) black frame.
MARKED = np.zeros((32, 64), np.uint8)
MARKED[:8, :8] = 255

FOLDER = b"<folder>"
MISSING = b"<missing>"


@dataclass(frozen=True)
class HostileFile:
    """One test file: its name, how to build it, and the error kind expected (None: decodes)."""

    name: str
    build: Callable[[], bytes]
    expected: ImageErrorKind | None


def encode(image: Image.Image, file_format: str, **save_options) -> bytes:
    """Bytes of ``image`` saved by Pillow in ``file_format``."""
    buffer = io.BytesIO()
    image.save(buffer, file_format, **save_options)
    return buffer.getvalue()


def encode_tiff(array: np.ndarray, **write_options) -> bytes:
    """Bytes of ``array`` written by tifffile (float, multi-sample and other exotic TIFFs)."""
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **write_options)
    return buffer.getvalue()


def png_with_header_size(width: int, height: int) -> bytes:
    """A valid-looking PNG whose header claims ``width`` x ``height`` but holds a few bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b""))


def exif_rotated_jpeg(orientation: int = 6) -> bytes:
    """JPEG of ``MARKED`` stored 32x64 with an EXIF orientation tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(Image.fromarray(MARKED).convert("RGB"), "JPEG", exif=exif, quality=95)


def cmyk_jpeg() -> bytes:
    """CMYK JPEG of gray content: only the K plate carries the ramp (K = 255 - gray)."""
    plates = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    plates[:, :, 3] = 255 - RAMP8
    return encode(Image.fromarray(plates, "CMYK"), "JPEG", quality=95)


def rgba_png() -> bytes:
    """RGBA PNG of gray content whose alpha falls to 0 on the right half."""
    alpha = np.full_like(RAMP8, 255)
    alpha[:, WIDTH // 2:] = 0
    return encode(Image.fromarray(np.dstack([RAMP8, RAMP8, RAMP8, alpha]), "RGBA"), "PNG")


def la_png() -> bytes:
    """Gray + alpha PNG (alpha 128 everywhere)."""
    alpha = Image.fromarray(np.full_like(RAMP8, 128))
    return encode(Image.merge("LA", [Image.fromarray(RAMP8), alpha]), "PNG")


def multipage_tiff() -> bytes:
    """Two-page TIFF: the ramp, then its negative."""
    pages = [Image.fromarray(RAMP8), Image.fromarray(255 - RAMP8)]
    return encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])


def float_tiff_with_nan() -> bytes:
    """float32 TIFF of ``RAMP_FLOAT`` with one NaN and one +inf pixel."""
    values = RAMP_FLOAT.copy()
    values[0, 0], values[0, 1] = np.nan, np.inf
    return encode_tiff(values)


def defect_on_flat_background() -> bytes:
    """16-bit TIFF: constant 1200 with a 2x2 defect at 1800 (fewer than 0.1% of pixels)."""
    values = np.full((96, 96), 1200, np.uint16)
    values[40:42, 50:52] = 1800
    return encode_tiff(values)


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    """The first ``keep`` share of ``data``."""
    return data[:int(len(data) * keep)]


def _gray_png() -> bytes:
    return encode(Image.fromarray(RAMP8), "PNG")


def _damaged_png_stream() -> bytes:
    data = bytearray(_gray_png())
    start = data.find(b"IDAT") + 12
    data[start:start + 16] = bytes(16)
    return bytes(data)


def _noise(size: int = 4096) -> bytes:
    return np.random.default_rng(2024).integers(0, 256, size, dtype=np.uint8).tobytes()


HOSTILE_FILES: tuple[HostileFile, ...] = (
    # Files that must be refused, with the kind a user sees.
    HostileFile("truncated.png", lambda: truncated(_gray_png()), ImageErrorKind.CORRUPT),
    HostileFile("header_only.png", lambda: _gray_png()[:12], ImageErrorKind.CORRUPT),
    HostileFile("damaged_stream.png", _damaged_png_stream, ImageErrorKind.CORRUPT),
    HostileFile("truncated.jpg", lambda: truncated(exif_rotated_jpeg(), 0.5),
                ImageErrorKind.CORRUPT),
    HostileFile("truncated.tif", lambda: truncated(encode(Image.fromarray(RAMP8), "TIFF"), 0.5),
                ImageErrorKind.CORRUPT),
    HostileFile("all_nan.tif", lambda: encode_tiff(np.full((HEIGHT, WIDTH), np.nan, np.float32)),
                ImageErrorKind.CORRUPT),
    HostileFile("zero_bytes.png", lambda: b"", ImageErrorKind.EMPTY),
    HostileFile("notes.png", lambda: b"Wafer 12, lot A: inspection notes.\n" * 20,
                ImageErrorKind.NOT_AN_IMAGE),
    HostileFile("report.tif", lambda: b"<!DOCTYPE html><html><body>404</body></html>",
                ImageErrorKind.NOT_AN_IMAGE),
    HostileFile("noise.jpg", _noise, ImageErrorKind.NOT_AN_IMAGE),
    HostileFile("folder.png", lambda: FOLDER, ImageErrorKind.NOT_AN_IMAGE),
    HostileFile("missing.png", lambda: MISSING, ImageErrorKind.NOT_FOUND),
    HostileFile("one_pixel.png", lambda: encode(Image.new("L", (1, 1), 128), "PNG"),
                ImageErrorKind.TOO_SMALL),
    HostileFile("thin_strip.png", lambda: encode(Image.new("L", (200, 8), 128), "PNG"),
                ImageErrorKind.TOO_SMALL),
    HostileFile("bomb_header.png", lambda: png_with_header_size(100_000, 100_000),
                ImageErrorKind.TOO_LARGE),
    HostileFile("zip_bomb.png", lambda: encode(Image.new("L", (4000, 4000)), "PNG"),
                ImageErrorKind.TOO_LARGE),
    HostileFile("animation.gif", lambda: encode(Image.fromarray(RAMP8), "GIF"),
                ImageErrorKind.UNSUPPORTED),
    HostileFile("photo.webp", lambda: encode(Image.fromarray(RAMP8), "WEBP"),
                ImageErrorKind.UNSUPPORTED),
    HostileFile("scan.gif.png", lambda: encode(Image.fromarray(RAMP8), "GIF"),
                ImageErrorKind.UNSUPPORTED),
    # Files that must decode.
    HostileFile("gray16.tif", lambda: encode(Image.fromarray(RAMP16), "TIFF"), None),
    HostileFile("gray16.png", lambda: encode(Image.fromarray(RAMP16), "PNG"), None),
    HostileFile("white_is_zero16.tif", lambda: encode_tiff(RAMP16, photometric="miniswhite"),
                None),
    HostileFile("rgb16.tif", lambda: encode_tiff(np.dstack([RAMP16] * 3), photometric="rgb"),
                None),
    HostileFile("int32.tif", lambda: encode_tiff(RAMP16.astype(np.int32) - 2000), None),
    HostileFile("float32.tif", float_tiff_with_nan, None),
    HostileFile("float64.tif", lambda: encode_tiff(RAMP_FLOAT.astype(np.float64)), None),
    HostileFile("constant16.tif", lambda: encode_tiff(np.full((HEIGHT, WIDTH), 1234, np.uint16)),
                None),
    HostileFile("defect_on_flat.tif", defect_on_flat_background, None),
    HostileFile("constant8.png", lambda: encode(Image.new("L", (WIDTH, HEIGHT), 200), "PNG"),
                None),
    HostileFile("palette.png", lambda: encode(Image.fromarray(RAMP8).convert("P"), "PNG"), None),
    HostileFile("rgba.png", rgba_png, None),
    HostileFile("la.png", la_png, None),
    HostileFile("bilevel.png", lambda: encode(Image.fromarray(RAMP8 >= 128), "PNG"), None),
    HostileFile("cmyk.jpg", cmyk_jpeg, None),
    HostileFile("exif_rotated.jpg", exif_rotated_jpeg, None),
    HostileFile("gray.jpg", lambda: encode(Image.fromarray(RAMP8), "JPEG", quality=95), None),
    HostileFile("gray.bmp", lambda: encode(Image.fromarray(RAMP8), "BMP"), None),
    HostileFile("multipage.tif", multipage_tiff, None),
    HostileFile("jpeg_inside.png", lambda: encode(Image.fromarray(RAMP8), "JPEG", quality=95),
                None),
    HostileFile("défaut_晶圆.png", _gray_png, None),
)


def write_hostile_files(folder: Path) -> dict[str, Path]:
    """Write every ``HOSTILE_FILES`` entry into ``folder``; return name -> path (missing too)."""
    paths: dict[str, Path] = {}
    for case in HOSTILE_FILES:
        path = folder / case.name
        content = case.build()
        if content == FOLDER:
            path.mkdir()
        elif content != MISSING:
            path.write_bytes(content)
        paths[case.name] = path
    return paths
