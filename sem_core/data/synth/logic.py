"""Manhattan logic scenes with via landings (spec B1 family 3), also used for array edges.

Tracks along b at the pitch hold segments separated by tip-to-tip gaps, with jogs (L-shapes)
into free neighbouring tracks, square via landings, corner rounding (blur and re-threshold) and
a weak orthogonal underlayer. The layout is drawn on a layout-space raster and sampled at every
canvas pixel's (slightly roughened) layout coordinates.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from sem_core.data.synth.canvas import Material, SceneMaps
from sem_core.data.synth.layout import LineHost, SceneLayout, ViaHost
from sem_core.data.synth.roughness import gaussian_field_pair
from sem_core.data.synth.topdown import floating_flags, via_appearance

VIA_RATE = 0.3
JOG_RATE = 0.2


def _segments(rng: np.random.Generator, low: float, high: float, pitch: float) -> list[list[float]]:
    """Segments [start, end] covering [low, high] with tip-to-tip gaps."""
    cursor, segments = low - rng.uniform(0.0, 12.0 * pitch), []
    while cursor < high:
        length = rng.uniform(2.0 * pitch, 12.0 * pitch)
        segments.append([cursor, cursor + length])
        cursor += length + rng.uniform(0.6 * pitch, 2.0 * pitch)
    return segments


def _free(segments: list[list[float]], start: float, end: float) -> bool:
    return all(end < s or start > e for s, e in segments)


def build_logic(
    rng: np.random.Generator,
    layout: SceneLayout,
    extent: tuple[float, float, float, float] | None = None,
) -> SceneMaps:
    """Rasterise Manhattan logic with via landings; fills ``layout.lines`` and ``layout.vias``.

    Args:
        rng: The scene stream.
        layout: Layout with coordinates; its hosts are replaced.
        extent: Layout rectangle (a_min, a_max, b_min, b_max) to fill; default: the whole field.

    Returns:
        The clean scene maps.
    """
    params, look, geometry = layout.params, layout.params.look, layout.geometry
    pitch, width = params.pitch, params.width
    a_min, a_max, b_min, b_max = extent or layout.transform.layout_extent(geometry.half_extent())
    offset = rng.uniform(0.0, pitch)
    first = math.floor((a_min - offset) / pitch) - 1
    count = math.ceil((a_max - offset) / pitch) + 2 - first
    tracks = [_segments(rng, b_min - pitch, b_max + pitch, pitch) for _ in range(count)]
    widths = width * (1.0 + rng.normal(0.0, 0.03, count))
    centres = offset + (first + np.arange(count)) * pitch
    _ensure_pair(layout, tracks, centres, pitch)

    # Raster step: a tenth of the CD (the rounding blur then spans a few raster px), never finer
    # than the canvas; the blurred raster is sampled bilinearly, so edges stay sub-pixel smooth.
    step = max(geometry.canvas_to_reference(), width / 10.0)
    origin_a, origin_b = a_min - 2 * pitch, b_min - 2 * pitch
    shape = (
        int((a_max - origin_a + 2 * pitch) / step) + 2,
        int((b_max - origin_b + 2 * pitch) / step) + 2,
    )
    raster = np.zeros(shape)
    vias_raster = np.zeros(shape)

    def box(a0: float, a1: float, b0: float, b1: float, target: np.ndarray) -> None:
        """Add a rectangle with exact area coverage at its edges (no CD quantisation)."""
        rows, row_cover = _coverage(a0, a1, origin_a, step, shape[0])
        cols, col_cover = _coverage(b0, b1, origin_b, step, shape[1])
        if rows.stop > rows.start and cols.stop > cols.start:
            np.maximum(target[rows, cols], np.outer(row_cover, col_cover), out=target[rows, cols])

    lines, vias = [], []
    for k in range(count):
        for start, end in list(tracks[k]):
            half = 0.5 * widths[k]
            box(centres[k] - half, centres[k] + half, start, end, raster)
            if rng.random() < JOG_RATE:
                side = 1 if rng.random() < 0.5 else -1
                other, run = k + side, rng.uniform(1.0, 3.0) * pitch
                if 0 <= other < count and _free(tracks[other], end - pitch, end + run + pitch):
                    low, high = sorted((centres[k], centres[other]))
                    box(low - half, high + half, end - width, end, raster)
                    box(
                        centres[other] - half, centres[other] + half, end - width, end + run, raster
                    )
                    tracks[other].append([end - width, end + run])
            via_draw, via_position = rng.random(), rng.uniform(0.0, 1.0)
            if via_draw < VIA_RATE and end - start > 2.5 * width:
                b = start + width + via_position * (end - start - 2 * width)
                vias.append((float(centres[k]), float(b), k))
    if not any(layout.in_field(a, b) for a, b, _ in vias):
        _force_via(layout, tracks, centres, width, vias)
    for a, b, _ in vias:
        size = params.landing_half * width
        box(a - size, a + size, b - size, b + size, vias_raster)
    floating = floating_flags(rng, count, look.floating_fraction)
    levels = np.where(floating, look.top * look.floating_factor, look.top)
    for k in range(count):
        for start, end in tracks[k]:
            lines.append(
                LineHost(
                    track=k,
                    centre=float(centres[k]),
                    width=float(widths[k]),
                    level=float(levels[k]),
                    start=start,
                    end=end,
                    floating=bool(floating[k]),
                )
            )

    rounding = 0.25 * width / step
    raster = ndimage.gaussian_filter(raster, rounding, truncate=3.0)
    vias_raster = ndimage.gaussian_filter(vias_raster, 0.6 * rounding, truncate=3.0)
    rough_a, rough_b = _roughness(rng, layout)
    position_a = (layout.a + rough_a - origin_a) / step - 0.5
    position_b = (layout.b + rough_b - origin_b) / step - 0.5
    coordinates = [position_a, position_b]
    inside = ndimage.map_coordinates(raster, coordinates, order=1, mode="nearest") > 0.5
    in_via = ndimage.map_coordinates(vias_raster, coordinates, order=0, mode="nearest") > 0.5
    in_via &= inside
    track = np.clip(np.rint((layout.a - offset) / pitch).astype(np.intp) - first, 0, count - 1)

    under = _underlayer(rng, layout)
    maps = SceneMaps.blank(geometry.canvas, look.substrate)
    raised, via_level = via_appearance(look, False, look.top)
    _, floating_via = via_appearance(look, True, look.top)
    line_level = levels[track]
    via_levels = np.where(floating[track], floating_via, via_level) if raised else via_level
    maps.intensity = np.where(inside, line_level, look.substrate + under)
    maps.intensity = np.where(in_via, via_levels, maps.intensity)
    maps.topo = inside & (raised | ~in_via)
    maps.height = maps.topo.astype(np.float64)
    maps.material = np.where(in_via, Material.VIA, inside * Material.TOP).astype(np.int8)
    layout.lines = tuple(lines)
    layout.vias = tuple(
        ViaHost(
            a=a,
            b=b,
            radius=params.landing_half * float(widths[k]),
            raised=raised,
            square=True,
            level=float(floating_via if (raised and floating[k]) else via_level),
            surround_raised=True,
            surround_level=float(levels[k]),
            surround_material=Material.TOP,
            floating=bool(floating[k]),
        )
        for a, b, k in vias
        if layout.in_field(a, b)
    )
    layout.tags.update(tracks=int(count), segments=len(lines), logic_vias=len(layout.vias))
    return maps


def _coverage(
    low: float, high: float, origin: float, step: float, size: int
) -> tuple[slice, np.ndarray]:
    """Raster cells overlapped by [low, high] and the covered fraction of each."""
    first = max(int(math.floor((low - origin) / step)), 0)
    last = min(int(math.ceil((high - origin) / step)), size)
    if last <= first:
        return slice(0, 0), np.zeros(0)
    edges = origin + np.arange(first, last + 1) * step
    cover = (np.minimum(edges[1:], high) - np.maximum(edges[:-1], low)) / step
    return slice(first, last), cover


def _ensure_pair(layout: SceneLayout, tracks: list, centres: np.ndarray, pitch: float) -> None:
    """Make sure two neighbouring tracks run side by side somewhere in view (every logic scene
    must host a bridge or short); copies a visible segment onto the next track if needed."""

    def visible(k: int, start: float, end: float) -> bool:
        b = float(np.clip(0.0, start, end))
        return layout.in_field(float(centres[k]), b, inset=8.0)

    for k in range(len(tracks) - 1):
        for start, end in tracks[k]:
            for other_start, other_end in tracks[k + 1]:
                low, high = max(start, other_start), min(end, other_end)
                if high - low > 4 * pitch and visible(k, low, high) and visible(k + 1, low, high):
                    return
    candidates = [
        (abs(float(np.clip(0.0, s, e))) + abs(centres[k]), k, s, e)
        for k in range(len(tracks) - 1)
        for s, e in tracks[k]
        if e - s > 4 * pitch
    ]
    if not candidates:
        return
    _, k, start, end = min(candidates)
    tracks[k + 1] = [seg for seg in tracks[k + 1] if seg[1] < start - pitch or seg[0] > end + pitch]
    tracks[k + 1].append([start, end])


def _force_via(
    layout: SceneLayout, tracks: list, centres: np.ndarray, width: float, vias: list
) -> None:
    """Put one via on the visible segment closest to the field centre (every logic scene must
    host a via defect)."""
    best, best_distance = None, math.inf
    for k, segments in enumerate(tracks):
        for start, end in segments:
            if end - start <= 2.5 * width:
                continue
            b = float(np.clip(0.0, start + width, end - width))
            a = float(centres[k])
            distance = math.hypot(*layout.transform.to_field(a, b))
            if distance < best_distance and layout.in_field(a, b, inset=min(width, 16.0)):
                best, best_distance = (a, b, k), distance
    if best is not None:
        vias.append(best)


def _roughness(rng: np.random.Generator, layout: SceneLayout) -> tuple[np.ndarray, np.ndarray]:
    """Smooth displacement of the sampling coordinates: edge roughness for logic shapes."""
    geometry, params = layout.geometry, layout.params
    side = geometry.padded
    correlation = max(0.5, params.ler_correlation * geometry.scale)
    field_a, field_b = gaussian_field_pair(rng, (side, side), (correlation, correlation))
    s = geometry.supersample
    sigma = params.ler_sigma
    return (
        np.repeat(np.repeat(field_a * sigma, s, 0), s, 1),
        np.repeat(np.repeat(field_b * sigma, s, 0), s, 1),
    )


def _underlayer(rng: np.random.Generator, layout: SceneLayout) -> np.ndarray | float:
    """A weak orthogonal underlayer seen through the dielectric (p = 0.3), else 0."""
    present = rng.random() < 0.3
    pitch = layout.params.pitch * rng.uniform(1.0, 2.0)
    duty, phase, strength = rng.uniform(0.35, 0.6), rng.uniform(0, 1), rng.uniform(0.2, 0.4)
    layout.tags["underlayer"] = bool(present)
    if not present:
        return 0.0
    stripes = np.mod(layout.b / pitch + phase, 1.0) < duty
    return stripes * (strength * abs(layout.params.look.contrast))
