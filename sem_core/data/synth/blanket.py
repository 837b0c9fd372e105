"""Blanket-film scenes (spec section 4): a nearly featureless film beside an array edge.

The film covers 55-85 % of the field; a patterned region (Manhattan lines with vias) shows where
an array ends: a strip along one side, a block in a corner or an island. Line and via defects
live in that region; particles, residue, scratches and cracks may land anywhere. The region is
present in every blanket image of every class, so it is no shortcut; its varied shape keeps
blanket images apart for near-duplicate detection.
"""

from __future__ import annotations

import numpy as np

from sem_core.data.synth.canvas import Material, SceneMaps
from sem_core.data.synth.layout import SceneLayout
from sem_core.data.synth.logic import build_logic


def build_blanket(rng: np.random.Generator, layout: SceneLayout) -> SceneMaps:
    """Rasterise a film with a patterned region; sets ``layout.host_region`` to that region.

    The region grows (up to the whole field) until it holds a via and two neighbouring lines,
    so every class has a host.

    Args:
        rng: The scene stream.
        layout: Layout with coordinates.

    Returns:
        The clean scene maps.
    """
    clean = build_logic(rng, layout)
    geometry, look = layout.geometry, layout.params.look
    half = geometry.size / (2 * geometry.scale)
    kind = ("strip", "corner", "island")[int(rng.integers(0, 3))]
    # the patterned region is at least 1.6 pitches across and 15-45 % of the field to start with
    least = min(1.6 * layout.params.pitch / (2 * half), 0.9)
    first, second = rng.uniform(0.15, 0.45), rng.uniform(0.35, 0.8)
    shift, flip_x, flip_y = rng.random(), rng.random() < 0.5, rng.random() < 0.5
    film_level = look.substrate if rng.random() < 0.5 else 0.5 * (look.substrate + look.top)
    if kind == "strip":
        width, height = max(first, least), 1.0
    elif kind == "corner":
        width, height = max(second, least), max(first / second, least)
    else:
        width, height = max(second * 0.8, least), max(first / (second * 0.8), least)
    for grow in (1.0, 1.4, 2.0, 3.0, 100.0):
        region = _region(
            kind, min(width * grow, 1.0), min(height * grow, 1.0), shift, flip_x, flip_y, half
        )
        layout.host_region = region
        if _hosts_everything(layout):
            break
    maps = clean
    x, y = geometry.field_coordinates()
    x, y = np.broadcast_arrays(x, y)
    x0, y0, x1, y1 = layout.host_region
    film = ~((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    maps.topo[film] = False
    maps.intensity[film] = film_level
    maps.height[film] = 0.0
    maps.material[film] = Material.SUBSTRATE
    layout.vias = tuple(via for via in layout.vias if layout.in_field(via.a, via.b))
    layout.tags.update(
        region_kind=kind,
        region=[float(v) for v in layout.host_region],
        film_level=float(film_level),
    )
    return maps


def _region(
    kind: str, width: float, height: float, shift: float, flip_x: bool, flip_y: bool, half: float
) -> tuple[float, float, float, float]:
    """Field rectangle (x0, y0, x1, y1) of the patterned region from fractions of the field."""
    left = 0.0 if kind != "island" else shift * (1.0 - width)
    top = 0.0 if kind in ("corner", "strip") else (1.0 - shift) * (1.0 - height)
    x0, x1 = -half + 2 * half * left, -half + 2 * half * (left + width)
    y0, y1 = -half + 2 * half * top, -half + 2 * half * (top + height)
    if flip_x:
        x0, x1 = -x1, -x0
    if flip_y:
        y0, y1 = -y1, -y0
    return float(x0), float(y0), float(x1), float(y1)


def _hosts_everything(layout: SceneLayout) -> bool:
    """True when the region holds a via and two neighbouring lines side by side."""
    from sem_core.data.synth.defects_lines import line_runs

    if not any(layout.in_field(via.a, via.b) for via in layout.vias):
        return False
    margin = 0.5 * layout.params.width
    for hosts, low, high in line_runs(layout, 1, margin):
        centre = 0.5 * (hosts[0].centre + hosts[1].centre)
        options = np.linspace(max(low, -1e3), min(high, 1e3), 61)
        if layout.in_field_many(centre, options, inset=4.0).any():
            return True
    return False
