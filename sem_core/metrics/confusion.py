"""Confusion matrices and the per-class scores read from them.

Everything here is plain NumPy over label arrays. The zero-division convention is the one
scikit-learn uses with ``zero_division=0``: a precision, recall or F1 whose denominator is zero
is 0.0, never NaN. Macro-F1 averages over the classes that occur in the data, either as a true
label or as a prediction (scikit-learn's default when ``labels`` is not given): a class that is
absent and never predicted has nothing to score and is left out, while an absent class the model
predicts anyway scores F1 = 0 and pulls the average down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LabelInput = Sequence[str] | Sequence[int] | np.ndarray


@dataclass(frozen=True, eq=False)
class ConfusionMatrix:
    """Counts of true class (rows) against predicted class (columns).

    Attributes:
        labels: Class names, in row and column order.
        matrix: Read-only int64 array of shape (len(labels), len(labels)); row sums are the
            class supports.
    """

    labels: tuple[str, ...]
    matrix: np.ndarray

    @property
    def supports(self) -> np.ndarray:
        """Number of true images per class (row sums)."""
        return self.matrix.sum(axis=1)

    @property
    def predicted(self) -> np.ndarray:
        """Number of predictions per class (column sums)."""
        return self.matrix.sum(axis=0)

    @property
    def total(self) -> int:
        """Number of images counted."""
        return int(self.matrix.sum())

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view: ``{"labels": [...], "matrix": [[...], ...]}``."""
        return {"labels": list(self.labels), "matrix": self.matrix.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConfusionMatrix:
        """Inverse of ``to_dict``."""
        labels = tuple(data["labels"])
        matrix = np.asarray(data["matrix"], dtype=np.int64).reshape(len(labels), len(labels))
        return cls(labels, read_only(matrix))


@dataclass(frozen=True)
class ClassScore:
    """Precision, recall and F1 of one class, with its support and prediction count."""

    precision: float
    recall: float
    f1: float
    support: int
    predicted: int

    def to_dict(self) -> dict[str, float | int]:
        """Plain-JSON view."""
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1,
                "support": self.support, "predicted": self.predicted}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClassScore:
        """Inverse of ``to_dict``."""
        return cls(float(data["precision"]), float(data["recall"]), float(data["f1"]),
                   int(data["support"]), int(data.get("predicted", 0)))


