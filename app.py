"""Streamlit entry point: page config, shared state and navigation.

Run with ``make run`` (or ``streamlit run app.py``). Pages live in ``app_pages/`` and stay thin:
widgets in, one call into ``sem_core`` through ``ui/``, results out.
"""

import streamlit as st

st.set_page_config(page_title="SEM defect inspection", page_icon=":microscope:", layout="wide")

pages = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
]
st.navigation(pages).run()
