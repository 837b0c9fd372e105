"""Models page: switch the active bundle (remembered across sessions), delete on confirmation."""

import json

from app_helpers import copy_bundle, new_app


def _models_page():
    app = new_app()
    app.run()
    app.switch_page("app_pages/models.py").run()
    return app


def _sidebar_bundle(app):
    return next(item.value for item in app.sidebar.markdown if item.value.startswith("**"))


def test_model_switch_changes_the_active_bundle_everywhere(app_env):
    from ui import settings

    app = _models_page()
    assert _sidebar_bundle(app) == "**default** (shipped)"
    app.selectbox(key="models_bundle").set_value("second (user)").run()
    app.button(key="models_activate").click().run()
    assert not app.exception, [item.value for item in app.exception]
    assert _sidebar_bundle(app) == "**second** (user)"
    assert any("second is now the active bundle" in item.value for item in app.success)
    assert json.loads(settings.state_file().read_text())["active_bundle"].endswith("/second")
    user_registry = json.loads((app_env.user_models / "active.json").read_text())
    assert user_registry["active"] == "second"
    fresh = _models_page()  # a new browser session remembers the choice
    assert _sidebar_bundle(fresh) == "**second** (user)"
    fresh.switch_page("app_pages/inspect.py").run()
    assert not fresh.exception


def test_delete_needs_the_typed_name_and_never_offers_shipped_or_active(app_env):
    doomed = copy_bundle(app_env.shipped_default, app_env.user_models / "doomed",
                         "2029-01-01T00:00:00+00:00")
    app = _models_page()
    offered = app.selectbox(key="models_delete_choice").options
    assert offered == ["doomed (user)", "second (user)"]
    app.selectbox(key="models_delete_choice").set_value("doomed (user)")
    app.text_input(key="models_delete_confirm").input("doome").run()
    assert app.button(key="models_delete").disabled
    assert doomed.is_dir()
    app.text_input(key="models_delete_confirm").input("doomed").run()
    app.button(key="models_delete").click().run()
    assert not doomed.exists()
    assert any("Deleted" in item.value for item in app.success)
    assert "doomed" not in app.dataframe[0].value["bundle"].tolist()


def test_compare_two_bundles_per_class_on_the_same_images(app_env):
    from app_helpers import remember_dataset

    remember_dataset(app_env.dataset)
    app = _models_page()
    app.button(key="models_compare_run").click().run()
    assert not app.exception, [item.value for item in app.exception]
    table = app.dataframe[-1].value
    assert table["class"].tolist()[:2] == ["Clean", "Bridges"]
    assert {"default f1", "second f1", "support"} <= set(table.columns)
    # The same weights under two names must score identically, class by class.
    assert table["default f1"].tolist() == table["second f1"].tolist()
    assert table["support"].sum() == 16


def test_a_lambda_bundle_is_listed_as_broken_naming_its_file_and_is_never_offered(app_env):
    import shutil

    from hostile_bundles import lambda_model_file

    unsafe = app_env.user_models / "unsafe"
    shutil.copytree(app_env.shipped_default, unsafe)
    (unsafe / "stage1.keras").unlink()
    lambda_model_file(unsafe / "stage1.keras")
    app = _models_page()
    assert not app.exception, [item.value for item in app.exception]
    assert any("1 bundle folder cannot be used (broken)" in item.value for item in app.warning)
    assert any(item.value == "**unsafe** (user, broken)" for item in app.markdown)
    (reason,) = [item.value for item in app.code]
    assert reason.startswith(str(unsafe / "stage1.keras")) and "Lambda layer" in reason
    assert "unsafe (user)" not in app.selectbox(key="models_bundle").options
