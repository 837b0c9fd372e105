"""Home page: what the workbench does and what is ready today."""

import streamlit as st

st.title("SEM defect inspection workbench")
st.write(
    "A two-stage cascade for SEM review images: a small CNN screens every image as Clean or "
    "Defective, then a DenseNet121 names the defect (Bridges, Cracks, Opens, Shorts, Scratches, "
    "Vias, Other) on the flagged images only."
)
st.info(
    "Coming next in this app: upload and inspect images with Grad-CAM overlays, metrics with "
    "clickable confusion matrices, the model registry, and relabel-and-retrain. Today the "
    "library and its command line (`python -m sem_core --help`) read SEM images and datasets."
)
