"""Ranking for review: cleanlab finds flipped labels in out-of-sample probabilities; the order
and reasons are what a reviewer relies on."""

import numpy as np
import pytest

from sem_core.review import (CrossValidationConfig, ReviewReason, label_issue_mask,
                             out_of_sample_probabilities, rank_for_review)


def _noisy(seed, count=400, classes=4, flip_rate=0.1):
    """True labels, given labels with flips, and well-separated Gaussian clusters as features."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, count)
    given = truth.copy()
    flipped = rng.random(count) < flip_rate
    given[flipped] = (truth[flipped] + rng.integers(1, classes, flipped.sum())) % classes
    centres = rng.normal(0, 4.0, (classes, 16))
    features = centres[truth] + rng.normal(0, 1.0, (count, 16))
    return truth, given, np.flatnonzero(flipped), features


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_out_of_sample_probabilities_expose_flipped_labels(seed):
    truth, given, flipped, features = _noisy(seed)
    probabilities = out_of_sample_probabilities(features, given, 4,
                                                CrossValidationConfig(seed=seed))
    assert probabilities.shape == (len(given), 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)
    # Fitted on all labels, a flexible model would agree with the flips; out of sample it does not.
    self_confidence = probabilities[np.arange(len(given)), given]
    assert np.median(self_confidence[flipped]) < 0.2
    assert (probabilities.argmax(axis=1)[flipped] == truth[flipped]).mean() > 0.8


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_k_of_the_ranking_holds_most_flipped_labels(seed):
    truth, given, flipped, features = _noisy(seed)
    probabilities = out_of_sample_probabilities(features, given, 4,
                                                CrossValidationConfig(seed=seed))
    ranked = rank_for_review(given, probabilities)
    top = {item.index for item in ranked[:len(flipped)]}
    assert len(top & set(flipped)) / len(flipped) >= 0.8
    first = ranked[0]
    assert ReviewReason.LABEL_ISSUE in first.reasons
    assert first.suggested == truth[first.index]


def test_flagged_images_come_first_and_every_item_has_a_reason():
    given = np.array([0, 0, 1, 1, 0, 1])
    probabilities = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.1, 0.9, 0.0],
                              [0.2, 0.8, 0.0], [0.4, 0.35, 0.25], [0.95, 0.05, 0.0]])
    flagged = np.array([False, True, False, False, False, False])
    disagrees = np.array([False, False, True, False, False, False])
    ranked = rank_for_review(given, probabilities, stage_disagrees=disagrees, flagged=flagged)
    assert ranked[0].index == 1 and ranked[0].reasons == (ReviewReason.FLAGGED,)
    by_index = {item.index: item for item in ranked}
    assert ReviewReason.STAGE_DISAGREEMENT in by_index[2].reasons
    assert ReviewReason.LOW_CONFIDENCE in by_index[4].reasons
    assert by_index[5].score == pytest.approx(0.95) and by_index[5].suggested == 0
    assert 0 not in by_index and 3 not in by_index  # confident and consistent: not queued
    assert all(item.reasons for item in ranked)


def test_label_issue_mask_ignores_classes_nobody_uses():
    given = np.array([0, 0, 0, 2, 2, 2, 2, 0])
    probabilities = np.array([[0.9, 0.05, 0.05]] * 3 + [[0.05, 0.05, 0.9]] * 5)
    mask = label_issue_mask(given, probabilities)
    assert mask.tolist() == [False] * 7 + [True]


def test_out_of_sample_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match="labels"):
        out_of_sample_probabilities(np.zeros((3, 2)), [0, 1], 2)
    with pytest.raises(ValueError, match="0..1"):
        out_of_sample_probabilities(np.zeros((4, 2)), [0, 1, 2, 0], 2)


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_and_predict_predicts_new_images_from_the_pool(seed):
    from sem_core.review import fit_and_predict

    truth, given, _, features = _noisy(seed, count=500)
    probabilities = fit_and_predict(features[:400], given[:400], features[400:], 4)
    assert probabilities.shape == (100, 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)
    # Trained on noisy pool labels, it still names the true class of images it never saw.
    assert (probabilities.argmax(axis=1) == truth[400:]).mean() > 0.9
    assert fit_and_predict(features[:400], given[:400], np.zeros((0, 16)), 4).shape == (0, 4)


def test_fit_and_predict_refuses_new_images_of_another_width():
    from sem_core.review import fit_and_predict

    with pytest.raises(ValueError, match=r"features_new must be \(M, 2\)"):
        fit_and_predict(np.zeros((4, 2)), [0, 1, 0, 1], np.zeros((3, 5)), 2)


def test_label_issues_given_from_outside_replace_cleanlab():
    given = np.array([0, 0, 0, 2, 2, 2, 2, 0])
    probabilities = np.array([[0.9, 0.05, 0.05]] * 3 + [[0.05, 0.05, 0.9]] * 5)
    assert [(item.index, item.reasons) for item in rank_for_review(given, probabilities)] == [
        (7, (ReviewReason.LABEL_ISSUE,))]
    ranked = rank_for_review(given, probabilities, flagged=np.arange(8) == 7,
                             label_issues=np.zeros(8, bool))
    assert [(item.index, item.reasons) for item in ranked] == [(7, (ReviewReason.FLAGGED,))]
