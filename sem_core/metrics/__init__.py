"""Evaluation of the cascade: confusion matrices, stage-1 operating points, curves, calibration.

Pure NumPy over label and score arrays (no TensorFlow), so the app, the CLI and the benchmarks
can all score predictions the same way. ``evaluate_predictions`` builds the full
``EvaluationReport``; ``stage1_rates_at`` and ``threshold_for_recall`` serve a live threshold
slider from cached scores.
"""

from sem_core.metrics.calibration import Calibration, reliability
from sem_core.metrics.confusion import (ClassificationScores, ClassScore, ConfusionMatrix,
                                        confusion_matrix, merge_classes, score_classification,
                                        scores_from_confusion)
from sem_core.metrics.curves import (PrecisionRecallCurve, RocCurve, precision_recall_curve,
                                     roc_curve)
from sem_core.metrics.report import (MERGED_PAIR, EvaluationReport, MergedScore, Stage2Report,
                                     evaluate_predictions)
from sem_core.metrics.stage1 import (Stage1Rates, Stage1Report, stage1_rates_at, stage1_report,
                                     threshold_for_recall)

__all__ = [
    "MERGED_PAIR", "Calibration", "ClassScore", "ClassificationScores", "ConfusionMatrix",
    "EvaluationReport", "MergedScore", "PrecisionRecallCurve", "RocCurve", "Stage1Rates",
    "Stage1Report", "Stage2Report", "confusion_matrix", "evaluate_predictions", "merge_classes",
    "precision_recall_curve", "reliability", "roc_curve", "score_classification",
    "scores_from_confusion", "stage1_rates_at", "stage1_report", "threshold_for_recall",
]
