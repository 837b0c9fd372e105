"""The parity gate's figures and verdicts on hand-made scores (no models)."""

import numpy as np
import pytest

from sem_core.classes import CLASSES
from sem_core.deploy.options import ParityLimits, Precision
from sem_core.deploy.parity import StageScores, parity_report

THRESHOLD = 0.5


def scores(images: int = 400, seed: int = 0) -> tuple[StageScores, list[str]]:
    """Scores of a decent cascade on balanced labels: stage 1 separates clean from defect and
    stage 2 ranks the true class first on most defect images."""
    rng = np.random.default_rng(seed)
    labels = [CLASSES[index % len(CLASSES)] for index in range(images)]
    clean = np.array([label == "Clean" for label in labels])
    stage1 = np.where(clean, rng.uniform(0.0, 0.4, images), rng.uniform(0.6, 1.0, images))
    logits = rng.normal(0.0, 1.0, (images, 7))
    for row, label in enumerate(labels):
        if label != "Clean" and rng.random() < 0.8:
            logits[row, CLASSES.index(label) - 1] += 4.0
    stage2 = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return StageScores(stage1, stage2), labels


def test_identical_scores_pass_every_precision_with_perfect_figures():
    reference, labels = scores()
    for precision in Precision:
        report = parity_report(reference, reference, labels, THRESHOLD, precision)
        assert report.passed, report.describe()
        assert [part.part for part in report.parts] == ["stage1", "stage2", "cascade"]
        assert all(part.max_abs_difference == 0.0 and part.agreement == 1.0 for part in report.parts)
        assert all(part.macro_f1_export == part.macro_f1_keras > 0.5 for part in report.parts)


def test_float32_passes_below_1e_4_and_fails_above_naming_the_stage():
    reference, labels = scores()
    close = StageScores(reference.stage1 + 5e-5, reference.stage2)
    assert parity_report(reference, close, labels, THRESHOLD, Precision.FLOAT32).passed
    drifted = reference.stage2.copy()
    drifted[7, 2] += 3e-4
    report = parity_report(reference, StageScores(reference.stage1, drifted), labels, THRESHOLD,
                           Precision.FLOAT32)
    assert not report.passed
    assert report.failures[0].startswith("stage2: max absolute probability difference 3.00e-04")
    # The same drift is far inside what float16/int8 are held to: their rule is about decisions.
    assert parity_report(reference, StageScores(reference.stage1, drifted), labels, THRESHOLD,
                         Precision.INT8).passed


def test_int8_fails_when_top_classes_flip_on_more_than_half_a_percent():
    reference, labels = scores()
    flipped = reference.stage2.copy()
    rows = np.arange(0, 8 * 3, 3)  # 8 of 400 images (2 %) get another top class
    flipped[rows] = np.roll(flipped[rows], 1, axis=1)
    report = parity_report(reference, StageScores(reference.stage1, flipped), labels, THRESHOLD,
                           Precision.INT8)
    stage2 = report.parts[1]
    assert stage2.agreement == pytest.approx(1 - 8 / 400)
    assert any(failure.startswith("stage2: agreement 0.9800 < 0.995") for failure in report.failures)


def test_int8_fails_when_macro_f1_moves_more_than_the_limit_even_if_agreement_holds():
    reference, labels = scores()
    moved = reference.stage1.copy()
    defects = [row for row, label in enumerate(labels) if label == "Bridges"][:2]
    moved[defects] = 0.1  # two Bridges images now screened as Clean: 0.5 % of decisions
    limits = ParityLimits(min_agreement=0.99, max_macro_f1_difference=0.001)
    report = parity_report(reference, StageScores(moved, reference.stage2), labels, THRESHOLD,
                           Precision.INT8, limits)
    assert report.parts[0].agreement == pytest.approx(1 - 2 / 400)
    assert [failure.split(":")[0] for failure in report.failures] == ["stage1", "cascade"]
    assert "more than 0.001 apart" in report.failures[0]


def test_report_round_trips_through_json_and_rejects_mismatched_lengths():
    reference, labels = scores(images=40)
    report = parity_report(reference, reference, labels, THRESHOLD, Precision.FLOAT16)
    from sem_core.deploy.parity import ParityReport

    assert ParityReport.from_dict(report.to_dict()) == report
    with pytest.raises(ValueError, match="40 labels, 40 Keras and 39 export"):
        parity_report(reference, StageScores(reference.stage1[:39], reference.stage2[:39]),
                      labels, THRESHOLD, Precision.FLOAT32)
