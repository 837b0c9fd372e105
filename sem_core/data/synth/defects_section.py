"""Defects as they appear in a cross-section (spec section 4; choices in docs/synthetic-data.md).

Bridges join two neighbouring line cross-sections with a smooth neck of line metal; Shorts are
brighter, irregular filaments or extrusions between neighbours; Opens are thin voids cutting a
plug or line (separation at an interface); Vias are plug voids (keyhole), half-filled or
(``hard`` only) missing plugs; Scratches are notches in the top surface with smeared lips.
Cracks and Other use the generic editors (they ignore the pattern in every view).
"""

from __future__ import annotations

import numpy as np

from sem_core.data.synth.canvas import Material, SceneMaps
from sem_core.data.synth.defect_base import (
    DefectRecord,
    Hardness,
    Painter,
    lerp,
    log_lerp,
    place_point,
    smooth_noise,
)
from sem_core.data.synth.layout import SceneLayout, SectionHost


def _hosts(layout: SceneLayout, kind: str) -> list[SectionHost]:
    half = layout.geometry.size / (2 * layout.geometry.scale)
    return sorted(
        (h for h in layout.sections if h.kind == kind and abs(0.5 * (h.x0 + h.x1)) < 0.9 * half),
        key=lambda h: h.x0,
    )


def _neighbour_pair(
    layout: SceneLayout, x: float, y: float
) -> tuple[SectionHost, SectionHost] | None:
    """Two neighbouring line cross-sections of one metal level, nearest to (x, y)."""
    lines = _hosts(layout, "line")
    by_level: dict[float, list[SectionHost]] = {}
    for host in lines:
        by_level.setdefault(host.y0, []).append(host)
    pairs = [pair for hosts in by_level.values() for pair in zip(hosts[:-1], hosts[1:])]
    if not pairs:
        return None
    return min(
        pairs, key=lambda p: abs(0.5 * (p[0].x1 + p[1].x0) - x) + abs(0.5 * (p[0].y0 + p[0].y1) - y)
    )


def _nearest_host(hosts: list[SectionHost], x: float, y: float) -> SectionHost:
    return min(hosts, key=lambda h: abs(0.5 * (h.x0 + h.x1) - x) + abs(0.5 * (h.y0 + h.y1) - y))


def _painter(
    layout: SceneLayout, maps: SceneMaps, x0: float, y0: float, x1: float, y1: float
) -> Painter:
    return Painter(maps, layout, layout.field_window([(x0, y0), (x1, y1)], pad=4.0))


def _grow(hardness: Hardness) -> float:
    """``standard``: each failed visibility-contract try makes a section defect 30 % larger."""
    return 1.0 + 0.3 * hardness.boost if hardness.preset.strict_rules else 1.0


def bridge(
    rng: np.random.Generator,
    layout: SceneLayout,
    maps: SceneMaps,
    hardness: Hardness,
    noise_sigma: float,
) -> DefectRecord | None:
    """A smooth neck of line metal joining two line cross-sections."""
    z, v = hardness.z, hardness.v
    x, y = place_point(rng, layout, hardness.preset.central_field)
    pair = _neighbour_pair(layout, x, y)
    if pair is None:
        return None
    left, right = pair
    top_draw, position_draw = rng.random(2)
    height = min(left.y1 - left.y0, layout.params.width * log_lerp(0.3, 1.5, z) * _grow(hardness))
    y0 = left.y0 if top_draw < 0.5 else left.y0 + position_draw * (left.y1 - left.y0 - height)
    painter = _painter(layout, maps, left.x1 - 2, y0, right.x0 + 2, y0 + height)
    fx, fy = painter.field_xy()
    u = (fx - 0.5 * (left.x1 + right.x0)) / (0.5 * (right.x0 - left.x1) + 2.0)
    w = (fy - (y0 + 0.5 * height)) / (0.5 * height)
    region = np.abs(u) ** 4 + np.abs(w) ** 2 <= 1.0
    fraction = lerp(0.5, 1.0, v)
    base = painter.get("intensity").copy()
    painter.paint(
        region & ~painter.get("topo"),
        topo=True,
        intensity=base + fraction * (left.level - base),
        height=fraction,
        material=Material.TOP,
    )
    return DefectRecord(
        "Bridges",
        "section_neck",
        float(0.5 * (left.x1 + right.x0)),
        y0 + 0.5 * height,
        {"neck_height": height, "fill": fraction},
        hard_subtype=bool(height < 0.4 * layout.params.width or fraction < 0.7),
    )


