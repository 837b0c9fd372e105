"""The "Flag for review" controls of the Metrics cell view and the Inspect detail view.

A flag asks for a review of dataset images without changing their labels; the Relabel queue
shows flagged images first. The flags are written through ``ui.relabel.flag_in_dataset`` with
the reviewer's name as the Relabel page records it; the outcome is one success line with the
count (and, for held-out Test images, that they stay held out and a relabel there is reported
apart in the bundle comparison), and one warning per reason some images were not flagged.
Widget keys start with the calling page's prefix.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from sem_core.errors import SemCoreError
from ui import relabel, review_flags, state


def _flag(dataset: str, requested: list[tuple[str, str]], note: str) -> None:
    try:
        result = relabel.flag_in_dataset(dataset, requested, note)
    except (SemCoreError, OSError) as error:
        st.error(f"{dataset}: nothing flagged ({error}).")
        return
    text = review_flags.summary(result)
    if text:
        st.success(text)
    for line in review_flags.explanations(result):
        st.warning(line)
    current = st.session_state.get(state.DATASET)
    if result.flagged and current != dataset:
        st.info(f"The Relabel page reviews the current dataset "
                f"({Path(current).name if current else 'none chosen'}); make {result.dataset} "
                f"current on the Home page to review these.")


def cell_flagging(dataset: str, members: pd.DataFrame, scope: str) -> None:
    """Flag every image of a confusion-matrix cell for review, or only the chosen ones.

    Args:
        dataset: The labelled dataset the cell's evaluation ran on.
        members: The cell's prediction rows (``path``, ``split`` and ``sha256`` columns).
        scope: Key prefix unique to the cell (e.g. ``metrics_flag_<view>_<true>_<predicted>``),
            so a choice made in one cell never carries over to another.
    """
    if members.empty:
        return
    st.markdown("**Flag for review** (the labels stay; the Relabel queue shows these first)")
    if (members["split"] == review_flags.HELD_OUT_SPLIT).any():
        st.caption(review_flags.HELD_OUT_NOTE)
    chosen_column, note_column = st.columns([3, 2])
    chosen = chosen_column.multiselect(
        f"Only these images (none chosen: all {len(members)} in the cell)",
        members["path"].tolist(), key=f"{scope}_chosen", format_func=lambda path: Path(path).name,
        placeholder=f"All {len(members)} images")
    note = note_column.text_input("Note (optional, saved with each flag)", key=f"{scope}_note")
    relabel.name_input(f"{scope}_who")
    picked = members[members["path"].isin(chosen)] if chosen else members
    count = len(picked)
    if st.button(f"Flag {count} image{'s' * (count != 1)} for review", key=f"{scope}_button"):
        _flag(dataset, [(sha256 if isinstance(sha256, str) else "", str(path))
                        for sha256, path in zip(picked["sha256"], picked["path"])], note)


def image_flagging(dataset: str | None, sha256: str, name: str, prefix: str) -> None:
    """A "Flag for review" action for one inspected image of the current dataset.

    Args:
        dataset: The current labelled dataset, or None when none is chosen.
        sha256: The image's hash (how it is found in the dataset).
        name: What the user calls the image (used when it is not in the dataset).
        prefix: The page's key prefix.
    """
    st.markdown("**Flag for review**")
    if not dataset:
        st.caption("Only images of a labelled dataset can be flagged for review: choose one on "
                   "the Home page.")
        return
    name_column, note_column = st.columns(2)
    with name_column:
        relabel.name_input(f"{prefix}_who")
    note = note_column.text_input("Note (optional, saved with the flag)", key=f"{prefix}_flag_note")
    if st.button("Flag for review", key=f"{prefix}_flag",
                 help=f"Ask for a review of this image in {Path(dataset).name} (matched by its "
                      f"bytes); its label stays, and the Relabel queue shows it first."):
        _flag(dataset, [(sha256, name)], note)
