"""Cross-section scenes (spec section 4): a polished or FIB-cut face of the interconnect stack.

From the top: vacuum or a protective cap, the top surface, a dielectric cover, a row of metal
lines seen end-on (tapered), via plugs under some lines, a lower metal level, dielectric and the
silicon substrate; with p = 0.25 a solder bump on a pad sits on the surface. Every element is
recorded as a ``SectionHost`` so that each class can put its defect where it makes sense.
Dimensions follow the sampled pitch, so magnification applies here too.
"""

from __future__ import annotations

import math

import numpy as np

from sem_core.data.synth.canvas import Material, SceneMaps
from sem_core.data.synth.layout import SceneLayout, SectionHost


def section_levels(rng: np.random.Generator, look) -> dict[str, float]:
    """Grey levels of the stack materials derived from the look (five draws)."""
    dielectric, metal = look.substrate, max(look.top, look.substrate + 0.06)
    return {
        "dielectric": dielectric, "metal": metal,
        "plug": metal * rng.uniform(0.9, 1.15), "lower": metal * rng.uniform(0.85, 1.05),
        "silicon": dielectric + rng.uniform(0.2, 0.6) * (metal - dielectric),
        "vacuum": rng.uniform(0.02, 0.07), "cap": metal * rng.uniform(0.75, 1.0),
        "solder": metal * 1.05, "void": 0.03,
    }


def build_section(rng: np.random.Generator, layout: SceneLayout) -> SceneMaps:
    """Rasterise a cross-section; fills ``layout.sections`` and ``layout.surface_y``.

    Args:
        rng: The scene stream.
        layout: Layout with (untilted, unrotated) coordinates; a = field x, b = field y.

    Returns:
        The clean scene maps.
    """
    params, geometry = layout.params, layout.geometry
    x, y = layout.a, layout.b
    half = geometry.size / (2 * geometry.scale)
    pitch, width = params.pitch, params.width
    levels = section_levels(rng, params.look)
    surface = rng.uniform(-0.6, -0.1) * half
    capped, cap_thickness = rng.random() < 0.5, rng.uniform(10.0, 40.0)
    cover = rng.uniform(0.0, 0.6) * width
    line_height = rng.uniform(0.8, 2.0) * width
    line_taper = math.tan(math.radians(90.0 - rng.uniform(80.0, 90.0)))
    plug_height, plug_width = rng.uniform(0.8, 2.0) * width, rng.uniform(0.5, 0.9) * width
    plug_rate = rng.uniform(0.4, 0.8)
    lower_height, lower_slab = rng.uniform(0.5, 1.5) * width, rng.random() < 0.5
    offset = rng.uniform(0.0, pitch)
    first = math.floor((-half - 2 * pitch - offset) / pitch)
    count = math.ceil((2 * half + 4 * pitch) / pitch)
    widths = width * (1.0 + rng.normal(0.0, 0.03, count))
    has_plug = rng.random(count) < plug_rate
    visible = [k for k in range(count) if abs(offset + (first + k) * pitch) < 0.8 * half]
    if visible and not has_plug[visible].any():  # every section must host a plug defect
        has_plug[min(visible, key=lambda k: abs(offset + (first + k) * pitch))] = True
    bump, bump_draws = rng.random() < 0.25, rng.uniform(0.0, 1.0, 4)

    line_top = surface + cover
    plug_top = line_top + line_height
    lower_top = plug_top + plug_height
    substrate_top = lower_top + lower_height + rng.uniform(0.3, 1.5) * width
    index = np.clip(np.rint((x - offset) / pitch).astype(np.intp) - first, 0, count - 1)
    dx = np.abs(x - (offset + (first + index) * pitch))
    half_width = 0.5 * widths[index]
    depth_in_line = y - line_top
    in_line = (depth_in_line >= 0) & (depth_in_line <= line_height) & (
        dx <= half_width - depth_in_line * line_taper)
    depth_in_plug = y - plug_top
    in_plug = has_plug[index] & (depth_in_plug >= 0) & (depth_in_plug <= plug_height) & (
        dx <= 0.5 * plug_width * (1.0 - 0.25 * depth_in_plug / plug_height))
    in_lower = (y >= lower_top) & (y <= lower_top + lower_height)
    if not lower_slab:
        in_lower &= dx <= 0.6 * widths[index]

    maps = SceneMaps.blank(geometry.canvas, levels["dielectric"])
    solid = y >= surface
    intensity = np.where(solid, levels["dielectric"], levels["vacuum"])
    intensity = np.where(capped & (y < surface) & (y >= surface - cap_thickness), levels["cap"],
                         intensity)
    intensity = np.where(y >= substrate_top, levels["silicon"], intensity)
    metal = in_line | in_plug | in_lower
    intensity = np.where(in_line, levels["metal"], intensity)
    intensity = np.where(in_plug, levels["plug"], intensity)
    intensity = np.where(in_lower, levels["lower"], intensity)
    hosts = []
    if bump:
        metal |= _bump(layout, x, y, surface, bump_draws, levels, intensity, hosts)
    maps.intensity = intensity
    maps.topo = metal
    maps.height = metal.astype(np.float64)
    maps.material = np.where(metal, Material.TOP, Material.SUBSTRATE).astype(np.int8)
    edge = np.clip(y - surface, 0.0, None)
    maps.extra = np.where(solid, 0.6 * params.look.bloom_in * np.exp(-edge / 1.5)
                          * (edge < 7.0), 0.0)
    for k in range(count):
        centre = offset + (first + k) * pitch
        if abs(centre) > half + pitch:
            continue
        hosts.append(SectionHost("line", centre - 0.5 * widths[k], centre + 0.5 * widths[k],
                                 line_top, line_top + line_height, levels["metal"], line_taper))
        if has_plug[k]:
            hosts.append(SectionHost("plug", centre - 0.5 * plug_width, centre + 0.5 * plug_width,
                                     plug_top, plug_top + plug_height, levels["plug"], 0.25))
    layout.sections = tuple(hosts)
    layout.surface_y = float(surface)
    layout.tags.update(capped=bool(capped), bump=bool(bump), lower_slab=bool(lower_slab),
                       section_lines=sum(h.kind == "line" for h in hosts),
                       section_plugs=sum(h.kind == "plug" for h in hosts), levels=levels)
    return maps


def _bump(layout: SceneLayout, x: np.ndarray, y: np.ndarray, surface: float, draws: np.ndarray,
          levels: dict, intensity: np.ndarray, hosts: list) -> np.ndarray:
    """Draw a pad and a solder bump on the surface; returns their mask."""
    half = layout.geometry.size / (2 * layout.geometry.scale)
    centre = (draws[0] - 0.5) * half
    pad_half = (0.3 + 0.3 * draws[1]) * half
    pad_thickness = 4.0 + 6.0 * draws[2]
    radius = pad_half * (0.9 + 0.3 * draws[3])
    bump_height = 0.7 * radius
    pad = (np.abs(x - centre) <= pad_half) & (y <= surface) & (y >= surface - pad_thickness)
    base = surface - pad_thickness
    dome = ((x - centre) / radius) ** 2 + ((y - base) / bump_height) ** 2 <= 1.0
    dome &= y <= base
    intensity[pad] = levels["lower"]
    intensity[dome] = levels["solder"]
    hosts.append(SectionHost("pad", centre - pad_half, centre + pad_half, base, surface,
                             levels["lower"]))
    hosts.append(SectionHost("bump", centre - radius, centre + radius, base - bump_height, base,
                             levels["solder"]))
    return pad | dome