def short(
    rng: np.random.Generator,
    layout: SceneLayout,
    maps: SceneMaps,
    hardness: Hardness,
    noise_sigma: float,
) -> DefectRecord | None:
    """A bright irregular extrusion or filament between two line cross-sections."""
    z, v = hardness.z, hardness.v
    x, y = place_point(rng, layout, hardness.preset.central_field)
    pair = _neighbour_pair(layout, x, y)
    if pair is None:
        return None
    left, right = pair
    filament, position, bright = rng.random(3)
    y_mid = lerp(left.y0, left.y1, position)
    thickness = layout.params.width * (lerp(0.1, 0.35, z) if filament < 0.5 else lerp(0.4, 1.2, z))
    painter = _painter(
        layout, maps, left.x1 - 2, y_mid - thickness - 3, right.x0 + 2, y_mid + thickness + 3
    )
    fx, fy = painter.field_xy()
    step = layout.geometry.canvas_to_reference()
    noise = smooth_noise(rng, fx.shape, max(1.0, 0.5 * thickness / step))
    slope = (rng.random() - 0.5) * 0.6
    centre = y_mid + slope * (fx - 0.5 * (left.x1 + right.x0))
    region = (
        (np.abs(fy - centre) <= 0.5 * thickness * (1 + 0.4 * noise))
        & (fx >= left.x1 - 1)
        & (fx <= right.x0 + 1)
    )
    factor = max(1.0 + lerp(0.3, 1.0, v) * lerp(0.05, 0.4, bright),
                 hardness.preset.min_short_brightness)
    level = max(left.level, right.level) * factor
    painter.raise_material(region, level, height=lerp(0.5, 1.2, v), only_new=True)
    return DefectRecord(
        "Shorts",
        "section_filament" if filament < 0.5 else "section_extrusion",
        float(0.5 * (left.x1 + right.x0)),
        float(y_mid),
        {"thickness": thickness, "level": level},
        hard_subtype=bool(filament < 0.5 and z < 0.3),
    )


def open_cut(
    rng: np.random.Generator,
    layout: SceneLayout,
    maps: SceneMaps,
    hardness: Hardness,
    noise_sigma: float,
) -> DefectRecord | None:
    """A thin void separating a plug (or line) from what it should contact."""
    z, v = hardness.z, hardness.v
    x, y = place_point(rng, layout, hardness.preset.central_field)
    hosts = _hosts(layout, "plug") or _hosts(layout, "line")
    if not hosts:
        return None
    host = _nearest_host(hosts, x, y)
    interface, position = rng.random(2)
    gap = lerp(0.6, 4.0, z) * _grow(hardness)
    y0 = host.y0 if interface < 0.5 else lerp(host.y0, host.y1 - gap, position)
    painter = _painter(layout, maps, host.x0 - 3, y0 - 2, host.x1 + 3, y0 + gap + 2)
    fx, fy = painter.field_xy()
    region = (fy >= y0) & (fy <= y0 + gap) & (painter.get("topo"))
    levels = layout.tags.get("levels", {})
    void = levels.get("void", 0.03)
    level = void + 0.4 * (1 - v) * (host.level - void)
    painter.paint(region, topo=False, intensity=level, height=0.0, material=Material.SUBSTRATE)
    return DefectRecord(
        "Opens",
        "section_interface" if interface < 0.5 else "section_cut",
        float(0.5 * (host.x0 + host.x1)),
        float(y0),
        {"gap": gap, "host": host.kind},
        hard_subtype=bool(gap < 1.0),
    )


