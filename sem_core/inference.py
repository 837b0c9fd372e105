"""Run a model bundle's cascade on images: the one way the CLI, the app and benchmarks predict.

``cascade_from_bundle`` wires a bundle's two models into a ``Cascade`` with the bundle's input
size, stage-1 threshold and stage temperatures (calibration; 1.0 for older bundles): its Keras
models, or an export that passed its parity gate, chosen by ``runtime``
(``sem_core.deploy.serving``); ``predict`` runs it over any inputs that
``sem_core.data.sources.iter_sources`` accepts and returns every result. For folders of any size,
``stream_predictions`` yields results one by one and ``predict_to_file`` writes them to a CSV or
Parquet table as they come, both in constant memory.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sem_core.cascade import Cascade, CascadeConfig, CascadeResult
from sem_core.data.sources import ImageSource, iter_sources
from sem_core.registry import LoadedBundle
from sem_core.results_writer import ResultsSummary, ResultsWriter

if TYPE_CHECKING:
    from sem_core.deploy.serving import ServingStages


def model_predictor(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a Keras model as a batch -> probabilities function (compiled once, no retracing
    per batch size beyond Keras' own)."""

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_on_batch(batch))

    return predict


def cascade_from_bundle(
    bundle: LoadedBundle | str | os.PathLike,
    *,
    runtime: str = "keras",
    stages: ServingStages | None = None,
    review_threshold: float = 0.6,
    batch_size: int = 32,
    stage1_threshold: float | None = None,
) -> Cascade:
    """Build the cascade of a bundle.

    Args:
        bundle: From ``sem_core.registry.load_bundle``, or a bundle folder (its Keras models
            are then loaded only if the runtime is Keras).
        runtime: "keras", "onnx", "litert" or "auto" (the fastest export that passed its
            parity gate, else Keras); see ``sem_core.deploy.serving``. Default: "keras".
        stages: Predictors already loaded with ``serving_stages`` (``runtime`` is then
            ignored), so a caller keeping them pays for loading once. Default: None.
        review_threshold: Final confidence under which a result needs review. Default: 0.6.
        batch_size: Images per batch. Default: 32.
        stage1_threshold: Overrides the bundle's stage-1 operating threshold (on the calibrated
            score, as the bundle's own). Default: None.

    Returns:
        A ready ``Cascade``.

    Raises:
        sem_core.deploy.ExportError: When an export runtime is asked for and the bundle has no
            export of it that passed its gate.
    """
    from sem_core.deploy.serving import bundle_info, serving_stages

    info = bundle_info(bundle)
    stages = stages or serving_stages(bundle, runtime)
    config = CascadeConfig.for_bundle(info, stage1_threshold, review_threshold=review_threshold,
                                      batch_size=batch_size)
    return Cascade(stages.stage1, stages.stage2, config)


def predict(
    bundle: LoadedBundle | str | os.PathLike,
    inputs: Any,
    *,
    progress: Callable[[int], None] | None = None,
    **cascade_options: Any,
) -> list[CascadeResult]:
    """Run the bundle's cascade over a folder, zip, path list, ``(name, bytes)`` pairs or arrays.

    Args:
        bundle: A loaded bundle or a bundle folder (see ``cascade_from_bundle``).
        inputs: Anything ``iter_sources`` accepts.
        progress: Called with the number of images finished after each batch. Default: None.
        **cascade_options: Passed to ``cascade_from_bundle`` (``runtime``, ``batch_size``...).

    Returns:
        One ``CascadeResult`` per input file, errors included, in input order.
    """
    cascade = cascade_from_bundle(bundle, **cascade_options)
    return list(cascade.run(iter_sources(inputs), progress=progress))


def stream_predictions(
    bundle: LoadedBundle | str | os.PathLike,
    inputs: Any,
    *,
    progress: Callable[[int], None] | None = None,
    **cascade_options: Any,
) -> Iterator[tuple[ImageSource, CascadeResult]]:
    """Like ``predict``, but lazily: yield each input's source and result as its batch finishes.

    Only one batch of sources is held at a time, so memory stays flat however many files there
    are; the source lets a caller decode the image again (e.g. for an overlay) without keeping it.

    Args:
        bundle: A loaded bundle or a bundle folder (see ``cascade_from_bundle``).
        inputs: Anything ``iter_sources`` accepts.
        progress: Called with the number of images finished after each batch. Default: None.
        **cascade_options: Passed to ``cascade_from_bundle`` (``runtime``, ``batch_size``...).

    Yields:
        ``(ImageSource, CascadeResult)`` per input file, errors included, in input order.
    """
    cascade = cascade_from_bundle(bundle, **cascade_options)
    # The cascade yields exactly one result per source, in order; tee holds at most one batch.
    for_cascade, for_caller = itertools.tee(iter_sources(inputs))
    yield from zip(for_caller, cascade.run(for_cascade, progress=progress))


