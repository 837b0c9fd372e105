"""The app's only Streamlit code outside the pages: cached loaders, session state, rendering.

Modules without Streamlit (``settings``, ``app_store``, ``bundles``, ``inspection``,
``evaluation``, ``explanations``, ``figures``, ``datasets``) compose ``sem_core`` calls for the
pages and are tested directly; the ``*_view``, ``shell``, ``state`` and ``loaders`` modules
hold the Streamlit side.
"""