PAIR_AFTER = 5
"""``standard``: after this many failed contract tries an unfilled plug takes its neighbour too."""

KEYHOLE_SHARE = 0.4 / 0.7
"""``standard``: the keyholes' share of section via defects (``hard``: keyhole 0.4, missing 0.3,
half-filled 0.3; ``standard`` draws no missing plug)."""


def _plug_region(layout: SceneLayout, maps: SceneMaps, host: SectionHost):
    """A painter around a plug and the mask of the plug's own material in it."""
    painter = _painter(layout, maps, host.x0 - 3, host.y0 - 3, host.x1 + 3, host.y1 + 3)
    fx, fy = painter.field_xy()
    inside = (painter.get("topo") & (fy >= host.y0) & (fy <= host.y1)
              & (fx >= host.x0 - 1) & (fx <= host.x1 + 1))
    return painter, inside


def via_void(
    rng: np.random.Generator,
    layout: SceneLayout,
    maps: SceneMaps,
    hardness: Hardness,
    noise_sigma: float,
) -> DefectRecord | None:
    """Plug defects: keyhole void, missing plug (``hard`` only), half-filled plug."""
    z, v = hardness.z, hardness.v
    x, y = place_point(rng, layout, hardness.preset.central_field)
    plugs = _hosts(layout, "plug")
    if not plugs:
        return None
    host = _nearest_host(plugs, x, y)
    kind_draw, fill_draw = rng.random(2)
    escalated = hardness.preset.strict_rules and hardness.boost >= 3
    if hardness.preset.strict_rules:
        # Plugs sit under some lines only, so a missing plug is a designed absence (as a logic
        # segment without a landing): its share goes to the voids in proportion, and after
        # failed contract tries the plug is left unfilled down to its deepest void.
        subtype = "half_filled" if escalated or kind_draw >= KEYHOLE_SHARE else "keyhole"
        fill_draw = 0.0 if escalated else fill_draw
    else:
        subtype = "keyhole" if kind_draw < 0.4 else "missing" if kind_draw < 0.7 else "half_filled"
    painter, in_plug = _plug_region(layout, maps, host)
    fx, fy = painter.field_xy()
    levels = layout.tags.get("levels", {})
    void = levels.get("void", 0.03) + 0.5 * (1 - v) * (
        levels.get("dielectric", 0.2) - levels.get("void", 0.03)
    )
    centre, half_width, depth = (
        0.5 * (host.x0 + host.x1),
        0.5 * (host.x1 - host.x0),
        host.y1 - host.y0,
    )
    if subtype == "keyhole":
        width, length = lerp(0.2, 0.5, z) * half_width, lerp(0.3, 0.8, z) * depth
        region = in_plug & (
            ((fx - centre) / width) ** 2 + ((fy - host.y0 - 0.55 * depth) / (0.5 * length)) ** 2
            <= 1
        )
        painter.paint(region, topo=False, intensity=void, height=0.0, material=Material.SUBSTRATE)
    elif subtype == "missing":
        fill = levels.get("dielectric", 0.2) * lerp(1.0, 0.8, v)
        painter.paint(in_plug, topo=False, intensity=fill, height=0.0,
                      material=Material.SUBSTRATE)
    else:
        # `standard`: the void takes at least half the plug, so it is not read as the thin
        # interface gap of an open (blind review C6.7)
        filled = lerp(0.3, 0.5 if hardness.preset.strict_rules else 0.7, fill_draw)
        voided = [host]
        if escalated and hardness.boost >= PAIR_AFTER and len(plugs) > 1:
            # still too small to pass: its neighbour is left unfilled too (a pair of plugs)
            voided.append(min((h for h in plugs if h is not host),
                              key=lambda h: abs(h.x0 + h.x1 - host.x0 - host.x1)))
        for plug in voided:
            plug_painter, inside = (painter, in_plug) if plug is host else _plug_region(
                layout, maps, plug)
            _, py = plug_painter.field_xy()
            plug_painter.paint(inside & (py < plug.y1 - filled * (plug.y1 - plug.y0)),
                               topo=False, intensity=void, height=0.0,
                               material=Material.SUBSTRATE)
    return DefectRecord(
        "Vias",
        f"section_{subtype}",
        float(centre),
        float(host.y0 + 0.5 * depth),
        {},
        hard_subtype=subtype == "keyhole" and z < 0.3,
    )


