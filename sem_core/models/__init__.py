"""Model factories of the two-stage cascade.

Stage 1 (``build_stage1``) is a small Clean/Defective CNN (or a registered backbone with a
sigmoid head); stage 2 (``build_stage2``) is a registered backbone (``backbone_names()``;
DenseNet121 by default; EfficientNet-Lite0/1/2 with ImageNet weights offline,
``offline_imagenet_names()``, see ``pretrained``) with the notebook's head.
Both take raw grayscale (size, size, 1) in [0, 1] and are flat Functional graphs with stable
layer names. ``sem_core.models.weights`` resolves initial weights. Names are imported on first
use, so listing backbones (e.g. for ``--help``) does not load TensorFlow.
"""

from __future__ import annotations

import importlib

_EXPORTS: dict[str, str] = {
    "BACKBONES": "backbones", "DEFAULT_BACKBONE": "backbones", "FEATURES_LAYER": "backbones",
    "BackboneSpec": "backbones", "backbone_names": "backbones", "get_backbone": "backbones",
    "offline_imagenet_names": "backbones",
    "RESIZE_METHOD": "preprocessing", "prepare_batch": "preprocessing", "prepare_image": "preprocessing",
    "build_stage1": "stage1", "stage1_gradcam_layer": "stage1",
    "backbone_layers": "stage2", "build_stage2": "stage2", "set_backbone_trainable": "stage2",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sem_core.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"sem_core.models.{module}"), name)
