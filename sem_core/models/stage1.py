"""Stage 1: a small CNN that screens every image as Clean or Defective.

``build_stage1`` returns a flat Functional model that takes raw grayscale pixels in [0, 1],
shape (size, size, 1), and outputs one sigmoid probability of "Defective". Each conv block is
conv -> batch norm -> ReLU, named ``block{i}_conv``, ``block{i}_bn``, ``block{i}_relu`` (and
``block{i}_pool`` for all but the last), so Grad-CAM and weight transfer find layers by name.
Global average and max pooling are concatenated before the sigmoid unit. It costs a few
percent of stage 2, which is what makes the cascade worth running. With ``backbone=`` it is
instead a registered (pretrained) backbone with a one-unit sigmoid head, for small datasets
where ImageNet features screen better than a CNN trained from nothing.
"""

from __future__ import annotations

import keras

STAGE1_NAME = "stage1_cnn"
STAGE1_INPUT_NAME = "image"
STAGE1_OUTPUT_NAME = "defect_probability"
DEFAULT_STAGE1_WIDTH = 16
DEFAULT_STAGE1_BLOCKS = 4
# Batch-norm moving statistics follow each batch with this weight. Keras' 0.99 needs several
# hundred steps to forget its (0, 1) start; a run of a few small-data epochs then predicts with
# wrong statistics (inference-mode output near chance while training-mode loss is near zero,
# measured here). 0.9 settles in ~30 steps.
BATCH_NORM_MOMENTUM = 0.9


def stage1_gradcam_layer(blocks: int = DEFAULT_STAGE1_BLOCKS) -> str:
    """Name of the last convolutional activation of a stage-1 model (the Grad-CAM target)."""
    return f"block{blocks}_relu"


def build_stage1(
    input_size: int,
    width: int = DEFAULT_STAGE1_WIDTH,
    blocks: int = DEFAULT_STAGE1_BLOCKS,
    dropout: float = 0.3,
    backbone: str | None = None,
    weights: str | None = None,
    dense_units: int = 0,
) -> keras.Model:
    """Build the stage-1 Clean/Defective screener.

    Args:
        input_size: Height and width of the square grayscale input, at least ``2 ** blocks``.
        width: Filters of the first block; each later block doubles it. Default: 16.
        blocks: Number of conv blocks. Default: 4.
        dropout: Dropout rate before the sigmoid unit. Default: 0.3.
        backbone: A registered backbone to screen with instead of the small CNN (``width`` and
            ``blocks`` are then unused). Default: None (the CNN).
        weights: The backbone's initial weights, as for ``build_stage2``. Default: None.
        dense_units: Hidden units of a backbone head; 0 for a linear head. Default: 0.

    Returns:
        An uncompiled Functional model mapping (batch, size, size, 1) in [0, 1] to
        (batch, 1) probabilities of "Defective".

    Raises:
        ValueError: When a size, width, block count or dropout rate is out of range.
    """
    if backbone is not None:
        from sem_core.models.stage2 import build_backbone_classifier

        return build_backbone_classifier(input_size, backbone, weights, 1, "sigmoid", STAGE1_OUTPUT_NAME,
                                         dense_units, dropout, "stage1")
    if blocks < 1:
        raise ValueError(f"blocks must be >= 1. Received `blocks={blocks}`.")
    if input_size < 2**blocks:
        raise ValueError(
            f"input_size must be at least 2**blocks = {2**blocks}. Received `input_size={input_size}`."
        )
    if width < 1:
        raise ValueError(f"width must be >= 1. Received `width={width}`.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1). Received `dropout={dropout}`.")
    inputs = keras.Input(shape=(input_size, input_size, 1), name=STAGE1_INPUT_NAME)
    # Centre the [0, 1] pixels; a fixed affine map keeps the saved model free of Lambda layers.
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="rescale")(inputs)
    for index in range(1, blocks + 1):
        x = _conv_block(x, filters=width * 2 ** (index - 1), block=index)
        # The last block is not pooled, so Grad-CAM maps keep detail at small inputs.
        if index < blocks:
            x = keras.layers.MaxPooling2D(2, name=f"block{index}_pool")(x)
    # Max pooling keeps a small local defect visible that averaging over the field would dilute;
    # the average keeps the context. Both go to the classifier.
    x = keras.layers.Concatenate(name="pool")([
        keras.layers.GlobalAveragePooling2D(name="pool_avg")(x),
        keras.layers.GlobalMaxPooling2D(name="pool_max")(x),
    ])
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name=STAGE1_OUTPUT_NAME)(x)
    return keras.Model(inputs, outputs, name=STAGE1_NAME)


def _conv_block(x, filters: int, block: int):
    """One 3x3 convolution ``block{i}_conv`` with batch norm and ReLU."""
    prefix = f"block{block}"
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{prefix}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{prefix}_bn")(x)
    return keras.layers.ReLU(name=f"{prefix}_relu")(x)
