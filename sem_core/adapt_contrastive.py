"""Self-supervised continued pretraining on a new tool's images (``adapt --method contrastive``).

Stage 2's backbone keeps learning, without labels, to give two random views of the same image
the same features and different images different ones (a SimCLR-style contrastive loss,
NT-Xent). Each batch holds target images and as many of the source's training images, so the
features learn the new tool's images while staying useful for the source's. Views differ only
in ways a change of tool or of field of view can produce (crop and zoom, the eight flips and
quarter turns, gain, offset and tone curve, beam blur, noise), never in ways that could make or
hide a defect (no cut-outs, no local erasing, no colour). Batch normalisation stays frozen, as in
fine-tuning. Then the head is fitted again on the labelled source images' features from the new
backbone (early stopping on the source's validation split) and stage 2's temperature is fitted
again on that split. Stage 1 is left as it is: its threshold belongs to its recall target on the
source, which an unlabelled method cannot re-check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sem_core.registry import uncompiled_copy

PROJECTION_UNITS = (256, 128)
"""The projection head's hidden and output widths (discarded after pretraining)."""
CONTRASTIVE_TEMPERATURE = 0.2
BACKBONE_LEARNING_RATE = 1e-4
PROJECTION_LEARNING_RATE = 1e-3
HEAD_EPOCHS = 40
HEAD_PATIENCE = 5


@dataclass(frozen=True)
class ContrastiveOutcome:
    """What ``contrastive_adapt`` did.

    Attributes:
        stage2: The adapted stage-2 model (a new model; the source is not changed).
        temperature: Stage 2's temperature refitted on the source's validation images.
        calibration: ``TemperatureFit.to_dict()`` of that fit.
        steps: Pretraining steps taken.
        first_loss: Mean contrastive loss over the first tenth of the steps.
        last_loss: Mean contrastive loss over the last tenth.
        head_epochs: Epochs the head refit ran (before early stopping).
        source_validation_accuracy: Stage-2 accuracy on the source's validation defects after
            the refit.
    """

    stage2: object
    temperature: float
    calibration: dict
    steps: int
    first_loss: float
    last_loss: float
    head_epochs: int
    source_validation_accuracy: float


