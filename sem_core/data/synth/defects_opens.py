"""Opens (spec B5): a line is interrupted. ``hard`` keeps version 1's editor; ``standard`` cuts
only where a break cannot be a designed line end, with torn ends.

``standard`` (spec B5, B6): a line that crosses the field, or a logic segment at least
``OPEN_MIN_SEGMENT`` pitches long, cut at least ``OPEN_END_DISTANCE`` pitches from its ends,
the gap shorter than half the scene's shortest designed tip-to-tip gap. The ends are torn (each
side slanted on its own, with a ragged edge), never the rounded square end of a designed tip.
When the visibility contract asks for another try (``Hardness.boost``), the gap grows (within
that cap), the film and pinch variants give way to a clean gap, and the cut runs through up to
``MAX_LINES`` neighbouring lines at once, as a patterning defect would.
"""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import pairwise

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
from sem_core.data.synth.defects_lines import closest_run, line_runs, pick_run
from sem_core.data.synth.layout import LineHost, SceneLayout

OPEN_MIN_SEGMENT = 4.0
"""``standard``: a logic segment at least this many pitches long..."""
OPEN_END_DISTANCE = 1.5
"""...cut at least this many pitches from either of its ends."""
TIP_GAP_SHARE = 0.45
"""``standard``: the gap stays below this share of the scene's shortest tip-to-tip gap."""
MAX_LINES = 8
OPEN_SPAN = 24.0
"""``standard``: at a fine pitch the cut runs through enough neighbouring lines to span this
many reference px (about a tenth of the field), so a one-line break a few pixels long never
has to carry the class alone (blind reviews missed those)."""


def open_line(
    rng: np.random.Generator,
    layout: SceneLayout,
    maps: SceneMaps,
    hardness: Hardness,
    noise_sigma: float,
) -> DefectRecord | None:
    """Interrupt a line (rounded pulled-back ends; 30 % residual film, 20 % near-open pinch)."""
    z, v = hardness.z, hardness.v
    params = layout.params
    width, pitch = params.width, params.pitch
    kind_draw, residual_draw, pinch_draw, pinch_height_draw = rng.random(4)
    gap = width * log_lerp(0.3, 3.0, z)
    if hardness.preset.strict_rules:
        return strict_open(rng, layout, maps, hardness, (kind_draw, residual_draw, gap))
    choice = pick_run(rng, layout, 0, 0.5 * gap + width, hardness.preset.central_field)
    if choice is None:
        return None
    (host,), b0 = choice
    painter = Painter(
        maps, layout, layout.canvas_window(host.centre, b0, 0.5 * gap + 2 * width + pitch)
    )
    if painter.empty:
        return None
    a, b = painter.a, painter.b
    band = (np.abs(a - host.centre) < 0.5 * pitch) & (b >= host.start) & (b <= host.end)
    own = band & (painter.get("material") != Material.SUBSTRATE)  # the line and its via landings
    step = layout.geometry.canvas_to_reference()
    sigma = 0.3 * width / step
    cut = own & (np.abs(b - b0) < 0.5 * gap)
    rounded = ndimage.gaussian_filter((own & ~cut).astype(np.float64), sigma) > 0.5
    near = band & (np.abs(b - b0) < 0.5 * gap + 3 * sigma * step)
    kept = np.where(near, rounded & own, own)
    removed = own & ~kept
    base_level = params.look.substrate
    subtype = "gap" if kind_draw < 0.5 else ("residual" if kind_draw < 0.8 else "pinch")
    residual = {
        "gap": 0.3 * (1 - v) ** 2,
        "residual": lerp(0.05, 0.3, residual_draw) * (1 - v),
        "pinch": 0.0,
    }[subtype]
    neck = lerp(0.05, 0.2, pinch_draw) * width
    neck_height = lerp(0.15, 0.5, pinch_height_draw) * lerp(0.5, 1.0, 1 - v)
    pinch = (neck, neck_height) if subtype == "pinch" else None
    _paint_cut(painter, host, removed, a - host.centre, residual, base_level, pinch)
    x, y = layout.transform.to_field(host.centre, b0)
    return DefectRecord(
        "Opens",
        subtype,
        x,
        y,
        {
            "gap_length": gap,
            "residual_height": residual,
            "pinch_width": neck if subtype == "pinch" else 0.0,
            "pinch_height": neck_height if subtype == "pinch" else 0.0,
        },
        hard_subtype=subtype in ("residual", "pinch"),
    )


