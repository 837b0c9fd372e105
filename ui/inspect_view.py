"""Session state and rendering of the Inspect page (its keys start with ``inspect_``).

The current images (``inspect_items``) and the cascade results by file hash
(``inspect_results``) live in session state, so a rerun, a widget change or a page switch shows
the same results without running a model again; the uploader itself forgets its files when the
page is left, which is why items are kept separately.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from sem_core.classes import CLASSES
from ui import bundles, inspection, loaders, settings, shell, state, uploads
from ui.datasets import DEMO_IMAGES
from ui.explanations import display_image

ITEMS = "inspect_items"
RESULTS = "inspect_results"
UPLOAD_CACHE = "inspect_upload_items"
UPLOAD_FOLDER = "inspect_upload_folder"
THUMBNAILS = "inspect_thumbnails"
DETAIL = "inspect_detail"
TABLE_CHOICE = "inspect_table_choice"
RUNTIME = "inspect_runtime"
SHIFT = "inspect_shift"
GALLERY_LIMIT = 36
THUMBNAIL_PX = 160
UPLOAD_HELP = (f"Up to {uploads.MAX_FILES_PER_UPLOAD:,} files and "
               f"{uploads.MAX_BYTES_PER_UPLOAD // 2**20:,} MB per upload, "
               f"{uploads.MAX_FILE_MB} MB per file. Zip members are read with size limits; "
               "archives inside archives, encrypted members and links are reported, not opened.")


def init() -> None:
    """Create the page's keys once per session."""
    st.session_state.setdefault(ITEMS, [])
    st.session_state.setdefault(RESULTS, {})
    st.session_state.setdefault(UPLOAD_CACHE, {})
    st.session_state.setdefault(THUMBNAILS, {})


def _session_uploads() -> uploads.SessionUploads:
    """This session's upload folder (created on first use, removed when the session ends)."""
    if UPLOAD_FOLDER not in st.session_state:
        st.session_state[UPLOAD_FOLDER] = uploads.SessionUploads(settings.uploads_root())
    return st.session_state[UPLOAD_FOLDER]


def items_from_uploads(files: Sequence) -> list[inspection.InspectItem] | None:
    """Items of uploaded files (Streamlit ``UploadedFile``), expanding each file once per upload.

    Each file is written once to the session's upload folder and read from there with caps;
    the copy of a file taken off the uploader is deleted. Shows the reason and returns None when
    the upload breaks a limit of ``ui.uploads``.
    """
    try:
        uploads.check_upload([(file.name, file.size) for file in files])
    except uploads.UploadRefused as error:
        st.error(str(error))
        return None
    cache = st.session_state[UPLOAD_CACHE]
    keys = [(file.file_id, file.name, file.size) for file in files]
    for key in set(cache) - set(keys):  # removed from the uploader: its copy goes too
        stored, _ = cache.pop(key)
        _session_uploads().discard(stored)
    items = []
    for key, file in zip(keys, files):
        if key not in cache:
            stored = _session_uploads().store(file.name, file.getvalue())
            cache[key] = (stored, inspection.items_from_uploads([(file.name, stored)]))
        items.extend(cache[key][1])
    return items


def items_from_server_folder(relative: str) -> list[inspection.InspectItem]:
    """Items of a folder under the data root.

    Raises:
        ui.settings.OutsideRootError: When the folder resolves outside the data root.
    """
    root = settings.data_root()
    folder = settings.resolve_inside(root, relative)
    return inspection.items_from_folder(folder, root)


def demo_images_exist() -> bool:
    """True when the Home page has written the demo images."""
    return (settings.data_root() / DEMO_IMAGES).is_dir()


def set_items(items: list[inspection.InspectItem]) -> None:
    """Make ``items`` the images on show (when they differ from the current ones)."""
    current = st.session_state[ITEMS]
    identities = [(item.name, item.cache_key) for item in items]
    if identities != [(item.name, item.cache_key) for item in current]:
        st.session_state[ITEMS] = items
        st.session_state.pop(DETAIL, None)


def clear() -> None:
    """Forget the images on show and delete the uploaded copies (results stay cached by hash)."""
    st.session_state[ITEMS] = []
    st.session_state[UPLOAD_CACHE] = {}
    st.session_state.pop(DETAIL, None)
    if UPLOAD_FOLDER in st.session_state:
        st.session_state[UPLOAD_FOLDER].clear()


def current_items() -> list[inspection.InspectItem]:
    """The images on show."""
    return st.session_state[ITEMS]


def runtime_choice(entry: bundles.CatalogEntry) -> str:
    """The runtime picker: auto, keras, and each format the bundle has a passed export of."""
    return st.selectbox("Runtime", loaders.runtime_choices(entry.path), key=RUNTIME,
                        help="auto runs the fastest export that passed its parity gate (else "
                             "Keras); Grad-CAM always uses the Keras models. Exports are made "
                             "with `python -m sem_core export`.")


