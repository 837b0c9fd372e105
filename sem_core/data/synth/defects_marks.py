"""Cracks and scratches (spec B5), drawn in wafer-plane layout coordinates, ignoring the pattern.

Cracks are jagged, branching recesses with tapered width and bright rims; scratches are long
straight or arc-shaped (CMP rotation) grooves with bright lips, optional chatter or dashes, a
drag of the lines they cross, 20 % near-parallel bundles and >= 25 % faint ones.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from sem_core.data.synth.canvas import SceneMaps
from sem_core.data.synth.defect_base import (
    DefectRecord,
    Hardness,
    Painter,
    lerp,
    log_lerp,
    place_point,
)
from sem_core.data.synth.layout import SceneLayout

FIELD = 224.0
"""Field of view in reference px."""


def crack_path(
    rng: np.random.Generator,
    start: np.ndarray,
    heading: float,
    length: float,
    wander: float,
    branch_rate: float,
    depth: int = 0,
) -> list[np.ndarray]:
    """Jagged random walk: list of (n, 3) arrays of (a, b, arc fraction) per arm or branch.

    The heading deviation is mean-reverting (AR(1)), so the crack stays directional while each
    step turns by N(0, wander); branches split off at +-30-70 degrees.
    """
    steps = max(2, int(length / 2.25))
    lengths = rng.uniform(1.5, 3.0, steps)
    turns = rng.normal(0.0, wander, steps)
    branch_draws = rng.random((steps, 3))
    deviation, point, points, paths = 0.0, start.astype(np.float64), [], []
    travelled = 0.0
    for i in range(steps):
        deviation = 0.7 * deviation + turns[i]
        angle = heading + deviation
        point = point + lengths[i] * np.array([math.cos(angle), math.sin(angle)])
        travelled += lengths[i]
        points.append((point[0], point[1], min(travelled / length, 1.0)))
        if depth < 1 and branch_draws[i, 0] < branch_rate:
            side = 1 if branch_draws[i, 1] < 0.5 else -1
            remaining = max(length - travelled, 0.0) * lerp(0.2, 0.6, branch_draws[i, 2])
            if remaining > 6:
                turn = math.radians(rng.uniform(30, 70)) * side
                for branch in crack_path(
                    rng, point, angle + turn, remaining, wander, branch_rate, 1
                ):
                    # a branch starts at the width the trunk has there
                    branch[:, 2] = travelled / length + branch[:, 2] * (1 - travelled / length)
                    paths.append(branch)
    paths.insert(0, np.array(points))
    return paths


def crack(
    rng: np.random.Generator,
    layout: SceneLayout,
    maps: SceneMaps,
    hardness: Hardness,
    noise_sigma: float,
) -> DefectRecord:
    """A jagged, branching crack through pattern and film alike."""
    z, v = hardness.z, hardness.v
    x, y = place_point(rng, layout, hardness.preset.central_field)
    a0, b0 = layout.transform.to_layout(np.array(x), np.array(y))
    length = lerp(0.25, 1.0, z) * FIELD
    width0 = max(lerp(1.0, 4.0, z) * rng.uniform(0.8, 1.2), hardness.preset.crack_min_width)
    heading = rng.uniform(0, 2 * math.pi)
    wander = math.radians(rng.uniform(15, 35))
    branch_rate = rng.uniform(0.01, 0.04)
    darkening = lerp(0.3, 0.85, v)
    rim = rng.uniform(0.15, 0.4) * v
    if hardness.preset.strict_rules and hardness.boost:
        # a failed contract try: a deeper, wider, brighter-rimmed crack (``Hardness.boost``)
        darkening = min(darkening + 0.05 * hardness.boost, 0.95)
        width0 *= 1.0 + 0.2 * hardness.boost
        rim *= 1.0 + 0.3 * hardness.boost
    start = np.array([float(a0), float(b0)])
    arms = crack_path(rng, start, heading, 0.5 * length, wander, branch_rate) + crack_path(
        rng, start, heading + math.pi, 0.5 * length, wander, branch_rate
    )
    points = np.concatenate(arms)
    roughness = 1.0 + 0.3 * rng.standard_normal(len(points))
    radius = (
        0.5 * width0 * np.sqrt(np.clip(1.0 - points[:, 2], 0.0, 1.0)) * np.clip(roughness, 0.5, 1.5)
    )
    _paint_crack(layout, maps, points, radius, darkening, rim)
    return DefectRecord(
        "Cracks",
        "branched" if len(arms) > 2 else "single",
        x,
        y,
        {
            "length": length,
            "width": width0,
            "wander_deg": math.degrees(wander),
            "branch_rate": branch_rate,
            "branches": len(arms) - 2,
            "darkening": darkening,
            "rim": rim,
        },
        hard_subtype=bool(width0 < 1.5),
    )


def _paint_crack(
    layout: SceneLayout,
    maps: SceneMaps,
    points: np.ndarray,
    radius: np.ndarray,
    darkening: float,
    rim: float,
) -> None:
    """Rasterise a crack from its centre-line points via one EDT in the crack's window."""
    geometry = layout.geometry
    fx, fy = layout.transform.to_field(points[:, 0], points[:, 1])
    rows, cols = geometry.to_canvas(fx, fy)
    window = layout.field_window(list(zip(fx, fy)), pad=6.0)
    painter = Painter(maps, layout, window)
    if painter.empty:
        return
    r = np.floor(rows).astype(int) - window[0].start
    c = np.floor(cols).astype(int) - window[1].start
    keep = (r >= 0) & (r < painter.a.shape[0]) & (c >= 0) & (c < painter.a.shape[1])
    if not keep.any():
        return
    seeds = np.zeros(painter.a.shape, bool)
    seeds[r[keep], c[keep]] = True
    radius_map = np.zeros(painter.a.shape)
    np.maximum.at(radius_map, (r[keep], c[keep]), radius[keep])
    distance, nearest = ndimage.distance_transform_edt(~seeds, return_indices=True)
    step = geometry.canvas_to_reference()
    distance = distance * step
    local_radius = radius_map[nearest[0], nearest[1]]
    inside = distance <= np.maximum(local_radius, 0.5 * step)
    outside_gap = distance - local_radius
    rim_zone = (~inside) & (outside_gap <= 1.5) & (local_radius > 0)
    intensity = painter.get("intensity").copy()
    painter.paint(inside, topo=False, intensity=intensity * (1.0 - darkening), height=0.0)
    painter.add_extra(np.where(rim_zone, rim * np.exp(-outside_gap / 0.75), 0.0))