def strict_open(
    rng: np.random.Generator,
    layout: SceneLayout,
    maps: SceneMaps,
    hardness: Hardness,
    draws: tuple[float, float, float],
) -> DefectRecord | None:
    """The ``standard`` open (module docstring); ``draws`` are (kind, residual, gap) from
    ``open_line``."""
    kind_draw, residual_draw, gap = draws
    params, boost = layout.params, hardness.boost
    width, pitch = params.width, params.pitch
    lines = min(1 + boost, MAX_LINES)
    # several aligned torn cuts read as one defect, never as staggered designed gaps, so their
    # cap grows with their number; it stays below the shortest designed gap
    cap = TIP_GAP_SHARE * min(1.0 + 0.35 * (lines - 1), 2.0) * shortest_tip_gap(layout.lines)
    # a fine pitch spans more lines from the first try; the cap stays the one above (one line's
    # on a first try, spec B5)
    lines = max(lines, min(math.ceil(OPEN_SPAN / pitch), MAX_LINES))
    gap = min(gap * (1.0 + 0.25 * boost), cap)
    choice = None
    while choice is None and lines >= 1:
        choice = _open_site(rng, layout, gap, lines - 1, hardness.preset.central_field)
        lines -= 0 if choice is not None else 1
    if choice is None:
        return None
    hosts, b0 = choice
    subtype = "gap" if kind_draw < 0.5 or boost > 0 else ("residual" if kind_draw < 0.8 else "pinch")
    centre = 0.5 * (hosts[0].centre + hosts[-1].centre)
    reach = 0.5 * abs(hosts[-1].centre - hosts[0].centre) + 0.5 * gap + 2 * width + pitch
    painter = Painter(maps, layout, layout.canvas_window(centre, b0, reach))
    if painter.empty:
        return None
    residual = lerp(0.05, 0.3, residual_draw) * (1 - hardness.v) if subtype == "residual" else 0.0
    for host in hosts:
        _torn_cut(rng, painter, layout, host, b0, gap, subtype, residual)
    x, y = layout.transform.to_field(centre, b0)
    return DefectRecord(
        "Opens",
        subtype,
        x,
        y,
        {"gap_length": gap, "residual_height": residual, "lines": len(hosts)},
        hard_subtype=subtype in ("residual", "pinch"),
    )


def _torn_cut(
    rng: np.random.Generator,
    painter: Painter,
    layout: SceneLayout,
    host: LineHost,
    b0: float,
    gap: float,
    subtype: str,
    residual: float,
) -> None:
    """Cut one line at b0 with torn ends: each side slanted on its own, edges ragged."""
    params = layout.params
    width, pitch = params.width, params.pitch
    a, b = painter.a, painter.b
    step = layout.geometry.canvas_to_reference()
    band = (np.abs(a - host.centre) < 0.5 * pitch) & (b >= host.start) & (b <= host.end)
    own = band & (painter.get("material") != Material.SUBSTRATE)
    slants = rng.uniform(-0.6, 0.6, 2) * gap / max(width, 1e-6)
    ragged = 0.25 * gap * smooth_noise(rng, a.shape, max(0.15 * width / step, 0.5))
    across = a - host.centre
    kept = own & (
        (b - b0 > 0.5 * gap + slants[0] * across + ragged)
        | (b0 - b > 0.5 * gap + slants[1] * across - ragged)
    )
    removed = own & ~kept
    pinch = None
    if subtype == "pinch":
        pinch = (lerp(0.05, 0.2, rng.random()) * width, lerp(0.15, 0.5, rng.random()))
    _paint_cut(painter, host, removed, across, residual, params.look.substrate, pinch)


def _paint_cut(
    painter: Painter,
    host: LineHost,
    removed: np.ndarray,
    across: np.ndarray,
    residual: float,
    base_level: float,
    pinch: tuple[float, float] | None,
) -> None:
    """Clear the cut (leaving a residual film of that height fraction) and, for a pinch, a
    neck of (width, height) along the line's centre."""
    painter.paint(
        removed,
        topo=False,
        intensity=base_level + residual * (host.level - base_level),
        height=0.0,
        material=Material.TOP if residual > 0.02 else Material.SUBSTRATE,
    )
    if pinch is not None:
        neck, height = pinch
        painter.paint(
            removed & (np.abs(across) <= 0.5 * neck),
            topo=True,
            intensity=base_level + height * (host.level - base_level),
            height=height,
            material=Material.TOP,
        )


def _open_site(
    rng: np.random.Generator,
    layout: SceneLayout,
    gap: float,
    spans: int,
    central: float | None = None,
) -> tuple[list[LineHost], float] | None:
    """A run of ``spans + 1`` neighbouring long lines and a position b0 on all of them, far
    from their ends and inside the field (see the module docstring)."""
    pitch = layout.params.pitch
    x, y = place_point(rng, layout, central)
    a, b = layout.transform.to_layout(np.array(x), np.array(y))
    # a small patterned patch (a film's array edge) may hold no segment that long: the rules
    # relax in steps there, never below a segment of 2 pitches cut a pitch from its ends
    for length, distance in ((OPEN_MIN_SEGMENT, OPEN_END_DISTANCE), (2.0, 1.0)):
        hosts = tuple(h for h in layout.lines if h.end - h.start >= length * pitch)
        if not hosts:
            continue
        subset = replace(layout, lines=hosts)
        runs = line_runs(subset, spans, distance * pitch + 0.5 * gap)
        for inset in (16.0, 8.0, 4.0):
            choice = closest_run(subset, runs, inset, a, b, samples=61)
            if choice is not None:
                return choice
    return None


def shortest_tip_gap(lines: tuple[LineHost, ...]) -> float:
    """The shortest gap between consecutive segments of one track (inf when none ends)."""
    by_track: dict[int, list[LineHost]] = {}
    for host in lines:
        by_track.setdefault(host.track, []).append(host)
    best = math.inf
    for segments in by_track.values():
        segments.sort(key=lambda h: h.start)
        for before, after in pairwise(segments):
            if after.start > before.end:
                best = min(best, after.start - before.end)
    return best
