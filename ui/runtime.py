"""Keep TensorFlow's compiled functions alive between Streamlit reruns.

After every script run Streamlit calls ``keras.backend.clear_session()`` (its
``script_runner._clean_problem_modules``, written for Keras 2 graph sessions). With Keras 3 that
clears TensorFlow's kernel cache, so the next prediction of a cached model re-instantiates and
re-optimises its whole graph: measured 2-5 s per rerun for DenseNet121 on this 2-core machine,
paid again on every upload and every new Grad-CAM. The app keeps its models for the life of the
process (``ui.loaders``) and builds no models per run, so there is no Keras state to clean;
``keep_model_caches`` replaces that hook with one that does the rest of Streamlit's cleaning
(closing matplotlib figures) and leaves Keras alone.
"""

from __future__ import annotations

import sys


def _clean_without_keras() -> None:
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        try:
            pyplot.close("all")
        except Exception:  # Streamlit's own hook never lets cleaning break the app either
            pass


def keep_model_caches() -> bool:
    """Stop Streamlit from clearing the Keras session after each run.

    Returns:
        True when the hook was found and replaced (False on a Streamlit without it).
    """
    from streamlit.runtime.scriptrunner import script_runner

    if not hasattr(script_runner, "_clean_problem_modules"):
        return False
    script_runner._clean_problem_modules = _clean_without_keras
    return True
