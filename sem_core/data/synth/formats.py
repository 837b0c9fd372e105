"""The presentation layer of the synthetic generator: how a finished render reaches a user's disk.

Real SEM defect collections hold instrument files with a data bar, crops of published figures
(annotations from ``overlays``, borders, loose crops, JPEG artefacts), upscaled patches and
thumbnails, and every file mode from 8-bit PNG to 16-bit TIFF. ``sample_presentation`` draws all of
these decisions from a label-independent generator in a fixed order and number of draws;
``apply_presentation`` applies them to a uint8 image; ``encode_image`` writes the file bytes.
``present_bbox`` and ``present_mask`` move the target box and mask the way the pixels moved.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum

import numpy as np
from PIL import Image, ImageDraw

from sem_core.data.synth import overlays
from sem_core.data.synth.overlays import (AnnotationParams, Box, UniformStream, draw_text,
                                          text_extent)

PRESENTATION_VERSION = "presentation-1"

DATA_BAR_RATE = 0.15
PATCH_RATE = 0.06
THUMBNAIL_RATE = 0.10
BORDER_RATE = 0.10
CROP_OFFSET_RATE = 0.08
JPEG_ARTEFACT_RATE = 0.20
# zlib settings that keep PNG writing near 1-2 ms at 224 px: run-length strategy for one
# channel (same size as the default), fast level for colour files (three times the bytes).
PNG_GRAY_OPTIONS: dict[str, int] = {"compress_level": 6, "compress_type": 3}
PNG_COLOR_OPTIONS: dict[str, int] = {"compress_level": 1}

PRESENTATION_DRAWS = 48
"""Uniforms drawn per image for this module, whatever the outcomes (annotations draw their own)."""

DETECTORS = ("SE", "SE(U)", "SE(L)", "SE(UL)", "InLens", "TLD", "ETD", "BSE", "LEI", "SEI")
# Invented instrument names: realistic shape, no real product.
INSTRUMENTS = ("NX-4800", "Vireo 540", "Kestrel CD-20", "SV-9000", "Lumen 300", "MetroScan 7",
               "DX-7100", "Tessera 5")
KILOVOLTS = (0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0)
MAGNIFICATIONS = (5000, 10000, 20000, 30000, 50000, 80000, 100000, 150000, 200000, 300000)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Resolution(str, Enum):
    """How many pixels the image really had before it was scaled to the output size."""

    FULL = "full"
    PATCH = "patch"
    THUMBNAIL = "thumbnail"


class Upsampling(str, Enum):
    """The filter that scaled a small source up (Pillow resampling names)."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


class DataBarStyle(str, Enum):
    """Layouts of instrument data bars: one text line, two "key = value" rows, or labelled cells."""

    SINGLE_LINE = "single_line"
    TWO_ROWS = "two_rows"
    CELLS = "cells"


class FileFormat(str, Enum):
    """File mode and container that ``encode_image`` writes."""

    PNG_GRAY = "png_gray"
    PNG_RGB = "png_rgb"
    PNG_RGBA = "png_rgba"
    PNG_PALETTE = "png_palette"
    TIFF_8 = "tiff_8"
    TIFF_16 = "tiff_16"
    JPEG = "jpeg"


FILE_FORMAT_RATES: dict[FileFormat, float] = {
    FileFormat.PNG_GRAY: 0.66, FileFormat.PNG_RGB: 0.08, FileFormat.PNG_RGBA: 0.05,
    FileFormat.PNG_PALETTE: 0.05, FileFormat.TIFF_8: 0.04, FileFormat.TIFF_16: 0.06,
    FileFormat.JPEG: 0.06,
}
FILE_EXTENSIONS: dict[FileFormat, str] = {
    FileFormat.PNG_GRAY: ".png", FileFormat.PNG_RGB: ".png", FileFormat.PNG_RGBA: ".png",
    FileFormat.PNG_PALETTE: ".png", FileFormat.TIFF_8: ".tif", FileFormat.TIFF_16: ".tif",
    FileFormat.JPEG: ".jpg",
}
_RESAMPLING = {Upsampling.NEAREST: Image.Resampling.NEAREST,
               Upsampling.BILINEAR: Image.Resampling.BILINEAR,
               Upsampling.BICUBIC: Image.Resampling.BICUBIC}


