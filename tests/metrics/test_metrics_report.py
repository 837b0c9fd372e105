"""EvaluationReport against hand-computed matrices, empty input, JSON keys and round trip."""

import json

import numpy as np
import pytest

from sem_core.classes import CLASSES
from sem_core.metrics import EvaluationReport, evaluate_predictions

# Ten images; Opens, Scratches and Vias are absent, Other is absent but predicted once.
TRUE = ["Clean", "Clean", "Clean", "Clean", "Bridges", "Bridges", "Cracks", "Cracks",
        "Shorts", "Shorts"]
SCORES = [0.1, 0.2, 0.3, 0.7, 0.9, 0.8, 0.4, 0.95, 0.6, 0.85]
FINAL = ["Clean", "Clean", "Clean", "Bridges", "Bridges", "Shorts", "Clean", "Cracks",
         "Shorts", "Other"]
THRESHOLD = 0.5


@pytest.fixture(scope="module")
def report() -> EvaluationReport:
    return evaluate_predictions(TRUE, SCORES, THRESHOLD, FINAL)


def test_end_to_end_matrix_matches_hand_count_and_escape_lands_in_clean(report):
    expected = np.zeros((8, 8), dtype=int)
    expected[0, :2] = [3, 1]          # one clean image overkilled and called Bridges
    expected[1, [1, 4]] = [1, 1]      # Bridges: one right, one called Shorts
    expected[2, [0, 2]] = [1, 1]      # Cracks: one escape (Clean column), one right
    expected[4, [4, 7]] = [1, 1]      # Shorts: one right, one called Other
    assert report.confusion.labels == CLASSES
    np.testing.assert_array_equal(report.confusion.matrix, expected)
    supports = {name: TRUE.count(name) for name in CLASSES}
    assert report.confusion.matrix.sum(axis=1).tolist() == [supports[name] for name in CLASSES]


def test_per_class_scores_and_averages_match_hand_values(report):
    scores = report.per_class
    def triple(name):
        return scores[name].precision, scores[name].recall, scores[name].f1

    assert triple("Clean") == (0.75, 0.75, 0.75)
    assert triple("Bridges") == (0.5, 0.5, 0.5)
    assert scores["Cracks"].precision == 1.0 and scores["Cracks"].recall == 0.5
    assert scores["Cracks"].f1 == pytest.approx(2 / 3)
    # Absent and never predicted: zeros, support 0, and no NaN.
    assert (scores["Opens"].precision, scores["Opens"].recall, scores["Opens"].f1,
            scores["Opens"].support) == (0.0, 0.0, 0.0, 0)
    # Absent but predicted once: F1 0 and it counts in the macro average.
    assert (scores["Other"].f1, scores["Other"].support, scores["Other"].predicted) == (0.0, 0, 1)
    assert report.accuracy == 0.6
    assert report.macro_f1 == pytest.approx((3 / 4 + 1 / 2 + 2 / 3 + 1 / 2 + 0) / 5)
    assert report.weighted_f1 == pytest.approx((4 * 0.75 + 2 * 0.5 + 2 * 2 / 3 + 2 * 0.5) / 10)


def test_averages_follow_sklearn_zero_division_zero():
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(7)
    truth = rng.choice(CLASSES[:5], size=60).tolist()      # three classes never occur
    final = rng.choice(CLASSES[:6], size=60).tolist()      # one of them is predicted
    report = evaluate_predictions(truth, rng.random(60), 0.5, final)
    assert report.macro_f1 == pytest.approx(
        f1_score(truth, final, average="macro", zero_division=0))
    assert report.weighted_f1 == pytest.approx(
        f1_score(truth, final, average="weighted", zero_division=0))
    assert report.accuracy == pytest.approx(accuracy_score(truth, final))


def test_stage1_rates_and_curves_match_hand_values(report):
    stage1 = report.stage1.rates
    np.testing.assert_array_equal(stage1.confusion.matrix, [[3, 1], [1, 5]])
    assert (stage1.escape.successes, stage1.escape.total) == (1, 6)
    assert (stage1.overkill.successes, stage1.overkill.total) == (1, 4)
    assert stage1.escape_rate == pytest.approx(1 / 6) and stage1.overkill_rate == 0.25
    assert stage1.recall == pytest.approx(5 / 6) and stage1.specificity == 0.75
    assert stage1.escape.low < stage1.escape_rate < stage1.escape.high
    # 22 of the 24 (defect, clean) pairs are ordered correctly.
    assert report.stage1.roc.auc == pytest.approx(22 / 24)
    average_precision = report.stage1.precision_recall.average_precision
    assert average_precision == pytest.approx((4 + 5 / 6 + 6 / 7) / 6)


def test_stage2_matrix_covers_passed_defects_and_counts_the_escape(report):
    stage2 = report.stage2
    assert stage2.n_without_prediction == 1
    expected = np.zeros((7, 7), dtype=int)
    expected[0, [0, 3]] = [1, 1]
    expected[1, 1] = 1
    expected[3, [3, 6]] = [1, 1]
    np.testing.assert_array_equal(stage2.scores.confusion.matrix, expected)
    assert stage2.scores.accuracy == 0.6


