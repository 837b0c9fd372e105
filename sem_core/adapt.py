"""Adapting a bundle to a new tool's images without labels (issue 19).

Each method writes a new bundle next to the source one and never changes the source:

* ``batchnorm`` re-estimates every batch-normalisation layer's moving mean and variance on the
  target images (AdaBN: the layers then normalise with the new tool's statistics instead of the
  training tool's). Each layer sees the target images as normalised by the layers before it,
  because the statistics are gathered in one forward pass in training mode, batch after batch,
  as a running average.
* ``coral`` aligns the pooled features that each stage's head reads: per feature, the target
  images' mean and spread are mapped onto the source's (a diagonal CORAL), and the map is folded
  into the head's first dense layer, so the bundle keeps its layers and names. The source
  statistics are the bundle's shift reference when it has one, else its training images.
* ``contrastive`` continues pretraining stage 2's backbone on the target images without labels
  (a SimCLR-style contrastive loss with SEM-safe views, source images mixed in), then fits its
  head and temperature again on the labelled source data (``sem_core.adapt_contrastive``).
  Stage 1 is left as it is.

The new bundle's ``bundle.json`` records the method, the unlabelled images' count and content
hash (``training["adaptation"]``) and the source as ``parent``; its validation metrics are
cleared (they described the source model) and its shift reference is not copied (it described
the source domain). With at least ``TARGET_REFERENCE_IMAGES`` target images it gets one of its
own, of the new tool: statistics from four in five of them, the threshold calibrated on the
fifth (so Inspect warns about images unlike the new tool once it is in use). Compare and promote
it like any other bundle.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import numpy as np

from sem_core.registry import LoadedBundle, save_bundle, uncompiled_copy, utc_now

ADAPT_BATCH_SIZE = 32
MIN_TARGET_IMAGES = 16
SCALE_FLOOR = 1e-6
SOURCE_TRAIN_IMAGES = 3000
"""At most this many of the source's Train images (drawn with a fixed seed) are decoded for
``contrastive``: mixed into its batches and the head fitted on them."""
TARGET_REFERENCE_IMAGES = 320
"""Target images from which the adapted bundle gets a shift reference of its own (a fifth of
them, at least 64, calibrate its threshold)."""


class AdaptMethod(str, Enum):
    """How ``adapt_bundle`` adapts (see the module docstring)."""

    BATCH_NORM = "batchnorm"
    CORAL = "coral"
    CONTRASTIVE = "contrastive"


@dataclass(frozen=True)
class LabelledSource:
    """The source's labelled images, which ``contrastive`` fits the head on again.

    Attributes:
        train: (images, labels) of the source's Train split, images (N, S, S, 1) in [0, 1].
        validation: The same of its Validation split (early stopping, temperature).
        content_hash: The source dataset's manifest content hash (recorded).
    """

    train: tuple[np.ndarray, tuple[str, ...]]
    validation: tuple[np.ndarray, tuple[str, ...]]
    content_hash: str = ""


class AdaptError(ValueError):
    """An adaptation that cannot run; the message says what to change."""


@dataclass(frozen=True)
class AdaptResult:
    """What ``adapt_bundle`` wrote.

    Attributes:
        bundle: The new bundle folder.
        method: The method used.
        images: Target images it learned from.
        content_hash: Hash of those images (``images_content_hash``).
        seconds: Wall time of the adaptation (not of decoding).
        layers: Batch-norm layers re-estimated, or dense layers re-aligned.
        shift_reference: Whether the new bundle got a shift reference of the target images.
    """

    bundle: Path
    method: AdaptMethod
    images: int
    content_hash: str
    seconds: float
    layers: int
    shift_reference: bool = False


def image_digest(pixels: np.ndarray) -> str:
    """SHA-256 of a decoded image's pixels (the content, whatever file format held it)."""
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


def images_content_hash(digests: list[str]) -> str:
    """One SHA-256 over the sorted per-file SHA-256 digests: the same files give the same hash
    whatever their names or order."""
    joined = "\n".join(sorted(digests)).encode()
    return hashlib.sha256(joined).hexdigest()


