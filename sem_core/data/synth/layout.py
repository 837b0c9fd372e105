"""What a built scene offers to the defect editors: lines, vias, films, and where they are.

Builders return the clean ``SceneMaps`` together with a ``SceneLayout``; defect editors pick
their hosts (two neighbouring lines for a bridge, a via for a via defect) from it and draw in
layout coordinates, so rotation and tilt apply to defects exactly as to the pattern.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sem_core.data.synth.canvas import FieldGeometry, LayoutTransform
from sem_core.data.synth.scene_params import SceneParams


@dataclass(frozen=True)
class LineHost:
    """A straight line or logic segment along b, in layout reference px."""

    track: int
    centre: float
    width: float
    level: float
    start: float = -math.inf
    end: float = math.inf
    floating: bool = False

    def covers(self, b: float, margin: float = 0.0) -> bool:
        """True when position ``b`` lies on the segment at least ``margin`` from its ends."""
        return self.start + margin <= b <= self.end - margin


@dataclass(frozen=True)
class ViaHost:
    """A via, contact hole or plug, in layout reference px.

    Attributes:
        raised: True for a bright plug (metal looks), False for a dark hole.
        square: True for a logic via landing (square), False for a round array via.
        surround_raised, surround_level, surround_material: What lies around the via, used to
            erase it when a defect removes or reshapes it.
    """

    a: float
    b: float
    radius: float
    level: float
    raised: bool
    square: bool
    surround_raised: bool
    surround_level: float
    surround_material: int
    floating: bool = False


@dataclass(frozen=True)
class SectionHost:
    """A rectangle-like element of a cross-section (line end-on, plug, pad, bump), field px."""

    kind: str
    x0: float
    x1: float
    y0: float
    y1: float
    level: float
    taper: float = 0.0


@dataclass
class SceneLayout:
    """The built scene's geometry for defect editors.

    Attributes:
        params: The scene parameters.
        geometry: The canvas geometry.
        transform: Field to layout map.
        a, b: Layout coordinates of every canvas pixel (reference px).
        lines, vias: Hosts of top-down patterns (logic segments, L/S lines, vias).
        sections: Hosts of a cross-section (lines end-on, plugs, pads, bumps).
        surface_y: Field y of the top surface of a cross-section (None otherwise).
        host_region: Field rectangle (x0, y0, x1, y1) holding the patterned hosts; None = all.
        textures: Two unit-variance texture fields on the padded output grid.
        tags: Scene facts recorded in the sidecar (counts, sub-kinds).
    """

    params: SceneParams
    geometry: FieldGeometry
    transform: LayoutTransform
    a: np.ndarray
    b: np.ndarray
    lines: tuple[LineHost, ...] = ()
    vias: tuple[ViaHost, ...] = ()
    sections: tuple[SectionHost, ...] = ()
    surface_y: float | None = None
    host_region: tuple[float, float, float, float] | None = None
    textures: tuple[np.ndarray, np.ndarray] | None = None
    tags: dict = field(default_factory=dict)

    def in_field(self, a: float, b: float, inset: float = 0.0) -> bool:
        """True when layout point (a, b) falls inside the visible field (minus ``inset``)."""
        x, y = self.transform.to_field(a, b)
        half = self.geometry.size / (2 * self.geometry.scale) - inset
        if abs(x) > half or abs(y) > half:
            return False
        if self.host_region is None:
            return True
        x0, y0, x1, y1 = self.host_region
        return x0 <= x <= x1 and y0 <= y <= y1

    def in_field_many(self, a: float, b: np.ndarray, inset: float = 0.0) -> np.ndarray:
        """Vectorised ``in_field`` for one a and many b values."""
        x, y = self.transform.to_field(np.full(np.shape(b), a), np.asarray(b, np.float64))
        half = self.geometry.size / (2 * self.geometry.scale) - inset
        inside = (np.abs(x) <= half) & (np.abs(y) <= half)
        if self.host_region is not None:
            x0, y0, x1, y1 = self.host_region
            inside &= (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        return inside

    def canvas_window(self, a: float, b: float, radius: float) -> tuple[slice, slice]:
        """Canvas slices covering a layout disc of ``radius`` around (a, b), clipped."""
        points = [
            self.transform.to_field(a + da, b + db)
            for da in (-radius, radius)
            for db in (-radius, radius)
        ]
        return self.field_window(points)

    def field_window(
        self, points: list[tuple[float, float]], pad: float = 2.0
    ) -> tuple[slice, slice]:
        """Canvas slices covering field points (reference px) plus ``pad`` reference px."""
        rows, cols = zip(*(self.geometry.to_canvas(x, y) for x, y in points))
        factor = self.geometry.supersample * self.geometry.scale
        extra = pad * factor + 1
        side = self.geometry.canvas
        r0, r1 = max(0, int(min(rows) - extra)), min(side, int(math.ceil(max(rows) + extra)))
        c0, c1 = max(0, int(min(cols) - extra)), min(side, int(math.ceil(max(cols) + extra)))
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))
