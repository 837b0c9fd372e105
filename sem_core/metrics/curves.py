"""ROC and precision-recall curves of the stage-1 screener, from its scores.

The positive class is "Defective" and an image is flagged when its score is at or above the
threshold, the same rule the cascade uses. Curves have one point per distinct score plus the
"flag nothing" end; every threshold is finite, so the curves serialise to JSON as they are.
An area is None (JSON null) when it is undefined because one of the two classes is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sem_core.metrics.confusion import read_only


@dataclass(frozen=True, eq=False)
class RocCurve:
    """Receiver operating characteristic: recall of defects against overkill of clean images.

    Attributes:
        false_positive_rate: Read-only array, non-decreasing from 0.
        true_positive_rate: Read-only array, non-decreasing from 0.
        thresholds: Read-only array, decreasing; point i flags scores >= thresholds[i].
        auc: Area under the curve, or None when there are no defects or no clean images.
    """

    false_positive_rate: np.ndarray
    true_positive_rate: np.ndarray
    thresholds: np.ndarray
    auc: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view."""
        return {"false_positive_rate": self.false_positive_rate.tolist(),
                "true_positive_rate": self.true_positive_rate.tolist(),
                "thresholds": self.thresholds.tolist(), "auc": self.auc}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RocCurve:
        """Inverse of ``to_dict``."""
        return cls(_array(data["false_positive_rate"]), _array(data["true_positive_rate"]),
                   _array(data["thresholds"]), _optional_float(data["auc"]))


@dataclass(frozen=True, eq=False)
class PrecisionRecallCurve:
    """Precision of the "Defective" call against recall of defects.

    Attributes:
        precision: Read-only array; 1.0 at the "flag nothing" end by convention.
        recall: Read-only array, non-decreasing from 0.
        thresholds: Read-only array, decreasing, as in ``RocCurve``.
        average_precision: Sum over points of (recall step) x precision, or None when there
            are no defects.
    """

    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    average_precision: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view."""
        return {"precision": self.precision.tolist(), "recall": self.recall.tolist(),
                "thresholds": self.thresholds.tolist(),
                "average_precision": self.average_precision}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrecisionRecallCurve:
        """Inverse of ``to_dict``."""
        return cls(_array(data["precision"]), _array(data["recall"]), _array(data["thresholds"]),
                   _optional_float(data["average_precision"]))


def _array(values: Any) -> np.ndarray:
    return read_only(np.asarray(values, dtype=np.float64).reshape(-1))


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _cumulative_counts(scores: np.ndarray, is_defective: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds and the defects / clean images flagged at each, starting with "flag nothing"."""
    if scores.size == 0:
        return np.ones(1), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    sorted_defective = is_defective[order]
    # Keep only the last position of each run of equal scores: a threshold flags all of them.
    last_of_run = np.r_[np.flatnonzero(np.diff(sorted_scores)), sorted_scores.size - 1]
    true_positives = np.cumsum(sorted_defective)[last_of_run]
    false_positives = (last_of_run + 1) - true_positives
    thresholds = np.r_[np.nextafter(sorted_scores[0], np.inf), sorted_scores[last_of_run]]
    return thresholds, np.r_[0, true_positives], np.r_[0, false_positives]


def roc_curve(scores: np.ndarray, is_defective: np.ndarray) -> RocCurve:
    """ROC curve of stage-1 scores.

    Args:
        scores: Stage-1 scores (higher means more likely defective), one per image.
        is_defective: True where the image is truly defective, same length.

    Returns:
        A ``RocCurve``; rates are 0.0 throughout for a class with no images, and for empty
        input the curve is the single point (0, 0) at threshold 1.0.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    positive = np.asarray(is_defective, dtype=bool).reshape(-1)
    thresholds, true_positives, false_positives = _cumulative_counts(scores, positive)
    n_positive, n_negative = int(positive.sum()), int((~positive).sum())
    true_positive_rate = true_positives / n_positive if n_positive else np.zeros(thresholds.size)
    false_positive_rate = false_positives / n_negative if n_negative else np.zeros(thresholds.size)
    auc = (float(np.trapezoid(true_positive_rate, false_positive_rate))
           if n_positive and n_negative else None)
    return RocCurve(read_only(false_positive_rate.astype(np.float64)),
                    read_only(true_positive_rate.astype(np.float64)), read_only(thresholds), auc)


def precision_recall_curve(scores: np.ndarray, is_defective: np.ndarray) -> PrecisionRecallCurve:
    """Precision-recall curve of stage-1 scores.

    Args:
        scores: Stage-1 scores, one per image.
        is_defective: True where the image is truly defective, same length.

    Returns:
        A ``PrecisionRecallCurve`` (precision 1.0 where nothing is flagged, recall 0.0
        throughout when there are no defects).
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    positive = np.asarray(is_defective, dtype=bool).reshape(-1)
    thresholds, true_positives, false_positives = _cumulative_counts(scores, positive)
    n_positive = int(positive.sum())
    flagged = true_positives + false_positives
    precision = np.divide(true_positives, flagged, out=np.ones(flagged.size, dtype=np.float64),
                          where=flagged > 0)
    recall = true_positives / n_positive if n_positive else np.zeros(thresholds.size)
    average_precision = float(np.sum(np.diff(recall) * precision[1:])) if n_positive else None
    return PrecisionRecallCurve(read_only(precision), read_only(recall.astype(np.float64)),
                                read_only(thresholds), average_precision)