MIN_GROOVE = 0.35
MIN_LIP = 0.2
"""``standard`` scratches: the shallowest groove and faintest lips (fractions of the local
level); a groove at the low end of U(0.25, 0.6)v is lost in a busy logic pattern."""


def scratch(
    rng: np.random.Generator,
    layout: SceneLayout,
    maps: SceneMaps,
    hardness: Hardness,
    noise_sigma: float,
) -> DefectRecord:
    """A long straight or arc-shaped groove with bright lips (spec B5 Scratches)."""
    z, v = hardness.z, hardness.v
    x, y = place_point(rng, layout, hardness.preset.central_field)
    a0, b0 = (float(t) for t in layout.transform.to_layout(np.array(x), np.array(y)))
    arc, direction = rng.random() < 0.5, rng.uniform(0, math.pi)
    radius = rng.uniform(1.0, 10.0) * FIELD
    length = rng.uniform(0.6, 2.0) * FIELD
    width = log_lerp(2.0, 8.0, z)
    faint = rng.random() < hardness.preset.faint_scratch_rate
    depth, lip = rng.uniform(0.25, 0.6) * v, rng.uniform(0.1, 0.4) * v
    mean_level = float(np.mean(maps.intensity)) + 1e-6
    if faint:
        depth = rng.uniform(0.5, 2.0) * noise_sigma / mean_level
        lip = 0.5 * depth
    if hardness.preset.strict_rules:
        depth, lip = max(depth, MIN_GROOVE), max(lip, MIN_LIP)
    if hardness.preset.strict_rules and hardness.boost:
        # a failed contract try: a deeper, wider groove with brighter lips (``Hardness.boost``)
        depth = min(depth * (1.0 + 0.3 * hardness.boost), 0.9)
        lip *= 1.0 + 0.3 * hardness.boost
        width *= 1.0 + 0.15 * hardness.boost
    style = rng.random()
    chatter_period, dash_period = rng.uniform(3.0, 15.0), rng.uniform(10.0, 40.0)
    drag = rng.uniform(0.0, 1.0)
    count = 1 + (int(rng.integers(1, 3)) if rng.random() < 0.2 else 0)
    offsets = np.cumsum(rng.uniform(3.0, 15.0, 3)) * (1 if rng.random() < 0.5 else -1)
    phase, wobble = rng.uniform(0, 2 * math.pi), rng.uniform(20.0, 80.0)
    painter = Painter(maps, layout, (slice(None), slice(None)))
    tangent = np.array([math.cos(direction), math.sin(direction)])
    normal = np.array([-tangent[1], tangent[0]])
    shape = maps.topo.shape
    flat_a, flat_b = painter.a.ravel(), painter.b.ravel()
    darkening, lips = np.zeros(flat_a.size), np.zeros(flat_a.size)
    grooves = np.zeros(flat_a.size, bool)
    band_width = 1.1 * 0.5 * width + 2.0 * (0.55 * width + 0.5) + 1.0
    for k in range(count):
        offset = 0.0 if k == 0 else offsets[k - 1]
        # the across coordinate everywhere, everything else only in the scratch's band
        across = _scratch_across(flat_a - a0, flat_b - b0, normal, radius if arc else None, offset)
        band = np.nonzero(np.abs(across) < band_width)[0]
        across = across[band]
        along = _scratch_along(
            flat_a[band] - a0, flat_b[band] - b0, tangent, normal, radius if arc else None
        )
        local_width = width * (1.0 + 0.1 * np.sin(2 * math.pi * along / wobble + phase))
        on = np.abs(along) <= 0.5 * length
        if style < 0.2:
            on &= np.mod(along, dash_period) < 0.6 * dash_period
        modulation = (
            0.6 + 0.4 * np.cos(2 * math.pi * along / chatter_period) if 0.2 <= style < 0.4 else 1.0
        )
        inside = on & (np.abs(across) <= 0.5 * local_width)
        profile = np.cos(math.pi * across / np.maximum(local_width, 1e-6)) ** 2
        darkening[band] = np.maximum(
            darkening[band], np.where(inside, depth * profile * modulation, 0.0)
        )
        lip_distance = np.abs(across) - 0.5 * local_width
        lip_width = 0.5 * local_width + 0.5
        lips[band] += np.where(
            on & (lip_distance > -0.25 * local_width) & (lip_distance < 2 * lip_width),
            lip * np.exp(-(((lip_distance - 0.5 * lip_width) / (0.5 * lip_width)) ** 2)),
            0.0,
        )
        grooves[band] |= inside
    grooves, darkening = grooves.reshape(shape), darkening.reshape(shape)
    shift = _drag_shift(layout, tangent, drag)
    if shift != (0, 0) and grooves.any():
        shifted_topo = np.roll(painter.get("topo"), shift, axis=(0, 1))
        shifted_intensity = np.roll(painter.get("intensity"), shift, axis=(0, 1))
        painter.paint(grooves, topo=shifted_topo, intensity=shifted_intensity)
    painter.paint(grooves, intensity=painter.get("intensity") * (1.0 - darkening))
    lips = np.where(np.abs(lips) > 1e-4, lips * mean_level, 0.0)
    painter.add_extra(lips.reshape(shape))
    fx, fy = layout.transform.to_field(a0, b0)
    return DefectRecord(
        "Scratches",
        "arc" if arc else "straight",
        fx,
        fy,
        {
            "width": width,
            "length": length,
            "radius": radius if arc else 0.0,
            "depth": depth,
            "lip": lip,
            "faint": bool(faint),
            "count": count,
            "style": "dashed" if style < 0.2 else ("chatter" if style < 0.4 else "plain"),
            "drag": drag,
        },
        hard_subtype=bool(faint),
    )


