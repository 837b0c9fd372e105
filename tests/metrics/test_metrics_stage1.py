"""Stage-1 operating point: live rates, threshold for a recall target, ROC and PR curves."""

import numpy as np
import pytest

from sem_core.metrics import (precision_recall_curve, roc_curve, stage1_rates_at,
                              threshold_for_recall)

SCORES = np.array([0.1, 0.2, 0.3, 0.7, 0.9, 0.8, 0.4, 0.95, 0.6, 0.85])
DEFECTIVE = np.array([False] * 4 + [True] * 6)


def test_rates_at_threshold_count_ties_as_flagged():
    rates = stage1_rates_at(0.7, SCORES, DEFECTIVE)
    # Flagged (>= 0.7): 0.7 (clean), 0.9, 0.8, 0.95, 0.85.
    np.testing.assert_array_equal(rates.confusion.matrix, [[3, 1], [2, 4]])
    assert rates.escape_rate == pytest.approx(2 / 6) and rates.overkill_rate == 0.25
    assert rates.precision == 0.8 and rates.flagged_fraction == 0.5


def test_rates_move_the_right_way_with_the_threshold():
    low, high = stage1_rates_at(0.05, SCORES, DEFECTIVE), stage1_rates_at(0.99, SCORES, DEFECTIVE)
    assert (low.escape_rate, low.overkill_rate) == (0.0, 1.0)
    assert (high.escape_rate, high.overkill_rate) == (1.0, 0.0)


def test_threshold_for_recall_is_the_highest_that_reaches_the_target():
    for target, expected in [(1.0, 0.4), (5 / 6, 0.6), (0.5, 0.85), (0.01, 0.95)]:
        threshold = threshold_for_recall(SCORES, DEFECTIVE, target)
        assert threshold == expected
        assert stage1_rates_at(threshold, SCORES, DEFECTIVE).recall >= target
        assert stage1_rates_at(np.nextafter(threshold, 2.0), SCORES, DEFECTIVE).recall < target


def test_threshold_for_recall_is_not_fooled_by_rounding():
    scores = np.linspace(0.05, 1.0, 20)
    # 0.95 * 20 is 19.000000000000004 in floating point; 19 defects are enough.
    assert threshold_for_recall(scores, np.ones(20, bool), 0.95) == pytest.approx(scores[1])


def test_threshold_for_recall_rejects_impossible_requests():
    with pytest.raises(ValueError, match="without defective images"):
        threshold_for_recall(SCORES[:4], DEFECTIVE[:4], 0.9)
    with pytest.raises(ValueError, match="target_recall=0"):
        threshold_for_recall(SCORES, DEFECTIVE, 0)


def test_roc_curve_points_and_auc_match_sklearn():
    from sklearn.metrics import average_precision_score, roc_auc_score

    curve = roc_curve(SCORES, DEFECTIVE)
    assert curve.false_positive_rate[0] == 0.0 and curve.true_positive_rate[0] == 0.0
    assert curve.false_positive_rate[-1] == 1.0 and curve.true_positive_rate[-1] == 1.0
    assert np.all(np.diff(curve.thresholds) < 0)
    assert curve.auc == pytest.approx(roc_auc_score(DEFECTIVE, SCORES))
    pr = precision_recall_curve(SCORES, DEFECTIVE)
    assert pr.average_precision == pytest.approx(average_precision_score(DEFECTIVE, SCORES))
    assert pr.recall[-1] == 1.0 and pr.precision[-1] == 0.6


def test_curves_with_tied_scores_have_one_point_per_distinct_score():
    curve = roc_curve(np.array([0.5, 0.5, 0.5, 0.2]), np.array([True, False, True, False]))
    np.testing.assert_allclose(curve.true_positive_rate, [0.0, 1.0, 1.0])
    np.testing.assert_allclose(curve.false_positive_rate, [0.0, 0.5, 1.0])


def test_one_class_curves_have_no_area_and_no_nan():
    curve = roc_curve(SCORES[:4], DEFECTIVE[:4])
    assert curve.auc is None and np.isfinite(curve.true_positive_rate).all()
    assert precision_recall_curve(SCORES[:4], DEFECTIVE[:4]).average_precision is None


def test_non_finite_score_is_named():
    with pytest.raises(ValueError, match=r"scores\[1\] = nan"):
        stage1_rates_at(0.5, np.array([0.1, np.nan]), np.array([True, False]))
