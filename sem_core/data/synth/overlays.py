"""Annotations of published SEM figure crops, drawn on a finished grayscale render.

Real SEM defect collections are full of figure crops: a scale bar in a corner, free text, panel
letters, arrows pointing at the defect and outlines drawn around it. ``sample_annotations`` draws
every decision from a fixed block of uniforms (label-independent, the same number of draws
whatever the outcome) and ``draw_annotations`` renders them. Text and bars are placed clear of the
target box and the target box interior is restored after drawing, so the defect stays visible.
The instrument data bar lives in ``formats`` (the microscope writes it into the saved file).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import TypeVar

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Box = tuple[int, int, int, int]
"""(row0, col0, row1, col1), half-open, in image pixels."""

SCALE_BAR_RATE = 0.15
TEXT_LABEL_RATE = 0.08
PANEL_LETTER_RATE = 0.08
ARROW_RATE = 0.08
OUTLINE_RATE = 0.08

ANNOTATION_DRAWS = 64
"""Uniforms drawn per image whatever the outcomes, so the stream stays aligned."""

SCALE_BAR_LABELS = ("50 nm", "100 nm", "200 nm", "250 nm", "300 nm", "500 nm", "1 µm", "2 µm",
                    "5 µm", "10 µm")
# Process and material words; never a class name, so no text can hint at the label.
TEXT_VOCABULARY = ("Si", "SiO2", "Cu", "W", "TiN", "poly-Si", "resist", "M1", "M2", "V1", "ADI",
                   "AEI", "after CMP", "site 3", "die 12", "#4", "top view", "ROI", "1", "2",
                   "P1", "slot 7", "post-etch", "HM", "low-k", "STI", "x50k", "Pt cap")
PANEL_LETTER_FORMATS = ("{}", "({})", "{})", "{}.")
# Gray levels annotations come in: white, black, and the luma of red and yellow marker ink.
INK_SHADES = (255, 255, 255, 0, 0, 76, 226)

Option = TypeVar("Option")


class UniformStream:
    """A fixed block of uniform draws, consumed in order by the samplers.

    Drawing the whole block up front makes the generator state after sampling independent of
    which branches the sampler took.

    Args:
        rng: Source of the block.
        count: Number of uniforms in the block.
    """

    def __init__(self, rng: np.random.Generator, count: int) -> None:
        self._values = rng.random(count)
        self._position = 0

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        """Next draw mapped to [low, high)."""
        if self._position >= len(self._values):
            raise RuntimeError(f"UniformStream: all {len(self._values)} draws are used; "
                               "raise the block size of this sampler")
        value = float(self._values[self._position])
        self._position += 1
        return low + (high - low) * value

    def chance(self, rate: float) -> bool:
        """True with probability ``rate``."""
        return self.uniform() < rate

    def integer(self, low: int, high: int) -> int:
        """Uniform integer in [low, high)."""
        return min(high - 1, low + int(self.uniform() * (high - low)))

    def pick(self, options: Sequence[Option]) -> Option:
        """One of ``options``, uniformly."""
        return options[self.integer(0, len(options))]

    def order(self, options: Sequence[Option]) -> tuple[Option, ...]:
        """``options`` in a random order (one draw per option)."""
        keys = [self.uniform() for _ in options]
        return tuple(options[index] for index in sorted(range(len(options)), key=keys.__getitem__))


class Corner(str, Enum):
    """An image corner an annotation may sit in."""

    TOP_LEFT = "top_left"
    TOP_RIGHT = "top_right"
    BOTTOM_LEFT = "bottom_left"
    BOTTOM_RIGHT = "bottom_right"


class ScaleBarStyle(str, Enum):
    """How a scale bar is drawn: bare, on a filled box, or with end ticks and the label below."""

    PLAIN = "plain"
    BOXED = "boxed"
    TICKS = "ticks"


class OutlineShape(str, Enum):
    """The shape drawn around the target."""

    ELLIPSE = "ellipse"
    CIRCLE = "circle"
    RECTANGLE = "rectangle"
    DASHED_RECTANGLE = "dashed_rectangle"


@dataclass(frozen=True)
class ScaleBarParams:
    """A scale bar with its length label; sizes are fractions of the image side."""

    enabled: bool = False
    label: str = "200 nm"
    length_fraction: float = 0.2
    style: ScaleBarStyle = ScaleBarStyle.PLAIN
    shade: int = 255
    font_fraction: float = 0.055
    corners: tuple[Corner, ...] = (Corner.BOTTOM_RIGHT, Corner.BOTTOM_LEFT, Corner.TOP_RIGHT,
                                   Corner.TOP_LEFT)
    in_data_bar: bool = False


@dataclass(frozen=True)
class TextLabelParams:
    """Free text labels; ``positions`` are candidate (row, col) fractions tried in order."""

    enabled: bool = False
    texts: tuple[str, ...] = ()
    shade: int = 255
    font_fraction: float = 0.05
    boxed: bool = False
    positions: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class PanelLetterParams:
    """A figure panel letter such as "a" or "(b)"."""

    enabled: bool = False
    text: str = "a"
    shade: int = 255
    font_fraction: float = 0.09
    bold: bool = False
    boxed: bool = False
    corners: tuple[Corner, ...] = (Corner.TOP_LEFT, Corner.TOP_RIGHT, Corner.BOTTOM_LEFT,
                                   Corner.BOTTOM_RIGHT)


@dataclass(frozen=True)
class ArrowParams:
    """An arrow whose tip stops ``gap_fraction`` outside the target box; angle in radians."""

    enabled: bool = False
    angle: float = 0.0
    length_fraction: float = 0.2
    width_fraction: float = 0.01
    gap_fraction: float = 0.03
    shade: int = 255
    outlined: bool = False


@dataclass(frozen=True)
class OutlineParams:
    """An ellipse, circle or rectangle drawn around the target box with a pad."""

    enabled: bool = False
    shape: OutlineShape = OutlineShape.ELLIPSE
    pad_fraction: float = 0.05
    width_fraction: float = 0.008
    shade: int = 255


@dataclass(frozen=True)
class AnnotationParams:
    """Every annotation decision of one image."""

    scale_bar: ScaleBarParams = field(default_factory=ScaleBarParams)
    text_labels: TextLabelParams = field(default_factory=TextLabelParams)
    panel_letter: PanelLetterParams = field(default_factory=PanelLetterParams)
    arrow: ArrowParams = field(default_factory=ArrowParams)
    outline: OutlineParams = field(default_factory=OutlineParams)
    # (center row, center col, half height, half width) as fractions of the annotated area: the
    # spot arrows and outlines mark when the image has no target (Clean), so they mark something
    # in every class alike.
    stand_in_target: tuple[float, float, float, float] = (0.5, 0.5, 0.05, 0.05)


def sample_annotations(draws: UniformStream) -> AnnotationParams:
    """Sample every annotation, each field drawn whether or not its annotation is enabled.

    Args:
        draws: The label-independent uniform block (at least ``ANNOTATION_DRAWS`` long).

    Returns:
        The annotation decisions; rates are the module's ``*_RATE`` constants.
    """
    scale_bar = ScaleBarParams(
        enabled=draws.chance(SCALE_BAR_RATE), label=draws.pick(SCALE_BAR_LABELS),
        length_fraction=draws.uniform(0.12, 0.3), style=draws.pick(tuple(ScaleBarStyle)),
        shade=draws.pick((255, 255, 255, 0)), font_fraction=draws.uniform(0.045, 0.07),
        corners=_corner_preference(draws, bottom_first=True), in_data_bar=draws.chance(0.7))
    texts = (draws.pick(TEXT_VOCABULARY), draws.pick(TEXT_VOCABULARY))
    text_count = draws.integer(1, 3)
    text_labels = TextLabelParams(
        enabled=draws.chance(TEXT_LABEL_RATE), texts=texts[:text_count],
        shade=draws.pick(INK_SHADES), font_fraction=draws.uniform(0.045, 0.075),
        boxed=draws.chance(0.3),
        positions=tuple((draws.uniform(), draws.uniform()) for _ in range(4)))
    panel_letter = PanelLetterParams(
        enabled=draws.chance(PANEL_LETTER_RATE),
        text=draws.pick(PANEL_LETTER_FORMATS).format(draws.pick("abcdefABCD")),
        shade=draws.pick((255, 255, 0)), font_fraction=draws.uniform(0.09, 0.14),
        bold=draws.chance(0.5), boxed=draws.chance(0.35),
        corners=_corner_preference(draws, bottom_first=False))
    arrow = ArrowParams(
        enabled=draws.chance(ARROW_RATE), angle=draws.uniform(0.0, 2.0 * math.pi),
        length_fraction=draws.uniform(0.12, 0.3), width_fraction=draws.uniform(0.006, 0.02),
        gap_fraction=draws.uniform(0.015, 0.05), shade=draws.pick(INK_SHADES),
        outlined=draws.chance(0.3))
    outline = OutlineParams(
        enabled=draws.chance(OUTLINE_RATE), shape=draws.pick(tuple(OutlineShape)),
        pad_fraction=draws.uniform(0.03, 0.08), width_fraction=draws.uniform(0.005, 0.015),
        shade=draws.pick(INK_SHADES))
    stand_in = (draws.uniform(0.15, 0.85), draws.uniform(0.15, 0.85), draws.uniform(0.02, 0.12),
                draws.uniform(0.02, 0.12))
    return AnnotationParams(scale_bar, text_labels, panel_letter, arrow, outline, stand_in)


def _corner_preference(draws: UniformStream, bottom_first: bool) -> tuple[Corner, ...]:
    """Corners in preference order: the customary corner first with p = 0.7."""
    usual = Corner.BOTTOM_RIGHT if bottom_first else Corner.TOP_LEFT
    shuffled = draws.order(tuple(Corner))
    if draws.chance(0.7):
        return (usual,) + tuple(corner for corner in shuffled if corner != usual)
    return shuffled


@lru_cache(maxsize=64)
def font(pixels: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font at ``pixels`` size (cached; no font files needed)."""
    return ImageFont.load_default(size=max(5, pixels))


