"""The supersampled rendering canvas, the layout coordinate map and the editable scene maps.

Geometry is described in *layout* coordinates (a across lines, b along lines) in units of
reference pixels (a 224-px field), centred on the field. ``LayoutTransform`` maps every canvas
pixel to layout coordinates through a rotation and, for tilted views, a projective
foreshortening, so one description serves every view. ``SceneMaps`` holds what the SE renderer
needs per canvas pixel; defects edit it before rendering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sem_core.data.synth.config import field_scale


class Material:
    """Texture classes of ``SceneMaps.material`` (small ints, not an Enum, for array storage)."""

    SUBSTRATE = 0
    TOP = 1
    VIA = 2
    FOREIGN = 3
    COUNT = 4


@dataclass(frozen=True)
class FieldGeometry:
    """Output size, supersampling and margin of one render.

    Attributes:
        size: Output side (px).
        supersample: Canvas pixels per output pixel.
    """

    size: int
    supersample: int = 2

    @property
    def scale(self) -> float:
        """Output px per reference px (size / 224)."""
        return field_scale(self.size)

    @property
    def margin(self) -> int:
        """Margin (output px) cropped after drift and scan artefacts: 8 reference px, >= 3 px."""
        return max(3, math.ceil(8 * self.scale))

    @property
    def padded(self) -> int:
        """Side of the padded field in output px."""
        return self.size + 2 * self.margin

    @property
    def canvas(self) -> int:
        """Side of the supersampled canvas in canvas px."""
        return self.padded * self.supersample

    def canvas_to_reference(self) -> float:
        """Reference px per canvas px."""
        return 1.0 / (self.supersample * self.scale)

    def field_coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference-px coordinates (x, y) of every canvas pixel centre, origin at field centre."""
        step = self.canvas_to_reference()
        axis = (np.arange(self.canvas) + 0.5) * step - self.padded / (2 * self.scale)
        return axis[np.newaxis, :], axis[:, np.newaxis]

    def to_canvas(self, x: float, y: float) -> tuple[float, float]:
        """Canvas (row, col) of a reference-px field point."""
        factor = self.supersample * self.scale
        centre = self.canvas / 2
        return centre + y * factor, centre + x * factor

    def half_extent(self) -> float:
        """Half the padded field side in reference px."""
        return self.padded / (2 * self.scale)


@dataclass(frozen=True)
class LayoutTransform:
    """Field (x right, y down, reference px) to layout (a, b) coordinates.

    A tilted view sees the wafer plane foreshortened by cos(tilt) along y, with a weak keystone;
    the plane is then rotated by ``theta`` so that b runs along the lines.

    Attributes:
        theta: Rotation (radians) of the line direction from the image y axis.
        tilt: Stage tilt (radians); 0 for a top-down view.
        keystone: Perspective strength (1 / reference px); 0 for none.
    """

    theta: float = 0.0
    tilt: float = 0.0
    keystone: float = 0.0

    def plane(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Wafer-plane coordinates of field points (undoing tilt foreshortening)."""
        if self.tilt == 0.0 and self.keystone == 0.0:
            return x, y
        depth = 1.0 - self.keystone * y
        return x / depth, y / (math.cos(self.tilt) * depth)

    def to_layout(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Layout (a, b) of field points (x, y); broadcasts."""
        px, py = self.plane(x, y)
        cos_t, sin_t = math.cos(self.theta), math.sin(self.theta)
        return px * cos_t + py * sin_t, -px * sin_t + py * cos_t

    def to_field(self, a: float, b: float) -> tuple[float, float]:
        """Field point (x, y) of a layout point (inverse of ``to_layout``)."""
        cos_t, sin_t = math.cos(self.theta), math.sin(self.theta)
        px, py = a * cos_t - b * sin_t, a * sin_t + b * cos_t
        if self.tilt == 0.0 and self.keystone == 0.0:
            return px, py
        # y = py*cos(t)*depth with depth = 1 - k*y  =>  y = py*c / (1 + k*py*c)
        c = math.cos(self.tilt)
        y = py * c / (1.0 + self.keystone * py * c)
        return px * (1.0 - self.keystone * y), y

    def layout_extent(self, half: float) -> tuple[float, float, float, float]:
        """(a_min, a_max, b_min, b_max) covering a square field of half-side ``half``."""
        corners = np.array([(-half, -half), (half, -half), (-half, half), (half, half)])
        a, b = self.to_layout(corners[:, 0], corners[:, 1])
        return float(a.min()), float(a.max()), float(b.min()), float(b.max())


MAP_NAMES: tuple[str, ...] = ("topo", "intensity", "height", "material", "extra")


@dataclass
class SceneMaps:
    """Per-canvas-pixel description of the sample, edited by defects before rendering.

    Attributes:
        topo: Raised regions; their boundaries give the SE edge bloom.
        intensity: Base grey level (0-1 signal scale) before bloom and texture.
        height: Step-height fraction that scales bloom (1 for full features).
        material: ``Material`` code that selects the texture field.
        extra: Additive signal (crack rims, scratch lips, particle halos and shadows).
    """

    topo: np.ndarray
    intensity: np.ndarray
    height: np.ndarray
    material: np.ndarray
    extra: np.ndarray
    touched: list = field(default_factory=list, compare=False, repr=False)
    """Canvas windows edited since the copy (None = everything); limits ``difference``."""

    @classmethod
    def blank(cls, side: int, level: float) -> SceneMaps:
        """A flat substrate of grey ``level`` on a ``side`` x ``side`` canvas."""
        shape = (side, side)
        return cls(
            np.zeros(shape, bool),
            np.full(shape, float(level)),
            np.zeros(shape),
            np.zeros(shape, np.int8),
            np.zeros(shape),
        )

    def copy(self) -> SceneMaps:
        """Deep copy with an empty edit record (defects edit a copy; the twin keeps this one)."""
        return SceneMaps(*(getattr(self, name).copy() for name in MAP_NAMES))

    def touch(self, window: tuple[slice, slice] | None) -> None:
        """Record that ``window`` (None: the whole canvas) may have been edited."""
        self.touched.append(window)

    def edited_window(self) -> tuple[slice, slice] | None:
        """Bounding window of all recorded edits (None when the whole canvas may differ)."""
        if not self.touched or any(window is None for window in self.touched):
            return None
        rows = [w[0] for w in self.touched]
        cols = [w[1] for w in self.touched]
        return (
            slice(min(r.start for r in rows), max(r.stop for r in rows)),
            slice(min(c.start for c in cols), max(c.stop for c in cols)),
        )

    def difference(self, other: SceneMaps) -> np.ndarray:
        """Boolean map of canvas pixels where any map differs from ``other``."""
        window = self.edited_window() or (slice(None), slice(None))
        changed = np.zeros(self.topo.shape, bool)
        for name in MAP_NAMES:
            changed[window] |= getattr(self, name)[window] != getattr(other, name)[window]
        return changed
