"""Inspect page, driven like a user: uploads (good, corrupt, zip), results table, detail view.

These run the real cascade and Grad-CAM of the tiny bundle; only the cache test wraps the
backend to count how often it is called.
"""

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from app_helpers import inspect_page, png_bytes, tiny_image, upload_to_inspect

from sem_core.classes import CLASSES
from sem_core.explain import CamMethod
from ui.inspection import Status


@pytest.fixture(scope="module")
def good_png() -> bytes:
    return png_bytes(tiny_image("Bridges", np.random.default_rng(5)))




def test_good_image_gets_a_label_and_corrupt_file_a_reason(app_env, good_png):
    app = upload_to_inspect(inspect_page(), [("wafer_01.png", good_png, "image/png"),
                                    ("broken.png", b"\x89PNG\r\n\x1a\n truncated", "image/png")])
    table = app.dataframe[0].value.set_index("source")
    assert table.loc["wafer_01.png", "final_label"] in CLASSES
    assert 0.0 <= table.loc["wafer_01.png", "confidence"] <= 1.0
    assert pd.isna(table.loc["broken.png", "final_label"])
    assert table.loc["broken.png", "error_kind"] == "corrupt"
    assert "2 files: 1 scored, 1 unreadable" in app.caption[0].value


def test_zip_members_become_rows_and_a_broken_zip_is_one_row(app_env, good_png):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("lot7/a.png", good_png)
        handle.writestr("lot7/b.png", png_bytes(tiny_image("Clean", np.random.default_rng(6))))
        handle.writestr("lot7/notes.txt", "operator notes")
    app = upload_to_inspect(inspect_page(), [("lot7.zip", archive.getvalue(), "application/zip"),
                                    ("old.zip", b"PK\x03\x04 not really", "application/zip")])
    table = app.dataframe[0].value.set_index("source")
    assert set(table.index) == {"lot7.zip/lot7/a.png", "lot7.zip/lot7/b.png",
                                "lot7.zip/lot7/notes.txt", "old.zip"}
    assert table.loc["lot7.zip/lot7/a.png", "final_label"] in CLASSES
    assert table.loc["lot7.zip/lot7/notes.txt", "error_kind"] == "not_an_image"
    assert "cannot be opened" in table.loc["old.zip", "error"]


def test_detail_view_shows_image_both_overlays_and_probabilities(app_env, good_png):
    app = upload_to_inspect(inspect_page(), [("wafer_01.png", good_png, "image/png")])
    captions = [image.captions[0] for image in app.image]
    assert captions[0] == "Image"
    assert captions[1].startswith("Stage 1 LayerCAM: evidence for Defective (p = ")  # the default
    assert captions[2].startswith("Stage 2 LayerCAM: ")
    assert "Final class probabilities" in str(app.get("plotly_chart")[0].proto.spec)
    app.selectbox(key="inspect_cam_method").set_value(CamMethod.GRADCAM_PLUS_PLUS).run()
    captions = [image.captions[0] for image in app.image]
    assert captions[1].startswith("Stage 1 Grad-CAM++")


def test_opacity_changes_reuse_heat_maps_and_results_survive_a_page_switch(
        app_env, good_png, monkeypatch):
    import sem_core.inference

    calls = []
    real_predict = sem_core.inference.predict

    def counting_predict(*args, **kwargs):
        calls.append(len(args[1]))
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(sem_core.inference, "predict", counting_predict)
    app = upload_to_inspect(inspect_page(), [("wafer_01.png", good_png, "image/png")])
    heat_maps = len(app.session_state["heatmaps"])
    app.slider(key="inspect_cam_alpha").set_value(0.9).run()
    assert len(app.session_state["heatmaps"]) == heat_maps
    app.switch_page("app_pages/models.py").run()
    app.switch_page("app_pages/inspect.py").run()
    assert app.dataframe[0].value["source"].tolist() == ["wafer_01.png"]
    # The same bytes under another name are recognised by their hash: no new model run.
    upload_to_inspect(app, [("copy_of_wafer.png", good_png, "image/png")])
    assert app.dataframe[0].value["source"].tolist() == ["copy_of_wafer.png"]
    assert calls == [1]


