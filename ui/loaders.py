"""Cached loaders: bundles, runtimes, explainers and labelled datasets, shared by all sessions.

Loading a bundle (TensorFlow and two models) takes seconds, so it happens once per process per
bundle, keyed by the folder and its bundle.json time stamp (a bundle deleted and re-created under
the same name is reloaded). Explainers hold a side model per stage and are kept the same way.
Datasets are keyed by path and the folder's time stamp; ``forget_dataset`` drops one.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from sem_core.registry import BUNDLE_FILE, LoadedBundle

EXPORTS_FOLDER = "exports"  # sem_core.deploy.export.EXPORTS_FOLDER, without importing TensorFlow


def _stamp(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(max_entries=4, show_spinner="Loading the model bundle (first time only)...")
def _bundle(folder: str, stamp: float) -> LoadedBundle:
    from sem_core.registry import load_bundle

    return load_bundle(folder)


def loaded_bundle(folder: Path) -> LoadedBundle:
    """The bundle at ``folder`` with both models, loaded once per process.

    Raises:
        sem_core.registry.BundleError: When the bundle cannot be loaded.
    """
    return _bundle(str(folder), _stamp(Path(folder) / BUNDLE_FILE))


@st.cache_resource(max_entries=8, show_spinner="Preparing Grad-CAM (first time only)...")
def _explainer(folder: str, stamp: float, stage: int):
    from sem_core.explain import Explainer

    bundle = _bundle(folder, stamp)
    if stage == 1:
        return Explainer(bundle.stage1, bundle.info.stage1.gradcam_layer or None,
                         decision_threshold=bundle.info.stage1_model_threshold)
    return Explainer(bundle.stage2, bundle.info.stage2.gradcam_layer or None)


def explainer(folder: Path, stage: int):
    """The ``sem_core.explain.Explainer`` of stage 1 or 2 of a bundle, built once per process."""
    return _explainer(str(folder), _stamp(Path(folder) / BUNDLE_FILE), stage)


@st.cache_resource(max_entries=8, show_spinner="Loading the runtime (first time only)...")
def _serving_stages(folder: str, stamp: float, exports_stamp: float, runtime: str):
    from sem_core.deploy.serving import serving_stages

    return serving_stages(_bundle(folder, stamp), runtime)


def serving_stages(folder: Path, runtime: str):
    """The predictors ``runtime`` stands for (``sem_core.deploy.serving.serving_stages``), loaded
    once per process per bundle version, set of exports and runtime.

    Raises:
        sem_core.deploy.ExportError: When the runtime names a format with no usable export.
    """
    return _serving_stages(str(folder), _stamp(Path(folder) / BUNDLE_FILE), exports_stamp(folder),
                           runtime)


@st.cache_resource(max_entries=8)
def _runtime_choices(folder: str, stamp: float, exports_stamp: float) -> tuple[str, ...]:
    from sem_core.deploy.serving import list_exports

    formats = dict.fromkeys(item.info.export_format.value for item in list_exports(folder)[0])
    return ("auto", "keras", *formats)


def exports_stamp(folder: Path) -> float:
    """Time stamp of the bundle's exports folder: changes when an export is added or removed."""
    return _stamp(Path(folder) / EXPORTS_FOLDER)


def runtime_choices(folder: Path) -> tuple[str, ...]:
    """"auto", "keras" and each format with an export that passed its gate (checked once per
    change of the bundle's exports folder)."""
    return _runtime_choices(str(folder), _stamp(Path(folder) / BUNDLE_FILE), exports_stamp(folder))


@st.cache_resource(max_entries=8, show_spinner="Reading the dataset...")
def _dataset(path: str, stamp: float):
    from sem_core.data.layouts import load_dataset

    return load_dataset(path)


def loaded_dataset(path: str | Path):
    """``sem_core.data.layouts.load_dataset`` of a folder or manifest CSV, read once per change.

    Raises:
        sem_core.errors.DatasetError: When the path holds no dataset.
    """
    return _dataset(str(path), _stamp(Path(path)))


def forget_dataset() -> None:
    """Drop every cached dataset (after files were added to one)."""
    _dataset.clear()