@dataclass(frozen=True, eq=False)
class ClassificationScores:
    """A confusion matrix with the summary scores of a multi-class prediction.

    Attributes:
        confusion: The confusion matrix the scores come from.
        per_class: Class name -> ``ClassScore``, for every label (absent ones score 0.0).
        accuracy: Fraction of correct predictions; 0.0 for no images.
        macro_f1: Unweighted mean F1 over classes that are present or predicted.
        weighted_f1: Support-weighted mean F1; 0.0 for no images.
    """

    confusion: ConfusionMatrix
    per_class: Mapping[str, ClassScore]
    accuracy: float
    macro_f1: float
    weighted_f1: float

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view."""
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1,
                "weighted_f1": self.weighted_f1,
                "per_class": {name: score.to_dict() for name, score in self.per_class.items()},
                "confusion_matrix": self.confusion.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClassificationScores:
        """Inverse of ``to_dict``."""
        per_class = {name: ClassScore.from_dict(score) for name, score in data["per_class"].items()}
        return cls(ConfusionMatrix.from_dict(data["confusion_matrix"]), per_class,
                   float(data["accuracy"]), float(data["macro_f1"]), float(data["weighted_f1"]))


def read_only(array: np.ndarray) -> np.ndarray:
    """Return ``array`` marked read-only, so a frozen result cannot be edited in place."""
    array.setflags(write=False)
    return array


def label_indices(labels: LabelInput, classes: Sequence[str], what: str = "labels") -> np.ndarray:
    """Turn class names (or class indices) into an int64 index array.

    Args:
        labels: Class names from ``classes`` or integer indices into it.
        classes: The class names, in index order.
        what: Name of the argument, used in error messages. Default: "labels".

    Returns:
        A 1-D int64 array of indices into ``classes``.

    Raises:
        ValueError: When a label is not one of ``classes`` or an index is out of range.
    """
    values = np.asarray(labels)
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    if values.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional; received shape {values.shape}.")
    if np.issubdtype(values.dtype, np.integer):
        bad = np.flatnonzero((values < 0) | (values >= len(classes)))
        if bad.size:
            raise ValueError(f"{what}[{bad[0]}] = {values[bad[0]]} is not a class index in "
                             f"0..{len(classes) - 1}.")
        return values.astype(np.int64)
    lookup = {name: index for index, name in enumerate(classes)}
    indices = np.empty(values.size, dtype=np.int64)
    for position, name in enumerate(values.tolist()):
        if name not in lookup:
            raise ValueError(f"{what}[{position}] = {name!r} is not a class; expected one of "
                             f"{', '.join(classes)}.")
        indices[position] = lookup[name]
    return indices


def confusion_matrix(true_labels: LabelInput, predicted_labels: LabelInput,
                     classes: Sequence[str]) -> ConfusionMatrix:
    """Count true class against predicted class.

    Args:
        true_labels: Class names (or indices) of the ground truth, one per image.
        predicted_labels: Predicted class names (or indices), same length.
        classes: Row and column order; every label must be one of them.

    Returns:
        A ``ConfusionMatrix`` whose rows are true classes; empty input gives all zeros.

    Raises:
        ValueError: On unknown labels or arrays of different length.
    """
    truth = label_indices(true_labels, classes, "true_labels")
    predicted = label_indices(predicted_labels, classes, "predicted_labels")
    if truth.size != predicted.size:
        raise ValueError(f"true_labels has {truth.size} entries but predicted_labels has "
                         f"{predicted.size}; they must match one to one.")
    size = len(classes)
    counts = np.bincount(truth * size + predicted, minlength=size * size).reshape(size, size)
    return ConfusionMatrix(tuple(classes), read_only(counts.astype(np.int64)))


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise numerator / denominator with 0.0 where the denominator is 0."""
    numerator = numerator.astype(np.float64)
    denominator = denominator.astype(np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def scores_from_confusion(confusion: ConfusionMatrix) -> ClassificationScores:
    """Per-class precision/recall/F1 and the accuracy, macro-F1 and weighted-F1 of a matrix.

    Args:
        confusion: Rows are true classes, columns predictions.

    Returns:
        ``ClassificationScores``; every number is finite (see the module docstring for the
        zero-division and macro-average rules).
    """
    matrix = confusion.matrix
    true_positive = np.diag(matrix)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = _safe_ratio(true_positive, predicted)
    recall = _safe_ratio(true_positive, support)
    f1 = _safe_ratio(2.0 * precision * recall, precision + recall)
    occurring = (support > 0) | (predicted > 0)
    total = int(support.sum())
    per_class = {
        name: ClassScore(float(precision[i]), float(recall[i]), float(f1[i]),
                         int(support[i]), int(predicted[i]))
        for i, name in enumerate(confusion.labels)
    }
    return ClassificationScores(
        confusion=confusion,
        per_class=per_class,
        accuracy=float(true_positive.sum() / total) if total else 0.0,
        macro_f1=float(f1[occurring].mean()) if occurring.any() else 0.0,
        weighted_f1=float((f1 * support).sum() / total) if total else 0.0,
    )


def score_classification(true_labels: LabelInput, predicted_labels: LabelInput,
                         classes: Sequence[str]) -> ClassificationScores:
    """Confusion matrix and scores of a multi-class prediction in one call.

    Args:
        true_labels: Ground-truth class names (or indices).
        predicted_labels: Predicted class names (or indices), same length.
        classes: Class order of the matrix and the per-class table.

    Returns:
        ``ClassificationScores``.

    Raises:
        ValueError: On unknown labels or arrays of different length.
    """
    return scores_from_confusion(confusion_matrix(true_labels, predicted_labels, classes))


def merge_classes(confusion: ConfusionMatrix, merged: Sequence[str], name: str) -> ConfusionMatrix:
    """Fold several classes of a confusion matrix into one, at the first one's position.

    Args:
        confusion: The matrix to fold.
        merged: Two or more labels of ``confusion`` treated as one class.
        name: Label of the merged class, e.g. "Bridges+Shorts".

    Returns:
        A smaller ``ConfusionMatrix``; confusions between the merged classes become correct.

    Raises:
        ValueError: When a merged class is not a label of the matrix.
    """
    missing = [label for label in merged if label not in confusion.labels]
    if missing:
        raise ValueError(f"Cannot merge {missing}: not among the labels {list(confusion.labels)}.")
    new_labels = [name if label == merged[0] else label
                  for label in confusion.labels if label not in merged[1:]]
    target = [new_labels.index(name if label in merged else label) for label in confusion.labels]
    projection = np.zeros((len(confusion.labels), len(new_labels)), dtype=np.int64)
    projection[np.arange(len(target)), target] = 1
    folded = projection.T @ confusion.matrix @ projection
    return ConfusionMatrix(tuple(new_labels), read_only(folded))
