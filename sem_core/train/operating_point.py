"""The stage-1 operating point: the threshold that keeps defect escapes under a target.

An image goes to stage 2 when its stage-1 probability is at or above the threshold. The
threshold is the highest one whose defect recall on the validation split reaches the target;
the resulting escape rate (defects called Clean) and overkill rate (Clean images flagged) are
reported with Wilson confidence intervals, because a validation split of a few hundred images
pins a 1% escape rate down only loosely.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sem_core.stats import Proportion, wilson_interval

FALLBACK_THRESHOLD = 0.5
MIN_TAIL = 5
"""Defects a split must let through at the target recall before its threshold is its own: with
fewer, the threshold is the score of one or two defects and moves with each of them (a retrain
on 1,000 images has 133 validation defects, so one defect sets its 99 % threshold)."""


@dataclass(frozen=True)
class OperatingPoint:
    """A stage-1 threshold and what it does on the split it was chosen on.

    Attributes:
        threshold: Probability at or above which an image is called Defective.
        target_recall: The recall the threshold was chosen to reach.
        recall: Defects caught (successes) out of all defects.
        escape_rate: Defects called Clean out of all defects (1 - recall).
        overkill_rate: Clean images called Defective out of all Clean images.
        note: Why the threshold is a fallback, or "" when it was chosen from data.
    """

    threshold: float
    target_recall: float
    recall: Proportion
    escape_rate: Proportion
    overkill_rate: Proportion
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON view (stored in bundle.json)."""
        return {"threshold": self.threshold, "target_recall": self.target_recall,
                "recall": self.recall.to_dict(), "escape_rate": self.escape_rate.to_dict(),
                "overkill_rate": self.overkill_rate.to_dict(), "note": self.note}


def evaluate_threshold(
    scores: np.ndarray, is_defective: np.ndarray, threshold: float, target_recall: float = 0.99,
    confidence: float = 0.95, note: str = "",
) -> OperatingPoint:
    """Measure recall, escape and overkill rates of one threshold.

    Args:
        scores: Stage-1 probability of Defective per image.
        is_defective: True where the image truly has a defect.
        threshold: Images with score >= threshold are called Defective.
        target_recall: Recorded with the result. Default: 0.99.
        confidence: Confidence level of the intervals. Default: 0.95.
        note: Recorded with the result. Default: "".

    Returns:
        The ``OperatingPoint`` at ``threshold``.
    """
    scores, defective = _validated(scores, is_defective)
    flagged = scores >= threshold
    defects = int(defective.sum())
    cleans = int((~defective).sum())
    caught = int((flagged & defective).sum())
    overkill = int((flagged & ~defective).sum())
    return OperatingPoint(
        threshold=float(threshold),
        target_recall=float(target_recall),
        recall=wilson_interval(caught, defects, confidence),
        escape_rate=wilson_interval(defects - caught, defects, confidence),
        overkill_rate=wilson_interval(overkill, cleans, confidence),
        note=note,
    )


def choose_threshold(
    scores: np.ndarray, is_defective: np.ndarray, target_recall: float = 0.99, confidence: float = 0.95,
    base_threshold: float | None = None,
) -> OperatingPoint:
    """Pick the highest threshold whose defect recall reaches ``target_recall``.

    Catching ceil(target * defects) defects needs the threshold at the score of the k-th most
    confident defect; any higher threshold misses it. Without defects in the data, the
    threshold falls back to 0.5 and ``note`` says so. A model fine-tuned from a bundle
    (``base_threshold``) keeps the bundle's threshold when the split would let fewer than
    ``MIN_TAIL`` defects through at the target: too few to place the threshold by themselves.

    Args:
        scores: Stage-1 probability of Defective per image (validation split).
        is_defective: True where the image truly has a defect.
        target_recall: Required defect recall in (0, 1]. Default: 0.99.
        confidence: Confidence level of the intervals. Default: 0.95.
        base_threshold: The threshold of the bundle the model was fine-tuned from, on the same
            (calibrated) scale, or None. Default: None.

    Returns:
        The chosen ``OperatingPoint``.

    Raises:
        ValueError: When the target is outside (0, 1] or the arrays do not match.
    """
    if not 0.0 < target_recall <= 1.0:
        raise ValueError(f"target_recall must be in (0, 1]. Received `target_recall={target_recall}`.")
    scores, defective = _validated(scores, is_defective)
    defect_scores = np.sort(scores[defective])[::-1]
    if defect_scores.size == 0:
        return evaluate_threshold(scores, defective, FALLBACK_THRESHOLD, target_recall, confidence,
                                  note="no defective images to choose from; threshold left at 0.5")
    # The small tolerance keeps float rounding of target * n from demanding one defect too many.
    needed = max(1, math.ceil(target_recall * defect_scores.size - 1e-9))
    tail = defect_scores.size - needed
    if base_threshold is not None and tail < MIN_TAIL:
        return evaluate_threshold(
            scores, defective, float(base_threshold), target_recall, confidence,
            note=(f"{defect_scores.size} validation defects are too few to place a "
                  f"{target_recall:.0%}-recall threshold (it would be the score of the "
                  f"{_ordinal(tail + 1)} weakest defect; {MIN_TAIL} or more must fall below it): "
                  f"kept the base bundle's {base_threshold:.4f}, measured on this split"))
    threshold = float(defect_scores[needed - 1])
    return evaluate_threshold(scores, defective, threshold, target_recall, confidence)


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _validated(scores: np.ndarray, is_defective: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    defective = np.asarray(is_defective, dtype=bool).reshape(-1)
    if scores.shape != defective.shape:
        raise ValueError(
            f"scores and is_defective must have the same length. Received {scores.size} and {defective.size}.")
    return scores, defective