@dataclass(frozen=True)
class ResolutionParams:
    """A patch or thumbnail of ``source_size`` px (for a ``size`` px output) scaled back up."""

    mode: Resolution = Resolution.FULL
    source_size: int = 0
    upsampling: Upsampling = Upsampling.BILINEAR


@dataclass(frozen=True)
class DataBarParams:
    """The instrument's data bar appended under the image (the image is squeezed above it)."""

    enabled: bool = False
    style: DataBarStyle = DataBarStyle.SINGLE_LINE
    height_fraction: float = 0.1
    background: int = 0
    text_shade: int = 255
    instrument: str = INSTRUMENTS[0]
    kilovolts: float = 5.0
    magnification: int = 50000
    working_distance_mm: float = 5.0
    detector: str = "SE"
    date: str = "12/05/2014"
    time: str = "14:22:03"


@dataclass(frozen=True)
class BorderParams:
    """The image shrunk by ``scale`` into a page-coloured frame; offsets place it in the slack."""

    enabled: bool = False
    scale: float = 0.9
    offset: tuple[float, float] = (0.5, 0.5)
    page: int = 255
    frame_line: bool = False


@dataclass(frozen=True)
class CropParams:
    """A loose crop: content shifted by ``shift`` (rows, cols) px, the strip left ``page``."""

    enabled: bool = False
    shift: tuple[int, int] = (0, 0)
    page: int = 255


@dataclass(frozen=True)
class JpegParams:
    """An in-memory JPEG round trip at ``quality``."""

    enabled: bool = False
    quality: int = 75


@dataclass(frozen=True)
class FileParams:
    """File encoding: format plus its options (palette levels, 16-bit range, JPEG quality)."""

    format: FileFormat = FileFormat.PNG_GRAY
    palette_levels: int = 256
    tiff16_range: tuple[int, int] = (0, 65535)
    jpeg_quality: int = 90


@dataclass(frozen=True)
class PresentationParams:
    """Every presentation decision of one image; the defaults present the image unchanged.

    Fractions are relative to the image side, so the params apply to any size; ``size`` is the
    side they were sampled for (it scales ``resolution.source_size``).
    """

    size: int = 224
    resolution: ResolutionParams = field(default_factory=ResolutionParams)
    data_bar: DataBarParams = field(default_factory=DataBarParams)
    annotations: AnnotationParams = field(default_factory=AnnotationParams)
    border: BorderParams = field(default_factory=BorderParams)
    crop: CropParams = field(default_factory=CropParams)
    jpeg: JpegParams = field(default_factory=JpegParams)
    file: FileParams = field(default_factory=FileParams)
    version: str = PRESENTATION_VERSION

    def to_dict(self) -> dict:
        """Plain JSON-able values for the sidecar, with the declared rates under "rates"."""
        return {**_plain(self), "rates": presentation_rates()}


def presentation_rates() -> dict:
    """The declared rate of every nuisance, by name (file formats and resolutions nested)."""
    return {
        "scale_bar": overlays.SCALE_BAR_RATE, "data_bar": DATA_BAR_RATE,
        "text_label": overlays.TEXT_LABEL_RATE, "panel_letter": overlays.PANEL_LETTER_RATE,
        "arrow": overlays.ARROW_RATE, "outline": overlays.OUTLINE_RATE, "border": BORDER_RATE,
        "crop_offset": CROP_OFFSET_RATE, "jpeg_artefacts": JPEG_ARTEFACT_RATE,
        "resolution": {Resolution.PATCH.value: PATCH_RATE,
                       Resolution.THUMBNAIL.value: THUMBNAIL_RATE,
                       Resolution.FULL.value: 1.0 - PATCH_RATE - THUMBNAIL_RATE},
        "file_format": {key.value: rate for key, rate in FILE_FORMAT_RATES.items()},
    }


def sample_presentation(rng: np.random.Generator, size: int) -> PresentationParams:
    """Sample every presentation decision of one image.

    The generator advances by exactly ``ANNOTATION_DRAWS + PRESENTATION_DRAWS`` uniforms whatever
    the outcomes, and nothing here sees the label, so every nuisance has the same rate in every
    class.

    Args:
        rng: A generator dedicated to presentation (its own ``SeedSequence`` child).
        size: Output side in pixels the image is rendered at.

    Returns:
        The frozen decisions; ``to_dict()`` gives the sidecar record.

    Raises:
        ValueError: If ``size`` is smaller than 16.
    """
    if size < 16:
        raise ValueError(f"sample_presentation needs size >= 16. Received `size={size}`")
    annotations = overlays.sample_annotations(UniformStream(rng, overlays.ANNOTATION_DRAWS))
    draws = UniformStream(rng, PRESENTATION_DRAWS)
    return PresentationParams(
        size=size, resolution=_sample_resolution(draws, size), data_bar=_sample_data_bar(draws),
        annotations=annotations, border=_sample_border(draws), crop=_sample_crop(draws, size),
        jpeg=JpegParams(enabled=draws.chance(JPEG_ARTEFACT_RATE), quality=draws.integer(30, 91)),
        file=_sample_file(draws))