def text_extent(draw: ImageDraw.ImageDraw, text: str, pixels: int, stroke: int = 0
                ) -> tuple[int, int, int, int]:
    """(left, top, width, height) of ``text`` as ``draw_text`` draws it at origin (0, 0)."""
    left, top, right, bottom = draw.textbbox((0, 0), _without_micro(text), font=font(pixels),
                                             stroke_width=stroke)
    return left, top, right - left, bottom - top


def draw_text(draw: ImageDraw.ImageDraw, origin: tuple[float, float], text: str, pixels: int,
              shade: int, stroke: int = 0) -> None:
    """Draw ``text`` at (x, y) = ``origin``; a "µ" becomes a "u" with a descender, because the
    built-in font has no micro sign."""
    plain = _without_micro(text)
    draw.text(origin, plain, font=font(pixels), fill=shade, stroke_width=stroke, stroke_fill=shade)
    ascent, descent = font(pixels).getmetrics()
    line = max(1, round(pixels / 11))
    for index, character in enumerate(text):
        if character in "µμ":
            stem = (origin[0] + draw.textlength(plain[:index], font=font(pixels))
                    + draw.textbbox((0, 0), "u", font=font(pixels))[0] + line / 2)
            baseline = origin[1] + ascent
            draw.line([(stem, baseline - pixels * 0.45), (stem, baseline + descent * 0.9)],
                      fill=shade, width=line + stroke)