def _scratch_across(
    da: np.ndarray, db: np.ndarray, normal: np.ndarray, radius: float | None, offset: float
) -> np.ndarray:
    """Signed distance across a straight or arc-shaped scratch (arc centre on the normal)."""
    if radius is None:
        return da * normal[0] + db * normal[1] - offset
    return radius - np.hypot(da - normal[0] * radius, db - normal[1] * radius) - offset


def _scratch_along(
    da: np.ndarray, db: np.ndarray, tangent: np.ndarray, normal: np.ndarray, radius: float | None
) -> np.ndarray:
    """Arc length along the scratch from its anchor."""
    if radius is None:
        return da * tangent[0] + db * tangent[1]
    ra, rb = da - normal[0] * radius, db - normal[1] * radius
    angle = np.arctan2(ra * (-normal[1]) - rb * (-normal[0]), -(ra * normal[0] + rb * normal[1]))
    return -radius * angle


def _drag_shift(layout: SceneLayout, tangent: np.ndarray, drag: float) -> tuple[int, int]:
    """Integer canvas shift (rows, cols) that drags lines along the scratch by <= 1 px."""
    fx, fy = layout.transform.to_field(float(tangent[0]), float(tangent[1]))
    ox, oy = layout.transform.to_field(0.0, 0.0)
    direction = np.array([fy - oy, fx - ox])
    direction /= np.linalg.norm(direction) + 1e-12
    pixels = drag * layout.geometry.scale * layout.geometry.supersample
    return int(round(direction[0] * pixels)), int(round(direction[1] * pixels))
