"""Evaluation runs and rendering of the Metrics page (its keys start with ``metrics_``).

An evaluation (``sem_core.evaluation.evaluate_bundle``) is run on request and kept per
(bundle version, dataset, split) in the shared ``evaluations`` state, so every chart, the
threshold slider and the cell drill-down read cached predictions and never re-run a model.
The selected confusion-matrix cell is kept in ``metrics_cell``; its images can be flagged for
review (``ui.flag_view``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sem_core.data.image_io import load_image
from sem_core.errors import DatasetError, ImageLoadError
from ui import bundles, detail_view, evaluation, figures, flag_view, loaders, shell, state
from ui.explanations import display_image

CELL = "metrics_cell"
EXPLAINED = "metrics_explained"
CELL_LIMIT = 48
SPLITS = ("Test", "Validation", "Train", "all")


def evaluation_key(entry: bundles.CatalogEntry, dataset: str, split: str) -> state.EvaluationKey:
    """The key an evaluation of ``entry`` on ``dataset``/``split`` is cached under."""
    return state.EvaluationKey(state.bundle_key(entry), dataset, split)


def evaluate(entry: bundles.CatalogEntry, dataset: str, split: str):
    """Run the evaluation with a progress bar and cache it; None (with a message) on failure."""
    from sem_core.evaluation import evaluate_bundle, select_split

    try:
        manifest = loaders.loaded_dataset(dataset).manifest
        total = len(select_split(manifest, split))
        bundle = loaders.loaded_bundle(entry.path)
        update, finish = shell.progress_reporter(f"Evaluating {entry.name} on {split}:")
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            update(done, total)

        run = evaluate_bundle(bundle, manifest, split=split, progress=advance)
        finish()
    except (DatasetError, ValueError, OSError) as error:
        st.error(f"{dataset}: cannot evaluate ({error}).")
        return None
    state.store_evaluation(evaluation_key(entry, dataset, split), run)
    st.session_state.pop(CELL, None)
    return run


def headline(run) -> None:
    """Headline figures of an evaluation and its unreadable files."""
    columns = st.columns(6)
    for column, (name, value) in zip(columns, evaluation.headline(run.report).items()):
        column.metric(name, f"{value:,}" if isinstance(value, int) else f"{value:.3f}")
    if run.n_errors:
        failed = run.predictions[run.predictions["error"].notna()][["path", "error"]]
        with st.expander(f"{run.n_errors} files could not be read and are not scored"):
            st.dataframe(failed, hide_index=True, width="stretch")


def _remember_click(chart_key: str, view: evaluation.MatrixView) -> None:
    event = st.session_state.get(chart_key)
    cell = evaluation.cell_from_selection(view, event.selection if event else None)
    if cell is not None:
        st.session_state[CELL] = cell
        st.session_state.pop(EXPLAINED, None)


def confusion_chart(run, view: evaluation.MatrixView, normalised: bool) -> None:
    """The clickable confusion matrix of ``view``; a click stores the cell in ``metrics_cell``."""
    matrix = evaluation.matrix_of(run.report, view)
    chart_key = f"metrics_chart_{view.name}_{'share' if normalised else 'count'}"
    title = f"{view.value}: {'row shares' if normalised else 'counts'}"
    cell = st.session_state.get(CELL)
    selected = (cell.true_label, cell.predicted_label) if cell and cell.view == view else None
    figure = figures.confusion_figure(matrix.labels, matrix.matrix, normalised=normalised,
                                      title=title, selected=selected)
    st.plotly_chart(figure, key=chart_key, on_select=lambda: _remember_click(chart_key, view),
                    selection_mode="points", config={"displayModeBar": False})
    st.caption("Rows are the true class, columns the prediction. Click a cell to see its images.")


def _explain(path: str) -> None:
    st.session_state[EXPLAINED] = path


def cell_images(entry: bundles.CatalogEntry, run, cell: evaluation.CellRef, dataset: str) -> None:
    """The images counted in ``cell`` as thumbnails, a "Flag for review" action for them, and
    Grad-CAM of one on request (``dataset`` is the one the evaluation ran on)."""
    members = evaluation.cell_members(run.predictions, cell)
    st.markdown(f"**{len(members)} images** true *{cell.true_label}*, predicted "
                f"*{cell.predicted_label}* ({cell.view.value})")
    if members.empty:
        return
    columns = st.columns(8)
    for position, (_, row) in enumerate(members.head(CELL_LIMIT).iterrows()):
        with columns[position % 8]:
            try:
                st.image(display_image(load_image(row["path"]).pixels, 128), width="stretch")
            except ImageLoadError as error:
                st.caption(str(error))
            st.button(f"{row['final_label']} {row['confidence']:.2f}",
                      key=f"metrics_cam_{position}", on_click=_explain, args=(row["path"],),
                      help=f"{row['path']}: show Grad-CAM", type="tertiary")
    if len(members) > CELL_LIMIT:
        st.caption(f"Showing the first {CELL_LIMIT} of {len(members)}.")
    flag_view.cell_flagging(dataset, members, flag_scope(cell))
    chosen = st.session_state.get(EXPLAINED)
    rows = members[members["path"] == chosen]
    if chosen and not rows.empty:
        row = rows.iloc[0].to_dict()
        detail_view.headline({**row, "source": row["path"]})
        st.caption(f"True class: {row['label']}")
        image = load_image(row["path"])
        detail_view.overlays(entry, image, row.get("sha256") or row["path"], row, "metrics")


def flag_scope(cell: evaluation.CellRef) -> str:
    """Key prefix of the flag controls of ``cell`` (a choice never carries to another cell)."""
    return f"metrics_flag_{cell.view.name}_{cell.true_label}_{cell.predicted_label}"


def threshold_panel(run, threshold: float, bundle_threshold: float) -> None:
    """Escape/overkill at ``threshold`` (with the bundle's own for reference), ROC and PR."""
    rates = evaluation.rates_at(run.predictions, threshold)
    reference = evaluation.rates_at(run.predictions, bundle_threshold)
    columns = st.columns(4)
    columns[0].metric("Escape rate", f"{rates.escape_rate:.3f}",
                      delta=f"{rates.escape_rate - reference.escape_rate:+.3f}",
                      delta_color="inverse",
                      help=f"Defects called Clean: {rates.escape.successes} of "
                           f"{rates.escape.total}; "
                           f"95% interval [{rates.escape.low:.3f}, {rates.escape.high:.3f}]")
    columns[1].metric("Overkill rate", f"{rates.overkill_rate:.3f}",
                      delta=f"{rates.overkill_rate - reference.overkill_rate:+.3f}",
                      delta_color="inverse",
                      help=f"Clean images called Defective: {rates.overkill.successes} of "
                           f"{rates.overkill.total}; 95% interval [{rates.overkill.low:.3f}, "
                           f"{rates.overkill.high:.3f}]")
    columns[2].metric("Defect recall", f"{rates.recall:.3f}")
    columns[3].metric("Sent to stage 2", f"{rates.flagged_fraction:.1%}")
    st.caption(f"Escape {rates.escape.successes}/{rates.escape.total} "
               f"[{rates.escape.low:.3f}, {rates.escape.high:.3f}], overkill "
               f"{rates.overkill.successes}/{rates.overkill.total} "
               f"[{rates.overkill.low:.3f}, {rates.overkill.high:.3f}] (95% Wilson). Deltas are "
               f"against the bundle's threshold {bundle_threshold:.4f}.")
    roc, pr = run.report.stage1.roc, run.report.stage1.precision_recall
    left, right = st.columns(2)
    left.plotly_chart(figures.roc_figure(roc.false_positive_rate, roc.true_positive_rate, roc.auc,
                                         (rates.overkill_rate, rates.recall)), key="metrics_roc")
    right.plotly_chart(figures.precision_recall_figure(
        pr.recall, pr.precision, pr.average_precision, (rates.recall, rates.precision)),
        key="metrics_pr")


def per_class(run) -> None:
    """Per-class tables: end to end, stage 2, and the merged Bridges+Shorts score."""
    report = run.report
    st.markdown("**End to end** (every image once, stage-1 escapes count as Clean)")
    st.dataframe(evaluation.per_class_frame(report.end_to_end), hide_index=True, width="stretch")
    st.markdown(f"**Stage 2** on the defects stage 1 passed on "
                f"({report.stage2.n_without_prediction} escaped defects are not in it)")
    st.dataframe(evaluation.per_class_frame(report.stage2.scores), hide_index=True, width="stretch")
    if report.merged is not None:
        merged = report.merged
        st.caption(f"With {merged.name} as one class: accuracy {merged.accuracy:.3f}, macro-F1 "
                   f"{merged.macro_f1:.3f}; {merged.name} precision {merged.precision:.3f}, "
                   f"recall {merged.recall:.3f}.")


def calibration(run) -> None:
    """Reliability of the final confidence and of the stage-1 score, both as the cascade reports
    them (temperature-scaled), and the ECE before and after scaling."""
    left, right = st.columns(2)
    final = run.report.calibration
    if final is not None:
        left.plotly_chart(figures.reliability_figure(
            final.mean_predicted, final.observed_frequency, final.counts,
            f"Final confidence (ECE {final.ece:.3f})"), key="metrics_calibration_final")
    stage1 = run.report.stage1.calibration
    right.plotly_chart(figures.reliability_figure(
        stage1.mean_predicted, stage1.observed_frequency, stage1.counts,
        f"Stage-1 P(defective) (ECE {stage1.ece:.3f})"), key="metrics_calibration_stage1")
    scaling = run.report.scaling
    if scaling is not None:
        st.caption(f"Confidences are temperature-scaled with the bundle's calibration (fitted on its "
                   f"validation split): {scaling.describe()} on this split. A temperature of 1 "
                   "means the bundle was not calibrated.")


def predictions_csv(run) -> str:
    """The per-image predictions as CSV text."""
    return pd.DataFrame(run.predictions).to_csv(index=False)
