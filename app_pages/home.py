"""Home: what the workbench does, one-click demo data, and the labelled datasets it knows."""

import streamlit as st

from ui import home_view, shell, state
from ui.datasets import folder_choices
from ui.settings import data_root

st.title("SEM defect inspection workbench")
st.write(
    "A two-stage cascade for SEM review images: a small CNN screens every image as Clean or "
    "Defective, then a DenseNet121 names the defect (Bridges, Cracks, Opens, Shorts, Scratches, "
    "Vias, Other) on the flagged images only. **Inspect** runs it on your images and shows "
    "where each stage looked; **Metrics** scores it on a labelled dataset; **Models** manages "
    "the model bundles."
)
shell.show_notice()

st.subheader("Try it with demo data")
images_column, dataset_column = st.columns(2)
with images_column:
    st.markdown("Synthetic SEM images, one of each class, to inspect right away.")
    if st.button("Create demo images", key="home_demo_images", type="primary"):
        home_view.create_demo_images()
    st.page_link("app_pages/inspect.py", label="Open Inspect", icon=":material/image_search:")
with dataset_column:
    st.markdown("A small labelled synthetic dataset (Train/Validation/Test) to score the model on.")
    if st.button("Create a demo labelled dataset", key="home_demo_dataset"):
        home_view.create_demo_dataset()
    st.page_link("app_pages/metrics.py", label="Open Metrics", icon=":material/grid_on:")

st.subheader("Labelled datasets")
folder_column, zip_column = st.columns(2)
with folder_column:
    folder = st.selectbox(f"A folder under the data root ({data_root()})",
                          folder_choices(data_root()), index=None, placeholder="Choose a folder",
                          key="home_dataset_folder",
                          help="Any layout sem_core reads: the Kaggle layout, class folders with "
                               "or without split folders, or a folder holding a manifest CSV.")
    if st.button("Add this folder", key="home_add_folder", disabled=folder is None):
        home_view.add_server_folder(folder)
with zip_column:
    upload = st.file_uploader("Or a zip of class folders", type=["zip"], key="home_dataset_zip")
    if st.button("Add the zip", key="home_add_zip", disabled=upload is None):
        home_view.add_uploaded_zip(upload)

known = state.datasets()
if not known:
    st.caption("No labelled dataset yet.")
for path in known:
    current = path == st.session_state.get(state.DATASET)
    with st.expander(f"{path}{'  (current)' if current else ''}", expanded=current):
        use_column, forget_column = st.columns([1, 5])
        use_column.button("Use", key=f"home_use_{path}", on_click=home_view.use_dataset,
                          args=(path,), disabled=current)
        forget_column.button("Forget (keeps the files)", key=f"home_forget_{path}",
                             on_click=home_view.forget_dataset, args=(path,))
        if current:
            home_view.dataset_summary(path)
