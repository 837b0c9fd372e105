"""The parity gate: does an exported cascade decide as the Keras cascade does?

Pure NumPy over the two cascades' scores on the same labelled images. For each of stage 1
(decision at the bundle's threshold), stage 2 (top class, on every image; macro-F1 on the defect
images) and the cascade end to end (final label), ``parity_report`` measures the largest
absolute probability difference, the share of images decided alike, and macro-F1 against the
true labels for both. ``ParityLimits`` says what passes: float32 must match every probability
to 1e-4; float16 and int8 must agree on at least 99.5 % of images and keep macro-F1 within half
a point, in every stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from sem_core.cascade import CascadeConfig, combine_stages
from sem_core.classes import CLASSES, CLEAN, DEFECTIVE, STAGE1_CLASSES, STAGE2_CLASSES
from sem_core.deploy.options import DEFAULT_LIMITS, ParityLimits, Precision
from sem_core.metrics import score_classification


@dataclass(frozen=True)
class StageScores:
    """One cascade's scores on the gate's images.

    Attributes:
        stage1: (N,) probability of Defective.
        stage2: (N, 7) stage-2 probabilities, computed for every image.
    """

    stage1: np.ndarray
    stage2: np.ndarray


@dataclass(frozen=True)
class StageParity:
    """How one part of the exported cascade compares with Keras.

    Attributes:
        part: "stage1", "stage2" or "cascade".
        images: Images compared (macro-F1 of stage 2 uses the defect images among them).
        max_abs_difference: Largest absolute difference of any probability.
        agreement: Share of images with the same decision.
        macro_f1_keras: Macro-F1 of the Keras models against the true labels.
        macro_f1_export: Macro-F1 of the export against the true labels.
    """

    part: str
    images: int
    max_abs_difference: float
    agreement: float
    macro_f1_keras: float
    macro_f1_export: float

    @property
    def macro_f1_difference(self) -> float:
        """Absolute macro-F1 gap between the export and Keras."""
        return abs(self.macro_f1_export - self.macro_f1_keras)


@dataclass(frozen=True)
class ParityReport:
    """The gate's verdict on one export.

    Attributes:
        precision: The export's precision (it picks the rule).
        limits: The limits applied.
        parts: Stage 1, stage 2 and the cascade.
        failures: One sentence per limit missed; empty when the export passed.
    """

    precision: Precision
    limits: ParityLimits
    parts: tuple[StageParity, ...]
    failures: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        """True when every part met its limits."""
        return not self.failures

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON view."""
        return {"precision": self.precision.value, "passed": self.passed,
                "limits": asdict(self.limits), "parts": [asdict(part) for part in self.parts],
                "failures": list(self.failures)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ParityReport:
        """Rebuild from ``to_dict`` output."""
        return cls(Precision(data["precision"]), ParityLimits(**data["limits"]),
                   tuple(StageParity(**part) for part in data["parts"]),
                   tuple(data.get("failures", ())))

    def describe(self) -> str:
        """The figures as lines a person reads: one per part, then the failures."""
        lines = [f"{part.part}: {part.images} images, max |dp| {part.max_abs_difference:.2e}, "
                 f"agreement {part.agreement:.4f}, macro-F1 {part.macro_f1_export:.4f} "
                 f"(Keras {part.macro_f1_keras:.4f})" for part in self.parts]
        return "\n".join(lines + [f"FAILED: {failure}" for failure in self.failures])


def parity_report(keras_scores: StageScores, export_scores: StageScores, labels: Sequence[str],
                  threshold: float, precision: Precision,
                  limits: ParityLimits = DEFAULT_LIMITS) -> ParityReport:
    """Compare an export's scores with the Keras models' on the same labelled images.

    Args:
        keras_scores: The Keras models' scores.
        export_scores: The export's scores on the same images, in the same order.
        labels: True 8-class label of each image.
        threshold: The bundle's stage-1 operating threshold.
        precision: The export's precision: float32 is judged on probabilities, the others on
            decisions and macro-F1.
        limits: What passes. Default: ``ParityLimits()``.

    Returns:
        The ``ParityReport``.

    Raises:
        ValueError: When the score arrays and labels differ in length or there are none.
    """
    labels = np.asarray(labels)
    if not len(labels) or len(keras_scores.stage1) != len(labels) \
            or len(export_scores.stage1) != len(labels):
        raise ValueError(f"Parity needs scores for every labelled image; received {len(labels)} "
                         f"labels, {len(keras_scores.stage1)} Keras and "
                         f"{len(export_scores.stage1)} export scores.")
    parts = (_stage1_parity(keras_scores, export_scores, labels, threshold),
             _stage2_parity(keras_scores, export_scores, labels),
             _cascade_parity(keras_scores, export_scores, labels, threshold))
    return ParityReport(precision, limits, parts, tuple(_failures(parts, precision, limits)))


def _stage1_parity(reference: StageScores, export: StageScores, labels: np.ndarray,
                   threshold: float) -> StageParity:
    truth = np.where(labels == CLEAN, CLEAN, DEFECTIVE)

    def decide(probability: np.ndarray) -> np.ndarray:
        return np.where(np.asarray(probability).reshape(-1) >= threshold, DEFECTIVE, CLEAN)

    return _compare("stage1", reference.stage1.reshape(-1, 1), export.stage1.reshape(-1, 1),
                    decide(reference.stage1), decide(export.stage1), truth, STAGE1_CLASSES)


def _stage2_parity(reference: StageScores, export: StageScores, labels: np.ndarray) -> StageParity:
    names = np.asarray(STAGE2_CLASSES)
    ours, theirs = names[reference.stage2.argmax(axis=1)], names[export.stage2.argmax(axis=1)]
    defects = labels != CLEAN  # only a defect image has a true stage-2 class
    return _compare("stage2", reference.stage2, export.stage2, ours, theirs, labels,
                    STAGE2_CLASSES, scored=defects)


def _cascade_parity(reference: StageScores, export: StageScores, labels: np.ndarray,
                    threshold: float) -> StageParity:
    config = CascadeConfig(stage1_threshold=threshold)
    ours = combine_stages(reference.stage1.reshape(-1), reference.stage2, config)
    theirs = combine_stages(export.stage1.reshape(-1), export.stage2, config)
    return _compare("cascade", np.array([row[3] for row in ours]), np.array([row[3] for row in theirs]),
                    np.array([row[1] for row in ours]), np.array([row[1] for row in theirs]),
                    labels, CLASSES)


def _compare(part: str, reference: np.ndarray, export: np.ndarray, reference_labels: np.ndarray,
             export_labels: np.ndarray, truth: np.ndarray, classes: Sequence[str],
             scored: np.ndarray | None = None) -> StageParity:
    scored = np.ones(len(truth), bool) if scored is None else scored

    def macro_f1(predicted: np.ndarray) -> float:
        if not scored.any():
            return 0.0
        return score_classification(list(truth[scored]), list(predicted[scored]), classes).macro_f1

    difference = np.abs(np.asarray(reference, np.float64) - np.asarray(export, np.float64))
    return StageParity(part, len(truth), float(difference.max()),
                       float(np.mean(reference_labels == export_labels)),
                       macro_f1(reference_labels), macro_f1(export_labels))


def _failures(parts: Sequence[StageParity], precision: Precision, limits: ParityLimits):
    for part in parts:
        if precision is Precision.FLOAT32:
            if not part.max_abs_difference <= limits.max_abs_difference:
                yield (f"{part.part}: max absolute probability difference "
                       f"{part.max_abs_difference:.2e} > {limits.max_abs_difference:.0e}")
            continue
        if not part.agreement >= limits.min_agreement:
            yield f"{part.part}: agreement {part.agreement:.4f} < {limits.min_agreement}"
        if not part.macro_f1_difference <= limits.max_macro_f1_difference:
            yield (f"{part.part}: macro-F1 {part.macro_f1_export:.4f} vs Keras "
                   f"{part.macro_f1_keras:.4f}, more than {limits.max_macro_f1_difference} apart")
