"""Malformed vias (spec B5 Vias): missing (or ghost), merged, misshapen, under/oversized and
partially open, on round array vias and square logic landings alike; 20 % of images have 2-3
defective vias. Severities sit outside the nuisance ranges (aspect > 1.3 vs <= 1.1 nuisance,
radius changes >= 25 % vs 3 % CD scatter)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from sem_core.data.synth.canvas import Material, SceneMaps
from sem_core.data.synth.defect_base import (
    DefectRecord,
    Hardness,
    Painter,
    lerp,
    place_point,
    segment_distance,
)
from sem_core.data.synth.layout import SceneLayout, ViaHost

SUBTYPES: dict[str, float] = {
    "missing": 0.25,
    "merged": 0.20,
    "misshapen": 0.20,
    "size": 0.15,
    "partial": 0.20,
}


MAX_EXTRA = 12
"""``standard``: at most this many neighbours malformed with the first via."""
MISALIGNED_RADIUS = 3.5
"""``standard`` escalation: the smallest drawn radius (reference px) of a slipped landing."""
MISALIGNED_STEP = 0.6
"""``standard`` escalation: a slipped landing differs from the dielectric by at least this share
of the scene step (less only where a hole cannot be darker than black)."""
FINE_VIA_RADIUS = 5.0
"""``standard``: vias smaller than this radius (reference px) are malformed as a cluster, about
as many as make up the area of one via of this radius, so the defect is not a few pixels."""
ESCALATE_AFTER = 2
SWELL_AFTER = 4
SWELL_DRAW = 0.7
"""A sub-type draw that lands on "size" (0.65-0.80 in ``SUBTYPES``' order)."""
"""``standard``: after this many failed contract tries, pick a visible via and a clear sub-type."""
VISIBLE_VIA = 0.3
"""A via is visible when its level differs from its surround by this share of the scene step."""


def _contrast(host: ViaHost) -> float:
    return abs(host.level - host.surround_level)


def _scene_step(layout: SceneLayout) -> float:
    return abs(layout.params.look.contrast)


def _subtype(draw: float) -> str:
    cumulative = 0.0
    for name, rate in SUBTYPES.items():
        cumulative += rate
        if draw < cumulative:
            return name
    return "partial"


def _shape(
    host: ViaHost,
    a: np.ndarray,
    b: np.ndarray,
    radius: float,
    aspect: float = 1.0,
    angle: float = 0.0,
    harmonic: float = 0.0,
    phase: float = 0.0,
) -> np.ndarray:
    """Via region: a (rotated, stretched) disc or square; optional 3-fold harmonic contour."""
    da, db = a - host.a, b - host.b
    u = da * math.cos(angle) + db * math.sin(angle)
    t = -da * math.sin(angle) + db * math.cos(angle)
    u, t = u / math.sqrt(aspect), t * math.sqrt(aspect)
    theta = np.arctan2(t, u)
    contour = (
        1.0 + harmonic * np.cos(2 * theta + phase) + 0.5 * harmonic * np.cos(3 * theta - phase)
    )
    if host.square:
        # the harmonic applies to square landings too (version 1 ignored it there, so an
        # "irregular" landing was drawn unchanged: a Clean image labelled Vias)
        return np.maximum(np.abs(u), np.abs(t)) <= radius * contour
    return np.hypot(u, t) <= radius * contour


def _erase(painter: Painter, host: ViaHost, reach: float) -> None:
    """Replace the via by what surrounds it."""
    da, db = painter.a - host.a, painter.b - host.b
    near = (np.maximum(np.abs(da), np.abs(db)) if host.square else np.hypot(da, db)) <= reach
    region = near & (painter.get("material") == Material.VIA)
    painter.paint(
        region,
        topo=host.surround_raised,
        intensity=host.surround_level,
        height=1.0 if host.surround_raised else 0.0,
        material=host.surround_material,
    )


def _draw(painter: Painter, host: ViaHost, region: np.ndarray, level: float | np.ndarray) -> None:
    painter.paint(
        region,
        topo=host.raised,
        intensity=level,
        height=1.0 if host.raised else 0.0,
        material=Material.VIA,
    )


LOGIC_MERGED = 0.3
"""``standard``: share of logic via defects drawn as merged landings (where a neighbour is close)."""


def _central_landing(layout: SceneLayout, template: ViaHost, a: float, b: float) -> ViaHost:
    """A landing like ``template`` on the line nearest the layout point (a, b) with room for
    it in the central 85 % of the field: where every landing of a logic close-up lies at the
    field's edge, the misplaced landing is drawn there (a line without a landing is normal in
    logic). ``template`` itself when no line has room."""
    margin = 2.0 * template.radius
    best, best_cost = template, math.inf
    for line in layout.lines:
        if line.end - line.start <= 2 * margin:
            continue
        spot = replace(template, a=line.centre, b=float(np.clip(b, line.start + margin,
                                                                  line.end - margin)),
                       surround_level=line.level)
        cost = abs(line.centre - a) + abs(spot.b - b)
        if cost < best_cost and _off_centre(layout, spot) <= 0.85:
            best, best_cost = spot, cost
    return best


def _off_centre(layout: SceneLayout, host: ViaHost) -> float:
    """How far ``host``'s centre lies from the field's centre, in half-fields (max norm)."""
    half = layout.geometry.size / (2 * layout.geometry.scale)
    x, y = layout.transform.to_field(host.a, host.b)
    return max(abs(float(x)), abs(float(y))) / half


def _partner(layout: SceneLayout, host: ViaHost) -> list[ViaHost]:
    """``host``'s nearest neighbour if it is close enough to merge with, else nothing."""
    return [other for other in _neighbours(layout, host, 1)
            if math.hypot(other.a - host.a, other.b - host.b) <= 5.0 * host.radius]


def _neighbours(layout: SceneLayout, host: ViaHost, count: int) -> list[ViaHost]:
    others = sorted(
        (h for h in layout.vias if h is not host),
        key=lambda h: math.hypot(h.a - host.a, h.b - host.b),
    )
    return others[:count]


def via_defect(
    rng: np.random.Generator,
    layout: SceneLayout,
    maps: SceneMaps,
    hardness: Hardness,
    noise_sigma: float,
) -> DefectRecord | None:
    """Malform 1 (80 %) or 2-3 (20 %) vias near a placed point."""
    if not layout.vias:
        return None
    z, v = hardness.z, hardness.v
    x, y = place_point(rng, layout, hardness.preset.central_field)
    a, b = (float(t) for t in layout.transform.to_layout(np.array(x), np.array(y)))
    draw = rng.random()
    several, extra = rng.random() < 0.2, int(rng.integers(1, 3))
    strict, boost = hardness.preset.strict_rules, hardness.boost
    escalated = strict and boost >= ESCALATE_AFTER
    candidates = layout.vias
    if escalated:
        # failed contract tries: a via that stands out of its surround (a landing on a line of
        # its own level can be reshaped invisibly), and the sub-types a lattice shows best
        visible = tuple(h for h in layout.vias if _contrast(h) >= VISIBLE_VIA * _scene_step(layout))
        candidates = visible or candidates
    if strict:
        # a via cut by the field's edge cannot be judged (blind review C6.7): the central
        # share first, then most of the field, else the via nearest the field's centre
        central = hardness.preset.central_field
        for reach in (0.8 if central is None else central, 0.85):
            inside = tuple(h for h in candidates if _off_centre(layout, h) <= reach)
            if inside:
                candidates = inside
                break
        else:
            nearest = min(candidates, key=lambda h: _off_centre(layout, h))
            candidates = (_central_landing(layout, nearest, a, b) if nearest.square else nearest,)
    first = min(candidates, key=lambda h: math.hypot(h.a - a, h.b - b))
    if escalated:
        # missing in a lattice, then a cluster of swollen vias (a lattice too fine to resolve
        # one via still shows a patch of them); a misaligned landing in logic (below)
        draw = 0.0 if boost < SWELL_AFTER else SWELL_DRAW
    elif strict and first.square and draw < SUBTYPES["missing"]:
        # `standard`: in logic a segment without a landing is normal, so a missing landing is
        # no defect; its share goes to the other sub-types in proportion (spec B5 Vias)
        missing = SUBTYPES["missing"]
        draw = missing + draw / missing * (1.0 - missing)
    subtype = "misaligned" if escalated and first.square else _subtype(draw)
    if strict and first.square and not escalated:
        # `standard`: a logic landing has no lattice beside it to compare its size, floor or
        # outline with (blind review C6.7 read such partial, resized and misshapen landings as
        # Clean), so in logic a via defect is one that needs no comparison: the landing slips
        # off its line, or it joins a close neighbour.
        subtype = "merged" if draw < LOGIC_MERGED and _partner(layout, first) else "misaligned"
    if strict and first.radius < FINE_VIA_RADIUS:
        several = True
        extra = max(extra, min(math.ceil((FINE_VIA_RADIUS / first.radius) ** 2) - 1, MAX_EXTRA))
    if strict and boost:
        # a failed contract try: more vias malformed together (``Hardness.boost``)
        several, extra = True, min(extra + 2 * boost, MAX_EXTRA)
    hosts = [first] + (_neighbours(layout, first, extra) if several else [])
    details = []
    for host in hosts:
        details.append(
            _malform(rng, layout, maps, host, subtype, z, v, hardness.preset.min_step_fraction,
                     subtype_forced=escalated)
        )
    fx, fy = layout.transform.to_field(first.a, first.b)
    params = {"count": len(hosts), **details[0]}
    variant = params.pop("variant", subtype)  # "merged" without a close neighbour is misshapen
    return DefectRecord("Vias", variant, fx, fy, params, hard_subtype=variant == "partial")


def _malform(
    rng: np.random.Generator,
    layout: SceneLayout,
    maps: SceneMaps,
    host: ViaHost,
    subtype: str,
    z: float,
    v: float,
    min_step: float = 0.0,
    subtype_forced: bool = False,
) -> dict:
    """Apply one sub-type to one via; returns its parameters (``min_step``: the smallest
    partial-open floor fill; ``subtype_forced``: a contract escalation, so "size" swells)."""
    draws = rng.random(6)
    radius = host.radius
    partner = _partner(layout, host)
    span = radius * 3.0
    if subtype == "misaligned":
        span = max(radius, MISALIGNED_RADIUS) * 3.0 + layout.params.width
    if subtype == "merged" and partner:
        span += math.hypot(partner[0].a - host.a, partner[0].b - host.b)
    painter = Painter(maps, layout, layout.canvas_window(host.a, host.b, span))
    if painter.empty:
        return {}
    a, b = painter.a, painter.b
    _erase(painter, host, 1.5 * radius)
    if subtype == "misaligned":
        # `standard` escalation in logic: the landing slips off its line into the space
        # far enough that most of it lies over the dielectric beside the line
        # A landing of a fine pattern is drawn at least MISALIGNED_RADIUS wide, or a slip of a
        # pixel or two would be the whole defect.
        drawn = max(radius * 1.3, MISALIGNED_RADIUS)
        look = layout.params.look
        # Over the dielectric the landing must differ from it: a plug as bright as the
        # dielectric, or a hole about as dark, would vanish there (measured: C-half 1.2-1.5).
        apart = MISALIGNED_STEP * abs(look.contrast)
        if host.raised:
            level = max(host.level, look.substrate + apart)
        else:
            level = min(host.level, max(look.substrate - apart, 0.0))
        # A hole that cannot be made dark enough there slips only half off, so that it still
        # bites into the line's edge, which is where it shows.
        slip = (0.4, 0.9) if abs(level - look.substrate) >= apart else (0.0, 0.4)
        offset = 0.5 * layout.params.width + lerp(*slip, draws[0]) * drawn
        shift = offset * (1 if draws[1] < 0.5 else -1)
        moved = replace(host, a=host.a + shift)
        inward = replace(host, a=host.a - shift)
        if _off_centre(layout, moved) > max(0.85, _off_centre(layout, inward)):
            # a landing slipped out of view shows nothing (blind review C6.7): slip inward
            shift, moved = -shift, inward
        _draw(painter, host, _shape(moved, a, b, drawn), level)
        return {"shift": shift, "drawn_radius": drawn, "level": level}
    if subtype == "missing":
        ghost = 0.2 * (1.0 - v) if draws[0] < 0.5 else 0.0
        region = _shape(host, a, b, radius)
        level = host.surround_level + ghost * (host.level - host.surround_level)
        painter.paint(region, intensity=level)
        return {"ghost": ghost}
    if subtype == "merged" and partner:
        other = partner[0]
        neck = lerp(0.3, 1.0, z) * 2 * radius
        _draw(painter, host, _shape(host, a, b, radius), host.level)
        link = segment_distance(a, b, (host.a, host.b), (other.a, other.b)) <= 0.5 * neck
        depth = lerp(0.4, 1.0, v)
        link &= painter.get("material") != Material.VIA
        level = host.surround_level + depth * (host.level - host.surround_level)
        _draw(painter, host, link, level)
        return {"neck_width": neck, "neck_depth": depth}
    if subtype in ("misshapen", "merged"):
        if draws[1] < 0.5:
            aspect = lerp(1.3, 2.5, z)
            region = _shape(host, a, b, radius, aspect=aspect, angle=draws[2] * math.pi)
            _draw(painter, host, region, host.level)
            return {"aspect": aspect, "mode": "elongated", "variant": "misshapen"}
        amplitude = lerp(0.15, 0.3, z)
        region = _shape(host, a, b, radius, harmonic=amplitude, phase=draws[2] * 2 * math.pi)
        _draw(painter, host, region, host.level)
        return {"harmonic": amplitude, "mode": "irregular", "variant": "misshapen"}
    if subtype == "size":
        oversize = draws[3] >= 0.5 or subtype_forced
        factor = lerp(1.3, 1.6, z) if oversize else lerp(0.75, 0.4, z)
        _draw(painter, host, _shape(host, a, b, radius * factor), host.level)
        return {"radius_factor": factor}
    # The floor rises from the via level toward the surround as visibility v grows: v = 1 is the
    # most visible partial open, as for every other sub-type (spec B5: v sets contrast).
    fill = max(v * lerp(0.4, 0.8, draws[4]), min_step)
    floor = host.level + fill * (host.surround_level - host.level)
    _draw(painter, host, _shape(host, a, b, radius), floor)
    core = _shape(host, a, b, radius * lerp(0.3, 0.6, draws[5]))
    _draw(painter, host, core, host.level)
    return {"floor_fill": fill}
