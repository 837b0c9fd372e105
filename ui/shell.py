"""Rendering shared by every page: the sidebar, the active-bundle guard, progress bars, notices."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from ui import bundles, settings, state


def _trained_on(entry: bundles.CatalogEntry) -> str:
    data = entry.info.data
    root = str(data.get("root") or "")
    splits = data.get("images_per_split") or {}
    counts = ", ".join(f"{split} {count}" for split, count in splits.items())
    where = Path(root).name if root else "unknown data"
    return f"{where} ({counts})" if counts else where


def sidebar() -> None:
    """The active bundle and the current dataset, on every page."""
    entry = state.active_entry()
    with st.sidebar:
        st.subheader("Active model bundle")
        if entry is None:
            st.warning("No model bundle found. Train a first one on the Retrain page (choose "
                       "a labelled dataset on Home first), or with `python -m sem_core train` "
                       f"into {settings.user_models_dir()}, or ship one at "
                       f"{settings.shipped_default_bundle()}.")
        else:
            info = entry.info
            st.markdown(f"**{entry.name}** ({entry.origin.value})")
            st.caption(
                f"Classes: {', '.join(info.classes)}  \n"
                f"Input size: {info.input_size} px  \n"
                f"Stage-1 threshold: {info.stage1_threshold:.4f}  \n"
                f"Stage 2: {info.stage2.architecture}  \n"
                f"Trained: {info.created or 'unknown'}  \n"
                f"On: {_trained_on(entry)}")
        st.subheader("Current dataset")
        dataset = st.session_state.get(state.DATASET)
        st.caption(dataset or "None yet: add one on the Home page.")
        st.caption(f"Data root: {settings.data_root()}")


def require_active_bundle() -> bundles.CatalogEntry:
    """The active bundle; stops the page with a clear message when there is none."""
    entry = state.active_entry()
    if entry is None:
        st.error("No model bundle is available, so nothing can be predicted yet. See the sidebar "
                 "for where bundles are looked for.")
        st.stop()
    return entry


def show_notice() -> None:
    """Show the one-time message left by the previous run, if any."""
    message = state.pop_notice()
    if message:
        st.success(message)


def progress_reporter(label: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A progress bar: (update(done, total), finish()) callables."""
    bar = st.progress(0.0, text=label)

    def update(done: int, total: int) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=f"{label} {done}/{total}")

    return update, bar.empty
