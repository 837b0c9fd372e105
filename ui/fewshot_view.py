"""The measured few-shot curve of a new tool on the Retrain page (issue 19)."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from sem_core.fewshot import read_fewshot_curves
from ui import figures, settings

FEWSHOT_RECORD = Path("benchmarks") / "results" / "fewshot.json"


def fewshot_expander(path: Path | None = None) -> None:
    """A collapsed section: what labelling 5, 10 or 20 images per class of a new tool bought on
    the benchmark, from an unadapted and an adapted start, with the command that measured it."""
    path = path or settings.REPOSITORY / FEWSHOT_RECORD
    with st.expander("A new tool: what a few labelled images buy (measured)"):
        try:
            curves = read_fewshot_curves(path)
        except FileNotFoundError:
            st.caption(f"No few-shot record at {path}; `benchmarks/bench_fewshot.py` writes one.")
            return
        except ValueError as error:
            st.warning(str(error))
            return
        record = json.loads(path.read_text())
        st.plotly_chart(figures.fewshot_figure(curves, "Target macro-F1 against labelled "
                                                       "target images"), key="retrain_fewshot")
        ends = curves.groupby("start")["cascade_macro_f1"].agg(["first", "last"])
        moves = "; ".join(f"{start}: {row['first']:.3f} with none, {row['last']:.3f} with "
                          f"{curves['labels_per_class'].max()} per class"
                          for start, row in ends.iterrows())
        st.caption(
            "Each point is this page's retrain (the source data plus that many labelled images "
            f"per class of the new tool), scored on the new tool's test images. {moves}. "
            f"Measured {str(record.get('when', ''))[:10]} on synthetic tools "
            "(docs/domain-shift.md): label images of your own tool on the Relabel page, "
            "retrain here, and compare on the Models page to see what they buy on yours.")
        st.code(str(record.get("command", "")), language="bash", wrap_lines=True)
