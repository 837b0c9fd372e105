"""First run on a fresh machine: one click to demo images, one more to see them inspected."""

from app_helpers import new_app


def test_demo_images_are_written_under_the_data_root_and_inspected(app_env, tmp_path,
                                                                    monkeypatch):
    data_root = tmp_path / "fresh_data"
    monkeypatch.setenv("SEM_DATA_ROOT", str(data_root))
    app = new_app()
    app.run()
    app.button(key="home_demo_images").click().run()
    assert not app.exception, [item.value for item in app.exception]
    written = sorted(path.name for path in (data_root / "demo" / "images").iterdir())
    assert len(written) == 8 and written[0].startswith("demo_000_Clean")
    assert any("8 demo images" in item.value for item in app.success)
    app.switch_page("app_pages/inspect.py").run()
    app.radio(key="inspect_source").set_value("Demo images").run()
    app.button(key="inspect_demo_run").click().run()
    assert not app.exception, [item.value for item in app.exception]
    table = app.dataframe[0].value
    assert table["source"].tolist() == [f"demo/images/{name}" for name in written]
    assert table["error"].isna().all()
    # The demo images' true class is shown beside the prediction, with the set's accuracy.
    assert table["true_label"].tolist() == [name.split("_")[2][:-4] for name in written]
    correct = int((table["true_label"] == table["final_label"]).sum())
    assert any(f"{correct} of 8 predicted as their true class" in item.value for item in app.info)
    assert [image.captions[0] for image in app.image][:1] == ["Image"]


def test_demo_dataset_becomes_the_current_dataset(app_env, tmp_path, monkeypatch):
    data_root = tmp_path / "fresh_data"
    monkeypatch.setenv("SEM_DATA_ROOT", str(data_root))
    app = new_app()
    app.run()
    app.button(key="home_demo_dataset").click().run()
    assert not app.exception, [item.value for item in app.exception]
    assert not app.error, [item.value for item in app.error]
    dataset = data_root / "demo" / "dataset"
    assert (dataset / "manifest.csv").is_file()
    assert app.session_state["dataset"] == str(dataset)
    assert any("160 images (kaggle layout)" in item.value for item in app.success)
    # the sidebar, drawn before the button ran, names it too (the page reruns)
    assert any(item.value == str(dataset) for item in app.sidebar.caption)
