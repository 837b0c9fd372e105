"""Session state shared by every page, initialised once per session from ``app.py``.

Shared keys (no page prefix) hold what more than one page reads: the bundle catalogue and the
active bundle, the current labelled dataset, and evaluation runs (Metrics shows them, Models
compares them). Page-specific keys start with the page name (``inspect_``, ``metrics_``,
``models_``, ``home_``) and are created by the pages' helpers in ``ui``.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ui import app_store, bundles, settings

ACTIVE_BUNDLE = "active_bundle"
DATASET = "dataset"
EVALUATIONS = "evaluations"
HEATMAPS = "heatmaps"
NOTICE = "notice"


@dataclass(frozen=True)
class EvaluationKey:
    """Identifies one evaluation: which bundle (and version), which dataset, which split."""

    bundle_key: str
    dataset: str
    split: str


def init_shared_state() -> None:
    """Create the shared keys once per session (later calls leave them alone)."""
    if ACTIVE_BUNDLE not in st.session_state:
        active = bundles.resolve_active(bundles.list_bundles())
        st.session_state[ACTIVE_BUNDLE] = None if active is None else str(active.path)
    if DATASET not in st.session_state:
        remembered = app_store.read_record(settings.state_file()).datasets
        st.session_state[DATASET] = remembered[-1] if remembered else None
    st.session_state.setdefault(EVALUATIONS, {})
    st.session_state.setdefault(HEATMAPS, {})


def catalog() -> list[bundles.CatalogEntry]:
    """The bundles available now (re-read on every run: cheap, and never stale)."""
    return bundles.list_bundles()


def active_entry(entries: list[bundles.CatalogEntry] | None = None) -> bundles.CatalogEntry | None:
    """The session's active bundle; falls back to the default rule if it has disappeared."""
    entries = catalog() if entries is None else entries
    entry = bundles.find(entries, st.session_state.get(ACTIVE_BUNDLE))
    if entry is None:
        entry = bundles.resolve_active(entries)
        st.session_state[ACTIVE_BUNDLE] = None if entry is None else str(entry.path)
    return entry


def set_active(entry: bundles.CatalogEntry) -> None:
    """Make ``entry`` active for this session and remember it for the next ones."""
    bundles.activate(entry)
    st.session_state[ACTIVE_BUNDLE] = str(entry.path)


def bundle_key(entry: bundles.CatalogEntry) -> str:
    """Cache key of a bundle version: its folder and bundle.json time stamp."""
    try:
        stamp = (entry.path / "bundle.json").stat().st_mtime_ns
    except OSError:
        stamp = 0
    return f"{entry.path}@{stamp}"


def datasets() -> tuple[str, ...]:
    """The labelled datasets the app remembers."""
    return app_store.read_record(settings.state_file()).datasets


def add_dataset(path: str) -> None:
    """Remember a dataset and make it the current one."""
    app_store.remember_dataset(settings.state_file(), path)
    st.session_state[DATASET] = path


def evaluation(key: EvaluationKey):
    """The cached ``EvaluationRun`` for ``key``, or None."""
    return st.session_state[EVALUATIONS].get(key)


def store_evaluation(key: EvaluationKey, run) -> None:
    """Keep an ``EvaluationRun`` for this session."""
    st.session_state[EVALUATIONS][key] = run


def notify(message: str) -> None:
    """Show ``message`` once, on the next run (e.g. after a button changed the active bundle)."""
    st.session_state[NOTICE] = message


def pop_notice() -> str | None:
    """The pending one-time message, removed."""
    return st.session_state.pop(NOTICE, None)