NOTCH_MIN_WIDTH = 24.0
"""``standard``: the narrowest scratch notch in a section, reference px (spec B5 scratch widths
are for top-down views; in section a scratch shows only as this notch)."""


def _clear_of_pads(layout: SceneLayout, x: float, width: float) -> float:
    """``x`` moved to the nearest place whose notch of ``width`` clears every pad and bump on
    the surface and stays inside 90 % of the field; ``x`` itself when no such place exists."""
    half = 0.9 * layout.geometry.size / (2 * layout.geometry.scale) - 0.5 * width
    reach = 0.5 * width + 2.0
    blocked = [(host.x0 - reach, host.x1 + reach) for host in layout.sections
               if host.kind in ("pad", "bump")]
    candidates = [x] + [edge for low, high in blocked for edge in (low, high)]
    free = [c for c in candidates if abs(c) <= half
            and not any(low < c < high for low, high in blocked)]
    return min(free, key=lambda c: abs(c - x)) if free else x


def surface_notch(
    rng: np.random.Generator,
    layout: SceneLayout,
    maps: SceneMaps,
    hardness: Hardness,
    noise_sigma: float,
) -> DefectRecord | None:
    """A CMP scratch seen in section: a notch in the top surface with smeared lips."""
    if layout.surface_y is None:
        return None
    z, v = hardness.z, hardness.v
    x, _ = place_point(rng, layout, hardness.preset.central_field)
    if hardness.preset.strict_rules:
        # A notch of a few px next to a domed bump reads as a particle (blind review C6.7):
        # `standard` cuts a wide, deep groove in the flat surface, clear of any pad.
        width = log_lerp(NOTCH_MIN_WIDTH, 2.0 * NOTCH_MIN_WIDTH, z) * _grow(hardness)
        depth = lerp(0.6, 1.0, v) * 0.6 * width
        x = _clear_of_pads(layout, x, width)
    else:
        width = log_lerp(6.0, 30.0, z) * _grow(hardness)
        depth = lerp(0.3, 1.0, v) * 0.6 * width
    surface = layout.surface_y
    painter = _painter(layout, maps, x - width - 4, surface - 4, x + width + 4, surface + depth + 4)
    fx, fy = painter.field_xy()
    profile = surface + depth * np.clip(1.0 - np.abs(fx - x) / (0.5 * width), 0.0, 1.0)
    region = (fy >= surface) & (fy < profile)
    above = painter.get("intensity")[0:1, :].copy()
    above = np.broadcast_to(above, fx.shape)
    painter.paint(
        region,
        topo=False,
        intensity=np.ascontiguousarray(above),
        height=0.0,
        material=Material.SUBSTRATE,
    )
    lips = (np.abs(np.abs(fx - x) - 0.5 * width) < 1.5) & (np.abs(fy - surface) < 2.0)
    wall = (fy >= profile) & (fy < profile + 2.0) & (np.abs(fx - x) < 0.5 * width)
    painter.add_extra(np.where(lips | wall, 0.12 * v + 0.04, 0.0))
    return DefectRecord(
        "Scratches",
        "section_notch",
        float(x),
        float(surface),
        {"width": width, "depth": depth},
        hard_subtype=bool(depth < 3.0),
    )
