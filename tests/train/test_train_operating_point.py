"""Stage-1 operating point: hand-made scores with known answers."""

import numpy as np
import pytest

from sem_core.train.operating_point import choose_threshold, evaluate_threshold


def test_threshold_is_the_score_of_the_last_defect_needed_for_the_target():
    # 10 defects; 90% recall needs the 9 highest, so the threshold is the 9th highest defect score.
    defect_scores = np.linspace(0.95, 0.05, 10)
    clean_scores = np.array([0.01, 0.02, 0.5, 0.9])
    scores = np.concatenate([defect_scores, clean_scores])
    truth = np.array([True] * 10 + [False] * 4)
    point = choose_threshold(scores, truth, target_recall=0.9)
    assert point.threshold == pytest.approx(defect_scores[8])
    assert point.recall.successes == 9 and point.recall.total == 10
    assert point.escape_rate.successes == 1
    assert point.overkill_rate.successes == 2 and point.overkill_rate.total == 4  # 0.5 and 0.9
    assert point.note == ""


def test_full_recall_takes_the_lowest_defect_score_and_counts_overkill():
    scores = np.array([0.8, 0.3, 0.6, 0.2, 0.4, 0.1])
    truth = np.array([True, True, True, False, False, False])
    point = choose_threshold(scores, truth, target_recall=1.0)
    assert point.threshold == pytest.approx(0.3)
    assert point.recall.rate == 1.0 and point.escape_rate.rate == 0.0
    assert point.overkill_rate.successes == 1  # the clean image at 0.4


def test_target_0_99_on_100_defects_allows_exactly_one_escape():
    rng = np.random.default_rng(5)
    defect_scores = rng.permutation(np.linspace(0.01, 1.0, 100))
    point = choose_threshold(defect_scores, np.ones(100, dtype=bool), target_recall=0.99)
    assert point.recall.successes == 99
    assert point.threshold == pytest.approx(0.02)


def test_separable_scores_give_zero_escape_and_zero_overkill_with_honest_intervals():
    scores = np.array([0.9] * 50 + [0.1] * 50)
    truth = np.array([True] * 50 + [False] * 50)
    point = choose_threshold(scores, truth, target_recall=0.99)
    assert point.escape_rate.rate == 0.0 and point.overkill_rate.rate == 0.0
    # 50 trials cannot prove a rate below a few percent: the upper bound says so.
    assert 0.05 < point.escape_rate.high < 0.1
    assert point.overkill_rate.high == pytest.approx(point.escape_rate.high)


def test_images_at_exactly_the_threshold_count_as_defective():
    point = evaluate_threshold(np.array([0.5, 0.5]), np.array([True, False]), threshold=0.5)
    assert point.recall.successes == 1 and point.overkill_rate.successes == 1


def test_no_defects_falls_back_to_half_and_says_why():
    point = choose_threshold(np.array([0.2, 0.7]), np.array([False, False]))
    assert point.threshold == 0.5
    assert "no defective" in point.note
    assert point.recall.total == 0 and point.overkill_rate.successes == 1


@pytest.mark.parametrize("target", [0.0, -0.1, 1.5])
def test_target_outside_zero_one_is_refused(target):
    with pytest.raises(ValueError, match="target_recall"):
        choose_threshold(np.array([0.5]), np.array([True]), target_recall=target)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="same length"):
        choose_threshold(np.array([0.5, 0.2]), np.array([True]))


def test_to_dict_is_plain_json():
    import json

    point = choose_threshold(np.array([0.9, 0.1]), np.array([True, False]))
    data = json.loads(json.dumps(point.to_dict()))
    assert data["threshold"] == pytest.approx(0.9)
    assert set(data["overkill_rate"]) >= {"rate", "low", "high", "successes", "total"}


def test_a_fine_tune_keeps_its_bases_threshold_when_one_defect_would_set_its_own():
    # 133 defects at 99 %: the threshold would be the second-weakest defect's score (0.05)
    defect_scores = np.concatenate([[0.02, 0.05], np.linspace(0.6, 1.0, 131)])
    clean_scores = np.array([0.04, 0.1, 0.2, 0.3, 0.01])
    scores = np.concatenate([defect_scores, clean_scores])
    truth = np.array([True] * 133 + [False] * 5)
    own = choose_threshold(scores, truth)
    assert own.threshold == pytest.approx(0.05) and own.overkill_rate.successes == 3
    kept = choose_threshold(scores, truth, base_threshold=0.25)
    assert kept.threshold == pytest.approx(0.25)
    assert kept.recall.successes == 131 and kept.overkill_rate.successes == 1  # measured here
    assert "133 validation defects" in kept.note and "2nd weakest" in kept.note
    assert "0.2500" in kept.note


def test_a_split_with_enough_defects_places_its_own_threshold_even_after_a_fine_tune():
    defect_scores = np.linspace(0.01, 1.0, 600)  # 99 % lets 6 through: enough to stand alone
    point = choose_threshold(defect_scores, np.ones(600, dtype=bool), base_threshold=0.5)
    assert point.threshold == pytest.approx(defect_scores[6]) and point.note == ""
