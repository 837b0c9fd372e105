"""Top-down line/space and contact/via-array scenes (spec B1 families 1 and 2).

Lines carry Mack-FFT line-edge roughness, pitch walk and CD scatter; via arrays sit on a
square or hexagonal lattice with placement jitter, CD scatter and a harmonic contour. Both are
evaluated per canvas pixel from its layout coordinates, so rotation and tilt come for free.
"""

from __future__ import annotations

import math

import numpy as np

from sem_core.data.synth.canvas import Material, SceneMaps
from sem_core.data.synth.layout import LineHost, SceneLayout, ViaHost
from sem_core.data.synth.roughness import next_power_of_two, rough_edges


def floating_flags(rng: np.random.Generator, count: int, fraction: float) -> np.ndarray:
    """VC-mode: which of ``count`` conductors float (always ``count`` draws)."""
    return rng.random(count) < fraction


def build_line_space(rng: np.random.Generator, layout: SceneLayout) -> SceneMaps:
    """Rasterise rough lines along b at the sampled pitch; fills ``layout.lines``.

    Args:
        rng: The scene stream.
        layout: Layout with coordinates; its ``lines`` are replaced.

    Returns:
        The clean scene maps.
    """
    params, look, geometry = layout.params, layout.params.look, layout.geometry
    pitch, width = params.pitch, params.width
    a_min, a_max, b_min, b_max = layout.transform.layout_extent(geometry.half_extent())
    offset = rng.uniform(0.0, pitch)
    first = math.floor((a_min - offset) / pitch) - 1
    count = math.ceil((a_max - offset) / pitch) + 2 - first
    sadp = rng.random() < 0.3
    walk = np.where(np.arange(count) % 2 == 0, 1.0, -1.0) * rng.uniform(0, 0.05) * pitch
    walk = walk if sadp else rng.normal(0.0, 0.01 * pitch, count)
    widths = width * (1.0 + rng.normal(0.0, rng.uniform(0.02, 0.04), count))
    centres = offset + (first + np.arange(count)) * pitch + walk
    spacing = 0.5 * geometry.canvas_to_reference()
    samples = next_power_of_two((b_max - b_min) / spacing + 4)
    sigma, xi, hurst, rho = (
        params.ler_sigma,
        params.ler_correlation,
        params.ler_hurst,
        params.ler_rho,
    )
    left = rough_edges(rng, count, samples, spacing, sigma, xi, hurst)
    independent = rough_edges(rng, count, samples, spacing, sigma, xi, hurst)
    right = rho * left + math.sqrt(1.0 - rho * rho) * independent
    floating = floating_flags(rng, count, look.floating_fraction)
    levels = np.where(floating, look.top * look.floating_factor, look.top)

    index = np.clip(np.rint((layout.a - offset) / pitch).astype(np.intp) - first, 0, count - 1)
    sample = np.clip(np.rint((layout.b - b_min) / spacing).astype(np.intp), 0, samples - 1)
    flat = index * samples + sample
    centre = centres[index]
    half = 0.5 * widths[index]
    inside = (layout.a >= centre - half + left.ravel()[flat]) & (
        layout.a <= centre + half + right.ravel()[flat]
    )
    maps = SceneMaps.blank(geometry.canvas, look.substrate)
    maps.topo = inside
    maps.intensity = np.where(inside, levels[index], look.substrate)
    maps.height = inside.astype(np.float64)
    maps.material = inside.astype(np.int8) * Material.TOP
    layout.lines = tuple(
        LineHost(
            track=int(k),
            centre=float(centres[k]),
            width=float(widths[k]),
            level=float(levels[k]),
            floating=bool(floating[k]),
        )
        for k in range(count)
    )
    layout.tags.update(sadp=bool(sadp), lines=int(count))
    if params.line_landings > 0.0:
        _add_landings(rng, layout, maps, inside, centres, widths, levels, floating,
                      params.line_landings)
    return maps


def _add_landings(
    rng: np.random.Generator,
    layout: SceneLayout,
    maps: SceneMaps,
    inside: np.ndarray,
    centres: np.ndarray,
    widths: np.ndarray,
    levels: np.ndarray,
    floating: np.ndarray,
    rate: float,
) -> None:
    """Square via landings on the lines (``standard``, synth-sem 2.7): each line holds one with
    probability ``rate`` at a uniform place along the field, and the line nearest the field's
    centre holds one when no other is in view, so that every line/space scene can host a Vias
    defect as a logic scene can (the class then does not decide the pattern family).

    Always ``2 * len(centres)`` draws, whatever is kept; fills ``layout.vias``.
    """
    look, count = layout.params.look, len(centres)
    draws, places = rng.random(count), rng.uniform(-0.8, 0.8, count)
    half_field = layout.geometry.size / (2 * layout.geometry.scale)
    chosen = [k for k in range(count) if draws[k] < rate]
    spots = {k: float(places[k] * half_field) for k in chosen}
    if not any(layout.in_field(centres[k], spots[k], inset=min(widths[k], 16.0)) for k in chosen):
        visible = [k for k in range(count)
                   if layout.in_field(centres[k], 0.0, inset=min(widths[k], 16.0))]
        if visible:
            nearest = min(visible, key=lambda k: abs(layout.transform.to_field(centres[k], 0.0)[0]))
            spots[nearest] = float(places[nearest] * 0.3 * half_field)
    hosts, maps.topo = [], maps.topo.copy()
    for k, b in sorted(spots.items()):
        side = layout.params.landing_half * widths[k]
        shape = ((np.abs(layout.a - centres[k]) / side) ** 4
                 + (np.abs(layout.b - b) / side) ** 4 <= 1.0) & inside
        raised, level = via_appearance(look, bool(floating[k]), look.top)
        maps.intensity[shape] = level
        maps.material[shape] = Material.VIA
        if not raised:
            maps.topo[shape] = False
            maps.height[shape] = 0.0
        hosts.append(ViaHost(a=float(centres[k]), b=b, radius=float(side), level=float(level),
                             raised=raised, square=True, surround_raised=True,
                             surround_level=float(levels[k]), surround_material=Material.TOP,
                             floating=bool(floating[k])))
    layout.vias = tuple(hosts)


