"""Grad-CAM for the detail views: both stages of one image, computed once, drawn at any opacity.

Heat maps come from ``sem_core.explain`` through the cached per-bundle explainers
(``ui.loaders.explainer``) and are kept in a dict the caller holds in session state, keyed by
bundle, image hash, stage, method and class, so moving the opacity slider or switching pages
never recomputes them. Stage 1 is always explained for "Defective" (where does the screener see
a defect?); stage 2 for the chosen defect class, by default its top class.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sem_core.classes import STAGE1_CLASSES, STAGE2_CLASSES
from sem_core.explain import DEFAULT_CAM_METHOD, CamMethod, Colormap, HeatMap, overlay
from ui import loaders

DEFECTIVE_INDEX = STAGE1_CLASSES.index("Defective")
METHOD_LABELS = {CamMethod.GRADCAM: "Grad-CAM", CamMethod.GRADCAM_PLUS_PLUS: "Grad-CAM++",
                 CamMethod.SCORECAM: "Score-CAM (fast)", CamMethod.LAYERCAM: "LayerCAM"}


@dataclass(frozen=True)
class StageView:
    """One stage's explanation, ready to show.

    Attributes:
        stage: 1 or 2.
        class_name: The class explained.
        heatmap: The heat map at the model's input size.
        overlay: uint8 RGB of the original image's size.
    """

    stage: int
    class_name: str
    heatmap: HeatMap
    overlay: np.ndarray


def _heatmap(folder: Path, bundle_key: str, stage: int, pixels: np.ndarray, image_key: str,
             method: CamMethod, class_index: int | None,
             cache: MutableMapping[tuple, HeatMap]) -> HeatMap:
    key = (bundle_key, image_key, stage, method.value, class_index)
    if key not in cache:
        cache[key] = loaders.explainer(folder, stage).explain(pixels, method, class_index)
    return cache[key]


def explain_stages(folder: Path, bundle_key: str, pixels: np.ndarray, image_key: str, *,
                   method: CamMethod | str = DEFAULT_CAM_METHOD, stage2_class: str | None = None,
                   alpha: float = 0.4, colormap: Colormap | str = Colormap.JET,
                   cache: MutableMapping[tuple, HeatMap]) -> tuple[StageView, StageView]:
    """Explanations of stage 1 (class Defective) and stage 2 for one image.

    Args:
        folder: The bundle folder.
        bundle_key: Identifies the bundle version in cache keys.
        pixels: The image, grayscale float (H, W) in [0, 1].
        image_key: Identifies the image (its hash).
        method: "gradcam", "gradcampp", "scorecam" or "layercam". Default: "layercam".
        stage2_class: Defect class to explain; None explains stage 2's top class. Default: None.
        alpha: Heat-map opacity of the overlays, in [0, 1]. Default: 0.4.
        colormap: Colour map of the overlays. Default: "jet".
        cache: Heat maps by key; updated in place.

    Returns:
        (stage-1 view, stage-2 view).

    Raises:
        ValueError: On an unknown method, class or colour map.
    """
    method = CamMethod(method)
    class_index = None if stage2_class is None else STAGE2_CLASSES.index(stage2_class)
    first = _heatmap(folder, bundle_key, 1, pixels, image_key, method, DEFECTIVE_INDEX, cache)
    second = _heatmap(folder, bundle_key, 2, pixels, image_key, method, class_index, cache)
    return (StageView(1, STAGE1_CLASSES[first.class_index], first,
                      overlay(pixels, first, colormap=colormap, alpha=alpha)),
            StageView(2, STAGE2_CLASSES[second.class_index], second,
                      overlay(pixels, second, colormap=colormap, alpha=alpha)))


def display_image(pixels: np.ndarray, max_side: int | None = None) -> np.ndarray:
    """uint8 grayscale for the browser, optionally shrunk so the longer side is ``max_side``."""
    from PIL import Image

    picture = Image.fromarray(np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8))
    if max_side is not None and max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side), Image.Resampling.BOX)
    return np.asarray(picture)
