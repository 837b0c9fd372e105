"""Evaluate a bundle on a labelled dataset split: predictions per image and the full report.

The cascade runs on every image of the chosen split exactly as in production (same batching,
threshold and resizing); the per-image table is kept so the app can show the images behind any
confusion-matrix cell and move the stage-1 threshold live without re-running the models.
The cascade reports temperature-scaled scores (the bundle's calibration); the report also gives
the ECE those scores would have without scaling (``EvaluationReport.scaling``), recovered from
the scaled ones by the inverse temperature, so no model runs twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from sem_core.cascade import CascadeConfig, eight_class_probabilities
from sem_core.classes import CLASSES, CLEAN, STAGE2_CLASSES
from sem_core.data.manifest import Manifest
from sem_core.data.sources import ImageSource
from sem_core.inference import cascade_from_bundle
from sem_core.metrics import EvaluationReport, evaluate_predictions, reliability
from sem_core.metrics.temperature import (
    ScalingEffect,
    apply_softmax_temperature,
    invert_sigmoid_scaling,
)
from sem_core.registry import LoadedBundle

ALL_SPLITS = "all"


@dataclass(frozen=True)
class EvaluationRun:
    """An evaluation: the report and the per-image predictions behind it.

    Attributes:
        report: Scores over the images that decoded.
        predictions: One row per manifest entry: path, label (true), split, the cascade's
            outputs (see ``CascadeResult.to_row``) and ``error`` for files that failed to decode.
        split: The split evaluated ("Train", "Validation", "Test" or "all").
        bundle: Name of the evaluated bundle.
    """

    report: EvaluationReport
    predictions: pd.DataFrame
    split: str
    bundle: str

    @property
    def n_errors(self) -> int:
        """Images that could not be decoded (not in the report)."""
        return int(self.predictions["error"].notna().sum()) if len(self.predictions) else 0


def select_split(manifest: Manifest, split: str) -> Manifest:
    """The entries of one split, or all of them for ``"all"``.

    Raises:
        ValueError: When the split holds no images, naming the splits that do.
    """
    if split == ALL_SPLITS:
        return manifest
    chosen = manifest.by_split(split)
    if len(chosen) == 0:
        present = sorted({entry.split for entry in manifest.entries})
        raise ValueError(f"The dataset has no images in split {split!r}; it has {present} "
                         f"(or use split='all').")
    return chosen


def evaluate_bundle(
    bundle: LoadedBundle,
    manifest: Manifest,
    *,
    split: str = "Test",
    progress: Callable[[int], None] | None = None,
    batch_size: int = 32,
) -> EvaluationRun:
    """Run the cascade over a labelled split and score it.

    Args:
        bundle: The loaded bundle to evaluate.
        manifest: A labelled dataset (8-class labels).
        split: "Train", "Validation", "Test" or "all". Default: "Test".
        progress: Called with the number of images finished after each batch. Default: None.
        batch_size: Images per batch. Default: 32.

    Returns:
        The ``EvaluationRun``.

    Raises:
        ValueError: When the split is empty or a label is not one of the bundle's classes.
    """
    chosen = select_split(manifest, split)
    classes = tuple(bundle.info.classes) or CLASSES
    unknown = sorted({entry.label for entry in chosen.entries} - set(classes))
    if unknown:
        raise ValueError(f"Labels {unknown} are not classes of bundle {bundle.info.name!r} "
                         f"({', '.join(classes)}); map them with a class map first.")
    cascade = cascade_from_bundle(bundle, batch_size=batch_size)
    sources = (ImageSource(name=str(chosen.resolve(entry)), path=chosen.resolve(entry))
               for entry in chosen.entries)
    rows = []
    for entry, result in zip(chosen.entries, cascade.run(sources, progress=progress)):
        row = result.to_row()
        row.update({"path": str(chosen.resolve(entry)), "label": entry.label, "split": entry.split,
                    "sha256": entry.sha256})
        rows.append(row)
    predictions = pd.DataFrame(rows)
    scored = predictions[predictions["error"].isna()] if len(predictions) else predictions
    report = _report(scored, cascade.config.stage1_threshold, classes)
    report = replace(report, scaling=scaling_effect(scored, cascade.config, report))
    return EvaluationRun(report=report, predictions=predictions, split=split, bundle=bundle.info.name)


def _report(scored: pd.DataFrame, threshold: float, classes: tuple[str, ...]) -> EvaluationReport:
    if len(scored) == 0:
        return evaluate_predictions([], np.zeros(0), threshold, [], classes=classes)
    stage2_labels = [label if decision == "Defective" else None
                     for label, decision in zip(scored["final_label"], scored["stage1_decision"])]
    probabilities = scored[[f"prob_{name}" for name in classes]].to_numpy(dtype=float)
    return evaluate_predictions(
        list(scored["label"]), scored["stage1_probability"].to_numpy(dtype=float), threshold,
        list(scored["final_label"]), final_probabilities=probabilities,
        stage2_labels=stage2_labels, classes=classes,
    )


def _stage2_eces(unscaled: np.ndarray, scaled: np.ndarray, ran: np.ndarray,
                 labels: np.ndarray) -> dict[str, float]:
    """Stage 2's top-class ECE before and after scaling, on the defect images it scored."""
    defects = ran & (labels != CLEAN)
    if not defects.any():
        return {"stage2_ece_before": 0.0, "stage2_ece_after": 0.0}
    truth = np.array([STAGE2_CLASSES.index(label) for label in labels[defects]])
    before, after = unscaled[defects], scaled[defects]
    return {name: reliability(rows.max(axis=1), rows.argmax(axis=1) == truth).ece
            for name, rows in (("stage2_ece_before", before), ("stage2_ece_after", after))}