def test_filters_and_csv_download(app_env, good_png):
    app = upload_to_inspect(inspect_page(), [("wafer_01.png", good_png, "image/png"),
                                    ("empty.png", b"", "image/png")])
    app.selectbox(key="inspect_filter_status").set_value(Status.ERRORS).run()
    assert app.dataframe[0].value["source"].tolist() == ["empty.png"]
    assert app.dataframe[0].value["error_kind"].tolist() == ["empty"]
    assert any("(1 of 2 shown)" in item.value for item in app.markdown)
    app.selectbox(key="inspect_filter_status").set_value(Status.SCORED).run()
    assert app.dataframe[0].value["source"].tolist() == ["wafer_01.png"]
    label = app.dataframe[0].value["final_label"].iloc[0]
    app.segmented_control(key="inspect_view").set_value("Gallery").run()
    assert not app.exception, [item.value for item in app.exception]
    assert f"**{label}** (1)" in [item.value for item in app.markdown]
    assert any(button.label.startswith("wafer_01.png (") for button in app.button)
    assert app.get("download_button")[0].label == "Download results (CSV)"


def test_runtime_picker_offers_the_passed_export_and_it_labels_as_keras_does(app_env, good_png):
    from sem_core.deploy.export import export_bundle
    from sem_core.deploy.gate_data import VALIDATION, labelled_images
    from sem_core.deploy.options import ExportFormat, Precision
    from sem_core.registry import BundleRegistry, load_bundle

    bundle = app_env.user_models / "second"
    loaded = load_bundle(bundle)
    export_bundle(loaded, ExportFormat.ONNX, Precision.FLOAT32,
                  labelled_images(app_env.dataset, VALIDATION, int(loaded.info.input_size)))
    BundleRegistry(app_env.user_models).set_active("second")
    app = upload_to_inspect(inspect_page(), [("wafer_01.png", good_png, "image/png")])
    assert app.selectbox(key="inspect_runtime").options == ["auto", "keras", "onnx"]
    tables = {}
    for runtime in ("onnx", "keras"):
        app.selectbox(key="inspect_runtime").set_value(runtime).run()
        assert not app.exception, [item.value for item in app.exception]
        shown = "onnx (onnx-float32, " if runtime == "onnx" else "keras."
        assert f"Bundle second, runtime {shown}" in app.caption[0].value
        tables[runtime] = app.dataframe[0].value.set_index("source")
    assert tables["onnx"].loc["wafer_01.png", "final_label"] == \
        tables["keras"].loc["wafer_01.png", "final_label"]
    assert abs(tables["onnx"].loc["wafer_01.png", "confidence"]
               - tables["keras"].loc["wafer_01.png", "confidence"]) <= 1e-4


def test_images_unlike_the_training_images_get_a_shift_warning(app_env, monkeypatch):
    from sem_core import shift
    from sem_core.registry import load_bundle
    from sem_core.review.features import embed_pixels

    bundle = load_bundle(app_env.shipped_default)
    size = int(bundle.info.input_size)
    width = embed_pixels(bundle, np.zeros((1, size, size, 1), np.float32)).shape[1]
    # A reference whose threshold no batch can stay under: the page must say so. (The
    # statistics themselves are tested in tests/deploy/test_shift.py.)
    strict = shift.ShiftReference(np.zeros(width), np.ones(width), 1e-9, 32, 0.99, 100, 100,
                                  (1.0, 1.0))
    monkeypatch.setattr(shift, "load_reference", lambda folder: strict)
    from sem_core.adapt import MIN_TARGET_IMAGES

    rng = np.random.default_rng(8)
    files = [(f"w{number}.png", png_bytes(tiny_image("Clean", rng)), "image/png")
             for number in range(MIN_TARGET_IMAGES)]
    app = upload_to_inspect(inspect_page(), files)
    warning = " ".join(item.value for item in app.warning)
    assert "look unlike the ones the model was trained on" in warning
    assert "1 of 1 batch over the threshold" in warning
    # The warning offers adaptation: a new user bundle; the bundle in use is not changed.
    before = {path.name: path.read_bytes() for path in app_env.shipped_default.iterdir()
              if path.is_file()}
    app.button(key="inspect_adapt").click().run()
    assert not app.exception, [item.value for item in app.exception]
    (adapted,) = sorted(app_env.user_models.glob(f"{app_env.shipped_default.name}-adapted-*"))
    record = json.loads((adapted / "bundle.json").read_text())["training"]["adaptation"]
    assert record["method"] == "coral" and record["images"] == MIN_TARGET_IMAGES
    assert adapted.name in " ".join(item.value for item in app.success)
    assert {path.name: path.read_bytes() for path in app_env.shipped_default.iterdir()
            if path.is_file()} == before
