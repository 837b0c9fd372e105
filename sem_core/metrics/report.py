"""The evaluation report of the two-stage cascade on a labelled set of images.

``evaluate_predictions`` takes what the cascade produced (stage-1 scores, final labels, and
optionally final class probabilities and stage-2 labels) and returns one typed, frozen
``EvaluationReport`` that serialises to JSON and back. How stage-1 escapes count:

* **End to end** (8x8 matrix, per-class scores, accuracy, macro- and weighted-F1): every image
  counts once, with its final label. The cascade calls every stage-1 rejection Clean, so an
  escape lands in the Clean column of its true class's row, and each row sums to that class's
  support.
* **Stage 1**: escapes are the defects scored below the threshold (``escape_rate``).
* **Stage 2**: the 7x7 matrix is over truly defective images that stage 2 classified. By default
  that is the defects stage 1 passed (their final label is stage 2's label), so escapes are left
  out and counted in ``n_without_prediction``; pass ``stage2_labels`` for every defect (running
  stage 2 on escapes too) to judge stage 2 on its own.

Zero-division and macro-average rules are those of ``sem_core.metrics.confusion``: no NaN
anywhere; absent classes score 0.0 with support 0, and macro-F1 averages over the classes that
are present or predicted (scikit-learn's ``f1_score(average="macro", zero_division=0)``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sem_core.classes import CLASSES
from sem_core.metrics.calibration import Calibration, reliability
from sem_core.metrics.confusion import (ClassificationScores, ClassScore, ConfusionMatrix,
                                        LabelInput, label_indices, merge_classes,
                                        score_classification, scores_from_confusion)
from sem_core.metrics.stage1 import Stage1Report, stage1_report
from sem_core.metrics.temperature import ScalingEffect

MERGED_PAIR: tuple[str, str] = ("Bridges", "Shorts")


@dataclass(frozen=True, eq=False)
class Stage2Report:
    """Stage 2 judged on truly defective images that it classified.

    Attributes:
        scores: Confusion matrix and scores over the defect classes.
        n_without_prediction: Truly defective images with no stage-2 label (in a cascade run,
            the stage-1 escapes); they are not in ``scores``.
    """

    scores: ClassificationScores
    n_without_prediction: int

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view: the scores' keys plus ``n_images`` and ``n_without_prediction``."""
        return {"n_images": self.scores.confusion.total,
                "n_without_prediction": self.n_without_prediction, **self.scores.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stage2Report:
        """Inverse of ``to_dict``."""
        return cls(ClassificationScores.from_dict(data), int(data["n_without_prediction"]))


@dataclass(frozen=True)
class MergedScore:
    """End-to-end scores when look-alike classes are treated as one (e.g. Bridges+Shorts).

    Attributes:
        merged: The classes folded together.
        name: Name of the merged class.
        accuracy: Accuracy after merging (confusions inside the group count as correct).
        macro_f1: Macro-F1 over the merged class set.
        precision: Precision of the merged class.
        recall: Recall of the merged class.
        f1: F1 of the merged class.
        support: True images of the merged class.
    """

    merged: tuple[str, ...]
    name: str
    accuracy: float
    macro_f1: float
    precision: float
    recall: float
    f1: float
    support: int

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view."""
        return {"merged": list(self.merged), "name": self.name, "accuracy": self.accuracy,
                "macro_f1": self.macro_f1, "precision": self.precision, "recall": self.recall,
                "f1": self.f1, "support": self.support}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MergedScore:
        """Inverse of ``to_dict``."""
        return cls(tuple(data["merged"]), str(data["name"]), float(data["accuracy"]),
                   float(data["macro_f1"]), float(data["precision"]), float(data["recall"]),
                   float(data["f1"]), int(data["support"]))


@dataclass(frozen=True, eq=False)
class EvaluationReport:
    """What an engineer needs to trust (or distrust) the cascade on one labelled split.

    Attributes:
        n_images: Images evaluated.
        end_to_end: Final labels against truth over all classes (escapes in the Clean column).
        stage1: The screener at its threshold, its curves and score calibration.
        stage2: The defect classifier on the defects it classified.
        calibration: Top-label reliability of the final confidence, or None when no final
            probabilities were given.
        merged: Scores with ``MERGED_PAIR`` folded together, or None when a class is missing.
        scaling: ECE with and without the bundle's temperatures, or None when not measured
            (``sem_core.evaluation.evaluate_bundle`` measures it; ``calibration`` and
            ``stage1.calibration`` are of the scaled scores the cascade reports).
    """

    n_images: int
    end_to_end: ClassificationScores
    stage1: Stage1Report
    stage2: Stage2Report
    calibration: Calibration | None
    merged: MergedScore | None
    scaling: ScalingEffect | None = None

    @property
    def accuracy(self) -> float:
        """End-to-end accuracy."""
        return self.end_to_end.accuracy

    @property
    def macro_f1(self) -> float:
        """End-to-end macro-F1."""
        return self.end_to_end.macro_f1

    @property
    def weighted_f1(self) -> float:
        """End-to-end support-weighted F1."""
        return self.end_to_end.weighted_f1

    @property
    def per_class(self) -> Mapping[str, ClassScore]:
        """End-to-end precision/recall/F1/support per class."""
        return self.end_to_end.per_class

    @property
    def confusion(self) -> ConfusionMatrix:
        """End-to-end confusion matrix."""
        return self.end_to_end.confusion

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view with keys ``n_images``, ``accuracy``, ``macro_f1``, ``weighted_f1``,
        ``per_class``, ``confusion_matrix``, ``stage1``, ``stage2``, ``calibration``, ``merged``,
        ``temperature_scaling``."""
        return {"n_images": self.n_images, **self.end_to_end.to_dict(),
                "stage1": self.stage1.to_dict(), "stage2": self.stage2.to_dict(),
                "calibration": None if self.calibration is None else self.calibration.to_dict(),
                "merged": None if self.merged is None else self.merged.to_dict(),
                "temperature_scaling": None if self.scaling is None else self.scaling.to_dict()}

    def to_json(self, indent: int | None = 2) -> str:
        """The ``to_dict`` view as JSON text (strict JSON: no NaN or infinity).

        Args:
            indent: Indentation passed to ``json.dumps``. Default: 2.
        """
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationReport:
        """Inverse of ``to_dict``."""
        calibration = data.get("calibration")
        merged = data.get("merged")
        scaling = data.get("temperature_scaling")
        return cls(int(data["n_images"]), ClassificationScores.from_dict(data),
                   Stage1Report.from_dict(data["stage1"]), Stage2Report.from_dict(data["stage2"]),
                   None if calibration is None else Calibration.from_dict(calibration),
                   None if merged is None else MergedScore.from_dict(merged),
                   None if scaling is None else ScalingEffect.from_dict(scaling))

    @classmethod
    def from_json(cls, text: str) -> EvaluationReport:
        """Inverse of ``to_json``."""
        return cls.from_dict(json.loads(text))


def _stage2_labels(truth: np.ndarray, stage2_labels: Sequence[str | None] | None,
                   final: np.ndarray, flagged: np.ndarray, classes: Sequence[str]
                   ) -> tuple[list[int], list[int], int]:
    """Stage-2 (true, predicted) indices into classes[1:], and the count of defects left out."""
    defect_classes = tuple(classes[1:])
    truths: list[int] = []
    predictions: list[int] = []
    missing = 0
    for position in np.flatnonzero(truth > 0):
        if stage2_labels is None:
            predicted = int(final[position]) - 1 if flagged[position] else -1
        else:
            name = stage2_labels[position]
            if name is None or name == "":
                predicted = -1
            elif name in defect_classes:
                predicted = defect_classes.index(name)
            else:
                raise ValueError(f"stage2_labels[{position}] = {name!r} is not a defect class; "
                                 f"expected one of {', '.join(defect_classes)} or None.")
        if predicted < 0:
            missing += 1
        else:
            truths.append(int(truth[position]) - 1)
            predictions.append(predicted)
    return truths, predictions, missing


def _merged_score(end_to_end: ClassificationScores, pair: Sequence[str]) -> MergedScore | None:
    if any(name not in end_to_end.confusion.labels for name in pair):
        return None
    name = "+".join(pair)
    folded = scores_from_confusion(merge_classes(end_to_end.confusion, pair, name))
    merged_class = folded.per_class[name]
    return MergedScore(tuple(pair), name, folded.accuracy, folded.macro_f1,
                       merged_class.precision, merged_class.recall, merged_class.f1,
                       merged_class.support)


def _final_confidence(final_probabilities: np.ndarray, final: np.ndarray,
                      n_classes: int) -> np.ndarray:
    probabilities = np.asarray(final_probabilities, dtype=np.float64)
    if probabilities.size == 0 and final.size == 0:
        return np.zeros(0)
    if probabilities.shape != (final.size, n_classes):
        raise ValueError(f"final_probabilities must have shape ({final.size}, {n_classes}); "
                         f"received {probabilities.shape}.")
    return probabilities[np.arange(final.size), final]


def evaluate_predictions(true_labels: LabelInput, stage1_scores: np.ndarray,
                         stage1_threshold: float, final_labels: LabelInput, *,
                         final_probabilities: np.ndarray | None = None,
                         stage2_labels: Sequence[str | None] | None = None,
                         classes: Sequence[str] = CLASSES,
                         merged_pair: Sequence[str] = MERGED_PAIR,
                         n_bins: int = 10, confidence: float = 0.95) -> EvaluationReport:
    """Evaluate cascade predictions against ground truth (see the module docstring).

    Args:
        true_labels: Ground-truth class names (or indices into ``classes``), one per image.
        stage1_scores: Stage-1 P(Defective) in [0, 1], one per image.
        stage1_threshold: Scores at or above it were sent to stage 2.
        final_labels: The cascade's final class per image (Clean for stage-1 rejections).
        final_probabilities: Optional (n_images, len(classes)) class probabilities of the final
            decision; the column of the final label is its confidence. Default: None (no
            end-to-end calibration).
        stage2_labels: Optional stage-2 label per image, None where stage 2 did not run.
            Default: None, which takes the final label of the defects stage 1 flagged.
        classes: All classes, the clean class first. Default: ``CLASSES``.
        merged_pair: Classes scored together as one. Default: ("Bridges", "Shorts").
        n_bins: Equal-width calibration bins. Default: 10.
        confidence: Level of the Wilson intervals. Default: 0.95.

    Returns:
        An ``EvaluationReport``; empty input gives a report with ``n_images`` 0 and zeros.

    Raises:
        ValueError: On unknown labels, arrays of different lengths, or scores and
            probabilities outside [0, 1].
    """
    truth = label_indices(true_labels, classes, "true_labels")
    final = label_indices(final_labels, classes, "final_labels")
    scores = np.asarray(stage1_scores, dtype=np.float64).reshape(-1)
    if not truth.size == final.size == scores.size:
        raise ValueError(f"true_labels, final_labels and stage1_scores must have one entry per "
                         f"image; received {truth.size}, {final.size} and {scores.size}.")
    if stage2_labels is not None and len(stage2_labels) != truth.size:
        raise ValueError(f"stage2_labels has {len(stage2_labels)} entries for {truth.size} images.")
    end_to_end = score_classification(truth, final, classes)
    stage1 = stage1_report(scores, truth > 0, stage1_threshold, n_bins, confidence)
    stage2_truth, stage2_predicted, missing = _stage2_labels(
        truth, stage2_labels, final, scores >= stage1_threshold, classes)
    stage2 = Stage2Report(score_classification(np.asarray(stage2_truth, dtype=np.int64),
                                               np.asarray(stage2_predicted, dtype=np.int64),
                                               classes[1:]), missing)
    calibration = None
    if final_probabilities is not None:
        calibration = reliability(_final_confidence(final_probabilities, final, len(classes)),
                                  truth == final, n_bins)
    return EvaluationReport(int(truth.size), end_to_end, stage1, stage2, calibration,
                            _merged_score(end_to_end, merged_pair))
