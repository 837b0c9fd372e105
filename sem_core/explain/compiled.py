"""A faster explanation graph: the body and the head each as one compiled step.

tf-keras-vis runs its model eagerly, layer by layer. For DenseNet121 (~430 layers) that Python
overhead, not arithmetic, is most of the cost: about 1 s per Grad-CAM call here against 0.07 s
once compiled. Gradient-weighted maps only need the gradient of the class score with respect
to the target feature map, which flows through the head alone, so the body (input -> feature
map) can run as one ``tf.function`` that is never differentiated, and the head as another that
is. The graph tf-keras-vis sees stays flat at the top: input -> ``explain_features`` (the
compiled body) -> the compiled head, and the maps equal the eager ones.

The first call pays a one-off trace (about 3 s for DenseNet121 on this machine), so keep one
``Explainer`` per model when explaining more than one or two images.
"""

from __future__ import annotations

import keras
import tensorflow as tf

FEATURES_NAME = "explain_features"


class _CompiledFeatures(keras.layers.Layer):
    """Runs ``body`` (input -> feature map) as one traced function, outside of gradients."""

    def __init__(self, body: keras.Model, **kwargs) -> None:
        super().__init__(**kwargs)
        self._body = body
        self._features = tf.function(lambda images: body(images, training=False),
                                     autograph=False, reduce_retracing=True)

    def call(self, images):
        features = self._features(tf.stop_gradient(images))
        # A zero term on the input keeps the feature map on the caller's gradient tape (so
        # d score / d features exists) without asking TensorFlow to trace the body's backward.
        return features + 0.0 * tf.reduce_mean(images)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self._body.outputs[0].shape[1:])


class _CompiledHead(keras.layers.Layer):
    """Runs ``head`` (feature map -> logits) as one traced function that gradients pass through.

    The head is short when the target is the last feature map, but a target inside the backbone
    (``side_model.localising_layer``: DenseNet121's ``pool3_relu`` at 96 px) leaves two dense
    blocks after it, and running those layer by layer costs more than the body.
    """

    def __init__(self, head: keras.Model, **kwargs) -> None:
        super().__init__(**kwargs)
        self._head = head
        self._logits = tf.function(lambda features: head(features, training=False),
                                   autograph=False, reduce_retracing=True)

    def call(self, features):
        return self._logits(features)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self._head.outputs[0].shape[1:])


def build_compiled_view(side_model: keras.Model, layer_name: str) -> keras.Model | None:
    """Rebuild ``side_model`` as input -> compiled body up to ``layer_name`` -> head.

    Args:
        side_model: The logit side model (``sem_core.explain.side_model.build_logit_model``).
        layer_name: The target feature-map layer.

    Returns:
        The faster model, whose feature-map layer is named ``FEATURES_NAME``, or None when the
        head cannot be computed from that layer alone (a skip connection bypasses it); then
        the eager side model must be used.
    """
    target = side_model.get_layer(layer_name).output
    try:
        head = keras.Model(target, side_model.outputs[0], name="explain_head")
    except ValueError:  # the output needs tensors other than the target: not a cut point
        return None
    body = keras.Model(side_model.inputs, target, name="explain_body")
    images = keras.Input(side_model.inputs[0].shape[1:], name="explain_image")
    features = _CompiledFeatures(body, name=FEATURES_NAME)(images)
    logits = _CompiledHead(head, name="explain_head_compiled")(features)
    return type(side_model)(inputs=[images], outputs=logits, name="explain_compiled")
