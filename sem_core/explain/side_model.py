"""A read-only view of a classifier for explanation: class logits out, the caller's model untouched.

Class activation maps want the score before the output squashing (softmax or sigmoid), and
tf-keras-vis's own ``ReplaceToLinear`` gets it by cloning the model and editing the clone's
activation. Cloning DenseNet121 costs seconds and memory per call, so instead this module builds
a *side model*: it shares every layer of the caller's model up to the output layer and ends in
a new linear Dense layer holding a copy of the output layer's weights. Nothing of the original
is modified; weights are shared read-only (explanation never trains).

A sigmoid model (one unit, P(Defective)) becomes two logits (-z/2, +z/2), whose softmax is
exactly (1 - p, p): class 0 is Clean, class 1 is Defective, the order of ``STAGE1_CLASSES``.
That keeps one code path for every method, including Score-CAM, which applies a softmax to the
outputs it scores. ``sem_core.explain.compiled`` then makes the side model fast to run.
"""

from __future__ import annotations

import keras
import numpy as np


class _QuietModel(keras.Model):
    """Functional model whose ``predict`` prints no progress bar (Score-CAM calls predict)."""

    def predict(self, x, batch_size=None, verbose=0, steps=None, callbacks=None):
        return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps,
                               callbacks=callbacks)


def _rank(layer: keras.layers.Layer) -> int:
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError):  # a layer called more than once has no single output
        return 0


def feature_map_layers(model: keras.Model) -> list[str]:
    """Names of layers with a 4-D (batch, height, width, channels) output, in graph order."""
    return [layer.name for layer in model.layers
            if not isinstance(layer, keras.layers.InputLayer) and _rank(layer) == 4]


def find_target_layer(model: keras.Model) -> str:
    """The last layer with a 4-D output: the feature map the classifier head pools.

    Args:
        model: A flat Functional classifier.

    Returns:
        The layer name (e.g. ``block4_relu`` for stage 1, ``backbone_features`` for stage 2).

    Raises:
        ValueError: When the model has no 4-D layer (then Grad-CAM has nothing to weight).
    """
    candidates = feature_map_layers(model)
    if not candidates:
        raise ValueError(f"Model {model.name!r} has no layer with a 4-D (batch, height, width, "
                         "channels) output, so there is no feature map to explain.")
    return candidates[-1]


# A heat map coarser than this many cells a side cannot say where a small defect is: DenseNet121
# at 96 px ends in a 3x3 map, and its Grad-CAM peak fell inside the (dilated) mark of a control
# set 15% of the time, against 89-99% for its last 12x12 activation (benchmarks/results/
# cam_layers_control96.json).
MIN_CAM_SIDE = 8


def _map_side(layer: keras.layers.Layer) -> float:
    """Smaller spatial side of a 4-D layer's output (unknown sizes count as unbounded)."""
    height, width = layer.output.shape[1:3]
    return min(float("inf") if height is None else height, float("inf") if width is None else width)


def localising_layer(model: keras.Model, min_side: int = MIN_CAM_SIDE) -> str:
    """The deepest feature map fine enough for a heat map that locates a small defect.

    The last 4-D layer when its map has at least ``min_side`` cells a side (the usual choice,
    ``find_target_layer``). Otherwise, of the layers whose maps are that fine, the last
    activation (ReLU or other ``Activation``), or the last such layer when none is an
    activation. A model whose maps are all coarser keeps its last 4-D layer.

    Args:
        model: A flat Functional classifier.
        min_side: Fewest cells a side the chosen map should have. Default: ``MIN_CAM_SIDE``.

    Returns:
        The layer name.

    Raises:
        ValueError: When the model has no 4-D layer.
    """
    last = find_target_layer(model)
    if _map_side(model.get_layer(last)) >= min_side:
        return last
    maps = set(feature_map_layers(model))
    fine = [layer for layer in model.layers if layer.name in maps and _map_side(layer) >= min_side]
    if not fine:
        return last
    activations = [layer for layer in fine
                   if isinstance(layer, (keras.layers.Activation, keras.layers.ReLU))]
    return (activations or fine)[-1].name


def check_target_layer(model: keras.Model, layer_name: str) -> str:
    """Return ``layer_name`` when it names a 4-D layer of ``model``; otherwise explain why not.

    Raises:
        ValueError: When the layer is missing or its output is not 4-D; the message lists the
            last few usable layers.
    """
    candidates = feature_map_layers(model)
    if layer_name not in candidates:
        present = any(layer.name == layer_name for layer in model.layers)
        reason = "has no 4-D output in model" if present else "is not a layer of model"
        raise ValueError(f"Received `layer_name={layer_name!r}`, which {reason} "
                         f"{model.name!r}; usable layers end with {candidates[-5:]}.")
    return layer_name


def _output_layer(model: keras.Model) -> keras.layers.Layer:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"Model {model.name!r} must have one input and one output to be "
                         f"explained; it has {len(model.inputs)} and {len(model.outputs)}.")
    return model.outputs[0]._keras_history.operation


def build_logit_model(model: keras.Model) -> tuple[keras.Model, bool]:
    """Build the side model that outputs class logits, leaving ``model`` unchanged.

    Args:
        model: A flat Functional classifier with one input and a softmax or sigmoid output,
            either as the activation of a final Dense layer or as a final activation layer.

    Returns:
        ``(side_model, is_binary)``: the side model maps the same input to (batch, classes)
        logits, with classes = 2 for a one-unit sigmoid model (``is_binary`` True).

    Raises:
        ValueError: When the model has several inputs or outputs.
    """
    output_layer = _output_layer(model)
    units = int(model.outputs[0].shape[-1])
    is_binary = units == 1
    if isinstance(output_layer, keras.layers.Dense):
        kernel, *bias = output_layer.get_weights()
        bias = bias[0] if bias else np.zeros(units, dtype=kernel.dtype)
        if is_binary:  # z -> (-z/2, z/2), whose softmax is (1 - sigmoid(z), sigmoid(z))
            split = np.array([[-0.5, 0.5]], dtype=kernel.dtype)
            kernel, bias = kernel @ split, bias @ split
        logits_layer = keras.layers.Dense(kernel.shape[-1], name="explain_logits")
        logits = logits_layer(output_layer.input)
        logits_layer.set_weights([kernel, bias])
    elif isinstance(output_layer, (keras.layers.Activation, keras.layers.Softmax)):
        logits = output_layer.input
        if is_binary:
            logits = keras.layers.Concatenate(name="explain_logits")([logits * -0.5, logits * 0.5])
    else:
        raise ValueError(f"Model {model.name!r} ends in {type(output_layer).__name__} "
                         f"{output_layer.name!r}; expected a Dense or activation layer.")
    return _QuietModel(inputs=model.inputs, outputs=logits, name="explain_side_model"), is_binary
