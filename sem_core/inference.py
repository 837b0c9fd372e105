"""Run a model bundle's cascade on images: the one way the CLI, the app and benchmarks predict.

``cascade_from_bundle`` wires a loaded bundle's two Keras models into a ``Cascade`` with the
bundle's input size and stage-1 threshold; ``predict`` runs it over any inputs that
``sem_core.data.sources.iter_sources`` accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from sem_core.cascade import Cascade, CascadeConfig, CascadeResult
from sem_core.data.sources import iter_sources
from sem_core.registry import LoadedBundle


def model_predictor(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a Keras model as a batch -> probabilities function (compiled once, no retracing
    per batch size beyond Keras' own)."""

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_on_batch(batch))

    return predict


def cascade_from_bundle(
    bundle: LoadedBundle,
    *,
    review_threshold: float = 0.6,
    batch_size: int = 32,
    stage1_threshold: float | None = None,
) -> Cascade:
    """Build the cascade of a loaded bundle.

    Args:
        bundle: From ``sem_core.registry.load_bundle``.
        review_threshold: Final confidence under which a result needs review. Default: 0.6.
        batch_size: Images per batch. Default: 32.
        stage1_threshold: Overrides the bundle's stage-1 operating threshold. Default: None.

    Returns:
        A ready ``Cascade``.
    """
    threshold = bundle.info.stage1_threshold if stage1_threshold is None else stage1_threshold
    config = CascadeConfig(stage1_threshold=float(threshold), review_threshold=review_threshold,
                           batch_size=batch_size, image_size=int(bundle.info.input_size))
    return Cascade(model_predictor(bundle.stage1), model_predictor(bundle.stage2), config)


def predict(
    bundle: LoadedBundle,
    inputs: Any,
    *,
    progress: Callable[[int], None] | None = None,
    **cascade_options: Any,
) -> list[CascadeResult]:
    """Run the bundle's cascade over a folder, zip, path list, ``(name, bytes)`` pairs or arrays.

    Args:
        bundle: A loaded bundle.
        inputs: Anything ``iter_sources`` accepts.
        progress: Called with the number of images finished after each batch. Default: None.
        **cascade_options: Passed to ``cascade_from_bundle``.

    Returns:
        One ``CascadeResult`` per input file, errors included, in input order.
    """
    cascade = cascade_from_bundle(bundle, **cascade_options)
    return list(cascade.run(iter_sources(inputs), progress=progress))


def count_sources(inputs: Any) -> int:
    """Number of sources ``predict`` will yield (for progress bars); lists files, decodes none."""
    return sum(1 for _ in iter_sources(inputs))


def results_frame(results: Iterable[CascadeResult]):
    """A pandas DataFrame with one row per result (see ``CascadeResult.to_row``)."""
    import pandas as pd

    return pd.DataFrame([result.to_row() for result in results])
