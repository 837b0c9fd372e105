"""Calibrate a trained cascade on its validation split: one temperature per stage, and a bias
for stage 1 (Platt scaling).

Runs after both stages are trained, on the validation scores training already computed (no
model is called again). Stage 1's temperature and bias are fitted on every validation image
(Defective or not): the bias corrects a screen trained on another class mix (clean twins make
its training half clean). Stage 2's temperature is fitted on the defective ones with their
classes. The stage-1 threshold is then
chosen again, for the same target recall, on the calibrated scores: scaling keeps their order,
so the same images pass, but the threshold must be on the scale the cascade compares it with.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sem_core.classes import CLEAN, STAGE2_CLASSES
from sem_core.metrics.temperature import (
    apply_sigmoid_temperature,
    apply_softmax_temperature,
    fit_sigmoid_temperature,
    fit_softmax_temperature,
)
from sem_core.train.operating_point import choose_threshold
from sem_core.train.pipeline import DecodedImages
from sem_core.train.stages import StagesOutcome


def calibrate_stages(outcome: StagesOutcome, validation: DecodedImages,
                     target_recall: float, base_threshold: float | None = None) -> StagesOutcome:
    """Fit both stages' scaling on validation and move the outcome to the calibrated scale.

    Args:
        outcome: A trained run's outcome with raw (uncalibrated) validation scores.
        validation: The validation images, for their labels.
        target_recall: Stage-1 defect recall the threshold must reach (as in training).
        base_threshold: The calibrated stage-1 threshold of the bundle whose stage 1 this run
            fine-tuned, kept when the split has too few defects to place its own
            (``choose_threshold``); None for a first model. Default: None.

    Returns:
        The outcome with ``stage1_fit`` and ``stage2_fit`` set, calibrated validation scores
        and the operating point chosen on them.
    """
    labels = np.asarray(validation.labels)
    defective = labels != CLEAN
    stage1_fit = fit_sigmoid_temperature(outcome.validation_stage1, defective, bias=True)
    classes = np.array([STAGE2_CLASSES.index(label) for label in labels[defective]], dtype=int)
    stage2_fit = fit_softmax_temperature(outcome.validation_stage2[defective], classes)
    stage1 = apply_sigmoid_temperature(outcome.validation_stage1, stage1_fit.temperature,
                                       stage1_fit.bias)
    stage2 = apply_softmax_temperature(outcome.validation_stage2, stage2_fit.temperature)
    point = choose_threshold(stage1, defective, target_recall, base_threshold=base_threshold)
    return replace(outcome, operating_point=point, validation_stage1=stage1,
                   validation_stage2=stage2, stage1_fit=stage1_fit, stage2_fit=stage2_fit)


def describe_calibration(outcome: StagesOutcome) -> str:
    """One line for the progress log: each stage's temperature and validation ECE."""
    parts = [f"{name} T={fit.temperature:.3f}{f', bias {fit.bias:+.3f}' if fit.bias else ''} "
             f"(validation ECE {fit.ece_before:.3f} -> {fit.ece_after:.3f})"
             for name, fit in (("stage 1", outcome.stage1_fit), ("stage 2", outcome.stage2_fit))
             if fit is not None]
    point = outcome.operating_point
    return ("calibrated by temperature scaling (stage 1 with a bias): " + "; ".join(parts)
            + f"; stage-1 threshold on the calibrated score {point.threshold:.4f}"
            + (f" ({point.note})" if point.note else ""))