def predict_to_file(
    bundle: LoadedBundle | str | os.PathLike,
    inputs: Any,
    out: Path,
    *,
    progress: Callable[[int], None] | None = None,
    **cascade_options: Any,
) -> ResultsSummary:
    """Run the cascade and write one row per input file to a CSV or Parquet table as it goes.

    The table has the columns of ``results_frame`` (see ``sem_core.results_writer``); it appears
    under ``out`` only once complete, and an existing ``out`` is never overwritten.

    Args:
        bundle: A loaded bundle or a bundle folder (see ``cascade_from_bundle``).
        inputs: Anything ``iter_sources`` accepts.
        out: Table path ending in .csv or .parquet.
        progress: Called with the number of images finished after each batch. Default: None.
        **cascade_options: Passed to ``cascade_from_bundle`` (``runtime``, ``batch_size``...).

    Returns:
        Counts of files, errors, stage-2 images and final labels.

    Raises:
        ValueError: When ``out`` is neither .csv nor .parquet.
        FileExistsError: When ``out`` exists.
    """
    with ResultsWriter(out) as writer:
        for _, result in stream_predictions(bundle, inputs, progress=progress, **cascade_options):
            writer.write(result)
    return writer.summary()


def count_sources(inputs: Any) -> int:
    """Number of sources ``predict`` will yield (for progress bars); lists files, decodes none."""
    return sum(1 for _ in iter_sources(inputs))


def results_frame(results: Iterable[CascadeResult]):
    """A pandas DataFrame with one row per result (see ``CascadeResult.to_row``)."""
    import pandas as pd

    return pd.DataFrame([result.to_row() for result in results])


class BundleExplainer:
    """Grad-CAM-family explanations for either stage of a bundle, with one side model per stage.

    Keeps an ``Explainer`` per stage (built on first use), so an app or a batch job pays the
    side-model cost once. The bundle's models are never modified.

    Args:
        bundle: A loaded bundle; each stage's ``gradcam_layer`` from bundle.json is the target.
    """

    def __init__(self, bundle: LoadedBundle) -> None:
        self.bundle = bundle
        self._explainers: dict[int, Any] = {}

    def _explainer(self, stage: int):
        if stage not in (1, 2):
            raise ValueError(f"Received `stage={stage!r}`; expected 1 or 2.")
        if stage not in self._explainers:
            from sem_core.explain import Explainer

            info = self.bundle.info.stage1 if stage == 1 else self.bundle.info.stage2
            model = self.bundle.stage1 if stage == 1 else self.bundle.stage2
            self._explainers[stage] = Explainer(
                model, layer_name=info.gradcam_layer or None,
                decision_threshold=self.bundle.info.stage1_model_threshold)
        return self._explainers[stage]

    def explain(self, pixels: np.ndarray, *, stage: int, method: str = "layercam",
                class_name: str | None = None):
        """Heat map of one grayscale image (any size, [0, 1]) for one stage.

        Args:
            pixels: (H, W) float image.
            stage: 1 (Clean/Defective screener) or 2 (defect classifier).
            method: "gradcam", "gradcampp", "scorecam" or "layercam". Default: "layercam"
                (``sem_core.explain.DEFAULT_CAM_METHOD``).
            class_name: Class to explain (stage 1: "Clean" or "Defective"; stage 2: a defect
                class); None explains the stage's decision. Default: None.

        Returns:
            A ``sem_core.explain.HeatMap`` at the model's input size.

        Raises:
            ValueError: For an unknown stage, method or class name.
        """
        info = self.bundle.info.stage1 if stage == 1 else self.bundle.info.stage2
        class_index = None
        if class_name is not None:
            if class_name not in info.classes:
                raise ValueError(f"Received `class_name={class_name!r}`; stage {stage} explains "
                                 f"{', '.join(info.classes)}.")
            class_index = list(info.classes).index(class_name)
        return self._explainer(stage).explain(pixels.astype(np.float32), method=method,
                                              class_index=class_index)
