"""EfficientNet-Lite0/1/2 as flat Functional Keras models with stable layer names.

EfficientNet-Lite is EfficientNet-B0's network made friendly to edge hardware: ReLU6 instead of
swish, no squeeze-and-excitation, and, when scaled up, the stem (32 filters), the first and last
stage's repeats and the head (1280 filters) stay fixed. ``build_efficientnet_lite`` returns the
feature extractor (optionally with the ImageNet classifier on top), named like
``keras.applications.EfficientNet*``: ``stem_conv``, ``block2a_expand_conv``, ``block2a_dwconv``,
``block2b_add``, ``top_conv``, ``top_activation``. Convolutions use TensorFlow's "same" padding,
which is what the published weights were trained with. Stochastic depth is left out: it only
acts while training, and fine-tuning a few hundred images does not need it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras

BATCH_NORM_EPSILON = 1e-3


@dataclass(frozen=True)
class LiteVariant:
    """Scaling of one EfficientNet-Lite model.

    Attributes:
        name: Registry-style name, e.g. ``"efficientnet_lite0"``.
        width: Channel multiplier of the inner stages.
        depth: Repeat multiplier of the inner stages.
        resolution: Input size the ImageNet weights were trained at.
    """

    name: str
    width: float
    depth: float
    resolution: int


VARIANTS: dict[str, LiteVariant] = {variant.name: variant for variant in (
    LiteVariant("efficientnet_lite0", 1.0, 1.0, 224),
    LiteVariant("efficientnet_lite1", 1.0, 1.1, 240),
    LiteVariant("efficientnet_lite2", 1.1, 1.2, 260),
)}

# EfficientNet-B0's stages: (repeats, kernel, stride, expansion, output filters).
_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
           (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_FILTERS = 32
HEAD_FILTERS = 1280


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Scale a filter count by ``width`` and round to a multiple of ``divisor`` (never by >10% down)."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def stage_plan(variant: LiteVariant) -> list[tuple[int, int, int, int, int]]:
    """The scaled stages of a variant: (repeats, kernel, stride, expansion, filters) each.

    The first and last stage keep their repeats, as EfficientNet-Lite prescribes.
    """
    last = len(_STAGES) - 1
    plan = []
    for index, (repeats, kernel, stride, expansion, filters) in enumerate(_STAGES):
        if index not in (0, last):
            repeats = int(math.ceil(variant.depth * repeats))
        plan.append((repeats, kernel, stride, expansion, round_filters(filters, variant.width)))
    return plan


def get_variant(name: str) -> LiteVariant:
    """Look up a variant by name; the error lists the known ones."""
    variant = VARIANTS.get(name.strip().lower())
    if variant is None:
        raise ValueError(f"Unknown EfficientNet-Lite variant. Received `name={name!r}`; "
                         f"available: {', '.join(VARIANTS)}.")
    return variant


def build_efficientnet_lite(
    name: str,
    input_tensor=None,
    input_shape: tuple[int | None, int | None, int] = (None, None, 3),
    include_top: bool = False,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
) -> keras.Model:
    """Build an EfficientNet-Lite network with random weights.

    Pretrained weights are loaded by ``sem_core.models.pretrained.load_imagenet_weights``, which
    matches them to these layer names.

    Args:
        name: "efficientnet_lite0", "efficientnet_lite1" or "efficientnet_lite2".
        input_tensor: Tensor to build on (keeps a larger classifier one flat graph); None makes
            an ``Input`` of ``input_shape``. Default: None.
        input_shape: Shape of that input when ``input_tensor`` is None. Default: (None, None, 3).
        include_top: Add global pooling, dropout and the ``predictions`` Dense layer. Default: False.
        classes: Width of ``predictions``. Default: 1000 (ImageNet).
        classifier_activation: Activation of ``predictions``; None gives logits. Default: "softmax".

    Returns:
        A Functional model from the input to ``top_activation`` (or to ``predictions``).

    Raises:
        ValueError: On an unknown variant name.
    """
    variant = get_variant(name)
    inputs = keras.Input(shape=input_shape, name="input") if input_tensor is None else input_tensor
    x = keras.layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False,
                            name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, name="stem_bn")(x)
    x = keras.layers.ReLU(6.0, name="stem_activation")(x)
    channels = STEM_FILTERS
    for stage, (repeats, kernel, stride, expansion, filters) in enumerate(stage_plan(variant), start=1):
        for repeat in range(repeats):
            prefix = f"block{stage}{chr(ord('a') + repeat)}_"
            x = _mbconv(x, channels, filters, kernel, stride if repeat == 0 else 1, expansion, prefix)
            channels = filters
    x = keras.layers.Conv2D(HEAD_FILTERS, 1, padding="same", use_bias=False, name="top_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, name="top_bn")(x)
    x = keras.layers.ReLU(6.0, name="top_activation")(x)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(0.2, name="top_dropout")(x)
        x = keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    source = inputs if input_tensor is None else keras.utils.get_source_inputs(input_tensor)
    return keras.Model(source, x, name=variant.name)


def _mbconv(inputs, channels: int, filters: int, kernel: int, stride: int, expansion: int, prefix: str):
    """One inverted-residual block: 1x1 expansion, depthwise conv, 1x1 projection, skip."""
    x = inputs
    expanded = channels * expansion
    if expansion != 1:
        x = keras.layers.Conv2D(expanded, 1, padding="same", use_bias=False, name=prefix + "expand_conv")(x)
        x = keras.layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, name=prefix + "expand_bn")(x)
        x = keras.layers.ReLU(6.0, name=prefix + "expand_activation")(x)
    x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                                     name=prefix + "dwconv")(x)
    x = keras.layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, name=prefix + "bn")(x)
    x = keras.layers.ReLU(6.0, name=prefix + "activation")(x)
    x = keras.layers.Conv2D(filters, 1, padding="same", use_bias=False, name=prefix + "project_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, name=prefix + "project_bn")(x)
    if stride == 1 and channels == filters:
        x = keras.layers.Add(name=prefix + "add")([x, inputs])
    return x
