"""Malformed vias (spec B5 Vias): missing (or ghost), merged, misshapen, under/oversized and
partially open, on round array vias and square logic landings alike; 20 % of images have 2-3
defective vias. Severities sit outside the nuisance ranges (aspect > 1.3 vs <= 1.1 nuisance,
radius changes >= 25 % vs 3 % CD scatter)."""

from __future__ import annotations

import math

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
    if host.square:
        return np.maximum(np.abs(u), np.abs(t)) <= radius
    rho = np.hypot(u, t)
    theta = np.arctan2(t, u)
    contour = (
        1.0 + harmonic * np.cos(2 * theta + phase) + 0.5 * harmonic * np.cos(3 * theta - phase)
    )
    return rho <= radius * contour


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
    x, y = place_point(rng, layout)
    a, b = (float(t) for t in layout.transform.to_layout(np.array(x), np.array(y)))
    subtype = _subtype(rng.random())
    several, extra = rng.random() < 0.2, int(rng.integers(1, 3))
    first = min(layout.vias, key=lambda h: math.hypot(h.a - a, h.b - b))
    hosts = [first] + (_neighbours(layout, first, extra) if several else [])
    details = []
    for host in hosts:
        details.append(_malform(rng, layout, maps, host, subtype, z, v))
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
) -> dict:
    """Apply one sub-type to one via; returns its parameters."""
    draws = rng.random(6)
    radius = host.radius
    partner = [
        other
        for other in _neighbours(layout, host, 1)
        if math.hypot(other.a - host.a, other.b - host.b) <= 5.0 * radius
    ]
    span = radius * 3.0
    if subtype == "merged" and partner:
        span += math.hypot(partner[0].a - host.a, partner[0].b - host.b)
    painter = Painter(maps, layout, layout.canvas_window(host.a, host.b, span))
    if painter.empty:
        return {}
    a, b = painter.a, painter.b
    _erase(painter, host, 1.5 * radius)
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
        factor = lerp(0.75, 0.4, z) if draws[3] < 0.5 else lerp(1.3, 1.6, z)
        _draw(painter, host, _shape(host, a, b, radius * factor), host.level)
        return {"radius_factor": factor}
    # The floor rises from the via level toward the surround as visibility v grows: v = 1 is the
    # most visible partial open, as for every other sub-type (spec B5: v sets contrast).
    fill = v * lerp(0.4, 0.8, draws[4])
    floor = host.level + fill * (host.surround_level - host.level)
    _draw(painter, host, _shape(host, a, b, radius), floor)
    core = _shape(host, a, b, radius * lerp(0.3, 0.6, draws[5]))
    _draw(painter, host, core, host.level)
    return {"floor_fill": fill}
