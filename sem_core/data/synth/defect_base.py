"""Shared pieces of the defect editors: hardness controls, records, placement, shapes, painting.

Spec B0 and B5: size z and visibility v are drawn from one distribution for every class;
editors turn them into sizes and contrasts by (log-)interpolation into per-class ranges, and
read the difficulty preset (spec B6) from ``Hardness.preset``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from sem_core.data.synth.canvas import Material, SceneMaps
from sem_core.data.synth.config import Difficulty
from sem_core.data.synth.layout import SceneLayout
from sem_core.data.synth.presets import PRESETS, Preset

HARD_VISIBILITY = (0.15, 0.4)
EASY_VISIBILITY = (0.4, 1.0)
RAISE_STEP = 0.1
"""A visibility-contract redraw raises v and z by this much (spec B7.4)."""


@dataclass(frozen=True)
class Hardness:
    """Size z ~ U(0, 1), visibility v (range set by the preset) and the preset itself.

    Attributes:
        z: Size control in [0, 1].
        v: Visibility control in [0, 1].
        low_visibility: v came from version 1's low-visibility component (``hard`` only).
        preset: The difficulty preset whose ranges and class rules the editors follow.
        boost: Visibility-contract tries already failed. ``standard`` editors make the next
            draw more conspicuous with it (spec B7.4 raises only v and z, which cap at 1 while a
            thin or pattern-bound defect can still be lost in the noise); ``hard`` ignores it.
    """

    z: float
    v: float
    low_visibility: bool
    preset: Preset = PRESETS[Difficulty.HARD]
    boost: int = 0


def sample_hardness(rng: np.random.Generator, preset: Preset | None = None) -> Hardness:
    """Draw z and v (always four uniforms, so the defect stream stays aligned in both presets).

    ``hard`` uses version 1's mixture, 25 % U(0.15, 0.4) + 75 % U(0.4, 1.0); ``standard`` maps
    the same last uniform into U(0.5, 1.0).
    """
    preset = preset or PRESETS[Difficulty.HARD]
    z, pick, hard_v, easy_v = rng.random(4)
    if preset.visibility is not None:
        low_v, high_v = preset.visibility
        return Hardness(z=float(z), v=float(lerp(low_v, high_v, easy_v)), low_visibility=False,
                        preset=preset)
    low = bool(pick < 0.25)
    v = HARD_VISIBILITY[0] + hard_v * (HARD_VISIBILITY[1] - HARD_VISIBILITY[0])
    if not low:
        v = EASY_VISIBILITY[0] + easy_v * (EASY_VISIBILITY[1] - EASY_VISIBILITY[0])
    return Hardness(z=float(z), v=float(v), low_visibility=low, preset=preset)


def eased_hardness(hardness: Hardness, ease: float) -> Hardness:
    """Move z and v the fraction ``ease`` of the way to 1 (``SynthConfig.ease``)."""
    if ease == 0.0:
        return hardness
    v = lerp(hardness.v, 1.0, ease)
    return replace(
        hardness,
        z=lerp(hardness.z, 1.0, ease),
        v=v,
        low_visibility=hardness.low_visibility and v < HARD_VISIBILITY[1],
    )


def raised_hardness(hardness: Hardness) -> Hardness:
    """The hardness of the next visibility-contract try: v and z up by ``RAISE_STEP``, capped,
    and one more failed try in ``boost``."""
    v = min(hardness.v + RAISE_STEP, 1.0)
    return replace(
        hardness,
        boost=hardness.boost + 1,
        z=min(hardness.z + RAISE_STEP, 1.0),
        v=v,
        low_visibility=hardness.low_visibility and v < HARD_VISIBILITY[1],
    )


def lerp(low: float, high: float, t: float) -> float:
    """Linear interpolation."""
    return low + (high - low) * t


def log_lerp(low: float, high: float, t: float) -> float:
    """Interpolation in log space (sizes)."""
    return math.exp(lerp(math.log(low), math.log(high), t))


@dataclass(frozen=True)
class DefectRecord:
    """What a defect editor did: kind, sub-type, anchor point (field ref px) and parameters.

    Attributes:
        kind: The class the defect belongs to (or "Clean" for none).
        subtype: The class-specific variant (e.g. "stringer", "missing").
        x, y: Anchor in field reference px (origin at the centre).
        params: Scalar parameters (floats, ints, strings, bools).
        hard_subtype: True for the spec C3 hard variants (thin bridge, residual film, faint
            scratch, hairline crack, partial-open via, translucent residue, straddling particle).
    """

    kind: str
    subtype: str
    x: float = 0.0
    y: float = 0.0
    params: dict = field(default_factory=dict)
    hard_subtype: bool = False

    def to_dict(self) -> dict:
        """JSON-able record."""
        return {
            "kind": self.kind,
            "subtype": self.subtype,
            "x": self.x,
            "y": self.y,
            "hard_subtype": self.hard_subtype,
            "params": {key: _plain(value) for key, value in self.params.items()},
        }


def _plain(value: object) -> object:
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


def place_point(
    rng: np.random.Generator, layout: SceneLayout, central: float | None = None
) -> tuple[float, float]:
    """A field point (reference px): 70 % in the central 70 % of the field, else anywhere; with
    ``central`` (``Preset.central_field``), always in that central share of the field.

    Inside a host region (blanket array edge), the point is drawn in that region instead.
    Always three draws.
    """
    share, u, w = rng.random(3)
    half = layout.geometry.size / (2 * layout.geometry.scale)
    reach = 0.7 * half if share < 0.7 else 0.95 * half
    if central is not None:
        reach = central * half
    x, y = (2 * u - 1) * reach, (2 * w - 1) * reach
    if layout.host_region is not None:
        x0, y0, x1, y1 = layout.host_region
        x, y = x0 + u * (x1 - x0), y0 + w * (y1 - y0)
    return float(x), float(y)


def segment_distance(
    a: np.ndarray, b: np.ndarray, start: tuple[float, float], end: tuple[float, float]
) -> np.ndarray:
    """Distance of points (a, b) to the segment start-end (layout units)."""
    da, db = end[0] - start[0], end[1] - start[1]
    length2 = da * da + db * db + 1e-12
    t = np.clip(((a - start[0]) * da + (b - start[1]) * db) / length2, 0.0, 1.0)
    return np.hypot(a - start[0] - t * da, b - start[1] - t * db)


def polyline_distance(a: np.ndarray, b: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance of points (a, b) to a polyline of (n, 2) vertices."""
    best = np.full(np.shape(a), np.inf)
    for start, end in zip(points[:-1], points[1:]):
        best = np.minimum(best, segment_distance(a, b, tuple(start), tuple(end)))
    return best


def smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], correlation: float
) -> np.ndarray:
    """Unit-variance smooth random field of ``shape`` (correlation in pixels)."""
    from scipy import ndimage

    values = ndimage.gaussian_filter(rng.standard_normal(shape), max(correlation, 0.5), mode="wrap")
    return (values - values.mean()) / (values.std() + 1e-12)


class Painter:
    """Edits ``SceneMaps`` inside one canvas window, in that window's layout coordinates."""

    def __init__(self, maps: SceneMaps, layout: SceneLayout, window: tuple[slice, slice]) -> None:
        self.maps, self.layout, self.window = maps, layout, window
        self.a, self.b = layout.a[window], layout.b[window]
        side = maps.topo.shape[0]
        whole = all(part.start in (None, 0) and part.stop in (None, side) for part in window)
        maps.touch(
            None
            if whole
            else (
                slice(window[0].start or 0, window[0].stop or side),
                slice(window[1].start or 0, window[1].stop or side),
            )
        )

    @property
    def empty(self) -> bool:
        """True when the window has no pixels (defect outside the canvas)."""
        return self.a.size == 0

    def field_xy(self) -> tuple[np.ndarray, np.ndarray]:
        """Field reference-px coordinates (x, y) of the window's pixels."""
        geometry = self.layout.geometry
        step = geometry.canvas_to_reference()
        half = geometry.half_extent()
        rows = (np.arange(self.window[0].start, self.window[0].stop) + 0.5) * step - half
        cols = (np.arange(self.window[1].start, self.window[1].stop) + 0.5) * step - half
        return cols[np.newaxis, :] + 0.0 * rows[:, np.newaxis], rows[:, np.newaxis] + 0.0 * cols

    def get(self, name: str) -> np.ndarray:
        """View of one map inside the window."""
        return getattr(self.maps, name)[self.window]

    def paint(
        self,
        region: np.ndarray,
        *,
        topo: bool | np.ndarray | None = None,
        intensity: float | np.ndarray | None = None,
        height: float | np.ndarray | None = None,
        material: int | None = None,
    ) -> None:
        """Set the given maps to the given values where ``region`` is True."""
        for name, value in (
            ("topo", topo),
            ("intensity", intensity),
            ("height", height),
            ("material", material),
        ):
            if value is None:
                continue
            target = self.get(name)
            target[region] = value[region] if isinstance(value, np.ndarray) else value

    def raise_material(
        self,
        region: np.ndarray,
        level: float,
        height: float = 1.0,
        material: int = Material.TOP,
        only_new: bool = True,
    ) -> None:
        """Add raised material (a bridge, particle); ``only_new`` leaves existing features."""
        target = region & ~self.get("topo") if only_new else region
        self.paint(target, topo=True, intensity=level, height=height, material=material)

    def clear(self, region: np.ndarray, level: float) -> None:
        """Remove raised material, leaving flat substrate of ``level``."""
        self.paint(region, topo=False, intensity=level, height=0.0, material=Material.SUBSTRATE)

    def add_extra(self, values: np.ndarray) -> None:
        """Add to the additive signal map."""
        self.get("extra")[...] += values
