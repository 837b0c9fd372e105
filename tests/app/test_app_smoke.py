"""Every page of the app runs without an exception, on a fresh session and with a dataset known."""

import pytest
from app_helpers import ROOT, new_app, remember_dataset

# Every file in app_pages/ is a page of the navigation, including pages added later.
PAGES = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "app_pages").glob("*.py"))
TITLES = {
    "app_pages/home.py": "SEM defect inspection workbench",
    "app_pages/inspect.py": "Inspect images",
    "app_pages/metrics.py": "Metrics",
    "app_pages/models.py": "Models",
}


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_without_exception(app_env, page):
    remember_dataset(app_env.dataset)
    app = new_app()
    app.run()
    app.switch_page(page).run()
    assert not app.exception, [item.value for item in app.exception]
    assert app.title[0].value == TITLES.get(page, app.title[0].value)
    assert "**default** (shipped)" in [item.value for item in app.sidebar.markdown]


def test_pages_without_any_bundle_explain_what_is_missing(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("SEM_DEFAULT_BUNDLE", str(tmp_path / "nowhere" / "default"))
    monkeypatch.setenv("SEM_MODELS_DIR", str(tmp_path / "no_models"))
    app = new_app()
    for page in PAGES:
        app.switch_page(page).run()
        assert not app.exception, [item.value for item in app.exception]
    assert any("No model bundle found" in item.value for item in app.sidebar.warning)
    app.switch_page("app_pages/inspect.py").run()
    assert any("No model bundle is available" in item.value for item in app.error)


def test_reruns_keep_the_compiled_models(app_env, monkeypatch):
    """Streamlit clears the Keras session after every run unless ui.runtime stops it; that would
    make every upload and every Grad-CAM rebuild the models' compiled graphs."""
    import keras

    calls = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: calls.append(1))
    app = new_app()
    app.run()
    app.switch_page("app_pages/inspect.py").run()
    assert not app.exception
    assert calls == []
