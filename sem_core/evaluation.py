"""Evaluate a bundle on a labelled dataset split: predictions per image and the full report.

The cascade runs on every image of the chosen split exactly as in production (same batching,
threshold and resizing); the per-image table is kept so the app can show the images behind any
confusion-matrix cell and move the stage-1 threshold live without re-running the models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sem_core.classes import CLASSES
from sem_core.data.manifest import Manifest
from sem_core.data.sources import ImageSource
from sem_core.inference import cascade_from_bundle
from sem_core.metrics import EvaluationReport, evaluate_predictions
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
