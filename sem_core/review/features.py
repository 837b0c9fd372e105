"""Image embeddings from a bundle's penultimate layers, for the out-of-sample label model.

Each image passes once through side models built on the bundle's two stages (the shared models
are not changed): stage 1's pooled features and its probability, stage 2's pooled backbone
features and its class probabilities, scaled by the bundle's temperatures as the cascade scales
them (so they compare with its calibrated threshold). The concatenated pooled features are the
embedding a small cross-validated classifier learns from (see ``out_of_sample``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sem_core.data.manifest import Manifest, ManifestEntry
from sem_core.metrics.temperature import apply_sigmoid_temperature, apply_softmax_temperature
from sem_core.registry import LoadedBundle

FEATURES_LAYERS = ("pool", "head_pool")
"""The pooled-feature layer of the small CNN, then of a backbone head; either stage may be either
(``train --stage1-backbone``, ``--recipe probe``)."""


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """Embeddings and stage outputs of the images that decoded.

    Attributes:
        entries: The manifest entries, one per row below.
        features: (N, D) float32 embeddings (stage-1 then stage-2 pooled features).
        stage1_probability: (N,) calibrated probability of Defective.
        stage2_probabilities: (N, 7) calibrated defect-class probabilities.
        failures: (path, reason) of each image left out because it could not be decoded.
    """

    entries: tuple[ManifestEntry, ...]
    features: np.ndarray
    stage1_probability: np.ndarray
    stage2_probabilities: np.ndarray
    failures: tuple[tuple[str, str], ...]

    def __len__(self) -> int:
        return len(self.entries)


_SIDE_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _side_model(model):
    """A model sharing ``model``'s layers returning (pooled features, output); ``model`` is
    unchanged. Built once per model: a new side model per call would trace a new predict
    function each time (slow, and Keras warns about the retracing).

    Raises:
        ValueError: When the model has none of ``FEATURES_LAYERS``.
    """
    import keras

    if model not in _SIDE_MODELS:
        layer = model.get_layer(features_layer_name(model))
        _SIDE_MODELS[model] = keras.Model(model.inputs, [layer.output, model.outputs[0]])
    return _SIDE_MODELS[model]


def features_layer_name(model) -> str:
    """The name of ``model``'s pooled-feature layer (the first of ``FEATURES_LAYERS`` it has).

    Raises:
        ValueError: When the model has none of them.
    """
    names = {layer.name for layer in model.layers}
    for name in FEATURES_LAYERS:
        if name in names:
            return name
    raise ValueError(f"model {model.name!r} has no pooled-feature layer (looked for "
                     f"{', '.join(FEATURES_LAYERS)}); it was not built by sem_core.")


def extract_features(
    bundle: LoadedBundle,
    manifest: Manifest,
    *,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> FeatureSet:
    """Decode every image of ``manifest`` and run it through both stages' side models.

    Args:
        bundle: The loaded bundle whose layers give the embeddings.
        manifest: The images (any split).
        batch_size: Images per model call. Default: 32.
        progress: Called with (images done, total) after each batch. Default: None.

    Returns:
        The ``FeatureSet`` (failed files listed, not raised).
    """
    from sem_core.train.pipeline import decode_images

    entries = list(manifest.entries)
    paths = [manifest.resolve(entry) for entry in entries]
    decoded = decode_images(paths, [entry.label for entry in entries], int(bundle.info.input_size))
    failed = {failure.path for failure in decoded.failures}
    kept = tuple(entry for entry, path in zip(entries, paths) if str(path) not in failed)
    features, probability1, probabilities2 = _run_side_models(
        bundle, decoded.pixels, batch_size, progress)
    info = bundle.info
    return FeatureSet(kept, features.astype(np.float32),
                      apply_sigmoid_temperature(probability1, info.stage1_temperature,
                                                info.stage1_bias),
                      apply_softmax_temperature(probabilities2, info.stage2_temperature),
                      tuple((failure.path, failure.reason) for failure in decoded.failures))


def embed_pixels(bundle: LoadedBundle, pixels: np.ndarray, *, batch_size: int = 32,
                 progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The embedding of ``extract_features`` (stage-1 then stage-2 pooled features) of images
    already prepared at the bundle's input size: (N, size, size, 1) floats in [0, 1], or uint8
    in [0, 255] (scaled a batch at a time). ``progress`` is called with (images done, total)
    after each batch."""
    return _run_side_models(bundle, pixels, batch_size, progress)[0].astype(np.float32)


def _run_side_models(bundle: LoadedBundle, pixels: np.ndarray, batch_size: int,
                     progress: Callable[[int, int], None] | None = None):
    """(features, stage-1 probability, stage-2 probabilities), uncalibrated, of ``pixels``
    (scaled as ``padded_batches`` scales them)."""
    stage1, stage2 = _side_model(bundle.stage1), _side_model(bundle.stage2)
    parts: list[tuple[np.ndarray, ...]] = []
    for batch, rows in padded_batches(pixels, batch_size, progress):
        features1, probability1 = (np.asarray(out)[:rows] for out in stage1.predict_on_batch(batch))
        features2, probabilities2 = (np.asarray(out)[:rows] for out in stage2.predict_on_batch(batch))
        parts.append((np.concatenate([features1, features2], axis=1), probability1[:, 0],
                      probabilities2))
    if parts:
        return tuple(np.concatenate(column) for column in zip(*parts))
    width = stage1.outputs[0].shape[-1] + stage2.outputs[0].shape[-1]
    return np.zeros((0, width)), np.zeros(0), np.zeros((0, stage2.outputs[1].shape[-1]))


def padded_batches(pixels: np.ndarray, batch_size: int,
                   progress: Callable[[int, int], None] | None = None):
    """Yield (batch, rows): ``pixels`` a batch at a time as float32 in [0, 1] (uint8 pixels are
    divided by 255, floats taken as they are), a short last batch padded with zeros to
    ``batch_size`` (one input shape, one traced function; the caller keeps the first ``rows``
    outputs). ``progress`` gets (images done, total) after each batch has been used."""
    divisor = 255.0 if np.asarray(pixels).dtype == np.uint8 else 1.0
    total = len(pixels)
    for start in range(0, total, batch_size):
        batch = np.asarray(pixels[start:start + batch_size], dtype=np.float32) / divisor
        rows = len(batch)
        if rows < batch_size:
            batch = np.concatenate([batch, np.zeros((batch_size - rows, *batch.shape[1:]),
                                                    np.float32)])
        yield batch, rows
        if progress is not None:
            progress(min(start + batch_size, total), total)
