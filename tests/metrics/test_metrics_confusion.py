"""Confusion matrices, per-class scores and class merging."""

import numpy as np
import pytest

from sem_core.metrics import confusion_matrix, merge_classes, score_classification

CLASSES3 = ("a", "b", "c")


def test_matrix_counts_rows_as_truth_and_accepts_indices():
    by_name = confusion_matrix(["a", "a", "b", "c"], ["a", "b", "b", "a"], CLASSES3)
    by_index = confusion_matrix([0, 0, 1, 2], [0, 1, 1, 0], CLASSES3)
    expected = [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    np.testing.assert_array_equal(by_name.matrix, expected)
    np.testing.assert_array_equal(by_index.matrix, expected)
    assert by_name.supports.tolist() == [2, 1, 1] and by_name.predicted.tolist() == [2, 2, 0]


def test_per_class_scores_match_sklearn_for_every_class():
    from sklearn.metrics import precision_recall_fscore_support

    rng = np.random.default_rng(3)
    truth = rng.choice(["a", "b"], size=40)          # "c" never occurs and is never predicted
    predicted = rng.choice(["a", "b"], size=40)
    scores = score_classification(truth, predicted, CLASSES3)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=list(CLASSES3), zero_division=0)
    for index, name in enumerate(CLASSES3):
        assert scores.per_class[name].precision == pytest.approx(precision[index])
        assert scores.per_class[name].recall == pytest.approx(recall[index])
        assert scores.per_class[name].f1 == pytest.approx(f1[index])
        assert scores.per_class[name].support == support[index]
    # "c" has nothing to score, so it does not pull the macro average down.
    assert scores.macro_f1 == pytest.approx(np.mean(f1[:2]))


def test_merging_folds_rows_and_columns_into_the_first_class():
    matrix = confusion_matrix(["a", "b", "c", "c", "a"], ["b", "a", "a", "c", "c"], CLASSES3)
    merged = merge_classes(matrix, ("a", "c"), "a+c")
    assert merged.labels == ("a+c", "b")
    np.testing.assert_array_equal(merged.matrix, [[3, 1], [1, 0]])
    assert merged.total == matrix.total
    with pytest.raises(ValueError, match="Cannot merge"):
        merge_classes(matrix, ("a", "z"), "a+z")


def test_unknown_labels_and_length_mismatch_are_reported():
    with pytest.raises(ValueError, match=r"true_labels\[0\] = 'x'"):
        confusion_matrix(["x"], ["a"], CLASSES3)
    with pytest.raises(ValueError, match=r"predicted_labels\[0\] = 5"):
        confusion_matrix([0], [5], CLASSES3)
    with pytest.raises(ValueError, match="must match one to one"):
        confusion_matrix(["a", "b"], ["a"], CLASSES3)