def scaling_effect(scored: pd.DataFrame, config: CascadeConfig,
                   report: EvaluationReport) -> ScalingEffect:
    """ECE of the final label, of stage 1 and of stage 2 with and without the cascade's scaling.

    Args:
        scored: Prediction rows of images that decoded (``CascadeResult.to_row`` plus ``label``),
            with the scaled scores the cascade reported.
        config: The cascade's configuration (its temperatures).
        report: The report of those rows (its ECEs are the scaled ones).

    Returns:
        The ``ScalingEffect``. The unscaled scores are the scaled ones put back through the
        inverse temperature: exact, except for scores within 1e-7 of 0 or 1, which scaling clips.
    """
    after_final = report.calibration.ece if report.calibration is not None else 0.0
    after_stage1 = report.stage1.calibration.ece
    effect = {"stage1_temperature": config.stage1_temperature, "stage1_bias": config.stage1_bias,
              "stage2_temperature": config.stage2_temperature,
              "final_ece_after": after_final, "stage1_ece_after": after_stage1}
    if len(scored) == 0:
        return ScalingEffect(final_ece_before=0.0, stage1_ece_before=0.0, stage2_ece_before=0.0,
                             stage2_ece_after=0.0, **effect)
    stage1 = invert_sigmoid_scaling(scored["stage1_probability"].to_numpy(dtype=float),
                                    config.stage1_temperature, config.stage1_bias)
    scaled2 = np.array(scored[[f"p_{name}" for name in STAGE2_CLASSES]], dtype=float)
    stage2 = scaled2.copy()
    ran = np.isfinite(stage2).all(axis=1)
    if ran.any():
        stage2[ran] = apply_softmax_temperature(stage2[ran], 1.0 / config.stage2_temperature)
    effect.update(_stage2_eces(stage2, scaled2, ran, scored["label"].to_numpy()))
    final = [CLASSES.index(label) for label in scored["final_label"]]
    confidence = [eight_class_probabilities(p1, p2 if row_ran else None)[column]
                  for p1, p2, row_ran, column in zip(stage1, stage2, ran, final)]
    correct = scored["label"].to_numpy() == scored["final_label"].to_numpy()
    return ScalingEffect(final_ece_before=reliability(np.asarray(confidence), correct).ece,
                         stage1_ece_before=reliability(
                             stage1, scored["label"].to_numpy() != CLEAN).ece, **effect)