def via_appearance(look, floating: bool, surround_level: float) -> tuple[bool, float]:
    """(raised, level) of a via: dark hole in resist looks, bright plug in metal looks."""
    if look.holes_are_dark:
        return False, look.hole
    level = max(look.plug, surround_level + 0.3 * abs(look.contrast))
    return True, level * (look.floating_factor if floating else 1.0)


def build_via_array(rng: np.random.Generator, layout: SceneLayout) -> SceneMaps:
    """Rasterise a square or hexagonal contact/via array; fills ``layout.vias``.

    Args:
        rng: The scene stream.
        layout: Layout with coordinates; its ``vias`` are replaced.

    Returns:
        The clean scene maps (holes in a raised surface, or plugs in a flat dielectric).
    """
    params, look, geometry = layout.params, layout.params.look, layout.geometry
    spacing_a = params.pitch
    spacing_b = spacing_a * (math.sqrt(3.0) / 2.0 if params.hex_lattice else 1.0)
    a_min, a_max, b_min, b_max = layout.transform.layout_extent(geometry.half_extent())
    offset_a, offset_b = rng.uniform(0, spacing_a), rng.uniform(0, spacing_b)
    row0 = math.floor((b_min - offset_b) / spacing_b) - 1
    col0 = math.floor((a_min - offset_a) / spacing_a) - 2
    rows = math.ceil((b_max - offset_b) / spacing_b) + 2 - row0
    cols = math.ceil((a_max - offset_a) / spacing_a) + 3 - col0
    shape = (rows, cols)
    radius0 = rng.uniform(0.22, 0.32) * spacing_a
    jitter = rng.normal(0.0, 0.02 * spacing_a, (2, rows, cols))
    radii = radius0 * (1.0 + rng.normal(0.0, 0.03, shape))
    orders = np.arange(2, 7)
    amplitude = rng.normal(0.0, 1.0, (5, rows, cols)) * (0.02 / orders)[:, None, None]
    amplitude[0] = np.clip(amplitude[0], -0.045, 0.045)  # aspect <= 1.1 (nuisance cap)
    phases = rng.uniform(0, 2 * math.pi, (5, rows, cols))
    harmonics = amplitude * np.exp(1j * phases)
    floating = floating_flags(rng, rows * cols, look.floating_fraction).reshape(shape)

    grid_rows = (row0 + np.arange(rows))[:, None]
    row_shift = np.where(grid_rows % 2 == 1, 0.5 * spacing_a, 0.0) if params.hex_lattice else 0.0
    site_a = offset_a + (col0 + np.arange(cols))[None, :] * spacing_a + row_shift + jitter[0]
    site_b = offset_b + grid_rows * spacing_b + jitter[1] + 0.0 * site_a

    row = np.clip(np.rint((layout.b - offset_b) / spacing_b).astype(np.intp) - row0, 0, rows - 1)
    shift = ((row + row0) % 2 == 1) * 0.5 * spacing_a if params.hex_lattice else 0.0
    col = np.clip(
        np.rint((layout.a - offset_a - shift) / spacing_a).astype(np.intp) - col0, 0, cols - 1
    )
    site = row * cols + col
    da, db = layout.a - site_a.ravel().take(site), layout.b - site_b.ravel().take(site)
    distance = np.hypot(da, db)
    radius = radii.ravel().take(site)
    near = np.nonzero(distance < 1.4 * radius)
    near_site = site[near]
    unit = (da[near] + 1j * db[near]) / (distance[near] + 1e-12)
    contour = np.ones(unit.shape)
    power = unit
    flat_harmonics = harmonics.reshape(5, -1)
    for order in range(5):
        power = power * unit if order else unit * unit
        contour += (flat_harmonics[order].take(near_site) * power).real
    inside = np.zeros(layout.a.shape, bool)
    inside[near] = distance[near] <= radius[near] * contour

    surround_raised = look.holes_are_dark
    surround_level = look.top if surround_raised else look.substrate
    surround_material = Material.TOP if surround_raised else Material.SUBSTRATE
    raised, level = via_appearance(look, False, surround_level)
    _, floating_level = via_appearance(look, True, surround_level)
    via_level = np.where(floating, floating_level, level).ravel().take(site)
    maps = SceneMaps.blank(geometry.canvas, surround_level)
    maps.topo = inside == raised
    maps.intensity = np.where(inside, via_level, surround_level)
    maps.height = maps.topo.astype(np.float64)
    maps.material = np.where(inside, Material.VIA, surround_material).astype(np.int8)
    field_x, field_y = layout.transform.to_field(site_a, site_b)
    half = geometry.size / (2 * geometry.scale)
    visible = np.argwhere((np.abs(field_x) <= half) & (np.abs(field_y) <= half))
    layout.vias = tuple(
        ViaHost(
            a=float(site_a[r, c]),
            b=float(site_b[r, c]),
            radius=float(radii[r, c]),
            level=float(floating_level if floating[r, c] else level),
            raised=raised,
            square=False,
            surround_raised=surround_raised,
            surround_level=surround_level,
            surround_material=surround_material,
            floating=bool(floating[r, c]),
        )
        for r, c in visible
        if layout.in_field(float(site_a[r, c]), float(site_b[r, c]))
    )
    layout.tags.update(vias=len(layout.vias), via_radius=float(radius0))
    return maps