def _sample_resolution(draws: UniformStream, size: int) -> ResolutionParams:
    choice = draws.uniform()
    patch_side = round(size * draws.uniform(0.18, 0.3))  # 52 px of 224 sits in the middle
    thumbnail_side = round(size * draws.uniform(0.45, 0.7))  # and 128 px here
    upsampling = draws.pick((Upsampling.NEAREST, Upsampling.NEAREST, Upsampling.BILINEAR,
                             Upsampling.BILINEAR, Upsampling.BICUBIC))
    if choice < PATCH_RATE:
        return ResolutionParams(Resolution.PATCH, patch_side, upsampling)
    if choice < PATCH_RATE + THUMBNAIL_RATE:
        return ResolutionParams(Resolution.THUMBNAIL, thumbnail_side, upsampling)
    return ResolutionParams()


def _sample_data_bar(draws: UniformStream) -> DataBarParams:
    enabled = draws.chance(DATA_BAR_RATE)
    style = draws.pick(tuple(DataBarStyle))
    height_fraction = draws.uniform(0.07, 0.13)
    light = draws.chance(0.15)
    background = round(draws.uniform(215, 245)) if light else round(draws.uniform(0, 40))
    day, month, year = draws.integer(1, 29), draws.integer(1, 13), draws.integer(2004, 2025)
    date = draws.pick((f"{day:02d}/{month:02d}/{year}", f"{year}-{month:02d}-{day:02d}",
                       f"{day} {MONTHS[month - 1]} {year}", f"{month}/{day}/{year % 100:02d}"))
    time = f"{draws.integer(7, 22):02d}:{draws.integer(0, 60):02d}:{draws.integer(0, 60):02d}"
    return DataBarParams(
        enabled=enabled, style=style, height_fraction=height_fraction, background=background,
        text_shade=20 if light else 255, instrument=draws.pick(INSTRUMENTS),
        kilovolts=draws.pick(KILOVOLTS), magnification=draws.pick(MAGNIFICATIONS),
        working_distance_mm=round(draws.uniform(2.0, 15.0), 1), detector=draws.pick(DETECTORS),
        date=date, time=time)


def _sample_border(draws: UniformStream) -> BorderParams:
    return BorderParams(enabled=draws.chance(BORDER_RATE), scale=draws.uniform(0.78, 0.95),
                        offset=(draws.uniform(), draws.uniform()),
                        page=draws.pick((255, 255, 255, 0)), frame_line=draws.chance(0.3))


def _sample_crop(draws: UniformStream, size: int) -> CropParams:
    enabled = draws.chance(CROP_OFFSET_RATE)
    rows = round(draws.uniform(-0.04, 0.04) * size)
    cols = round(draws.uniform(-0.04, 0.04) * size)
    page = draws.pick((255, 255, 0))
    return CropParams(enabled=enabled, shift=(rows, cols if rows or cols else 1), page=page)


def _sample_file(draws: UniformStream) -> FileParams:
    choice, cumulative, chosen = draws.uniform(), 0.0, FileFormat.PNG_GRAY
    for file_format, rate in FILE_FORMAT_RATES.items():
        cumulative += rate
        if choice < cumulative:
            chosen = file_format
            break
    levels = draws.pick((256, 256, 128, 64))
    tiff16_range = (draws.integer(0, 12000), draws.integer(24000, 65536))
    return FileParams(chosen, levels, tiff16_range, draws.integer(75, 96))