def _without_micro(text: str) -> str:
    return text.replace("µ", "u").replace("μ", "u")


def draw_annotations(image: Image.Image, target_box: Box, params: AnnotationParams,
                     content_rows: int | None = None, scale_bar_drawn: bool = False
                     ) -> Image.Image:
    """Draw the enabled annotations, keeping clear of the target box.

    Args:
        image: Grayscale ("L") image; not modified.
        target_box: (row0, col0, row1, col1) of the target, half-open; its interior is restored
            after drawing. An empty box (a Clean image) is replaced by ``stand_in_target``.
        params: What to draw.
        content_rows: Rows above an instrument data bar, where annotations may go (default: all).
        scale_bar_drawn: True when the data bar already carries the scale bar (default False).

    Returns:
        A new "L" image of the same size. An annotation that finds no clear spot, even at 70 %
        size, is left out.
    """
    width, height = image.size
    area = (0, 0, height if content_rows is None else content_rows, width)
    box = _clip(target_box, area)
    if _area(box) == 0:
        box = _stand_in_box(area, params.stand_in_target)
    canvas = image.copy()
    draw = ImageDraw.Draw(canvas)
    short_side = min(area[2], width)
    if params.outline.enabled and _area(box) > 0:
        _draw_outline(draw, box, params.outline, short_side)
    if params.arrow.enabled and _area(box) > 0:
        _draw_arrow(draw, box, area, params.arrow, short_side)
    taken = [_grow(box, max(2, short_side // 50))] if _area(box) > 0 else []
    if params.scale_bar.enabled and not scale_bar_drawn:
        _place(draw, area, taken, params.scale_bar.corners, (),
               lambda scale: _scale_bar_block(draw, params.scale_bar, short_side, scale))
    if params.panel_letter.enabled:
        _place(draw, area, taken, params.panel_letter.corners, (),
               lambda scale: _letter_block(draw, params.panel_letter, short_side, scale))
    if params.text_labels.enabled:
        for text in params.text_labels.texts:
            _place(draw, area, taken, tuple(Corner), params.text_labels.positions,
                   lambda scale, text=text: _label_block(draw, params.text_labels, text,
                                                         short_side, scale))
    if _area(box) > 0:
        region = (box[1], box[0], box[3], box[2])
        canvas.paste(image.crop(region), region[:2])
    return canvas


# A block is (height, width, painter); the painter draws the block with its top-left at (row, col).
Block = tuple[int, int, Callable[[int, int], None]]


def _place(draw: ImageDraw.ImageDraw, area: Box, taken: list[Box], corners: Sequence[Corner],
           positions: Sequence[tuple[float, float]],
           make_block: Callable[[float], Block]) -> None:
    """Draw a block at the first clear candidate spot (full size, then 70 %) and reserve it."""
    for scale in (1.0, 0.7):
        height, width, paint = make_block(scale)
        margin = max(2, (area[2] - area[0]) // 40)
        spots = [_at_fraction(area, height, width, margin, spot) for spot in positions]
        spots += [_at_corner(area, height, width, margin, corner) for corner in corners]
        for row, col in spots:
            candidate = (row, col, row + height, col + width)
            if _inside(candidate, area) and not any(_overlaps(candidate, other) for other in taken):
                paint(row, col)
                taken.append(_grow(candidate, margin // 2))
                return


def _scale_bar_block(draw: ImageDraw.ImageDraw, bar: ScaleBarParams, side: int, scale: float
                     ) -> Block:
    pixels = round(bar.font_fraction * side * scale)
    left, top, text_width, text_height = text_extent(draw, bar.label, pixels)
    length = max(8, round(bar.length_fraction * side * scale))
    thickness = max(2, round(side * 0.012 * scale))
    gap = max(1, pixels // 4)
    pad = max(2, pixels // 3) if bar.style == ScaleBarStyle.BOXED else 1
    tick = 2 * thickness if bar.style == ScaleBarStyle.TICKS else 0
    width = max(length, text_width) + 2 * pad
    height = text_height + gap + thickness + tick + 2 * pad

    def paint(row: int, col: int) -> None:
        if bar.style == ScaleBarStyle.BOXED:
            draw.rectangle((col, row, col + width - 1, row + height - 1), fill=255 - bar.shade)
        bar_left = col + (width - length) // 2
        text_col = col + (width - text_width) // 2 - left
        if bar.style == ScaleBarStyle.TICKS:  # bar with end ticks on top, label below
            bar_row = row + pad + tick
            draw.rectangle((bar_left, bar_row - tick, bar_left + thickness - 1,
                            bar_row + thickness - 1), fill=bar.shade)
            draw.rectangle((bar_left + length - thickness, bar_row - tick, bar_left + length - 1,
                            bar_row + thickness - 1), fill=bar.shade)
            text_row = bar_row + thickness + gap - top
        else:
            text_row = row + pad - top
            bar_row = row + pad + text_height + gap
        draw.rectangle((bar_left, bar_row, bar_left + length - 1, bar_row + thickness - 1),
                       fill=bar.shade)
        draw_text(draw, (text_col, text_row), bar.label, pixels, bar.shade)

    return height, width, paint


def _letter_block(draw: ImageDraw.ImageDraw, letter: PanelLetterParams, side: int, scale: float
                  ) -> Block:
    pixels = round(letter.font_fraction * side * scale)
    # A stroke fills the counters of small letters, so only large letters are set bold.
    stroke = max(1, pixels // 20) if letter.bold and pixels >= 18 else 0
    return _text_block(draw, letter.text, pixels, stroke, letter.shade, letter.boxed)


def _label_block(draw: ImageDraw.ImageDraw, labels: TextLabelParams, text: str, side: int,
                 scale: float) -> Block:
    pixels = round(labels.font_fraction * side * scale)
    return _text_block(draw, text, pixels, 0, labels.shade, labels.boxed)


def _text_block(draw: ImageDraw.ImageDraw, text: str, pixels: int, stroke: int, shade: int,
                boxed: bool) -> Block:
    left, top, text_width, text_height = text_extent(draw, text, pixels, stroke)
    pad = max(2, pixels // 4) if boxed else 0
    width, height = text_width + 2 * pad, text_height + 2 * pad
    background = 0 if shade > 127 else 255

    def paint(row: int, col: int) -> None:
        if boxed:
            draw.rectangle((col, row, col + width - 1, row + height - 1), fill=background)
        draw_text(draw, (col + pad - left, row + pad - top), text, pixels, shade, stroke)

    return height, width, paint


def _draw_outline(draw: ImageDraw.ImageDraw, box: Box, outline: OutlineParams, side: int) -> None:
    """Draw an ellipse, circle or rectangle enclosing the box with a pad."""
    pad = outline.pad_fraction * side
    line = max(1, round(outline.width_fraction * side))
    center_row, center_col = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half_rows, half_cols = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    if outline.shape == OutlineShape.ELLIPSE:  # the smallest-area ellipse through the box corners
        half_rows, half_cols = half_rows * math.sqrt(2) + pad, half_cols * math.sqrt(2) + pad
    elif outline.shape == OutlineShape.CIRCLE:
        half_rows = half_cols = math.hypot(half_rows, half_cols) + pad
    else:
        half_rows, half_cols = half_rows + pad, half_cols + pad
    corners = (center_col - half_cols - line, center_row - half_rows - line,
               center_col + half_cols + line, center_row + half_rows + line)
    if outline.shape in (OutlineShape.ELLIPSE, OutlineShape.CIRCLE):
        draw.ellipse(corners, outline=outline.shade, width=line)
    elif outline.shape == OutlineShape.RECTANGLE:
        draw.rectangle(corners, outline=outline.shade, width=line)
    else:
        _dashed_rectangle(draw, corners, outline.shade, line)


def _dashed_rectangle(draw: ImageDraw.ImageDraw, corners: tuple[float, float, float, float],
                      shade: int, line: int) -> None:
    x0, y0, x1, y1 = corners
    dash = 3 * line + 3
    for start, end in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)),
                       ((x0, y1), (x0, y0))):
        length = math.dist(start, end)
        for offset in np.arange(0.0, length, 2 * dash):
            t0, t1 = offset / length, min(offset + dash, length) / length
            draw.line([(start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)
                       for t in (t0, t1)], fill=shade, width=line)


def _draw_arrow(draw: ImageDraw.ImageDraw, box: Box, area: Box, arrow: ArrowParams, side: int
                ) -> None:
    """Draw an arrow pointing at the box from outside; try four directions, keep the first that
    fits inside the area."""
    length = arrow.length_fraction * side
    width = max(1, round(arrow.width_fraction * side))
    head = max(4.0, 3.5 * width + 2)
    gap = arrow.gap_fraction * side + width
    center = ((box[1] + box[3]) / 2, (box[0] + box[2]) / 2)
    half = ((box[3] - box[1]) / 2 + gap, (box[2] - box[0]) / 2 + gap)
    found = None
    for shortening, turn in itertools.product((1.0, 0.6), range(4)):
        angle = arrow.angle + turn * math.pi / 2
        direction = (math.cos(angle), math.sin(angle))
        reach = min(half[axis] / abs(direction[axis]) if abs(direction[axis]) > 1e-9 else math.inf
                    for axis in (0, 1))
        tip = tuple(center[axis] + reach * direction[axis] for axis in (0, 1))
        tail = tuple(tip[axis] + shortening * length * direction[axis] for axis in (0, 1))
        if all(area[1] <= point[0] < area[3] and area[0] <= point[1] < area[2]
               for point in (tip, tail)):
            found = direction, tip, tail
            break
    if found is None:
        return
    direction, tip, tail = found
    base = tuple(tip[axis] + head * direction[axis] for axis in (0, 1))
    normal = (-direction[1] * head * 0.55, direction[0] * head * 0.55)
    triangle = [tip, (base[0] + normal[0], base[1] + normal[1]),
                (base[0] - normal[0], base[1] - normal[1])]
    if arrow.outlined:
        contrast = 0 if arrow.shade > 127 else 255
        draw.line([tail, base], fill=contrast, width=width + 2)
        draw.polygon(triangle, fill=contrast, outline=contrast, width=2)
    draw.line([tail, base], fill=arrow.shade, width=width)
    draw.polygon(triangle, fill=arrow.shade)


def _at_corner(area: Box, height: int, width: int, margin: int, corner: Corner) -> tuple[int, int]:
    top = corner in (Corner.TOP_LEFT, Corner.TOP_RIGHT)
    left = corner in (Corner.TOP_LEFT, Corner.BOTTOM_LEFT)
    row = area[0] + margin if top else area[2] - height - margin
    col = area[1] + margin if left else area[3] - width - margin
    return row, col


def _at_fraction(area: Box, height: int, width: int, margin: int, spot: tuple[float, float]
                 ) -> tuple[int, int]:
    row = area[0] + margin + round(spot[0] * (area[2] - area[0] - height - 2 * margin))
    col = area[1] + margin + round(spot[1] * (area[3] - area[1] - width - 2 * margin))
    return row, col


def _stand_in_box(area: Box, fractions: tuple[float, float, float, float]) -> Box:
    rows, cols = area[2] - area[0], area[3] - area[1]
    center_row, center_col = area[0] + fractions[0] * rows, area[1] + fractions[1] * cols
    half_rows, half_cols = max(1.0, fractions[2] * rows), max(1.0, fractions[3] * cols)
    return (round(center_row - half_rows), round(center_col - half_cols),
            round(center_row + half_rows), round(center_col + half_cols))


def _clip(box: Box, area: Box) -> Box:
    return (max(box[0], area[0]), max(box[1], area[1]), min(box[2], area[2]), min(box[3], area[3]))


def _grow(box: Box, margin: int) -> Box:
    return (box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin)


def _area(box: Box) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def _inside(box: Box, area: Box) -> bool:
    return box[0] >= area[0] and box[1] >= area[1] and box[2] <= area[2] and box[3] <= area[3]


def _overlaps(first: Box, second: Box) -> bool:
    return (first[0] < second[2] and second[0] < first[2] and first[1] < second[3]
            and second[1] < first[3])
