"""Inspect: bring in SEM images, run the cascade, read the results, see where the model looked."""

import streamlit as st

from ui import detail_view, flag_view, inspect_view, inspection, shell, state
from ui.datasets import DEMO_IMAGES, demo_truth, folder_choices
from ui.settings import OutsideRootError, data_root

st.title("Inspect images")
shell.show_notice()
entry = shell.require_active_bundle()
inspect_view.init()

UPLOAD, FOLDER_UPLOAD, SERVER, DEMO = ("Upload files or a zip", "Upload a folder",
                                       "Folder under the data root", "Demo images")
source = st.radio("Images from", [UPLOAD, FOLDER_UPLOAD, SERVER, DEMO], horizontal=True,
                  key="inspect_source")
if source == UPLOAD:
    files = st.file_uploader("SEM images (PNG, JPEG, TIFF, BMP) or a zip of them",
                             accept_multiple_files=True, key="inspect_upload",
                             help=inspect_view.UPLOAD_HELP)
    if files and (items := inspect_view.items_from_uploads(files)) is not None:
        inspect_view.set_items(items)
elif source == FOLDER_UPLOAD:
    files = st.file_uploader("A folder of SEM images", accept_multiple_files="directory",
                             key="inspect_folder_upload", help=inspect_view.UPLOAD_HELP)
    if files and (items := inspect_view.items_from_uploads(files)) is not None:
        inspect_view.set_items(items)
elif source == SERVER:
    choices = folder_choices(data_root())
    folder = st.selectbox(f"Folder under {data_root()}", choices, key="inspect_server_folder",
                          index=None, placeholder="Choose a folder")
    if st.button("Inspect this folder", key="inspect_server_run", disabled=folder is None):
        try:
            inspect_view.set_items(inspect_view.items_from_server_folder(folder))
        except OutsideRootError as error:
            st.error(str(error))
elif inspect_view.demo_images_exist():
    if st.button("Inspect the demo images", key="inspect_demo_run"):
        inspect_view.set_items(inspect_view.items_from_server_folder(DEMO_IMAGES.as_posix()))
else:
    st.info("No demo images yet: create them with one click on the Home page.")

if not inspect_view.current_items():
    st.caption("Bad files are welcome: each one becomes a row saying what is wrong with it.")
    st.stop()

runtime = inspect_view.runtime_choice(entry)
results = inspection.with_truth(inspect_view.run_cascade(entry, runtime), demo_truth(data_root()))
scored = int(results["error"].isna().sum())
st.caption(f"{len(results)} file{'s' * (len(results) != 1)}: {scored} scored, "
           f"{len(results) - scored} unreadable, {int(results['needs_review'].sum())} flagged "
           f"for review. Bundle {entry.name}, runtime "
           f"{inspect_view.runtime_in_use(entry, runtime)}.")
inspect_view.truth_summary(results)
inspect_view.shift_summary(entry)

label_column, status_column, confidence_column, sort_column, order_column = st.columns(
    [3, 2, 2, 2, 1.3])
labels = label_column.multiselect("Final label",
                                  sorted(set(inspection.label_or_unreadable(results))),
                                  key="inspect_filter_labels", placeholder="All labels")
status = status_column.selectbox("Show", list(inspection.Status), key="inspect_filter_status",
                                 format_func=lambda member: member.value)
minimum = confidence_column.slider("Minimum confidence", 0.0, 1.0, 0.0, 0.05,
                                   key="inspect_filter_confidence")
sort_by = sort_column.selectbox("Sort by", list(inspection.SortKey), key="inspect_sort",
                                format_func=lambda member: member.value)
descending = order_column.checkbox("Descending", key="inspect_descending")
shown = inspection.filter_results(results, inspection.ResultFilter(
    tuple(labels), status, minimum, sort_by, descending))

table_column, download_column, clear_column = st.columns([6, 2, 1])
table_column.markdown(f"**Results** ({len(shown)} of {len(results)} shown)")
download_column.download_button("Download results (CSV)", results.to_csv(index=False),
                                "sem_results.csv", "text/csv", key="inspect_download")
clear_column.button("Clear", key="inspect_clear", on_click=inspect_view.clear)
view = st.segmented_control("View", ["Table", "Gallery"], default="Table", key="inspect_view")
if view == "Gallery":
    inspect_view.gallery(shown)
else:
    inspect_view.results_table(shown)

st.subheader("Detail")
names = inspect_view.detail_names(results)
if st.session_state.get(inspect_view.DETAIL) not in names:
    st.session_state[inspect_view.DETAIL] = names[0]
name = st.selectbox("Image", names, key=inspect_view.DETAIL)
row = results[results["source"] == name].iloc[0].to_dict()
item = inspect_view.item_named(name)
detail_view.headline(row)
if inspection.failed(row):
    st.error(f"{name}: {row['error']} ({row['error_kind']})")
else:
    image = inspection.decode(item)
    detail_view.overlays(entry, image, item.cache_key, row, "inspect")
    flag_view.image_flagging(st.session_state.get(state.DATASET), item.sha256, name, "inspect")
    detail_view.probabilities(row, "inspect")
    detail_view.metadata(image, row, item.sha256)
