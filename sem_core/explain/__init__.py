"""Explanations: where a stage model looked, drawn over the image, and whether it hit the defect.

``Explainer`` / ``explain`` compute Grad-CAM, Grad-CAM++, fast Score-CAM or LayerCAM heat maps
of either stage for any class without changing the caller's model; ``overlay`` draws one over the original
image; ``pointing_game`` scores heat maps against defect masks. Importing this package does not
load TensorFlow; building an ``Explainer`` does.
"""

from sem_core.explain.cam import Explainer, explain, explain_batch
from sem_core.explain.heatmap import DEFAULT_CAM_METHOD, CamMethod, HeatMap, normalise_maps
from sem_core.explain.overlay import Colormap, colorize, overlay
from sem_core.explain.pointing import PointingResult, peak_in_mask_grid, pointing_game, points_at

__all__ = [
    "DEFAULT_CAM_METHOD", "CamMethod", "Colormap", "Explainer", "HeatMap", "PointingResult",
    "colorize", "explain", "explain_batch", "normalise_maps", "overlay", "peak_in_mask_grid", "pointing_game",
    "points_at",
]