def sem_views(images, seed):
    """One random view of each image (a TensorFlow op: (N, S, S, 1) floats in [0, 1] in and out).

    Crop to between half and all of the side and zoom back, one of the eight flips and quarter
    turns, gain 0.7-1.3 and offset +-0.1, a tone curve x**g with g in 0.6-1.6, a beam blur
    mixed in at 0-100 %, and Gaussian noise up to 0.06: tools and fields of view differ this way;
    defects do not appear or vanish by it.

    Args:
        images: A float32 tensor (N, S, S, 1) in [0, 1].
        seed: A stateless seed, shape (2,) int32 tensor.
    """
    import tensorflow as tf

    n = tf.shape(images)[0]
    size = tf.shape(images)[1]
    seeds = tf.random.experimental.stateless_split(seed, 10)

    def uniform(index, shape, low, high):
        return tf.random.stateless_uniform(shape, seeds[index], low, high)

    side = tf.sqrt(uniform(0, [n], 0.25, 1.0))  # area 25-100 %, side 50-100 %
    y0 = uniform(1, [n], 0.0, 1.0) * (1.0 - side)
    x0 = uniform(2, [n], 0.0, 1.0) * (1.0 - side)
    boxes = tf.stack([y0, x0, y0 + side, x0 + side], axis=1)
    views = tf.image.crop_and_resize(images, boxes, tf.range(n), tf.stack([size, size]))
    flips = uniform(3, [n, 3], 0.0, 1.0) < 0.5
    views = tf.where(flips[:, 0, None, None, None], tf.reverse(views, [1]), views)
    views = tf.where(flips[:, 1, None, None, None], tf.reverse(views, [2]), views)
    views = tf.where(flips[:, 2, None, None, None], tf.transpose(views, [0, 2, 1, 3]), views)
    gamma = tf.exp(uniform(4, [n, 1, 1, 1], math.log(0.6), math.log(1.6)))
    views = tf.pow(tf.clip_by_value(views, 1e-6, 1.0), gamma)
    gain = uniform(5, [n, 1, 1, 1], 0.7, 1.3)
    offset = uniform(6, [n, 1, 1, 1], -0.1, 0.1)
    views = views * gain + offset
    kernel = tf.constant([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
    kernel = tf.reshape(tf.tensordot(kernel, kernel, axes=0), [5, 5, 1, 1])
    blurred = tf.nn.conv2d(views, kernel, strides=1, padding="SAME")
    mix = uniform(7, [n, 1, 1, 1], 0.0, 1.0)
    views = mix * blurred + (1.0 - mix) * views
    sigma = uniform(8, [n, 1, 1, 1], 0.0, 0.06)
    views = views + sigma * tf.random.stateless_normal(tf.shape(views), seeds[9])
    return tf.clip_by_value(views, 0.0, 1.0)


def nt_xent(first, second, temperature: float = CONTRASTIVE_TEMPERATURE):
    """The normalised-temperature cross-entropy of paired projections (SimCLR's loss).

    Row i of ``first`` and row i of ``second`` are two views of one image; every other row of
    both is a negative. Returns the mean loss over the 2N rows (a scalar tensor).
    """
    import tensorflow as tf

    z = tf.math.l2_normalize(tf.concat([first, second], axis=0), axis=1)
    count = tf.shape(first)[0]
    logits = tf.matmul(z, z, transpose_b=True) / temperature
    logits = logits - 1e9 * tf.eye(2 * count)  # an image is not its own negative
    partner = tf.concat([tf.range(count, 2 * count), tf.range(count)], axis=0)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=partner, logits=logits)
    return tf.reduce_mean(losses)


def contrastive_pretrain(model, target: np.ndarray, source: np.ndarray, *, epochs: int = 2,
                         batch_size: int = 16, seed: int = 0,
                         progress: Callable[[int], None] | None = None):
    """A copy of ``model`` whose backbone was trained contrastively on ``target`` and ``source``.

    Args:
        model: A backbone classifier (stage 2 of a bundle); not changed.
        target: The new tool's images, (N, S, S, 1) floats in [0, 1].
        source: Source images mixed into every batch, as many as the target's in it.
        epochs: Passes over the target images. Default: 2.
        batch_size: Target images per step (and as many source images). Default: 16.
        seed: Seed of the batches and the views. Default: 0.
        progress: Called with the target images of each step done. Default: None.

    Returns:
        (the adapted copy, per-step losses).
    """
    import keras
    import tensorflow as tf

    from sem_core.review.features import features_layer_name

    keras.utils.set_random_seed(seed)
    adapted = uncompiled_copy(model)
    encoder = keras.Model(adapted.inputs, adapted.get_layer(features_layer_name(adapted)).output)
    saved = [(layer, layer.trainable) for layer in adapted.layers]
    for layer in encoder.layers:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    width = int(encoder.outputs[0].shape[-1])
    projection = keras.Sequential([
        keras.Input((width,)),
        keras.layers.Dense(PROJECTION_UNITS[0], activation="relu"),
        keras.layers.Dense(PROJECTION_UNITS[1]),
    ])
    backbone_optimizer = keras.optimizers.Adam(BACKBONE_LEARNING_RATE)
    projection_optimizer = keras.optimizers.Adam(PROJECTION_LEARNING_RATE)
    backbone_variables = encoder.trainable_variables
    projection_variables = projection.trainable_variables
    backbone_optimizer.build(backbone_variables)
    projection_optimizer.build(projection_variables)

    @tf.function
    def step(images, step_seed):
        first = sem_views(images, step_seed)
        second = sem_views(images, step_seed + 1)
        with tf.GradientTape() as tape:
            features = encoder(tf.concat([first, second], axis=0), training=True)
            projected = projection(features, training=True)
            half = tf.shape(images)[0]
            loss = nt_xent(projected[:half], projected[half:])
        gradients = tape.gradient(loss, backbone_variables + projection_variables)
        backbone_optimizer.apply_gradients(
            zip(gradients[:len(backbone_variables)], backbone_variables))
        projection_optimizer.apply_gradients(
            zip(gradients[len(backbone_variables):], projection_variables))
        return loss

    rng = np.random.default_rng(seed)
    losses: list[float] = []
    per_step = min(batch_size, len(target))
    for _ in range(epochs):
        order = rng.permutation(len(target))
        # A short last batch has few negatives; it is left out unless it is the only one.
        starts = range(0, max(len(target) - per_step + 1, 1), per_step)
        for number, start in enumerate(starts):
            chosen = target[order[start:start + per_step]]
            if len(source):
                chosen = np.concatenate([chosen, source[rng.integers(0, len(source), len(chosen))]])
            step_seed = tf.constant([seed, len(losses) * 2], dtype=tf.int32)
            losses.append(float(step(tf.constant(chosen, tf.float32), step_seed)))
            if progress is not None:  # the last step of a pass also counts the images left out
                last = number == len(starts) - 1
                progress(len(target) - start if last else per_step)
    for layer, trainable in saved:
        layer.trainable = trainable
    return adapted, losses


def refit_head(model, pixels: np.ndarray, labels: np.ndarray, val_pixels: np.ndarray,
               val_labels: np.ndarray, *, seed: int = 0) -> tuple[int, np.ndarray]:
    """Fit the head of ``model`` (every layer after its pooled features) again, in place, on
    the labelled images' features, starting from its current weights; early stopping on the
    validation images restores the best epoch. Returns the epochs run and the model's output
    on the validation images."""
    import keras

    from sem_core.review.features import features_layer_name

    keras.utils.set_random_seed(seed)
    name = features_layer_name(model)
    names = [layer.name for layer in model.layers]
    head_layers = model.layers[names.index(name) + 1:]
    encoder = keras.Model(model.inputs, model.get_layer(name).output)
    features = encoder.predict(pixels, batch_size=32, verbose=0)
    val_features = encoder.predict(val_pixels, batch_size=32, verbose=0)
    inputs = keras.Input((features.shape[1],))
    x = inputs
    clones = []
    for layer in head_layers:
        clone = layer.__class__.from_config(layer.get_config())
        x = clone(x)
        clone.set_weights(layer.get_weights())
        clones.append(clone)
    head = keras.Model(inputs, x)
    classes = int(head.outputs[0].shape[-1])
    head.compile(optimizer=keras.optimizers.Adam(1e-3),
                 loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
    stop = keras.callbacks.EarlyStopping(patience=HEAD_PATIENCE, restore_best_weights=True)
    history = head.fit(features, keras.utils.to_categorical(labels, classes), batch_size=32,
                       epochs=HEAD_EPOCHS, verbose=0, callbacks=[stop],
                       validation_data=(val_features, keras.utils.to_categorical(val_labels,
                                                                                 classes)))
    for layer, clone in zip(head_layers, clones, strict=True):
        layer.set_weights(clone.get_weights())
    return len(history.history["loss"]), head.predict(val_features, batch_size=32, verbose=0)


def contrastive_adapt(stage2, classes: tuple[str, ...], target: np.ndarray,
                      source: tuple[np.ndarray, tuple[str, ...]],
                      validation: tuple[np.ndarray, tuple[str, ...]], *, epochs: int = 2,
                      seed: int = 0,
                      progress: Callable[[int], None] | None = None) -> ContrastiveOutcome:
    """Contrastive pretraining of stage 2's backbone on ``target``, then its head and
    temperature fitted again on the labelled source (see the module docstring).

    Args:
        stage2: The source bundle's stage-2 model (not changed).
        classes: Stage 2's classes, in its output order.
        target: The new tool's images, (N, S, S, 1) in [0, 1].
        source: (images, labels) of the source's training split; images of other classes
            (Clean) are used for pretraining only.
        validation: (images, labels) of the source's validation split, for early stopping and
            the temperature.
        epochs: Pretraining passes over the target images. Default: 2.
        seed: Seed of everything random. Default: 0.
        progress: Called with the target images of each pretraining step done. Default: None.

    Raises:
        ValueError: When the source or its validation split has no image of stage 2's classes.
    """
    from sem_core.metrics.temperature import fit_softmax_temperature

    index = {name: number for number, name in enumerate(classes)}
    source_pixels, source_labels = source
    train_keep = np.array([label in index for label in source_labels], dtype=bool)
    val_pixels, val_labels = validation
    val_keep = np.array([label in index for label in val_labels], dtype=bool)
    if not train_keep.any() or not val_keep.any():
        raise ValueError("the labelled source data need defect images in both its Train and "
                         "Validation splits to fit stage 2's head again.")
    adapted, losses = contrastive_pretrain(stage2, target, source_pixels, epochs=epochs, seed=seed,
                                           progress=progress)
    train_y = np.array([index[label] for label in np.asarray(source_labels)[train_keep]])
    val_y = np.array([index[label] for label in np.asarray(val_labels)[val_keep]])
    head_epochs, probabilities = refit_head(adapted, source_pixels[train_keep], train_y,
                                            val_pixels[val_keep], val_y, seed=seed)
    fit = fit_softmax_temperature(probabilities, val_y)
    tenth = max(1, len(losses) // 10)
    return ContrastiveOutcome(
        stage2=adapted, temperature=fit.temperature, calibration=fit.to_dict(),
        steps=len(losses), first_loss=float(np.mean(losses[:tenth])),
        last_loss=float(np.mean(losses[-tenth:])), head_epochs=head_epochs,
        source_validation_accuracy=float(np.mean(probabilities.argmax(axis=1) == val_y)))
