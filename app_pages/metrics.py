"""Metrics: score the active bundle on a labelled split, click into its confusion matrices."""

import streamlit as st

from ui import evaluation, metrics_view, shell, state

st.title("Metrics")
entry = shell.require_active_bundle()

datasets = list(state.datasets())
current = st.session_state.get(state.DATASET)
if not datasets:
    st.info("No labelled dataset yet: create the demo dataset or add your own on the Home page.")
    st.stop()
dataset_column, split_column, button_column = st.columns([4, 1, 2])
dataset = dataset_column.selectbox("Labelled dataset", datasets, key="metrics_dataset",
                                   index=datasets.index(current) if current in datasets else 0)
split = split_column.selectbox("Split", metrics_view.SPLITS, key="metrics_split",
                               help="'all' scores every image (a folder that is all test data).")
run = state.evaluation(metrics_view.evaluation_key(entry, dataset, split))
button_column.markdown("&nbsp;")
if button_column.button(f"Evaluate {entry.name}", key="metrics_evaluate", type="primary"):
    run = metrics_view.evaluate(entry, dataset, split)
if run is None:
    st.info(f"Press *Evaluate* to run {entry.name} on the {split} split of {dataset}.")
    st.stop()

metrics_view.headline(run)
st.download_button("Download per-image predictions (CSV)", metrics_view.predictions_csv(run),
                   "sem_predictions.csv", "text/csv", key="metrics_download")
matrices, per_class, threshold_tab, calibration = st.tabs(
    ["Confusion matrices", "Per class", "Stage-1 threshold", "Calibration"])
with matrices:
    view_column, share_column = st.columns([4, 1])
    view = view_column.radio("Matrix", list(evaluation.MatrixView), horizontal=True,
                             key="metrics_matrix", format_func=lambda member: member.value)
    normalised = share_column.toggle("Row shares", key="metrics_normalised")
    metrics_view.confusion_chart(run, view, normalised)
    cell = st.session_state.get(metrics_view.CELL)
    if cell is not None and cell.view == view:
        metrics_view.cell_images(entry, run, cell, dataset)
with per_class:
    metrics_view.per_class(run)
with threshold_tab:
    threshold = st.slider("Stage-1 threshold", 0.0, 1.0, float(entry.info.stage1_threshold), 0.005,
                          format="%.3f", key="metrics_threshold",
                          help="Images scored at or above it go to stage 2. Moving it re-reads the "
                               "cached scores; no model runs.")
    metrics_view.threshold_panel(run, threshold, entry.info.stage1_threshold)
with calibration:
    metrics_view.calibration(run)
