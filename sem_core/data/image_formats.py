"""What an image file is before it is decoded: format sniffing, header size checks, typed errors.

Shared by the Pillow decoder and the tifffile fallback. Sniffing the first bytes lets a GIF or
WebP be named as such (UNSUPPORTED) and a text file be told apart from a damaged PNG
(NOT_AN_IMAGE versus CORRUPT) even when no decoder accepts the file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sem_core.errors import ImageErrorKind, ImageLoadError

SUPPORTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "TIFF", "BMP")

# (signature, offset, format). Formats outside SUPPORTED_FORMATS are named only to be refused
# with a clear message.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"II+\x00", 0, "TIFF"),  # BigTIFF
    (b"MM\x00+", 0, "TIFF"),
    (b"BM", 0, "BMP"),
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"WEBP", 8, "WebP"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", 0, "JPEG 2000"),
    (b"\xffO\xffQ", 0, "JPEG 2000"),
    (b"\xff\x0a", 0, "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", 0, "JPEG XL"),
    (b"8BPS", 0, "PSD"),
    (b"ftyp", 4, "HEIF/AVIF"),
)

PREFIX_LENGTH = 32
"""How many leading bytes the sniffers and header readers need."""

BYTES_PER_ALLOWED_PIXEL = 4
"""Largest plausible file size per pixel the decoder accepts: a raw 32-bit single-channel (or
8-bit RGBA) image, which every compressed format undercuts."""
HEADER_ALLOWANCE_BYTES = 1 << 20
"""Room for metadata (TIFF tags, EXIF thumbnails, ICC profiles) on top of the pixel data."""


def max_encoded_bytes(max_pixels: int) -> int:
    """The largest file (or zip member) worth reading for an image of at most ``max_pixels``.

    A file above it cannot be an image the decoder would accept, so it is refused as TOO_LARGE
    before it is read: the byte cap follows the pixel limit instead of being a second setting.
    """
    return max_pixels * BYTES_PER_ALLOWED_PIXEL + HEADER_ALLOWANCE_BYTES


def too_large_file_error(label: str, size: int, max_pixels: int, what: str = "the file") -> ImageLoadError:
    """TOO_LARGE for a file whose byte size rules it out before reading."""
    return ImageLoadError(
        label, ImageErrorKind.TOO_LARGE,
        f"{what} is {size:,} bytes, above the {max_encoded_bytes(max_pixels):,}-byte limit "
        f"({BYTES_PER_ALLOWED_PIXEL} bytes per pixel at the {max_pixels:,}-pixel limit); it was "
        "not read (a guard against decompression bombs)")


@dataclass(frozen=True)
class DecodedImage:
    """Pixels as decoded (native dtype, oriented for viewing) and facts about the file.

    Attributes:
        array: (H, W) gray or (H, W, C) with C = 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
        mode: Pillow mode of the file as found (a Pillow-style name on the tifffile path).
        bit_depth: Bits per sample in the file.
        format: One of ``SUPPORTED_FORMATS``.
        orientation: EXIF/TIFF orientation tag found (1 when none).
        frame_count: Frames or pages in the file; only the first is decoded.
        notes: Remarks on decisions taken while decoding.
    """

    array: np.ndarray
    mode: str
    bit_depth: int
    format: str
    orientation: int
    frame_count: int = 1
    notes: tuple[str, ...] = ()

    @property
    def fixed_8bit(self) -> bool:
        """True when the pixels are plain 8-bit data, to be divided by 255."""
        return self.array.dtype == np.uint8 and self.bit_depth <= 8


def sniff_format(prefix: bytes) -> str | None:
    """Name the image format that the first bytes of a file announce.

    Args:
        prefix: The first ``PREFIX_LENGTH`` bytes (fewer for a short file).

    Returns:
        A format name ("PNG", "GIF", "WebP", ...), or None when no known signature matches.
    """
    for signature, offset, name in _SIGNATURES:
        if prefix[offset:offset + len(signature)] == signature:
            if name == "WebP" and not prefix.startswith(b"RIFF"):
                continue
            return name
    if len(prefix) >= 3 and prefix[:1] == b"P" and prefix[1:2] in b"1234567" \
            and prefix[2:3].isspace():
        return "PNM (PBM/PGM/PPM)"
    return None


def check_dimensions(label: str, width: int, height: int, *, min_side: int,
                     max_pixels: int) -> None:
    """Refuse an image by its header size, before any pixel is decoded.

    Args:
        label: File name or path used in the message.
        width: Width in pixels from the header.
        height: Height in pixels from the header.
        min_side: Smallest accepted side in pixels.
        max_pixels: Largest accepted width x height (decompression-bomb guard).

    Raises:
        ImageLoadError: TOO_LARGE or TOO_SMALL.
    """
    pixels = width * height
    if pixels > max_pixels:
        raise ImageLoadError(
            label, ImageErrorKind.TOO_LARGE,
            f"the image is {width}x{height} = {pixels:,} pixels, above the limit of "
            f"{max_pixels:,} pixels (a guard against decompression bombs; raise max_pixels "
            "to accept it)")
    if min(width, height) < min_side:
        raise ImageLoadError(
            label, ImageErrorKind.TOO_SMALL,
            f"the image is {width}x{height} pixels, smaller than the minimum of {min_side} "
            "pixels per side")


def unsupported_format_error(label: str, format_name: str) -> ImageLoadError:
    """The error for a recognised image format that this loader does not accept."""
    supported = ", ".join(SUPPORTED_FORMATS[:-1]) + " or " + SUPPORTED_FORMATS[-1]
    return ImageLoadError(
        label, ImageErrorKind.UNSUPPORTED,
        f"{format_name} images are not supported; convert the file to {supported}")


def corrupt_error(label: str, reason: str) -> ImageLoadError:
    """The error for a file of a supported format whose content cannot be decoded."""
    return ImageLoadError(label, ImageErrorKind.CORRUPT,
                          f"the file is truncated or corrupt ({reason})")


def not_an_image_error(label: str, prefix: bytes) -> ImageLoadError:
    """The error for content that matches no image signature; quotes its first bytes."""
    printable = "".join(chr(byte) if 32 <= byte < 127 else "." for byte in prefix[:16])
    supported = ", ".join(SUPPORTED_FORMATS)
    return ImageLoadError(
        label, ImageErrorKind.NOT_AN_IMAGE,
        f"the file is not an image: its content matches none of {supported} "
        f"(it begins with '{printable}')")
