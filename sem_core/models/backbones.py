"""The stage-2 backbone registry: each backbone paired with its preprocessing in one place.

A ``BackboneSpec`` says how to build a ``keras.applications`` feature extractor on a given
input tensor (so the classifier stays one flat graph), which serialisable layer maps [0, 1]
RGB to the range its ImageNet weights expect, which file the Keras cache holds its ImageNet
weights in, and which layer Grad-CAM should target. ``get_backbone(name)`` looks a name up
and lists the registered names when it is unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# ImageNet channel statistics of the "torch" preprocessing mode, for pixels in [0, 1].
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneSpec:
    """One registered stage-2 backbone.

    Attributes:
        name: Registry key, e.g. ``"densenet121"``.
        description: One line for help texts and model cards.
        preprocessing: What ``preprocessing_layer`` does, recorded in bundle.json.
        gradcam_layer: Name of the last convolutional feature map in the built classifier.
        imagenet_cache_file: File name of the no-top ImageNet weights in ``~/.keras/models``.
        min_input_size: Smallest square input the backbone accepts.
        build: ``build(input_tensor, weights)`` returning the application model without top.
        preprocessing_layer: Factory of the serialisable layer applied before the backbone.
    """

    name: str
    description: str
    preprocessing: str
    gradcam_layer: str
    imagenet_cache_file: str
    min_input_size: int
    build: Callable[[object, str | None], object]
    preprocessing_layer: Callable[[], object]


def _densenet121(input_tensor, weights: str | None):
    import keras

    return keras.applications.DenseNet121(include_top=False, weights=weights, input_tensor=input_tensor)


def _mobilenetv3small(input_tensor, weights: str | None):
    import keras

    # Preprocessing is done by our own layer, so the application's built-in one is turned off.
    return keras.applications.MobileNetV3Small(
        include_top=False, weights=weights, input_tensor=input_tensor, include_preprocessing=False
    )


def _imagenet_torch_normalization():
    import keras

    variance = tuple(std * std for std in _IMAGENET_STD)
    return keras.layers.Normalization(mean=_IMAGENET_MEAN, variance=variance, name="backbone_preprocess")


def _symmetric_rescaling():
    import keras

    return keras.layers.Rescaling(2.0, offset=-1.0, name="backbone_preprocess")


# Grad-CAM targets the backbone's final feature map through an identity layer of ours, because
# some applications (MobileNetV3) give their last activation an auto-generated, unstable name.
FEATURES_LAYER = "backbone_features"

BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            name="densenet121",
            description="DenseNet121 (8.0 M parameters): the accurate default.",
            preprocessing="gray->RGB; (x - ImageNet mean) / ImageNet std on [0, 1] pixels",
            gradcam_layer=FEATURES_LAYER,
            imagenet_cache_file="densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
            min_input_size=32,
            build=_densenet121,
            preprocessing_layer=_imagenet_torch_normalization,
        ),
        BackboneSpec(
            name="mobilenetv3small",
            description="MobileNetV3Small (0.9 M parameters): fast, for laptops and quick retrains.",
            preprocessing="gray->RGB; 2x - 1 on [0, 1] pixels",
            gradcam_layer=FEATURES_LAYER,
            imagenet_cache_file="weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
            min_input_size=32,
            build=_mobilenetv3small,
            preprocessing_layer=_symmetric_rescaling,
        ),
    )
}
DEFAULT_BACKBONE = "densenet121"


def backbone_names() -> tuple[str, ...]:
    """Registered backbone names, default first."""
    return tuple(sorted(BACKBONES, key=lambda name: (name != DEFAULT_BACKBONE, name)))


def get_backbone(name: str) -> BackboneSpec:
    """Look up a backbone by name (case-insensitive).

    Args:
        name: A registered name such as ``"densenet121"``.

    Returns:
        The ``BackboneSpec``.

    Raises:
        ValueError: When the name is not registered; the message lists the names that are.
    """
    spec = BACKBONES.get(name.strip().lower())
    if spec is None:
        raise ValueError(
            f"Unknown backbone. Received `backbone={name!r}`; available: {', '.join(backbone_names())}."
        )
    return spec
