"""Actions and rendering of the Models page (its keys start with ``models_``)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from ui import bundles, evaluation, figures, metrics_view, state


def activate(entry: bundles.CatalogEntry) -> None:
    """Make ``entry`` the active bundle (button callback)."""
    state.set_active(entry)
    state.notify(f"{entry.name} is now the active bundle.")


def bundle_details(entry: bundles.CatalogEntry) -> None:
    """Validation figures and operating point recorded at training, then the model card."""
    info = entry.info
    if info.metrics:
        metrics = pd.DataFrame({"value": list(info.metrics.values())}, index=list(info.metrics))
        st.dataframe(metrics, width="stretch", height=260)
    st.caption(f"Folder: {entry.path}  \nCommand: `{info.command or 'unknown'}`")
    with st.expander("Model card", expanded=True):
        st.markdown(bundles.model_card(entry))


def compare(first: bundles.CatalogEntry, second: bundles.CatalogEntry) -> None:
    """Two bundles per class: validation recall from training, and test scores when evaluated."""
    recall = bundles.validation_recall_frame(first, second)
    if recall[[first.name, second.name]].notna().all().all():
        title = "Stage-2 validation recall per class (from training)"
        st.plotly_chart(figures.compare_figure(recall, [first.name, second.name], title),
                        key="models_compare_validation")
    else:
        st.caption("A bundle records no per-class validation recall.")
    dataset = st.session_state.get(state.DATASET)
    if not dataset:
        st.info("Add a labelled dataset on the Home page to compare both bundles on the same "
                "images.")
        return
    split = st.selectbox("Split", metrics_view.SPLITS, key="models_compare_split")
    runs = {entry.name: state.evaluation(metrics_view.evaluation_key(entry, dataset, split))
            for entry in (first, second)}
    if st.button(f"Evaluate both on {split} of {dataset}", key="models_compare_run"):
        for entry in (first, second):
            runs[entry.name] = runs[entry.name] or metrics_view.evaluate(entry, dataset, split)
    if all(run is not None for run in runs.values()):
        table = evaluation.compare_frame({name: run.report for name, run in runs.items()})
        st.dataframe(table, hide_index=True, width="stretch")
        st.plotly_chart(figures.compare_figure(table, [f"{name} f1" for name in runs],
                                               f"End-to-end F1 per class on {split}"),
                        key="models_compare_test")


def delete_section(entries: Sequence[bundles.CatalogEntry],
                   active: bundles.CatalogEntry | None) -> None:
    """Delete a user bundle, only after its name is typed; shipped and active ones are refused."""
    candidates = [entry for entry in entries if entry.origin is bundles.BundleOrigin.USER
                  and (active is None or entry.path != active.path)]
    if not candidates:
        st.caption("Only user bundles that are not active can be deleted; there are none.")
        return
    labels = [entry.label for entry in candidates]
    chosen = candidates[labels.index(st.selectbox("Bundle to delete", labels,
                                                  key="models_delete_choice"))]
    typed = st.text_input(f"Type {chosen.name} to confirm", key="models_delete_confirm")
    if st.button("Delete permanently", key="models_delete", disabled=typed.strip() != chosen.name):
        try:
            bundles.delete_bundle(chosen, typed, active)
        except (ValueError, OSError) as error:
            st.error(str(error))
            return
        state.notify(f"Deleted {chosen.path}.")
        st.rerun()
