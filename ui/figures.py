"""Plotly figures built from plain data (lists, arrays, frames): no model, no Streamlit.

The confusion-matrix heat map carries an invisible scatter point at every cell centre: Streamlit
reports click selections for scatter points but not for heat-map cells, so the points are what
makes "click a cell" work (their x is the predicted class, their y the true class).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

EPSILON = 1e-12
_MARGINS = dict(l=10, r=10, t=40, b=10)


def row_normalised(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (rows with no images stay 0)."""
    counts = np.asarray(matrix, dtype=float)
    sums = counts.sum(axis=1, keepdims=True)
    return np.where(sums > 0, counts / np.maximum(sums, EPSILON), 0.0)


def confusion_figure(labels: Sequence[str], matrix: np.ndarray, *, normalised: bool = False,
                     title: str = "", selected: tuple[str, str] | None = None) -> go.Figure:
    """A clickable confusion-matrix heat map, true class down, predicted class across.

    Args:
        labels: Class names in row/column order.
        matrix: Square counts, rows true.
        normalised: Show row shares (recall on the diagonal) instead of counts. Default: False.
        title: Figure title. Default: "".
        selected: (true, predicted) cell to outline, or None. Default: None.

    Returns:
        The figure; cell text is the count or share, hover adds both.
    """
    counts = np.asarray(matrix, dtype=int)
    shares = row_normalised(counts)
    values = shares if normalised else counts
    figure = px.imshow(values, x=list(labels), y=list(labels),
                       text_auto=".2f" if normalised else True, color_continuous_scale="Blues",
                       zmin=0, zmax=1 if normalised else None, aspect="equal",
                       labels={"x": "predicted", "y": "true",
                               "color": "share" if normalised else "images"})
    figure.update_traces(hoverinfo="skip", hovertemplate=None, selector={"type": "heatmap"})
    columns, rows = np.meshgrid(np.arange(len(labels)), np.arange(len(labels)))
    figure.add_trace(go.Scatter(
        x=[labels[c] for c in columns.ravel()], y=[labels[r] for r in rows.ravel()],
        mode="markers", showlegend=False,
        marker={"symbol": "square", "size": max(12, 320 // max(len(labels), 1)), "opacity": 0.0},
        customdata=np.stack([counts.ravel(), shares.ravel()], axis=1),
        hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata[0]} images "
                      "(%{customdata[1]:.1%} of the row)<br>click to see them<extra></extra>"))
    figure.update_layout(title=title, margin=_MARGINS, hoverdistance=-1, clickmode="event+select",
                         xaxis={"side": "bottom", "tickangle": -30}, height=480)
    if selected is not None and all(name in labels for name in selected):
        row, column = list(labels).index(selected[0]), list(labels).index(selected[1])
        figure.add_shape(type="rect", x0=column - 0.5, x1=column + 0.5, y0=row - 0.5,
                         y1=row + 0.5, line={"color": "#d62728", "width": 3})
    return figure


def probability_figure(classes: Sequence[str], probabilities: Sequence[float],
                       highlight: str | None = None, title: str = "") -> go.Figure:
    """Horizontal bars of class probabilities; the ``highlight`` class is drawn darker."""
    colours = ["#1f5fa8" if name == highlight else "#9dbbe0" for name in classes]
    figure = go.Figure(go.Bar(x=list(probabilities), y=list(classes), orientation="h",
                              marker_color=colours, text=[f"{p:.2f}" for p in probabilities],
                              textposition="auto"))
    figure.update_layout(title=title, margin=_MARGINS, height=60 + 28 * len(classes),
                         xaxis={"range": [0, 1], "title": "probability"},
                         yaxis={"autorange": "reversed"})
    return figure


def roc_figure(false_positive_rate: Sequence[float], true_positive_rate: Sequence[float],
               auc: float | None, point: tuple[float, float]) -> go.Figure:
    """ROC curve of stage 1 with the current operating point (overkill, recall) marked."""
    figure = go.Figure(go.Scatter(x=list(false_positive_rate), y=list(true_positive_rate),
                                  mode="lines", name="ROC"))
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                                line={"dash": "dot", "color": "grey"}))
    figure.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name="threshold",
                                marker={"size": 12, "color": "#d62728"}))
    title = "ROC" + (f" (AUC {auc:.3f})" if auc is not None else "")
    figure.update_layout(title=title, margin=_MARGINS, height=360,
                         xaxis={"title": "overkill rate (false positive rate)", "range": [0, 1]},
                         yaxis={"title": "defect recall", "range": [0, 1.02]})
    return figure


def precision_recall_figure(recall: Sequence[float], precision: Sequence[float],
                            average_precision: float | None,
                            point: tuple[float, float]) -> go.Figure:
    """Precision-recall curve of stage 1 with the current operating point (recall, precision)."""
    figure = go.Figure(go.Scatter(x=list(recall), y=list(precision), mode="lines", name="PR"))
    figure.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name="threshold",
                                marker={"size": 12, "color": "#d62728"}))
    title = "Precision-recall" + (f" (AP {average_precision:.3f})"
                                  if average_precision is not None else "")
    figure.update_layout(title=title, margin=_MARGINS, height=360,
                         xaxis={"title": "defect recall", "range": [0, 1.02]},
                         yaxis={"title": "precision", "range": [0, 1.02]})
    return figure


def reliability_figure(mean_predicted: Sequence[float], observed: Sequence[float],
                       counts: Sequence[int], title: str) -> go.Figure:
    """Reliability diagram: observed frequency against mean predicted probability per bin."""
    used = np.asarray(counts) > 0
    predicted = np.asarray(mean_predicted, dtype=float)[used]
    frequency = np.asarray(observed, dtype=float)[used]
    figure = go.Figure(go.Scatter(x=predicted, y=frequency, mode="lines+markers", name="model",
                                  text=[f"{n} images" for n in np.asarray(counts)[used]]))
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect",
                                line={"dash": "dot", "color": "grey"}))
    figure.update_layout(title=title, margin=_MARGINS, height=360,
                         xaxis={"title": "mean predicted probability", "range": [0, 1]},
                         yaxis={"title": "observed frequency", "range": [0, 1.02]})
    return figure


def compare_figure(frame: pd.DataFrame, value_columns: Sequence[str], title: str) -> go.Figure:
    """Grouped bars per class, one bar per column of ``value_columns``."""
    figure = go.Figure([go.Bar(name=column, x=frame["class"], y=frame[column])
                        for column in value_columns])
    figure.update_layout(barmode="group", title=title, margin=_MARGINS, height=360,
                         yaxis={"range": [0, 1.02]})
    return figure


def fewshot_figure(curves: pd.DataFrame, title: str) -> go.Figure:
    """Target macro-F1 against labelled target images per class, a line per starting bundle
    (``sem_core.fewshot.read_fewshot_curves``)."""
    figure = go.Figure([
        go.Scatter(name=start, x=points["labels_per_class"].tolist(),
                   y=points["cascade_macro_f1"].tolist(), mode="lines+markers")
        for start, points in curves.groupby("start", sort=True)])
    figure.update_layout(
        title=title, margin=_MARGINS, height=340, legend_title_text="start",
        xaxis={"title": "labelled target images per class", "tickmode": "array",
               "tickvals": sorted(curves["labels_per_class"].unique().tolist())},
        yaxis={"title": "macro-F1 on the target's test images", "range": [0, 1.02]})
    return figure