def _plain(value: object) -> object:
    if is_dataclass(value):
        return {item.name: _plain(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


def apply_presentation(image: np.ndarray, target_bbox: tuple[int, int, int, int],
                       params: PresentationParams) -> np.ndarray:
    """Present a finished render the way a real-world file shows it.

    Order: resolution (patch/thumbnail), instrument data bar (the image is squeezed above it),
    annotations (clear of the target box), border, loose crop, JPEG artefacts.

    Args:
        image: uint8 (H, W) grayscale render.
        target_bbox: (row0, col0, row1, col1), half-open, of the defect. For a Clean image pass
            an empty box such as (0, 0, 0, 0): arrows and outlines then mark the sampled
            ``annotations.stand_in_target``, so they appear in every class alike.
        params: Decisions from ``sample_presentation``.

    Returns:
        uint8 (H, W). ``present_bbox`` gives where the target box ended up.

    Raises:
        ValueError: If ``image`` is not a 2-D uint8 array.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError("apply_presentation needs a 2-D uint8 array. Received "
                         f"`{type(image).__name__}` {getattr(image, 'shape', '')} "
                         f"{getattr(image, 'dtype', '')}")
    picture = _rescale(Image.fromarray(image), params.resolution, params.size)
    box = _squeeze_box(tuple(int(value) for value in target_bbox), image.shape[0], params.data_bar)
    picture, content_rows = _add_data_bar(picture, params.data_bar, params.annotations.scale_bar)
    scale_bar_drawn = params.data_bar.enabled and params.annotations.scale_bar.in_data_bar
    picture = overlays.draw_annotations(picture, box, params.annotations, content_rows,
                                        scale_bar_drawn and params.annotations.scale_bar.enabled)
    picture = _frame(picture, params.border)
    picture = _shift(picture, params.crop)
    if params.jpeg.enabled:
        picture = Image.open(io.BytesIO(_save(picture, "JPEG", quality=params.jpeg.quality)))
    return np.array(picture.convert("L"))


def present_bbox(target_bbox: tuple[int, int, int, int], shape: tuple[int, int],
                 params: PresentationParams) -> Box:
    """Where ``apply_presentation`` moves the target box (data bar, border and crop move it).

    Args:
        target_bbox: (row0, col0, row1, col1), half-open, in the input image.
        shape: (H, W) of the input image.
        params: The presentation decisions.

    Returns:
        The box in the output image, clipped to it (empty when shifted out).
    """
    height, width = shape
    row0, col0, row1, col1 = _squeeze_box(tuple(target_bbox), height, params.data_bar)
    if params.border.enabled:
        inner, origin = _frame_geometry(height, width, params.border)
        row0 = origin[0] + math.floor(row0 * inner[0] / height)
        row1 = origin[0] + math.ceil(row1 * inner[0] / height)
        col0 = origin[1] + math.floor(col0 * inner[1] / width)
        col1 = origin[1] + math.ceil(col1 * inner[1] / width)
    if params.crop.enabled:
        rows, cols = params.crop.shift
        row0, row1, col0, col1 = row0 + rows, row1 + rows, col0 + cols, col1 + cols
    return (min(max(row0, 0), height), min(max(col0, 0), width),
            min(max(row1, 0), height), min(max(col1, 0), width))


def present_mask(mask: np.ndarray, params: PresentationParams) -> np.ndarray:
    """Move a defect mask the way ``apply_presentation`` moves the pixels (nearest neighbour).

    Args:
        mask: Boolean (H, W) defect mask of the input image.
        params: The presentation decisions.

    Returns:
        Boolean (H, W) mask of the output image.
    """
    picture = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8))
    if params.data_bar.enabled:
        rows = mask.shape[0] - _bar_rows(mask.shape[0], params.data_bar)
        canvas = Image.new("L", picture.size, 0)
        canvas.paste(picture.resize((picture.width, rows), Image.Resampling.NEAREST))
        picture = canvas
    picture = _frame(picture, params.border, page=0, nearest=True)
    picture = _shift(picture, params.crop, page=0)
    return np.asarray(picture) > 127


def encode_image(image: np.ndarray, params: PresentationParams) -> tuple[bytes, str]:
    """Encode a presented uint8 (H, W) image in the sampled file format, deterministically.

    Args:
        image: uint8 (H, W) grayscale.
        params: The presentation decisions (``params.file``).

    Returns:
        (file bytes, extension with its dot: ".png", ".tif" or ".jpg").
    """
    options = params.file
    gray = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    extension = FILE_EXTENSIONS[options.format]
    if options.format == FileFormat.PNG_GRAY:
        return _save(gray, "PNG", **PNG_GRAY_OPTIONS), extension
    if options.format in (FileFormat.PNG_RGB, FileFormat.PNG_RGBA):
        color = Image.merge("RGB", (gray, gray, gray))
        if options.format == FileFormat.PNG_RGBA:
            color.putalpha(255)
        return _save(color, "PNG", **PNG_COLOR_OPTIONS), extension
    if options.format == FileFormat.PNG_PALETTE:
        steps = options.palette_levels - 1
        indexed = Image.fromarray(np.rint(image * (steps / 255.0)).astype(np.uint8)).convert("P")
        ramp = np.rint(np.arange(options.palette_levels) * (255.0 / steps)).astype(np.uint8)
        indexed.putpalette(np.repeat(ramp, 3).tobytes())
        return _save(indexed, "PNG", **PNG_GRAY_OPTIONS), extension
    if options.format == FileFormat.TIFF_8:
        return _save(gray, "TIFF"), extension
    if options.format == FileFormat.TIFF_16:
        low, high = options.tiff16_range
        wide = np.rint(low + image.astype(np.float64) * ((high - low) / 255.0)).astype(np.uint16)
        return _save(Image.fromarray(wide), "TIFF"), extension
    return _save(gray, "JPEG", quality=options.jpeg_quality), extension


def _save(picture: Image.Image, file_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=file_format, **options)
    return buffer.getvalue()


def _rescale(picture: Image.Image, resolution: ResolutionParams, size: int) -> Image.Image:
    """Down to the source side by area averaging, back up with the sampled filter."""
    if resolution.mode == Resolution.FULL:
        return picture
    factor = resolution.source_size / size
    source = (max(4, round(picture.width * factor)), max(4, round(picture.height * factor)))
    if source[0] >= picture.width and source[1] >= picture.height:
        return picture
    small = picture.resize(source, Image.Resampling.BOX)
    return small.resize(picture.size, _RESAMPLING[resolution.upsampling])


def _bar_rows(height: int, bar: DataBarParams) -> int:
    return max(8, round(bar.height_fraction * height)) if bar.enabled else 0


def _squeeze_box(box: tuple[int, ...], height: int, bar: DataBarParams) -> Box:
    if not bar.enabled:
        return box[0], box[1], box[2], box[3]
    ratio = (height - _bar_rows(height, bar)) / height
    return math.floor(box[0] * ratio), box[1], math.ceil(box[2] * ratio), box[3]


def _frame_geometry(height: int, width: int, border: BorderParams
                    ) -> tuple[tuple[int, int], tuple[int, int]]:
    inner = (max(1, round(height * border.scale)), max(1, round(width * border.scale)))
    origin = (round(border.offset[0] * (height - inner[0])),
              round(border.offset[1] * (width - inner[1])))
    return inner, origin


def _frame(picture: Image.Image, border: BorderParams, page: int | None = None,
           nearest: bool = False) -> Image.Image:
    """Shrink the picture into a page-coloured frame (``page`` overrides the sampled colour)."""
    if not border.enabled:
        return picture
    inner, origin = _frame_geometry(picture.height, picture.width, border)
    canvas = Image.new("L", picture.size, border.page if page is None else page)
    filter_ = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    canvas.paste(picture.resize((inner[1], inner[0]), filter_), (origin[1], origin[0]))
    if border.frame_line and page is None:
        ImageDraw.Draw(canvas).rectangle(
            (origin[1] - 1, origin[0] - 1, origin[1] + inner[1], origin[0] + inner[0]),
            outline=64 if border.page > 127 else 192)
    return canvas


def _shift(picture: Image.Image, crop: CropParams, page: int | None = None) -> Image.Image:
    if not crop.enabled:
        return picture
    canvas = Image.new("L", picture.size, crop.page if page is None else page)
    canvas.paste(picture, (crop.shift[1], crop.shift[0]))
    return canvas


def _add_data_bar(picture: Image.Image, bar: DataBarParams,
                  scale_bar: overlays.ScaleBarParams) -> tuple[Image.Image, int]:
    """Squeeze the picture above an instrument data bar; return it and the rows left above."""
    if not bar.enabled:
        return picture, picture.height
    rows = picture.height - _bar_rows(picture.height, bar)
    canvas = Image.new("L", picture.size, bar.background)
    canvas.paste(picture.resize((picture.width, rows), Image.Resampling.BILINEAR))
    draw = ImageDraw.Draw(canvas)
    height, width = picture.height - rows, picture.width
    pad = max(2, height // 6)
    text_right = width - pad
    if scale_bar.enabled and scale_bar.in_data_bar:
        text_right = round(width * 0.7)
        _bar_scale(draw, (rows, text_right, picture.height, width - pad), scale_bar.label,
                   bar.text_shade)
    if bar.style == DataBarStyle.CELLS:
        _bar_cells(draw, (rows, pad, picture.height, text_right), bar)
        return canvas, rows
    lines = _bar_lines(bar)
    pixels = _fitting_font(draw, lines, text_right - pad, round(height / (1.8 * len(lines) + 0.2)))
    for index, line in enumerate(lines):
        left, top, _, text_height = text_extent(draw, line, pixels)
        center = rows + height * (2 * index + 1) / (2 * len(lines))
        draw_text(draw, (pad - left, round(center - text_height / 2) - top), line, pixels,
                  bar.text_shade)
    return canvas, rows


def _bar_lines(bar: DataBarParams) -> list[str]:
    if bar.style == DataBarStyle.SINGLE_LINE:
        return [f"{bar.instrument}  {bar.kilovolts:.1f}kV  {bar.working_distance_mm:.1f}mm  "
                f"x{bar.magnification / 1000:.1f}k  {bar.detector}  {bar.date}"]
    return [f"EHT = {bar.kilovolts:.2f} kV    Signal A = {bar.detector}    Date :{bar.date}",
            f"WD = {bar.working_distance_mm:.1f} mm    Mag = {bar.magnification / 1000:.2f} K X"
            f"    Time :{bar.time}"]


def _bar_cells(draw: ImageDraw.ImageDraw, region: Box, bar: DataBarParams) -> None:
    """Labelled cells (header over value) separated by thin rules, instrument name last."""
    field_width_um = 127_000.0 / bar.magnification  # a 127 mm wide display, the usual convention
    field_width = (f"{field_width_um:.2f} µm" if field_width_um >= 1
                   else f"{field_width_um * 1000:.0f} nm")
    magnification = f"{bar.magnification:,} x".replace(",", " ")
    cells = (("HV", f"{bar.kilovolts:.2f} kV"), ("mag", magnification),
             ("HFW", field_width), ("WD", f"{bar.working_distance_mm:.1f} mm"),
             ("det", bar.detector), ("", bar.instrument))
    top, left, bottom, right = region
    cell_width = (right - left) / len(cells)
    pixels = _fitting_font(draw, [value for _, value in cells], cell_width - 3,
                           round((bottom - top) * 0.4))
    header_pixels = max(5, round(pixels * 0.8))
    for index, (header, value) in enumerate(cells):
        col = round(left + index * cell_width)
        if index:
            draw.line([(col - 2, top + 2), (col - 2, bottom - 3)], fill=128)
        for text, size, row in ((header, header_pixels, top + (bottom - top) * 0.3),
                                (value, pixels, top + (bottom - top) * 0.72)):
            text_left, text_top, _, text_height = text_extent(draw, text, size)
            draw_text(draw, (col - text_left, round(row - text_height / 2) - text_top), text, size,
                      bar.text_shade)


def _bar_scale(draw: ImageDraw.ImageDraw, region: Box, label: str, shade: int) -> None:
    """A scale bar inside the data bar: label over a bar with end ticks."""
    top, left, bottom, right = region
    height = bottom - top
    pixels = max(5, round(height * 0.38))
    text_left, text_top, text_width, text_height = text_extent(draw, label, pixels)
    length = round((right - left) * 0.7)
    start = right - length
    draw_text(draw, (start + (length - text_width) // 2 - text_left,
                     top + round(height * 0.12) - text_top), label, pixels, shade)
    row = top + round(height * 0.72)
    thickness = max(1, height // 10)
    draw.rectangle((start, row, right - 1, row + thickness - 1), fill=shade)
    for col in (start, right - 1 - thickness // 2, start + length // 2):
        draw.line([(col, row - thickness * 2), (col, row + thickness)], fill=shade)


def _fitting_font(draw: ImageDraw.ImageDraw, texts: list[str], width: float, pixels: int) -> int:
    """Largest font size <= ``pixels`` at which every text fits ``width`` (never below 5)."""
    while pixels > 5 and max(text_extent(draw, text, pixels)[2] for text in texts) > width:
        pixels -= 1
    return pixels
