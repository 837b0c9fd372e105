"""The stage-1 screener as a yield engineer reads it: escapes, overkill and the operating point.

An image is flagged Defective when its score is at or above the threshold (the cascade's rule).
An escape is a truly defective image the screener calls Clean; it never reaches stage 2 and
ends as Clean in the end-to-end result. Overkill is a clean image called Defective; it costs a
stage-2 run and, since stage 2 has no Clean class, ends as a false defect call.
Rates carry Wilson intervals because test sets of defects are often small.
``stage1_rates_at`` is cheap (one pass over cached scores), so a UI slider can call it live.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sem_core.classes import STAGE1_CLASSES
from sem_core.metrics.calibration import Calibration, reliability
from sem_core.metrics.confusion import ConfusionMatrix, read_only
from sem_core.metrics.curves import (PrecisionRecallCurve, RocCurve, precision_recall_curve,
                                     roc_curve)
from sem_core.stats import Proportion, wilson_interval


@dataclass(frozen=True, eq=False)
class Stage1Rates:
    """The screener at one threshold.

    Attributes:
        threshold: Scores at or above it are flagged Defective.
        confusion: 2x2 matrix over ("Clean", "Defective"), rows true.
        escape: Defects called Clean, over all defects, with its Wilson interval.
        overkill: Clean images called Defective, over all clean images, with its interval.
        recall: Defects flagged / defects (0.0 when there are none).
        specificity: Clean passed / clean images (0.0 when there are none).
        precision: Defects among the flagged (0.0 when nothing is flagged).
        flagged_fraction: Share of all images sent to stage 2 (0.0 for no images).
    """

    threshold: float
    confusion: ConfusionMatrix
    escape: Proportion
    overkill: Proportion
    recall: float
    specificity: float
    precision: float
    flagged_fraction: float

    @property
    def escape_rate(self) -> float:
        """Share of defects called Clean."""
        return self.escape.rate

    @property
    def overkill_rate(self) -> float:
        """Share of clean images called Defective."""
        return self.overkill.rate

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view; the headline rates are repeated flat for easy reading."""
        return {"threshold": self.threshold, "escape_rate": self.escape_rate,
                "overkill_rate": self.overkill_rate, "recall": self.recall,
                "specificity": self.specificity, "precision": self.precision,
                "flagged_fraction": self.flagged_fraction, "escape": self.escape.to_dict(),
                "overkill": self.overkill.to_dict(), "confusion_matrix": self.confusion.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stage1Rates:
        """Inverse of ``to_dict``."""
        return cls(float(data["threshold"]), ConfusionMatrix.from_dict(data["confusion_matrix"]),
                   _proportion(data["escape"]), _proportion(data["overkill"]),
                   float(data["recall"]), float(data["specificity"]), float(data["precision"]),
                   float(data["flagged_fraction"]))


@dataclass(frozen=True, eq=False)
class Stage1Report:
    """Everything about the screener: rates at the threshold, curves and score calibration."""

    rates: Stage1Rates
    roc: RocCurve
    precision_recall: PrecisionRecallCurve
    calibration: Calibration

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view: the rates' keys plus ``roc``, ``precision_recall``, ``calibration``."""
        return {**self.rates.to_dict(), "roc": self.roc.to_dict(),
                "precision_recall": self.precision_recall.to_dict(),
                "calibration": self.calibration.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stage1Report:
        """Inverse of ``to_dict``."""
        return cls(Stage1Rates.from_dict(data), RocCurve.from_dict(data["roc"]),
                   PrecisionRecallCurve.from_dict(data["precision_recall"]),
                   Calibration.from_dict(data["calibration"]))


def _proportion(data: Mapping[str, Any]) -> Proportion:
    return Proportion(int(data["successes"]), int(data["total"]), float(data["rate"]),
                      float(data["low"]), float(data["high"]), float(data["confidence"]))


def _checked(scores: np.ndarray, is_defective: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    positive = np.asarray(is_defective, dtype=bool).reshape(-1)
    if values.size != positive.size:
        raise ValueError(f"scores has {values.size} entries but is_defective has "
                         f"{positive.size}; they must match one to one.")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(f"scores[{bad[0]}] = {values[bad[0]]} is not a finite number.")
    return values, positive


def stage1_rates_at(threshold: float, scores: np.ndarray, is_defective: np.ndarray,
                    confidence: float = 0.95) -> Stage1Rates:
    """Escape and overkill rates of the screener at one threshold.

    Args:
        threshold: Scores at or above it count as Defective.
        scores: Stage-1 scores (P(Defective)), one per image.
        is_defective: True where the image is truly defective.
        confidence: Level of the Wilson intervals. Default: 0.95.

    Returns:
        A ``Stage1Rates``; empty input gives zero counts and rates 0.0.

    Raises:
        ValueError: When the arrays differ in length or a score is not finite.
    """
    values, positive = _checked(scores, is_defective)
    flagged = values >= threshold
    true_positive = int(np.count_nonzero(flagged & positive))
    false_negative = int(np.count_nonzero(~flagged & positive))
    false_positive = int(np.count_nonzero(flagged & ~positive))
    true_negative = int(np.count_nonzero(~flagged & ~positive))
    matrix = np.array([[true_negative, false_positive], [false_negative, true_positive]],
                      dtype=np.int64)
    n_defective, n_clean = true_positive + false_negative, true_negative + false_positive
    n_flagged = true_positive + false_positive
    return Stage1Rates(
        threshold=float(threshold),
        confusion=ConfusionMatrix(STAGE1_CLASSES, read_only(matrix)),
        escape=wilson_interval(false_negative, n_defective, confidence),
        overkill=wilson_interval(false_positive, n_clean, confidence),
        recall=true_positive / n_defective if n_defective else 0.0,
        specificity=true_negative / n_clean if n_clean else 0.0,
        precision=true_positive / n_flagged if n_flagged else 0.0,
        flagged_fraction=n_flagged / values.size if values.size else 0.0,
    )


def threshold_for_recall(scores: np.ndarray, is_defective: np.ndarray,
                         target_recall: float) -> float:
    """The highest threshold whose defect recall reaches a target (least overkill for it).

    Args:
        scores: Stage-1 scores, one per image.
        is_defective: True where the image is truly defective.
        target_recall: Wanted recall in (0, 1], e.g. 0.99 for at most 1 % escapes.

    Returns:
        A threshold t such that the share of defects with score >= t is at least the target;
        it equals the score of the defect that reaches the target.

    Raises:
        ValueError: When the target is outside (0, 1], there are no defective images, or the
            arrays are inconsistent.
    """
    if not 0.0 < target_recall <= 1.0:
        raise ValueError(
            f"target_recall must be in (0, 1]; received target_recall={target_recall}.")
    values, positive = _checked(scores, is_defective)
    defect_scores = np.sort(values[positive])[::-1]
    if defect_scores.size == 0:
        raise ValueError("Cannot choose a threshold for a recall target without defective images.")
    # The 1e-9 keeps 0.95 * 20 = 19.000000000000004 from asking for a 20th defect.
    needed = max(1, math.ceil(target_recall * defect_scores.size - 1e-9))
    return float(defect_scores[needed - 1])


def stage1_report(scores: np.ndarray, is_defective: np.ndarray, threshold: float,
                  n_bins: int = 10, confidence: float = 0.95) -> Stage1Report:
    """Rates at the threshold, ROC and PR curves, and reliability of the stage-1 score.

    Args:
        scores: Stage-1 scores in [0, 1], one per image.
        is_defective: True where the image is truly defective.
        threshold: The operating threshold.
        n_bins: Calibration bins. Default: 10.
        confidence: Level of the Wilson intervals. Default: 0.95.

    Returns:
        A ``Stage1Report``.

    Raises:
        ValueError: On inconsistent arrays or scores outside [0, 1].
    """
    values, positive = _checked(scores, is_defective)
    return Stage1Report(stage1_rates_at(threshold, values, positive, confidence),
                        roc_curve(values, positive), precision_recall_curve(values, positive),
                        reliability(values, positive, n_bins))
