"""Rank images by how likely their label is wrong: pure NumPy and cleanlab over given arrays.

An image is put up for review for any of four reasons: confident learning (cleanlab's
``find_label_issues``, pruning by noise rate on out-of-sample probabilities) names its label an
issue; the out-of-sample model is unsure of every class (low confidence); stage 1 and the given
label disagree on Clean versus defect; or a person asked for a review. The score is one minus
the self-confidence (the out-of-sample probability of the given label), so 1 means "surely
wrong". Order: flagged first, then label issues, then the rest, each by score.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import Enum

import numpy as np


class ReviewReason(str, Enum):
    """Why an image is in the review queue."""

    LABEL_ISSUE = "label_issue"                # confident learning: given label likely wrong
    LOW_CONFIDENCE = "low_confidence"          # no class is likely out of sample
    STAGE_DISAGREEMENT = "stage_disagreement"  # stage 1 says Clean for a defect label, or not
    FLAGGED = "flagged"                        # a person asked for review


@dataclass(frozen=True)
class RankedImage:
    """One image's place in the ranking.

    Attributes:
        index: Row of the input arrays.
        score: 1 - out-of-sample probability of the given label, in [0, 1].
        suggested: Column of the most probable class out of sample (may be the given one).
        reasons: Why it is up for review, never empty.
    """

    index: int
    score: float
    suggested: int
    reasons: tuple[ReviewReason, ...]


def label_issue_mask(given: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """cleanlab's confident-learning label issues (prune by noise rate) as a boolean mask.

    Classes no image is labelled with are dropped from the columns first (cleanlab needs every
    column to be a given label somewhere); rows are renormalised.
    """
    from cleanlab.filter import find_label_issues

    present = np.unique(given)
    if len(present) < 2:
        return np.zeros(len(given), dtype=bool)
    columns = probabilities[:, present]
    columns = columns / (columns.sum(axis=1, keepdims=True) + 1e-12)
    remapped = np.searchsorted(present, given)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab warns about tiny classes; the mask stays valid
        return np.asarray(find_label_issues(remapped, columns, filter_by="prune_by_noise_rate",
                                            n_jobs=1), dtype=bool)


def rank_for_review(given: np.ndarray, probabilities: np.ndarray, *,
                    stage_disagrees: np.ndarray | None = None, flagged: np.ndarray | None = None,
                    low_confidence: float = 0.5,
                    label_issues: np.ndarray | None = None) -> list[RankedImage]:
    """The images with at least one review reason, most urgent first.

    Args:
        given: (N,) given label indices into the columns of ``probabilities``.
        probabilities: (N, K) out-of-sample class probabilities.
        stage_disagrees: (N,) True where stage 1 disagrees with the given label. Default: None.
        flagged: (N,) True where a person asked for review. Default: None.
        low_confidence: Top probability below which an image counts as low confidence.
            Default: 0.5.
        label_issues: (N,) label issues decided elsewhere, e.g. all False for images outside
            the pool that cleanlab must not see. Default: None (cleanlab over these rows).

    Returns:
        ``RankedImage`` records, flagged first, then label issues, then the rest, each group
        by descending score (ties by index).

    Raises:
        ValueError: When shapes disagree.
    """
    given = np.asarray(given, dtype=int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    count = len(given)
    if probabilities.shape[0] != count:
        raise ValueError(f"probabilities has {probabilities.shape[0]} rows for {count} labels.")
    disagrees = (np.zeros(count, bool) if stage_disagrees is None
                 else np.asarray(stage_disagrees, bool))
    asked = np.zeros(count, bool) if flagged is None else np.asarray(flagged, bool)
    if label_issues is not None:
        issues = np.asarray(label_issues, bool)
    else:
        issues = label_issue_mask(given, probabilities) if count else np.zeros(0, bool)
    unsure = probabilities.max(axis=1) < low_confidence if count else np.zeros(0, bool)
    scores = 1.0 - probabilities[np.arange(count), given] if count else np.zeros(0)
    suggested = probabilities.argmax(axis=1) if count else np.zeros(0, int)
    ranked = []
    for index in range(count):
        reasons = tuple(reason for reason, hit in (
            (ReviewReason.FLAGGED, asked[index]), (ReviewReason.LABEL_ISSUE, issues[index]),
            (ReviewReason.LOW_CONFIDENCE, unsure[index]),
            (ReviewReason.STAGE_DISAGREEMENT, disagrees[index])) if hit)
        if reasons:
            ranked.append(RankedImage(index, float(np.clip(scores[index], 0.0, 1.0)),
                                      int(suggested[index]), reasons))
    return sorted(ranked, key=urgency)


def urgency(image: RankedImage) -> tuple[bool, bool, float, int]:
    """Sort key of the review order: flagged first, then label issues, each by descending score
    (ties by index)."""
    return (ReviewReason.FLAGGED not in image.reasons,
            ReviewReason.LABEL_ISSUE not in image.reasons, -image.score, image.index)