def reestimate_batch_norm(model, pixels: np.ndarray, *, batch_size: int = ADAPT_BATCH_SIZE,
                          progress: Callable[[int], None] | None = None):
    """A copy of ``model`` whose batch-norm statistics are the running average over ``pixels``.

    Args:
        model: A Keras model; it is not changed.
        pixels: (N, size, size, 1) floats in [0, 1].
        batch_size: Images per forward pass. Default: 32.
        progress: Called with the number of images of each batch done. Default: None.

    Returns:
        (the adapted copy, number of batch-norm layers re-estimated).
    """
    import keras

    adapted = uncompiled_copy(model)
    norms = [layer for layer in adapted.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        return adapted, 0
    saved = [(layer, layer.trainable) for layer in adapted.layers]
    momenta = [layer.momentum for layer in norms]
    for layer in adapted.layers:
        layer.trainable = isinstance(layer, keras.layers.BatchNormalization)
    # A short last batch would give noisy statistics: it is left out unless it is the only one.
    used = len(pixels) // batch_size * batch_size or len(pixels)
    starts = range(0, used, batch_size)
    for number, start in enumerate(starts):
        # Momentum k/(k+1) over the k-th batch makes the moving statistics the plain average of
        # every batch's statistics; the first batch replaces the source's outright.
        for layer in norms:
            layer.momentum = number / (number + 1)
        adapted(np.asarray(pixels[start:start + batch_size], dtype=np.float32), training=True)
        if progress is not None:
            progress(min(batch_size, used - start))
    # The copy leaves as it came: the same trainable flags and momenta for any later training.
    for layer, trainable in saved:
        layer.trainable = trainable
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum
    return adapted, len(norms)


def _head_dense(model, features_layer: str):
    """The first dense layer after ``features_layer`` (only dropout may sit between)."""
    import keras

    names = [layer.name for layer in model.layers]
    for layer in model.layers[names.index(features_layer) + 1:]:
        if isinstance(layer, keras.layers.Dense):
            return layer
        if not isinstance(layer, keras.layers.Dropout):
            break
    raise AdaptError(f"model {model.name!r}: no dense layer reads {features_layer!r} directly, "
                     "so its features cannot be re-aligned.")


def align_head(model, features_layer: str, source_mean: np.ndarray, source_scale: np.ndarray,
               target_features: np.ndarray):
    """A copy of ``model`` whose head reads target features as if they had the source's
    per-feature mean and spread (diagonal CORAL folded into the head's first dense layer).

    x' = (x - m_t) * s_s / s_t + m_s, so W' = diag(s_s / s_t) W and b' = b + (m_s - m_t s_s / s_t) W.
    """
    adapted = uncompiled_copy(model)
    dense = _head_dense(adapted, features_layer)
    kernel, bias = dense.get_weights()
    target_mean = target_features.mean(axis=0)
    target_scale = np.maximum(target_features.std(axis=0), SCALE_FLOOR)
    ratio = np.asarray(source_scale) / target_scale
    new_kernel = ratio[:, None] * kernel
    new_bias = bias + (np.asarray(source_mean) - target_mean * ratio) @ kernel
    dense.set_weights([new_kernel.astype(kernel.dtype), new_bias.astype(bias.dtype)])
    return adapted


def adapt_bundle(bundle: LoadedBundle, pixels: np.ndarray, out: str | os.PathLike,
                 method: AdaptMethod | str, *, content_hash: str,
                 source_features: tuple[np.ndarray, np.ndarray] | None = None,
                 labelled_source: LabelledSource | None = None, epochs: int = 2, seed: int = 0,
                 command: str = "", progress: Callable[[int], None] | None = None) -> AdaptResult:
    """Adapt both stages of ``bundle`` to the target ``pixels`` and write a new bundle.

    Args:
        bundle: The source bundle (not changed).
        pixels: Target images at the bundle's input size, (N, size, size, 1) in [0, 1].
        out: The new bundle folder (must not exist).
        method: ``batchnorm``, ``coral`` or ``contrastive``.
        content_hash: ``images_content_hash`` of the target files (recorded).
        source_features: (mean, scale) of the source's pooled features, stage 1 then stage 2
            (``ShiftReference.statistics_of(("stage1", "stage2"))``); needed by ``coral``.
        labelled_source: The source's labelled images; needed by ``contrastive``.
        epochs: ``contrastive``'s passes over the target images. Default: 2.
        seed: ``contrastive``'s seed. Default: 0.
        command: The command line, for bundle.json. Default: "".
        progress: Called with the number of images of each batch done, in every pass over
            them (batchnorm makes one pass per stage, contrastive one per epoch, and with at
            least ``TARGET_REFERENCE_IMAGES`` images the new bundle's shift reference one more).
            Default: None.

    Returns:
        An ``AdaptResult``.

    Raises:
        AdaptError: Too few images, ``coral`` without source features, or ``contrastive``
            without labelled source images.
        sem_core.registry.BundleError: When ``out`` exists.
    """
    from sem_core.review.features import features_layer_name
    from sem_core.shift_features import shift_blocks, shift_features

    method = AdaptMethod(method)
    if len(pixels) < MIN_TARGET_IMAGES:
        raise AdaptError(f"adaptation needs at least {MIN_TARGET_IMAGES} readable target images; "
                         f"got {len(pixels)}.")
    started = time.perf_counter()
    target = None
    info = bundle.info
    facts: dict = {}
    if method == AdaptMethod.CONTRASTIVE:
        stage1, stage2, info, layers, facts = _contrastive(bundle, pixels, labelled_source,
                                                           epochs, seed, progress)
    elif method == AdaptMethod.BATCH_NORM:
        stage1, layers1 = reestimate_batch_norm(bundle.stage1, pixels, progress=progress)
        stage2, layers2 = reestimate_batch_norm(bundle.stage2, pixels, progress=progress)
        layers = layers1 + layers2
        if layers == 0:
            raise AdaptError(f"bundle {bundle.info.name!r} has no batch-normalisation layer to "
                             "re-estimate; use --method coral.")
    else:
        if source_features is None:
            raise AdaptError("coral needs the source's feature statistics: make a shift "
                             "reference first (`python -m sem_core shift-reference`), or pass "
                             "the training data.")
        mean, scale = (np.asarray(part, dtype=np.float64) for part in source_features)
        # the pooled features of both stages come first (sem_core.shift_features)
        target = shift_features(bundle, pixels, progress=_increments(progress))
        (_, width1), (_, width2) = shift_blocks(bundle)[:2]
        pooled = target[:, :width1 + width2].astype(np.float64)
        if pooled.shape[1] != mean.shape[0]:
            raise AdaptError(f"the source statistics have {mean.shape[0]} features, the bundle "
                             f"gives {pooled.shape[1]}: the shift reference belongs to another "
                             "bundle.")
        stage1, stage2 = (
            align_head(model, features_layer_name(model), mean[part], scale[part], pooled[:, part])
            for model, part in ((bundle.stage1, slice(0, width1)),
                                (bundle.stage2, slice(width1, None))))
        layers = 2
    seconds = time.perf_counter() - started
    adaptation = {"method": method.value, "images": len(pixels),
                  "content_hash": content_hash, "seconds": round(seconds, 1),
                  "layers": layers, "source": str(bundle.path), **facts}
    new_info = replace(
        info, parent=str(bundle.path), created=utc_now(), command=command,
        training={**dict(info.training), "adaptation": adaptation}, metrics={})
    card = _model_card(info.name, adaptation)
    folder = save_bundle(out, new_info, stage1, stage2, extra_files={"MODEL_CARD.md": card})
    # coral changes only the heads, so the adapted bundle's shift features are ``target``
    features = target if method == AdaptMethod.CORAL else None
    referenced = _target_reference(folder, pixels, command, progress, features)
    return AdaptResult(folder, method, len(pixels), content_hash, seconds, layers, referenced)


def _contrastive(bundle: LoadedBundle, pixels: np.ndarray, labelled: LabelledSource | None,
                 epochs: int, seed: int, progress: Callable[[int], None] | None):
    """(stage 1, adapted stage 2, new info, layers trained, facts to record) of
    ``contrastive``."""
    from sem_core.adapt_contrastive import contrastive_adapt

    if labelled is None:
        raise AdaptError("contrastive fits stage 2's head again on the labelled source images: "
                         "pass the dataset the bundle was trained on (--data).")
    if epochs < 1:
        raise AdaptError(f"epochs must be at least 1; got {epochs}.")
    try:
        outcome = contrastive_adapt(bundle.stage2, tuple(bundle.info.stage2.classes), pixels,
                                    labelled.train, labelled.validation, epochs=epochs,
                                    seed=seed, progress=progress)
    except ValueError as error:
        raise AdaptError(str(error)) from error
    import keras

    trained = sum(1 for layer in outcome.stage2.layers
                  if layer.weights and not isinstance(layer, keras.layers.BatchNormalization))
    calibration = {**dict(bundle.info.calibration), "stage2": outcome.calibration}
    info = replace(bundle.info, stage2_temperature=outcome.temperature, calibration=calibration)
    facts = {"epochs": epochs, "seed": seed, "steps": outcome.steps,
             "contrastive_loss_first": round(outcome.first_loss, 4),
             "contrastive_loss_last": round(outcome.last_loss, 4),
             "head_epochs": outcome.head_epochs,
             "source_validation_accuracy": round(outcome.source_validation_accuracy, 4),
             "source_data": labelled.content_hash, "stages": "stage 2 (stage 1 unchanged)"}
    return bundle.stage1, outcome.stage2, info, trained, facts


def _increments(progress: Callable[[int], None] | None) -> Callable[[int, int], None] | None:
    """``shift_features``' (done, total) progress as the images each batch added."""
    if progress is None:
        return None
    done_before = [0]

    def report(done: int, total: int) -> None:
        progress(done - done_before[0])
        done_before[0] = done

    return report


def _target_reference(folder: Path, pixels: np.ndarray, command: str,
                      progress: Callable[[int], None] | None,
                      features: np.ndarray | None = None) -> bool:
    """The adapted bundle's shift reference from the target images (every fifth one held out
    for the threshold; ``features``: their shift features when already at hand, else they are
    embedded with the new bundle); False, writing nothing, when there are too few of them."""
    from sem_core.registry import load_bundle
    from sem_core.shift import fit_shift_reference, save_reference
    from sem_core.shift_features import shift_blocks, shift_features

    if len(pixels) < TARGET_REFERENCE_IMAGES:
        return False
    adapted = load_bundle(folder)
    if features is None:
        features = shift_features(adapted, pixels, progress=_increments(progress))
    elif progress is not None:
        progress(len(pixels))
    held = np.zeros(len(features), bool)
    held[::5] = True
    save_reference(folder, fit_shift_reference(features[~held], features[held],
                                               blocks=shift_blocks(adapted)),
                   command=f"{command} (the target images: four in five for the statistics, "
                           "every fifth for the threshold)")
    return True


def _model_card(source: str, adaptation: dict) -> str:
    if adaptation["method"] == AdaptMethod.CONTRASTIVE.value:
        kept = ("its stage-1 threshold and temperature are the source's; stage 2's head and "
                "temperature were fitted again on the source's labelled images (source data "
                f"{adaptation['source_data'] or 'unrecorded'}).")
    else:
        kept = "its stage-1 threshold and temperatures are the source's."
    return (f"# Adapted from {source}\n\n"
            f"Adapted without labels by `{adaptation['method']}` on {adaptation['images']} "
            f"unlabelled images (content hash {adaptation['content_hash']}).\n\n"
            f"Its validation metrics were cleared: they described the source model; {kept} "
            "Evaluate it "
            "on labelled images of the new tool (`python -m sem_core evaluate`) and compare it "
            "with the source before promoting it.\n")
