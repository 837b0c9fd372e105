"""Build the clean scene of one image: layout coordinates, geometry, hosts and textures.

Dispatches on the view and family drawn in ``scene_params``; everything here uses the
``scene`` stream only, so the scene is the same for an image and its clean twin.
"""

from __future__ import annotations

import math

import numpy as np

from sem_core.data.synth.canvas import FieldGeometry, LayoutTransform, Material, SceneMaps
from sem_core.data.synth.config import Family, Look, View
from sem_core.data.synth.layout import SceneLayout
from sem_core.data.synth.roughness import gaussian_field_pair
from sem_core.data.synth.scene_params import SceneParams


def layout_for(params: SceneParams, geometry: FieldGeometry) -> SceneLayout:
    """Layout transform and per-canvas-pixel layout coordinates of a scene."""
    transform = LayoutTransform(
        theta=math.radians(params.theta_deg),
        tilt=math.radians(params.tilt_deg),
        keystone=params.keystone,
    )
    x, y = geometry.field_coordinates()
    a, b = transform.to_layout(x, y)
    a, b = np.broadcast_arrays(a, b)
    return SceneLayout(
        params=params,
        geometry=geometry,
        transform=transform,
        a=np.ascontiguousarray(a),
        b=np.ascontiguousarray(b),
    )


def draw_textures(
    rng: np.random.Generator, params: SceneParams, geometry: FieldGeometry
) -> tuple[np.ndarray, np.ndarray]:
    """Two texture fields (top material, substrate) on the padded output grid.

    Cross-sections get FIB curtaining (streaks along y). Metal looks, and cross-section or
    blanket metal with p = 0.5, get grain (channelling) contrast on the top material: a smooth
    field cut into patches by quantisation, each patch given its own random level.
    """
    length = params.look.texture_length * geometry.scale
    side = geometry.padded
    if params.view == View.CROSS_SECTION:
        top, substrate = gaussian_field_pair(rng, (side, side), (8.0 * length, 0.5 * length))
    else:
        top, substrate = gaussian_field_pair(rng, (side, side), (length, length))
    metal_look = params.look.look in (Look.METAL_CMP, Look.VC_MODE)
    grains = rng.random() < (1.0 if metal_look else 0.5 if params.view != View.TOP_DOWN else 0.0)
    if grains:
        grain = rng.uniform(2.0, 7.0) * geometry.scale
        field, _ = gaussian_field_pair(rng, (side, side), (grain, grain))
        patches = np.floor(field * rng.uniform(1.5, 3.0)).astype(np.intp)
        levels = rng.standard_normal(64)
        top = levels[np.mod(patches, 64)] + 0.3 * top
        # channelling contrast is stronger than surface texture: 1.5-3x the look's strength
        top = rng.uniform(1.5, 3.0) * (top - top.mean()) / (top.std() + 1e-12)
    return top, substrate


def build_scene(
    rng: np.random.Generator, params: SceneParams, geometry: FieldGeometry
) -> tuple[SceneMaps, SceneLayout]:
    """Build the clean scene maps and the layout (hosts, textures) of one image.

    Args:
        rng: The image's ``scene`` stream (after ``sample_scene``).
        params: Scene parameters.
        geometry: Canvas geometry.

    Returns:
        (clean maps, layout).
    """
    from sem_core.data.synth import blanket, logic, section, topdown

    layout = layout_for(params, geometry)
    builders = {
        Family.LINE_SPACE: topdown.build_line_space,
        Family.VIA_ARRAY: topdown.build_via_array,
        Family.LOGIC: logic.build_logic,
        Family.STACK: section.build_section,
        Family.FILM: blanket.build_blanket,
    }
    maps = builders[params.family](rng, layout)
    wall_height = rng.uniform(0.3, 0.8) * params.width
    shift = wall_height * math.sin(math.radians(params.tilt_deg))
    layout.tags["sidewall_px"] = int(round(shift * geometry.scale * geometry.supersample))
    layout.textures = draw_textures(rng, params, geometry)
    return maps, layout


def add_sidewalls(maps: SceneMaps, layout: SceneLayout) -> SceneMaps:
    """Tilted view: raised features show a bright sidewall band on their near side.

    Applied after the defect edit (to the defect scene and to its clean twin alike), so
    defects get sidewalls too. Returns ``maps`` unchanged for untilted views.
    """
    pixels = layout.tags.get("sidewall_px", 0)
    if layout.params.tilt_deg <= 0.0 or pixels < 1:
        return maps
    look = layout.params.look
    maps = maps.copy()
    base = np.zeros_like(maps.topo)
    base[pixels:] = maps.topo[:-pixels]
    wall = base & ~maps.topo
    maps.intensity[wall] = max(look.top, look.substrate) + 0.5 * look.bloom_in + 0.05
    maps.topo |= wall
    maps.height[wall] = 1.0
    maps.material[wall] = Material.TOP
    return maps
