"""Streamlit entry point: page config, shared state, sidebar and navigation.

Run with ``make run`` (or ``streamlit run app.py``). Pages live in ``app_pages/`` and stay thin:
widgets in, one call into ``sem_core`` through ``ui/``, results out. Shared session state is
initialised here, once per session; see docs/app.md for where the app keeps its files.
"""

import streamlit as st

from ui import runtime, shell, state

st.set_page_config(page_title="SEM defect inspection", page_icon=":microscope:", layout="wide")
runtime.keep_model_caches()
state.init_shared_state()

pages = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/inspect.py", title="Inspect", icon=":material/image_search:"),
    st.Page("app_pages/metrics.py", title="Metrics", icon=":material/grid_on:"),
    st.Page("app_pages/models.py", title="Models", icon=":material/model_training:"),
    st.Page("app_pages/relabel.py", title="Relabel", icon=":material/label:"),
    st.Page("app_pages/retrain.py", title="Retrain", icon=":material/autorenew:"),
]
navigation = st.navigation(pages)
shell.sidebar()
navigation.run()
