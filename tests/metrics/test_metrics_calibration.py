"""Expected calibration error and the reliability curve on hand-made cases."""

import numpy as np
import pytest

from sem_core.metrics import reliability


def _cases(confidence: float, n: int, correct: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n, confidence), np.r_[np.ones(correct), np.zeros(n - correct)]


def test_perfectly_calibrated_predictions_have_zero_ece():
    p1, o1 = _cases(0.8, 10, 8)
    p2, o2 = _cases(0.3, 10, 3)
    result = reliability(np.r_[p1, p2], np.r_[o1, o2], n_bins=10)
    assert result.ece == pytest.approx(0.0, abs=1e-12)
    assert result.counts[3] == 10 and result.counts[8] == 10 and result.counts.sum() == 20


def test_overconfident_predictions_have_the_hand_computed_ece():
    p1, o1 = _cases(0.9, 10, 6)     # says 90 %, right 60 %: gap 0.3
    p2, o2 = _cases(0.55, 10, 5)    # says 55 %, right 50 %: gap 0.05
    result = reliability(np.r_[p1, p2], np.r_[o1, o2], n_bins=10)
    assert result.ece == pytest.approx((10 * 0.3 + 10 * 0.05) / 20)
    assert result.mean_predicted[9] == pytest.approx(0.9)
    assert result.observed_frequency[9] == pytest.approx(0.6)


def test_bin_edges_put_one_in_the_last_bin_and_leave_empty_bins_at_zero():
    result = reliability(np.array([0.0, 1.0]), np.array([0, 1]), n_bins=4)
    assert result.counts.tolist() == [1, 0, 0, 1]
    assert result.mean_predicted.tolist() == [0.0, 0.0, 0.0, 1.0]
    assert result.ece == 0.0
    np.testing.assert_allclose(result.bin_edges, [0, 0.25, 0.5, 0.75, 1.0])


def test_reliability_rejects_non_probabilities():
    with pytest.raises(ValueError, match=r"predicted\[1\] = 1.2"):
        reliability(np.array([0.5, 1.2]), np.array([1, 0]))
    with pytest.raises(ValueError, match="n_bins=0"):
        reliability(np.array([0.5]), np.array([1]), n_bins=0)
