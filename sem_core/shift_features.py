"""The features a bundle's shift reference compares (``sem_core.shift``), taken from its models.

A reference made by this module compares blocks of features, each weighed equally by the
distance however many features it has:

- ``stage1`` and ``stage2``: each stage's pooled features (the embedding of
  ``sem_core.review.features``; CORAL aligns the heads with their statistics);
- ``stage2:LAYER``: the spatial mean of stage 2's feature maps at 1/8 and 1/16 of the input
  size, at the last Add or Concatenate layer there (a residual or dense block's output), else
  at the last layer of that size (the small CNN).

Why the middle depths: fine-tuning on varied data makes the pooled features tool-invariant, which
is what classification wants and what a shift check does not. On bench_shift's tool A bundle
trained on 800 images a class, the pooled features of both stages, as one block, flagged 49 of
52 tool-B batches; with the two middle-depth blocks beside them, equally weighed, the smallest
B distance was 1.85 times the threshold (docs/domain-shift.md, "The distance").

A reference written before the blocks (``ShiftReference.blocks`` None) compares the pooled
features of both stages as one block; ``reference_features`` gives each kind what it needs.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np

from sem_core.registry import LoadedBundle

MIDDLE_STRIDES = (8, 16)
"""Input size over feature-map size of the middle-depth blocks."""
STAGE1, STAGE2 = "stage1", "stage2"
_MERGE_LAYERS = ("Add", "Concatenate")

_SIDE_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def middle_layers(model, input_size: int) -> tuple[str, ...]:
    """Names of ``model``'s middle-depth feature maps, one per stride of ``MIDDLE_STRIDES`` that
    it has (module docstring); ``()`` when it has none."""
    chosen = []
    for stride in MIDDLE_STRIDES:
        sizes = {input_size // stride, -(-input_size // stride)}
        candidates = [layer for layer in model.layers
                      if type(layer).__name__ != "InputLayer" and _spatial_size(layer) in sizes]
        merges = [layer for layer in candidates if type(layer).__name__ in _MERGE_LAYERS]
        picked = (merges or candidates)[-1:]
        chosen.extend(layer.name for layer in picked if layer.name not in chosen)
    return tuple(chosen)


def _spatial_size(layer) -> int | None:
    """The height of a layer's square 4-D output, else None."""
    try:
        shape = tuple(layer.output.shape)
    except (AttributeError, ValueError):  # a layer with several outputs, or never called
        return None
    if len(shape) != 4 or shape[1] != shape[2]:
        return None
    return shape[1]


def shift_blocks(bundle: LoadedBundle) -> tuple[tuple[str, int], ...]:
    """(name, width) of each block ``shift_features`` gives for ``bundle``, in order."""
    return tuple((name, int(output.shape[-1]))
                 for name, output in zip(_block_names(bundle), _outputs(bundle)))


def shift_features(bundle: LoadedBundle, pixels: np.ndarray, *, batch_size: int = 32,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(N, sum of block widths) features of images prepared at the bundle's input size: floats
    in [0, 1], or uint8 in [0, 255]; blocks in ``shift_blocks``' order. ``progress`` gets
    (images done, total) after each batch."""
    from sem_core.review.features import padded_batches

    stage1, stage2 = _side_models(bundle)
    parts = []
    for batch, rows in padded_batches(pixels, batch_size, progress):
        outputs2 = stage2.predict_on_batch(batch)
        outputs = [stage1.predict_on_batch(batch),
                   *(outputs2 if isinstance(outputs2, (list, tuple)) else [outputs2])]
        parts.append(np.concatenate([np.asarray(out)[:rows] for out in outputs], axis=1))
    if parts:
        return np.concatenate(parts).astype(np.float32)
    return np.zeros((0, sum(width for _, width in shift_blocks(bundle))), np.float32)


def reference_features(bundle: LoadedBundle, pixels: np.ndarray, reference, *,
                       batch_size: int = 32,
                       progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The features ``reference`` (a ``ShiftReference``) compares: ``shift_features`` for one
    with blocks, the pooled embedding of ``sem_core.review.features`` for an older one.

    Raises:
        sem_core.shift.ShiftError: When the reference's blocks are not this bundle's.
    """
    check_reference_matches(bundle, reference)
    if reference.blocks is None:
        from sem_core.review.features import embed_pixels

        return embed_pixels(bundle, pixels, batch_size=batch_size, progress=progress)
    return shift_features(bundle, pixels, batch_size=batch_size, progress=progress)


def check_reference_matches(bundle: LoadedBundle, reference) -> None:
    """Raise ``sem_core.shift.ShiftError`` when ``reference`` compares blocks ``bundle`` does not
    give (a reference without blocks is checked by width when a batch is judged)."""
    from sem_core.shift import ShiftError

    if reference.blocks is None:
        return
    blocks = shift_blocks(bundle)
    if tuple(reference.blocks) != blocks:
        raise ShiftError(f"the shift reference compares {_describe(reference.blocks)}; this "
                         f"bundle gives {_describe(blocks)}: the reference belongs to another "
                         "bundle (make one with `python -m sem_core shift-reference "
                         "--overwrite`).")


def _describe(blocks) -> str:
    return ", ".join(f"{name} ({width})" for name, width in blocks)


def _block_names(bundle: LoadedBundle) -> list[str]:
    layers = middle_layers(bundle.stage2, int(bundle.info.input_size))
    return [STAGE1, STAGE2, *(f"{STAGE2}:{name}" for name in layers)]


def _outputs(bundle: LoadedBundle) -> list:
    stage1, stage2 = _side_models(bundle)
    return [stage1.outputs[0], *stage2.outputs]


def _side_models(bundle: LoadedBundle):
    """(stage 1 -> its pooled features, stage 2 -> [pooled, middle-depth means...]), sharing
    the bundle's layers (its models are unchanged); built once per pair of models."""
    import keras

    from sem_core.review.features import features_layer_name

    key = bundle.stage2
    cached = _SIDE_MODELS.get(key)
    if cached is not None and cached[0] is bundle.stage1:
        return cached[1]
    stage1, stage2 = bundle.stage1, bundle.stage2
    pooled1 = stage1.get_layer(features_layer_name(stage1)).output
    outputs2 = [stage2.get_layer(features_layer_name(stage2)).output]
    for name in middle_layers(stage2, int(bundle.info.input_size)):
        mean = keras.layers.GlobalAveragePooling2D(name=f"shift_mean_{name}")
        outputs2.append(mean(stage2.get_layer(name).output))
    models = (keras.Model(stage1.inputs, pooled1), keras.Model(stage2.inputs, outputs2))
    _SIDE_MODELS[key] = (stage1, models)
    return models