def runtime_in_use(entry: bundles.CatalogEntry, runtime: str) -> str:
    """What ``runtime`` runs for this bundle, e.g. "onnx (onnx-float32, 2.10x Keras at export)"."""
    return loaders.serving_stages(entry.path, runtime).describe()


def run_cascade(entry: bundles.CatalogEntry, runtime: str = "keras") -> pd.DataFrame:
    """Results of the images on show with the active bundle and ``runtime`` (only new files are
    computed; results are kept per runtime)."""
    items = current_items()
    cache = st.session_state[RESULTS]
    # What auto stands for changes when an export is added, so the exports' stamp is in the key.
    key = f"{state.bundle_key(entry)}#{runtime}@{loaders.exports_stamp(entry.path)}"
    update, finish = None, None
    if inspection.pending(items, key, cache):
        update, finish = shell.progress_reporter("Running the cascade:")
    results = inspection.run_inspection(lambda: loaders.loaded_bundle(entry.path), key, items,
                                        cache, progress=update,
                                        stages=lambda: loaders.serving_stages(entry.path, runtime))
    if finish:
        finish()
    return inspection.results_table(items, results)


def shift_verdicts(entry: bundles.CatalogEntry):
    """The domain-shift verdicts on the images on show (batches of the reference's size), or
    None when the bundle has no shift reference (``python -m sem_core shift-reference``)."""
    from sem_core.errors import ImageLoadError
    from sem_core.models.preprocessing import prepare_batch
    from sem_core.shift import ShiftError, check_batches, load_reference
    from sem_core.shift_features import reference_features

    try:
        reference = load_reference(entry.path)
    except ShiftError as error:
        st.caption(f"Domain-shift check unavailable: {error}")
        return None
    if reference is None:
        return None
    items = current_items()
    key = (state.bundle_key(entry), tuple(item.cache_key for item in items))
    cache = st.session_state.setdefault(SHIFT, {})
    if key not in cache:
        pixels = []
        for item in items:  # an unreadable file is a row of its own; it has no features
            with contextlib.suppress(ImageLoadError):
                pixels.append(inspection.decode(item).pixels)
        bundle = loaders.loaded_bundle(entry.path)
        try:
            with st.spinner("Comparing these images with the model's training images..."):
                features = reference_features(
                    bundle, prepare_batch(pixels, int(bundle.info.input_size)), reference)
        except ShiftError as error:
            st.caption(f"Domain-shift check unavailable: {error}")
            return None
        cache[key] = check_batches(features, reference) if len(pixels) else []
    return cache[key]


def shift_summary(entry: bundles.CatalogEntry) -> None:
    """A warning when the images on show look unlike the bundle's training images."""
    verdicts = shift_verdicts(entry)
    if not verdicts:
        return
    judged = [verdict for verdict in verdicts if verdict.distance is not None]
    if not judged:
        st.caption(verdicts[0].describe())
        return
    shifted = [verdict for verdict in judged if verdict.shifted]
    largest = max(verdict.distance for verdict in judged)
    counts = f"{len(shifted)} of {len(judged)} batch{'es' * (len(judged) != 1)}"
    if shifted:
        st.warning(f"**These images look unlike the ones the model was trained on** ({counts} "
                   f"over the threshold; largest shift distance {largest:.2f}, threshold "
                   f"{judged[0].threshold:.2f}). Expect lower accuracy than its metrics say: "
                   "a new tool, recipe or magnification changes what the model sees. Adapt the "
                   "model to them, label a few of them and retrain, or check them by eye.",
                   icon=":material/warning:")
        adapt_offer(entry)
    else:
        st.caption(f"Domain shift: {counts} over the threshold (largest distance "
                   f"{largest:.2f}, threshold {judged[0].threshold:.2f}): these images look "
                   "like the model's training images.")


def adapt_offer(entry: bundles.CatalogEntry) -> None:
    """"Adapt to these images": a new user bundle whose heads read the images on show as if they
    had the training images' feature statistics (``sem_core.adapt``, coral); the active bundle
    is not changed."""
    from sem_core.adapt import MIN_TARGET_IMAGES, AdaptError, image_digest, images_content_hash
    from sem_core.errors import ImageLoadError

    items = current_items()
    enough = len(items) >= MIN_TARGET_IMAGES  # unreadable ones are told apart on a click
    clicked = st.button(
        "Adapt to these images", key="inspect_adapt", disabled=not enough,
        help=("Maps these images' features onto the training images' mean and spread (CORAL), "
              "without labels, and saves the result as a new bundle; the model in use stays as "
              "it is."
              if enough else f"Needs at least {MIN_TARGET_IMAGES} readable images."))
    if not clicked:
        return
    from datetime import UTC, datetime

    from sem_core.adapt import adapt_bundle
    from sem_core.models.preprocessing import prepare_batch
    from sem_core.shift import ShiftError, load_reference
    from sem_core.shift_features import STAGE1, STAGE2

    pixels = []
    for item in items:
        with contextlib.suppress(ImageLoadError):
            pixels.append(inspection.decode(item).pixels)
    bundle = loaders.loaded_bundle(entry.path)
    reference = load_reference(entry.path)  # the warning above came from it
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = settings.user_models_dir() / f"{entry.name}-adapted-{stamp}"
    try:
        with st.spinner(f"Adapting {entry.name} to {len(pixels)} images..."):
            result = adapt_bundle(
                bundle, prepare_batch(pixels, int(bundle.info.input_size)), out, "coral",
                content_hash=images_content_hash([image_digest(image) for image in pixels]),
                source_features=reference.statistics_of((STAGE1, STAGE2)),
                command=f"app: Inspect -> Adapt to these images ({len(pixels)} images)")
    except (AdaptError, ShiftError, OSError) as error:
        st.error(f"Could not adapt {entry.name}: {error}")
        return
    st.success(f"Wrote bundle **{result.bundle.name}** (features aligned on {result.images} "
               f"images, {result.seconds:.0f} s). Compare it with {entry.name} on a few labelled "
               "images of this tool on the Models page before making it active.")


