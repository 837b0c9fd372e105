"""Actions and rendering of the Home page (its keys start with ``home_``): demo data, datasets."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from sem_core.errors import DatasetError
from ui import datasets, loaders, settings, state


def create_demo_images() -> None:
    """Write the demo images under the data root and say where they are."""
    try:
        with st.spinner("Generating synthetic SEM images..."):
            folder = datasets.write_demo_images(settings.data_root())
    except (RuntimeError, OSError, ValueError) as error:
        st.error(f"Demo images could not be created: {error}")
        return
    count = sum(1 for _ in folder.glob("*.png"))
    st.success(f"{count} demo images are in {folder}. Open **Inspect** and choose *Demo images*.")


def create_demo_dataset() -> None:
    """Write the demo labelled dataset (a separate process) and make it the current dataset."""
    command = " ".join(datasets.demo_dataset_command(settings.data_root())[1:])
    try:
        with st.spinner(f"Generating a labelled synthetic dataset (`python {command}`)..."):
            folder = datasets.write_demo_dataset(settings.data_root())
    except (RuntimeError, OSError) as error:
        st.error(f"The demo dataset could not be created: {error}")
        return
    add_dataset(folder)


def add_dataset(path: Path) -> None:
    """Check that ``path`` reads as a labelled dataset, then remember it, make it current and
    rerun the page, so the sidebar (drawn before the button ran) names it too."""
    try:
        loaded = loaders.loaded_dataset(path)
    except (DatasetError, ValueError, OSError) as error:
        st.error(f"{path}: not usable as a labelled dataset ({error}).")
        return
    state.add_dataset(str(path))
    state.notify(f"Added {path}: {len(loaded.manifest)} images ({loaded.layout.value} layout).")
    st.rerun()


def add_server_folder(relative: str) -> None:
    """Add a folder under the data root as a dataset (refusing anything outside it)."""
    try:
        folder = settings.resolve_inside(settings.data_root(), relative)
    except settings.OutsideRootError as error:
        st.error(str(error))
        return
    add_dataset(folder)


def add_uploaded_zip(upload) -> None:
    """Extract an uploaded zip of class folders under the data root and add it."""
    with tempfile.TemporaryDirectory(prefix="sem-dataset-") as folder:
        archive = Path(folder) / "upload.zip"
        archive.write_bytes(upload.getvalue())
        try:
            target = datasets.extract_dataset_zip(archive, upload.name, settings.data_root())
        except ValueError as error:
            st.error(str(error))
            return
    add_dataset(target)


def dataset_summary(path: str) -> None:
    """Images per split and class, unknown folders and unreadable files of one dataset."""
    try:
        loaded = loaders.loaded_dataset(path)
    except (DatasetError, ValueError, OSError) as error:
        st.warning(f"{path}: cannot be read now ({error}).")
        return
    st.caption(f"{len(loaded.manifest)} images, {loaded.layout.value} layout")
    st.dataframe(loaded.manifest.class_counts(), width="stretch")
    if loaded.unknown_folders:
        st.warning("Not read (unknown class names): " + "; ".join(loaded.unknown_folders))
    if loaded.bad_files:
        st.warning(f"{len(loaded.bad_files)} unreadable files, e.g. "
                   + "; ".join(f"{bad.path}: {bad.reason}" for bad in loaded.bad_files[:3]))


def use_dataset(path: str) -> None:
    """Make a remembered dataset the current one (button callback)."""
    st.session_state[state.DATASET] = path


def forget_dataset(path: str) -> None:
    """Stop remembering a dataset; its files stay (button callback)."""
    from ui import app_store

    app_store.forget_dataset(settings.state_file(), path)
    if st.session_state.get(state.DATASET) == path:
        st.session_state[state.DATASET] = None
