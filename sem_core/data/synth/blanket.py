"""Blanket-film scenes (spec section 4): a nearly featureless film beside an array edge.

The film covers 65-85 % of the field; a strip along one side shows where a patterned array
(Manhattan lines with vias) ends. Line and via defects live in that strip; particles, residue,
scratches and cracks may land anywhere. The strip is present in every blanket image of every
class, so it is no shortcut.
"""

from __future__ import annotations

import numpy as np

from sem_core.data.synth.canvas import Material, SceneMaps
from sem_core.data.synth.layout import SceneLayout
from sem_core.data.synth.logic import build_logic


def build_blanket(rng: np.random.Generator, layout: SceneLayout) -> SceneMaps:
    """Rasterise a film with an array-edge strip; sets ``layout.host_region`` to the strip.

    Args:
        rng: The scene stream.
        layout: Layout with coordinates.

    Returns:
        The clean scene maps.
    """
    maps = build_logic(rng, layout)
    geometry, look = layout.geometry, layout.params.look
    half = geometry.size / (2 * geometry.scale)
    side = int(rng.integers(0, 4))
    # at least 1.6 pitches wide, so that high-magnification strips still hold whole lines
    fraction = max(rng.uniform(0.15, 0.35), 1.6 * layout.params.pitch / (2 * half))
    film_level = look.substrate if rng.random() < 0.5 else 0.5 * (look.substrate + look.top)
    x, y = geometry.field_coordinates()
    x, y = np.broadcast_arrays(x, y)
    edge = -half + 2 * half * fraction
    coordinate = (x, -x, y, -y)[side]
    strip = coordinate < edge
    film = ~strip
    maps.topo[film] = False
    maps.intensity[film] = film_level
    maps.height[film] = 0.0
    maps.material[film] = Material.SUBSTRATE
    regions = ((-half, -half, edge, half), (-edge, -half, half, half),
               (-half, -half, half, edge), (-half, -edge, half, half))
    layout.host_region = regions[side]
    layout.tags.update(strip_side=side, strip_fraction=float(fraction), film_level=float(film_level))
    return maps
