"""Foreign material (spec B5 Other): particles with charging halo and detector shadow, translucent
residue, smooth domes and flat flakes. Particles may straddle lines (hard negatives for Bridges
and Shorts); sizes overlap bridge, short and via-defect sizes on purpose."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

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
from sem_core.data.synth.layout import SceneLayout

SUBTYPES: dict[str, float] = {"particle": 0.45, "residue": 0.30, "dome": 0.15, "flake": 0.10}
HALO_REACH = 3.0
"""Halo and shadow are tapered to zero at this many decay lengths."""


def _taper(distance: np.ndarray, length: float) -> np.ndarray:
    ratio = np.clip(distance / (HALO_REACH * length), 0.0, 1.0)
    return np.exp(-distance / length) * (1.0 - ratio * ratio) ** 2


MIN_HALO = 0.05
"""``standard`` particles: smallest charging-halo and shadow amplitude (spec B5 Other)."""
SHRINK = 0.7
MAX_MOVES = 12


def _touches_two_lines(topo: np.ndarray, body: np.ndarray) -> bool:
    """True when ``body`` (grown by one pixel) touches two separate raised features."""
    labels, _ = ndimage.label(topo)
    touched = np.unique(labels[ndimage.binary_dilation(body) & (labels > 0)])
    return touched.size >= 2


def _on_one_line(
    painter: Painter,
    layout: SceneLayout,
    outline,
    size: float,
    centre: tuple[float, float],
) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Move a particle onto the nearest line, then shrink it, until it touches at most one line:
    a particle across two lines would read as a bridge or a short (spec B5, ``standard``).

    Args:
        painter: The particle's window.
        layout: Scene layout (line hosts).
        outline: Relative radius as a function of the angle (the particle's shape).
        size: Equivalent radius, reference px.
        centre: (a, b) layout centre.

    Returns:
        (body mask, size, centre), possibly moved and shrunk.
    """
    topo = painter.get("topo")
    a0, b0 = centre
    body = _body(painter, outline, size, centre)
    for move in range(MAX_MOVES):
        if not _touches_two_lines(topo, body):
            break
        if move == 0:
            a0 = min((host.centre for host in layout.lines), key=lambda c: abs(c - a0))
        else:
            size *= SHRINK
        body = _body(painter, outline, size, (a0, b0))
    return body, size, (a0, b0)


def _body(painter: Painter, outline, size: float, centre: tuple[float, float]) -> np.ndarray:
    da, db = painter.a - centre[0], painter.b - centre[1]
    return np.hypot(da, db) <= size * outline(np.arctan2(db, da))