def truth_summary(frame: pd.DataFrame) -> None:
    """The accuracy on the images whose true class is known (the demo images), if any."""
    score = inspection.truth_score(frame)
    if score is None:
        return
    unreadable = f"; {score.unreadable} could not be scored" if score.unreadable else ""
    st.info(f"Demo images: {score.correct} of {score.known} predicted as their true class "
            f"(accuracy {score.accuracy:.0%}){unreadable}. They are synthetic, so their class "
            "is known: the *true class* column shows it beside the prediction.")


def results_table(frame: pd.DataFrame) -> None:
    """The filtered results as a table; clicking a row opens it in the detail view."""
    shown = frame[[column for column in inspection.TABLE_COLUMNS if column in frame.columns]]
    event = st.dataframe(
        shown, hide_index=True, width="stretch", key="inspect_table", on_select="rerun",
        selection_mode="single-row",
        column_config={
            "source": st.column_config.TextColumn("file"),
            "final_label": st.column_config.TextColumn("final label"),
            "true_label": st.column_config.TextColumn(
                "true class", help="Known for the demo images (synthetic, so their class is "
                                   "known); empty for other files."),
            "confidence": st.column_config.ProgressColumn("confidence", min_value=0.0,
                                                          max_value=1.0, format="%.3f"),
            "stage1_probability": st.column_config.NumberColumn("stage-1 P(defective)",
                                                                format="%.3f"),
            "stage1_decision": "stage 1", "needs_review": "review", "error": "error",
            "error_kind": "error kind", "sha256": None,
        })
    rows = event.selection.rows if event is not None else []
    selected = str(shown.iloc[rows[0]]["source"]) if rows and rows[0] < len(shown) else None
    # Only a new click moves the detail view; a selection left standing must not undo the picker.
    if selected is not None and selected != st.session_state.get(TABLE_CHOICE):
        st.session_state[DETAIL] = selected
    st.session_state[TABLE_CHOICE] = selected


def _thumbnail(item: inspection.InspectItem):
    thumbnails = st.session_state[THUMBNAILS]
    if item.cache_key not in thumbnails:
        try:
            thumbnails[item.cache_key] = display_image(inspection.decode(item).pixels, THUMBNAIL_PX)
        except Exception:  # an unreadable file has no thumbnail; its row says why
            thumbnails[item.cache_key] = None
    return thumbnails[item.cache_key]


def _open_detail(name: str) -> None:
    st.session_state[DETAIL] = name


def gallery(frame: pd.DataFrame, classes: Sequence[str] = CLASSES) -> None:
    """Thumbnails grouped by final label, unreadable files last."""
    by_name = {item.name: item for item in current_items()}
    for label, rows in inspection.group_by_label(frame, classes).items():
        st.markdown(f"**{label}** ({len(rows)})")
        columns = st.columns(6)
        for position, (_, row) in enumerate(rows.head(GALLERY_LIMIT).iterrows()):
            item = by_name.get(row["source"])
            with columns[position % 6]:
                picture = None if item is None else _thumbnail(item)
                if picture is not None:
                    st.image(picture, width="stretch")
                else:
                    st.caption(f"cannot show: {row['error'] or 'no preview'}")
                confidence = row["confidence"]
                caption = (row["source"] if pd.isna(confidence)
                           else f"{row['source']} ({confidence:.2f})")
                st.button(caption, key=f"inspect_open_{label}_{position}", on_click=_open_detail,
                          args=(row["source"],), help="Open in the detail view", type="tertiary")
        if len(rows) > GALLERY_LIMIT:
            st.caption(f"Showing the first {GALLERY_LIMIT} of {len(rows)}; filter the table to "
                       "see the others.")


def detail_names(frame: pd.DataFrame) -> list[str]:
    """Names offered by the detail view's picker, scored images first."""
    scored = frame[frame["error"].isna()]["source"].tolist()
    return scored + [name for name in frame["source"].tolist() if name not in scored]


def item_named(name: str) -> inspection.InspectItem | None:
    """The current item called ``name``."""
    return next((item for item in current_items() if item.name == name), None)
