"""Stage 2: a pretrained-style backbone with the notebook's head, naming the defect class.

``build_stage2`` returns one flat Functional graph: grayscale input (size, size, 1) in [0, 1]
-> ``gray_to_rgb`` (Concatenate) -> ``backbone_preprocess`` -> backbone layers built on that
tensor -> ``backbone_features`` -> ``head_pool`` (GAP) -> ``head_dense`` (512, ReLU) ->
``head_dropout`` (0.5) -> ``class_probabilities`` (softmax over the seven defect classes).
With ``dense_units=0`` the head is one linear layer on the pooled features (the ``probe``
recipe fits it as a logistic regression). ``build_backbone_classifier`` is the shared body, also
used for a stage 1 on a pretrained backbone (one sigmoid unit, ``defect_probability``).
"""

from __future__ import annotations

import keras

from sem_core.classes import STAGE2_CLASSES
from sem_core.models.backbones import FEATURES_LAYER, get_backbone
from sem_core.models.stage1 import BATCH_NORM_MOMENTUM, STAGE1_OUTPUT_NAME

STAGE2_INPUT_NAME = "image"
STAGE2_OUTPUT_NAME = "class_probabilities"
# Layers that are ours, not the backbone's; everything else in a backbone classifier is backbone.
STAGE2_OWN_LAYERS: frozenset[str] = frozenset(
    {STAGE2_INPUT_NAME, "gray_to_rgb", "backbone_preprocess", FEATURES_LAYER,
     "head_pool", "head_dense", "head_dropout", STAGE2_OUTPUT_NAME, STAGE1_OUTPUT_NAME}
)


def build_stage2(
    input_size: int,
    backbone: str = "densenet121",
    weights: str | None = None,
    num_classes: int = len(STAGE2_CLASSES),
    dense_units: int = 512,
    dropout: float = 0.5,
) -> keras.Model:
    """Build the stage-2 defect classifier.

    Args:
        input_size: Height and width of the square grayscale input.
        backbone: A name from ``sem_core.models.backbone_names()``. Default: "densenet121".
        weights: What ``keras.applications`` should load into the backbone: None (random),
            "imagenet", or a path to a no-top ``.h5`` weights file. Bundle and ``.keras``
            sources are handled by ``sem_core.models.weights``. Default: None.
        num_classes: Softmax width. Default: 7 (the defect classes).
        dense_units: Units of the hidden dense layer; 0 leaves it (and its dropout) out.
            Default: 512.
        dropout: Dropout rate before the softmax. Default: 0.5.

    Returns:
        An uncompiled Functional model mapping (batch, size, size, 1) to (batch, num_classes).

    Raises:
        ValueError: On an unknown backbone or an input size below the backbone's minimum.
    """
    return build_backbone_classifier(input_size, backbone, weights, num_classes, "softmax",
                                     STAGE2_OUTPUT_NAME, dense_units, dropout, "stage2")


def build_backbone_classifier(input_size: int, backbone: str, weights: str | None, units: int,
                              activation: str, output_name: str, dense_units: int, dropout: float,
                              stage: str) -> keras.Model:
    """A registered backbone on replicated grayscale with a pooled head (see ``build_stage2``).

    Args:
        input_size: Height and width of the square grayscale input.
        backbone: A registered backbone name.
        weights: None, "imagenet" or a no-top ``.h5`` path, as for ``build_stage2``.
        units: Output units.
        activation: Output activation ("softmax" or "sigmoid").
        output_name: Name of the output layer.
        dense_units: Units of the hidden dense layer; 0 leaves it and its dropout out.
        dropout: Dropout rate before the output.
        stage: Prefix of the model name ("stage1" or "stage2").

    Returns:
        An uncompiled flat Functional model.

    Raises:
        ValueError: On an unknown backbone or an input size below the backbone's minimum.
    """
    spec = get_backbone(backbone)
    if input_size < spec.min_input_size:
        raise ValueError(
            f"{spec.name} needs input_size >= {spec.min_input_size}. Received `input_size={input_size}`."
        )
    inputs = keras.Input(shape=(input_size, input_size, 1), name=STAGE2_INPUT_NAME)
    rgb = keras.layers.Concatenate(axis=-1, name="gray_to_rgb")([inputs, inputs, inputs])
    x = spec.preprocessing_layer()(rgb)
    features_model = spec.build(x, weights)
    for layer in features_model.layers:
        # Same reason as stage 1: short CPU runs must leave usable moving statistics. Pretrained
        # fine-tuning keeps batch norm frozen, so this only matters when it trains.
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BATCH_NORM_MOMENTUM
    x = keras.layers.Activation("linear", name=FEATURES_LAYER)(features_model.output)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    if dense_units > 0:
        x = keras.layers.Dense(dense_units, activation="relu", name="head_dense")(x)
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(units, activation=activation, name=output_name)(x)
    return keras.Model(inputs, outputs, name=f"{stage}_{spec.name}")


def backbone_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The backbone's layers of a stage-2 model, in graph order (everything not ours)."""
    return [layer for layer in model.layers if layer.name not in STAGE2_OWN_LAYERS]


def set_backbone_trainable(model: keras.Model, trainable_last: int | None) -> int:
    """Freeze the backbone, then unfreeze its last layers, keeping batch norm frozen.

    Batch-norm statistics stay frozen while fine-tuning because small CPU batches would
    overwrite the statistics the backbone was trained with.

    Args:
        model: A model from ``build_stage2``; changed in place (it is the model being trained).
        trainable_last: How many of the backbone's last layers to unfreeze: 0 freezes the whole
            backbone, None unfreezes every layer including batch norm (training from scratch).

    Returns:
        The number of backbone layers left trainable.
    """
    layers = backbone_layers(model)
    if trainable_last is None:
        for layer in layers:
            layer.trainable = True
        return len(layers)
    unfrozen = 0
    cut = len(layers) - max(0, trainable_last)
    for index, layer in enumerate(layers):
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = index >= cut and not is_batch_norm
        unfrozen += int(layer.trainable)
    return unfrozen