def foreign(
    rng: np.random.Generator,
    layout: SceneLayout,
    maps: SceneMaps,
    hardness: Hardness,
    noise_sigma: float,
) -> DefectRecord:
    """Add one piece of foreign material near a placed point."""
    z, v = hardness.z, hardness.v
    x, y = place_point(rng, layout, hardness.preset.central_field)
    a0, b0 = (float(t) for t in layout.transform.to_layout(np.array(x), np.array(y)))
    draw, cumulative, subtype = rng.random(), 0.0, "flake"
    for name, rate in SUBTYPES.items():
        cumulative += rate
        if draw < cumulative:
            subtype = name
            break
    shape_draws = rng.random(12)
    size = {
        "particle": log_lerp(2.0, 25.0, z),
        "residue": 0.5 * log_lerp(10.0, 60.0, z),
        "dome": log_lerp(4.0, 30.0, z),
        "flake": log_lerp(4.0, 30.0, z),
    }[subtype]
    if hardness.preset.strict_rules:
        size *= 1.0 + 0.2 * hardness.boost  # a failed contract try: a larger piece
    halo, halo_length = lerp(-0.15, 0.25, shape_draws[0]) * v, lerp(3.0, 15.0, shape_draws[1])
    shadow, shadow_length = lerp(0.0, 0.15, shape_draws[2]) * v, lerp(2.0, 8.0, shape_draws[3])
    detector = shape_draws[4] * 2 * math.pi
    strict = hardness.preset.strict_rules
    if strict:
        # `standard`: the cues of an object on top, a charging halo and a detector shadow
        halo = math.copysign(max(abs(halo), MIN_HALO), halo if halo != 0 else 1.0)
        shadow = max(shadow, MIN_HALO)
    reach = size * 1.6 + (
        HALO_REACH * max(halo_length, shadow_length) if subtype == "particle" else 4.0
    )
    if strict and subtype != "residue" and layout.lines:
        reach += 0.5 * layout.params.pitch  # room to move onto a line (below)
    painter = Painter(maps, layout, layout.canvas_window(a0, b0, reach))
    da, db = painter.a - a0, painter.b - b0
    rho, theta = np.hypot(da, db), np.arctan2(db, da)
    step = layout.geometry.canvas_to_reference()
    local = float(np.mean(painter.get("intensity"))) if not painter.empty else 0.3
    params: dict = {"size": size}
    straddling = False
    if subtype in ("particle", "flake", "dome"):
        if subtype == "flake" or shape_draws[5] < 0.3:
            radii = lerp(0.65, 1.25, rng.random(int(5 + shape_draws[6] * 5)))
            angles = np.sort(rng.uniform(0, 2 * math.pi, radii.size))
            closed = np.concatenate([angles - 2 * math.pi, angles, angles + 2 * math.pi])

            def outline(angle):
                return np.interp(angle, closed, np.tile(radii, 3))

        else:
            a1, a2 = 0.45 * shape_draws[7], 0.1 * shape_draws[8]
            p1, p2 = 6.3 * shape_draws[9], 6.3 * shape_draws[10]

            def outline(angle):
                return 1 + a1 * np.sin(2 * angle + p1) + a2 * np.sin(3 * angle + p2)

        body = _body(painter, outline, size, (a0, b0))
        if strict and layout.lines:
            body, size, (a0, b0) = _on_one_line(painter, layout, outline, size, (a0, b0))
            da, db = painter.a - a0, painter.b - b0
            rho, theta = np.hypot(da, db), np.arctan2(db, da)
            params["size"] = size
        contour = outline(theta)
        straddling = bool(painter.get("topo")[body].any() and (~painter.get("topo")[body]).any())
        # body brightness relative to the scene's own levels (spec: I = U(0.5, 1.0) on a 0-1
        # scale whose features sit at 0.1-0.7): bright, but not a global-histogram shortcut
        brightest = max(layout.params.look.top, layout.params.look.substrate)
        level = local + v * (brightest * lerp(0.9, 1.6, shape_draws[11]) - local)
        if subtype == "flake":
            level = local + v * (brightest * lerp(0.5, 1.3, shape_draws[11]) - local)
        texture = 1.0 + 0.08 * smooth_noise(rng, painter.a.shape, max(1.0, 0.15 * size / step))
        painter.paint(
            body,
            topo=True,
            intensity=level * texture,
            height=lerp(0.5, 1.5, v) if subtype != "flake" else 0.7,
            material=Material.FOREIGN,
        )
        distance = (
            np.maximum(ndimage.distance_transform_edt(~body) * step - 0.5 * step, 0.0)
            if body.any()
            else rho
        )
        if subtype == "particle":
            outside = ~body
            effect = halo * _taper(distance, halo_length)
            effect -= (
                shadow * _taper(distance, shadow_length) * np.maximum(0.0, np.cos(theta - detector))
            )
            painter.add_extra(np.where(outside, effect * local, 0.0))
        if subtype == "dome":
            ratio = np.clip(rho / (size * contour), 0.0, 0.995)
            slope = 0.7 * ratio / np.sqrt(1.0 - ratio * ratio)
            yield_gain = np.minimum((1.0 + slope * slope) ** 0.5, 6.0) - 1.0
            painter.add_extra(np.where(body, 0.25 * v * level * yield_gain, 0.0))
        params.update(
            level=level,
            halo=halo,
            halo_length=halo_length,
            shadow=shadow,
            shadow_length=shadow_length,
            straddling=straddling,
        )
    else:
        noise = smooth_noise(rng, painter.a.shape, max(1.0, 0.25 * size / step))
        aspect = lerp(0.5, 1.0, shape_draws[5])
        radius2 = (da / size) ** 2 + (db / (size * aspect)) ** 2
        blob = (radius2 + 0.6 * noise) < 1.0
        soft = ndimage.gaussian_filter(blob.astype(np.float64), 1.5)
        preset = hardness.preset
        alpha = lerp(preset.residue_min_alpha, 0.8, shape_draws[6])
        contrast = lerp(*preset.residue_contrast, shape_draws[7]) * v
        contrast *= 1 if shape_draws[8] < 0.5 else -1
        if preset.strict_rules:
            contrast *= 1.0 + 0.2 * hardness.boost
        painter.add_extra(np.where(soft > 1e-3, contrast * alpha * soft * local, 0.0))
        params.update(alpha=alpha, contrast=contrast)
    hard = (
        subtype == "residue"
        and (params.get("alpha", 1) < 0.5 or abs(params.get("contrast", 1)) < 0.05)
    ) or (subtype == "particle" and straddling and size < 8.0)
    fx, fy = layout.transform.to_field(a0, b0)
    return DefectRecord("Other", subtype, fx, fy, params, hard_subtype=bool(hard))