def test_stage2_labels_given_for_every_defect_include_the_escape():
    stage2 = [None] * 4 + ["Bridges", "Shorts", "Cracks", "Cracks", "Shorts", "Other"]
    report = evaluate_predictions(TRUE, SCORES, THRESHOLD, FINAL, stage2_labels=stage2)
    assert report.stage2.n_without_prediction == 0
    assert report.stage2.scores.confusion.matrix[1, 1] == 2
    with pytest.raises(ValueError, match=r"stage2_labels\[4\] = 'Clean'"):
        evaluate_predictions(TRUE, SCORES, THRESHOLD, FINAL,
                             stage2_labels=[None] * 4 + ["Clean"] * 6)


def test_merged_bridges_shorts_counts_their_confusion_as_correct(report):
    merged = report.merged
    assert merged.name == "Bridges+Shorts" and merged.support == 4
    assert (merged.precision, merged.recall, merged.f1) == (0.75, 0.75, 0.75)
    assert merged.accuracy == 0.7
    assert merged.macro_f1 == pytest.approx((0.75 + 0.75 + 2 / 3 + 0) / 4)


def test_all_one_class_prediction():
    truth = ["Clean", "Clean", "Bridges", "Vias"]
    report = evaluate_predictions(truth, [0.1] * 4, 0.5, ["Clean"] * 4)
    assert report.confusion.matrix[:, 0].tolist() == [2, 1, 0, 0, 0, 0, 1, 0]
    assert report.confusion.matrix[:, 1:].sum() == 0
    clean = report.per_class["Clean"]
    assert (clean.precision, clean.recall) == (0.5, 1.0) and clean.f1 == pytest.approx(2 / 3)
    assert report.per_class["Bridges"].f1 == 0.0 and report.per_class["Vias"].support == 1
    assert report.accuracy == 0.5
    assert report.macro_f1 == pytest.approx((2 / 3) / 3)
    assert report.weighted_f1 == pytest.approx(2 * (2 / 3) / 4)
    assert report.stage1.rates.escape_rate == 1.0 and report.stage1.rates.recall == 0.0
    assert report.stage1.rates.overkill_rate == 0.0 and report.stage1.rates.specificity == 1.0
    assert report.stage2.n_without_prediction == 2 and report.stage2.scores.confusion.total == 0


def test_empty_input_gives_a_valid_zero_report():
    report = evaluate_predictions([], [], 0.5, [], final_probabilities=np.zeros((0, 8)))
    assert report.n_images == 0
    assert report.confusion.matrix.shape == (8, 8) and report.confusion.total == 0
    assert (report.accuracy, report.macro_f1, report.weighted_f1) == (0.0, 0.0, 0.0)
    assert report.stage1.rates.escape_rate == 0.0 and report.stage1.roc.auc is None
    assert report.calibration.ece == 0.0
    json.loads(report.to_json())  # strict JSON: would fail on NaN


def test_json_has_the_promised_keys_and_round_trips(report):
    data = json.loads(report.to_json())
    for key in ("accuracy", "macro_f1", "per_class", "confusion_matrix", "stage1", "n_images"):
        assert key in data
    assert set(data["per_class"]["Clean"]) >= {"precision", "recall", "f1", "support"}
    assert set(data["confusion_matrix"]) == {"labels", "matrix"}
    assert set(data["stage1"]) >= {"threshold", "escape_rate", "overkill_rate", "recall",
                                   "specificity"}
    assert data["n_images"] == 10 and data["stage1"]["threshold"] == THRESHOLD
    restored = EvaluationReport.from_json(report.to_json())
    assert restored.to_dict() == report.to_dict()
    assert restored.per_class["Cracks"].recall == 0.5


def test_final_probabilities_give_top_label_calibration():
    probabilities = np.full((10, 8), 0.1 / 7)
    for row, label in enumerate(FINAL):
        probabilities[row, CLASSES.index(label)] = 0.9
    report = evaluate_predictions(TRUE, SCORES, THRESHOLD, FINAL, final_probabilities=probabilities)
    # Every confidence is 0.9 and 6 of 10 are right: ECE = |0.6 - 0.9|.
    assert report.calibration.ece == pytest.approx(0.3)
    with pytest.raises(ValueError, match=r"shape \(10, 8\)"):
        evaluate_predictions(TRUE, SCORES, THRESHOLD, FINAL,
                             final_probabilities=probabilities[:, :7])


def test_bad_input_is_named_in_the_error():
    with pytest.raises(ValueError, match=r"final_labels\[1\] = 'Bridge'"):
        evaluate_predictions(["Clean", "Clean"], [0.1, 0.2], 0.5, ["Clean", "Bridge"])
    with pytest.raises(ValueError, match="one entry per image"):
        evaluate_predictions(["Clean"], [0.1, 0.2], 0.5, ["Clean"])


def test_report_is_frozen(report):
    with pytest.raises(AttributeError):
        report.n_images = 3
    with pytest.raises(ValueError):
        report.confusion.matrix[0, 0] = 99
