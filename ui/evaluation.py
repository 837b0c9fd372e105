"""What the Metrics and Models pages read out of an evaluation, without re-running any model.

``sem_core.evaluation.evaluate_bundle`` gives an ``EvaluationRun`` (the report and one prediction
row per image). From it this module picks the confusion matrix of each view, turns a click on a
matrix cell into a ``CellRef`` and the cell into its images, recomputes stage-1 escape and
overkill at any threshold from the cached scores (``sem_core.metrics.stage1_rates_at``), and
lays per-class scores out as tables. No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import pandas as pd

from sem_core.classes import CLEAN, DEFECTIVE
from sem_core.metrics import ClassificationScores, ConfusionMatrix, EvaluationReport, Stage1Rates
from sem_core.metrics import stage1_rates_at


class MatrixView(str, Enum):
    """Which confusion matrix."""

    END_TO_END = "End to end (8 classes)"
    STAGE1 = "Stage 1 (Clean vs Defective)"
    STAGE2 = "Stage 2 (defects stage 1 passed on)"


@dataclass(frozen=True)
class CellRef:
    """One confusion-matrix cell: the images of a true class given a predicted class."""

    view: MatrixView
    true_label: str
    predicted_label: str


def matrix_of(report: EvaluationReport, view: MatrixView) -> ConfusionMatrix:
    """The confusion matrix shown for ``view``."""
    if view is MatrixView.STAGE1:
        return report.stage1.rates.confusion
    if view is MatrixView.STAGE2:
        return report.stage2.scores.confusion
    return report.end_to_end.confusion


def cell_from_selection(view: MatrixView, selection: Mapping[str, Any] | None) -> CellRef | None:
    """The cell a Plotly click selected (``st.plotly_chart(on_select=...)`` state), or None.

    Args:
        view: The matrix the chart shows.
        selection: The chart's selection: ``{"points": [{"x": predicted, "y": true}, ...]}``.
    """
    points = (selection or {}).get("points") or []
    for point in points:
        if point.get("x") is not None and point.get("y") is not None:
            return CellRef(view, str(point["y"]), str(point["x"]))
    return None


def _scored(predictions: pd.DataFrame) -> pd.DataFrame:
    return predictions[predictions["error"].isna()] if len(predictions) else predictions


def cell_members(predictions: pd.DataFrame, cell: CellRef) -> pd.DataFrame:
    """The prediction rows (images) counted in ``cell``, the way the report counts them."""
    scored = _scored(predictions)
    if scored.empty:
        return scored
    if cell.view is MatrixView.STAGE1:
        truth = scored["label"].map(lambda label: CLEAN if label == CLEAN else DEFECTIVE)
        chosen = (truth == cell.true_label) & (scored["stage1_decision"] == cell.predicted_label)
    elif cell.view is MatrixView.STAGE2:
        chosen = ((scored["label"] == cell.true_label) & (scored["stage1_decision"] == DEFECTIVE)
                  & (scored["final_label"] == cell.predicted_label))
    else:
        chosen = ((scored["label"] == cell.true_label)
                  & (scored["final_label"] == cell.predicted_label))
    return scored[chosen]


def rates_at(predictions: pd.DataFrame, threshold: float) -> Stage1Rates:
    """Stage-1 escape and overkill at ``threshold`` from the cached stage-1 scores."""
    scored = _scored(predictions)
    return stage1_rates_at(threshold, scored["stage1_probability"].to_numpy(dtype=float),
                           (scored["label"] != CLEAN).to_numpy())


def per_class_frame(scores: ClassificationScores) -> pd.DataFrame:
    """Precision, recall, F1, support and predicted count per class, in class order."""
    rows = [{"class": name, "precision": score.precision, "recall": score.recall, "f1": score.f1,
             "support": score.support, "predicted": score.predicted}
            for name, score in scores.per_class.items()]
    return pd.DataFrame(rows)


def compare_frame(reports: Mapping[str, EvaluationReport]) -> pd.DataFrame:
    """End-to-end precision, recall and F1 per class of several bundles, side by side.

    Args:
        reports: Bundle name -> its report on the same data.

    Returns:
        One row per class; columns ``<bundle> precision|recall|f1`` plus ``support``.
    """
    frame = None
    for name, report in reports.items():
        table = per_class_frame(report.end_to_end).set_index("class")
        table = table[["precision", "recall", "f1", "support"]].rename(
            columns={column: f"{name} {column}" for column in ("precision", "recall", "f1")})
        frame = table if frame is None else frame.join(table.drop(columns="support"))
    return pd.DataFrame() if frame is None else frame.reset_index()


def headline(run_report: EvaluationReport) -> dict[str, float | int]:
    """The figures shown above the tabs."""
    rates = run_report.stage1.rates
    return {"images": run_report.n_images, "accuracy": run_report.accuracy,
            "macro-F1": run_report.macro_f1, "weighted-F1": run_report.weighted_f1,
            "escape rate": rates.escape_rate, "overkill rate": rates.overkill_rate}
