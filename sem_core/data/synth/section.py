"""Cross-section scenes (spec section 4): a polished or FIB-cut face of the interconnect stack.

From the top: vacuum or a protective cap, the top surface, a dielectric cover, then one to six
metal levels, each a row of tapered lines seen end-on with via plugs under some lines, the pitch
shrinking going down as in a real interconnect stack; then dielectric and the silicon substrate.
With p = 0.25 a solder bump on a pad sits on the surface. Every element is
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
        "dielectric": dielectric,
        "metal": metal,
        "plug": metal * rng.uniform(0.9, 1.15),
        "lower": metal * rng.uniform(0.85, 1.05),
        "silicon": dielectric + rng.uniform(0.2, 0.6) * (metal - dielectric),
        "vacuum": rng.uniform(0.02, 0.07),
        "cap": metal * rng.uniform(0.75, 1.0),
        "solder": metal * 1.05,
        "void": 0.03,
    }


def build_section(rng: np.random.Generator, layout: SceneLayout) -> SceneMaps:
    """Rasterise a multi-level interconnect cross-section; fills ``layout.sections``.

    Metal levels repeat downward from the surface until about 40-90 % of the field below the
    surface is filled (pitch shrinking by 1-1.6x per level going down, as in a real BEOL stack),
    each level with tapered lines end-on and plugs down to the next level; then dielectric and
    silicon.

    Args:
        rng: The scene stream.
        layout: Layout with (untilted, unrotated) coordinates; a = field x, b = field y.

    Returns:
        The clean scene maps.
    """
    params, geometry = layout.params, layout.geometry
    x, y = layout.a, layout.b
    half = geometry.size / (2 * geometry.scale)
    levels = section_levels(rng, params.look)
    surface = rng.uniform(-0.7, 0.0) * half
    capped, cap_thickness = rng.random() < 0.5, rng.uniform(10.0, 40.0)
    # FIB-SEM views are tilted: above the cut, half of them show the wafer's top surface
    top_surface, top_level = rng.random() < 0.5, rng.uniform(0.12, 0.5)
    depth_goal = surface + rng.uniform(0.4, 0.9) * (half - surface)
    shrink = rng.uniform(1.0, 1.6)
    top = surface + rng.uniform(0.0, 0.6) * params.width
    maps = SceneMaps.blank(geometry.canvas, levels["dielectric"])
    above = levels["vacuum"] if not top_surface else top_level
    intensity = np.where(y >= surface, levels["dielectric"], above)
    intensity = np.where(
        capped & (y < surface) & (y >= surface - cap_thickness), levels["cap"], intensity
    )
    metal = np.zeros(x.shape, bool)
    hosts: list[SectionHost] = []
    pitch = params.pitch
    for level in range(6):
        top = _metal_level(
            rng, layout, x, y, top, pitch, params.duty, levels, intensity, metal, hosts, level
        )
        pitch /= shrink
        if top >= depth_goal or pitch < 3.0:
            break
    substrate_top = top + rng.uniform(0.3, 1.5) * params.width
    intensity = np.where(y >= substrate_top, levels["silicon"], intensity)
    if not any(h.kind == "plug" for h in hosts):  # every section must host a plug defect
        _metal_level(
            rng,
            layout,
            x,
            y,
            top,
            pitch,
            params.duty,
            levels,
            intensity,
            metal,
            hosts,
            99,
            force_plug=True,
        )
    bump = rng.random() < 0.25
    bump_draws = rng.uniform(0.0, 1.0, 4)
    if bump:
        metal |= _bump(layout, x, y, surface, bump_draws, levels, intensity, hosts)
    maps.intensity = intensity
    maps.topo = metal
    maps.height = metal.astype(np.float64)
    maps.material = np.where(metal, Material.TOP, Material.SUBSTRATE).astype(np.int8)
    edge = np.clip(y - surface, 0.0, None)
    maps.extra = np.where(
        y >= surface, 0.6 * params.look.bloom_in * np.exp(-edge / 1.5) * (edge < 7.0), 0.0
    )
    layout.sections = tuple(hosts)
    layout.surface_y = float(surface)
    layout.tags.update(
        capped=bool(capped),
        bump=bool(bump),
        top_surface=bool(top_surface),
        metal_levels=len({h.y0 for h in hosts if h.kind == "line"}),
        section_lines=sum(h.kind == "line" for h in hosts),
        section_plugs=sum(h.kind == "plug" for h in hosts),
        levels=levels,
    )
    return maps


def _metal_level(
    rng: np.random.Generator,
    layout: SceneLayout,
    x: np.ndarray,
    y: np.ndarray,
    top: float,
    pitch: float,
    duty: float,
    levels: dict,
    intensity: np.ndarray,
    metal: np.ndarray,
    hosts: list,
    level: int,
    force_plug: bool = False,
) -> float:
    """Draw one metal level (lines end-on, plugs below) from ``top``; returns the next top."""
    half = layout.geometry.size / (2 * layout.geometry.scale)
    width = duty * pitch
    line_height = rng.uniform(0.8, 2.0) * width
    taper = math.tan(math.radians(90.0 - rng.uniform(80.0, 90.0)))
    plug_height, plug_width = rng.uniform(0.8, 2.0) * width, rng.uniform(0.5, 0.9) * width
    plug_rate = 1.0 if force_plug else rng.uniform(0.3, 0.8)
    offset = rng.uniform(0.0, pitch)
    first = math.floor((-half - 2 * pitch - offset) / pitch)
    count = math.ceil((2 * half + 4 * pitch) / pitch)
    widths = width * (1.0 + rng.normal(0.0, 0.03, count))
    has_plug = rng.random(count) < plug_rate
    centres = offset + (first + np.arange(count)) * pitch
    visible = np.abs(centres) < 0.8 * half
    if visible.any() and not has_plug[visible].any():
        has_plug[np.argmin(np.abs(centres))] = True
    plug_top = top + line_height
    index = np.clip(np.rint((x - offset) / pitch).astype(np.intp) - first, 0, count - 1)
    dx = np.abs(x - centres[index])
    depth_in_line = y - top
    in_line = (
        (depth_in_line >= 0)
        & (depth_in_line <= line_height)
        & (dx <= 0.5 * widths[index] - depth_in_line * taper)
    )
    depth_in_plug = y - plug_top
    in_plug = (
        has_plug[index]
        & (depth_in_plug >= 0)
        & (depth_in_plug <= plug_height)
        & (dx <= 0.5 * plug_width * (1.0 - 0.25 * depth_in_plug / plug_height))
    )
    shade = 1.0 - 0.04 * min(level, 5)
    intensity[in_line] = levels["metal"] * shade
    intensity[in_plug] = levels["plug"] * shade
    metal |= in_line | in_plug
    for k in range(count):
        if abs(centres[k]) > half + pitch:
            continue
        hosts.append(
            SectionHost(
                "line",
                centres[k] - 0.5 * widths[k],
                centres[k] + 0.5 * widths[k],
                top,
                top + line_height,
                levels["metal"] * shade,
                taper,
            )
        )
        if has_plug[k]:
            hosts.append(
                SectionHost(
                    "plug",
                    centres[k] - 0.5 * plug_width,
                    centres[k] + 0.5 * plug_width,
                    plug_top,
                    plug_top + plug_height,
                    levels["plug"] * shade,
                    0.25,
                )
            )
    return plug_top + plug_height


def _bump(
    layout: SceneLayout,
    x: np.ndarray,
    y: np.ndarray,
    surface: float,
    draws: np.ndarray,
    levels: dict,
    intensity: np.ndarray,
    hosts: list,
) -> np.ndarray:
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
    hosts.append(
        SectionHost("pad", centre - pad_half, centre + pad_half, base, surface, levels["lower"])
    )
    hosts.append(
        SectionHost(
            "bump", centre - radius, centre + radius, base - bump_height, base, levels["solder"]
        )
    )
    return pad | dome
