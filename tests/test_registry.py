"""Model bundles and the registry: write once, load in safe mode, list, mark active."""

import json

import numpy as np
import pytest

from sem_core.classes import CLASSES, STAGE1_CLASSES, STAGE2_CLASSES
from sem_core.registry import (
    BundleError,
    BundleInfo,
    BundleRegistry,
    StageInfo,
    load_bundle,
    read_bundle_info,
    save_bundle,
)


@pytest.fixture(scope="module")
def models():
    import keras

    from sem_core.models import build_stage1

    stage1 = build_stage1(16, width=2, blocks=2)
    stage2 = build_stage1(16, width=3, blocks=2)
    stage2.compile(optimizer="adam", loss="binary_crossentropy")
    stage2.train_on_batch(np.zeros((2, 16, 16, 1)), np.zeros((2, 1)))  # gives it optimizer state
    return stage1, stage2, keras


def _info(created="2026-01-01T00:00:00+00:00", **changes):
    values = dict(
        name="", classes=CLASSES, input_size=16, preprocessing="raw grayscale",
        stage1=StageInfo("stage1.keras", "stage1_cnn", STAGE1_CLASSES, "block2_relu", 10),
        stage2=StageInfo("stage2.keras", "densenet121", STAGE2_CLASSES, "backbone_features", 20),
        stage1_threshold=0.25, operating_point={"threshold": 0.25}, metrics={"stage2_macro_f1": 0.9},
        created=created, command="python -m sem_core train --data d --out b",
    )
    values.update(changes)
    return BundleInfo(**values)


def test_saved_bundle_round_trips_info_and_predictions(models, tmp_path):
    stage1, stage2, _ = models
    folder = save_bundle(tmp_path / "b1", _info(), stage1, stage2, {"MODEL_CARD.md": "# card\n"})
    loaded = load_bundle(folder)
    assert loaded.info.name == "b1"
    assert loaded.info == read_bundle_info(folder)
    assert loaded.info.stage2.classes == STAGE2_CLASSES and loaded.info.stage1_threshold == 0.25
    images = np.random.default_rng(0).random((2, 16, 16, 1)).astype("float32")
    np.testing.assert_array_equal(np.asarray(loaded.stage1(images)), np.asarray(stage1(images)))
    np.testing.assert_array_equal(np.asarray(loaded.stage2(images)), np.asarray(stage2(images)))
    assert (folder / "MODEL_CARD.md").read_text() == "# card\n"
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no staging left


def test_models_are_saved_without_optimizer_state(models, tmp_path):
    import io
    import zipfile

    import h5py

    stage1, stage2, _ = models
    folder = save_bundle(tmp_path / "b", _info(), stage1, stage2)
    with zipfile.ZipFile(folder / "stage2.keras") as archive:
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        assert "optimizer" not in weights


def test_an_existing_bundle_is_never_overwritten(models, tmp_path):
    stage1, stage2, _ = models
    folder = save_bundle(tmp_path / "b", _info(), stage1, stage2)
    before = (folder / "bundle.json").read_bytes()
    with pytest.raises(BundleError, match="never overwritten"):
        save_bundle(folder, _info(stage1_threshold=0.9), stage1, stage2)
    assert (folder / "bundle.json").read_bytes() == before


def test_a_bundle_from_a_newer_schema_is_refused_with_advice(models, tmp_path):
    stage1, stage2, _ = models
    folder = save_bundle(tmp_path / "b", _info(), stage1, stage2)
    data = json.loads((folder / "bundle.json").read_text())
    data["schema_version"] = 99
    (folder / "bundle.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="schema version 99"):
        read_bundle_info(folder)


def test_missing_model_file_names_the_file(models, tmp_path):
    stage1, stage2, _ = models
    folder = save_bundle(tmp_path / "b", _info(), stage1, stage2)
    (folder / "stage2.keras").unlink()
    with pytest.raises(BundleError, match="stage2.keras"):
        load_bundle(folder)


def test_a_folder_without_bundle_json_is_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="bundle.json"):
        read_bundle_info(tmp_path)


def test_registry_lists_bundles_oldest_first_and_marks_one_active(models, tmp_path):
    stage1, stage2, _ = models
    registry = BundleRegistry(tmp_path)
    save_bundle(tmp_path / "newer", _info(created="2026-02-01T00:00:00+00:00"), stage1, stage2)
    save_bundle(tmp_path / "older", _info(created="2026-01-01T00:00:00+00:00"), stage1, stage2)
    (tmp_path / "not-a-bundle").mkdir()
    assert [item.path.name for item in registry.bundles()] == ["older", "newer"]
    assert registry.active() is None
    registry.set_active("older")
    registry.set_active("newer")
    assert registry.active().path.name == "newer"
    history = json.loads((tmp_path / "active.json").read_text())["history"]
    assert [entry["bundle"] for entry in history] == ["older", "newer"]
    with pytest.raises(BundleError, match="available: newer, older|available: older, newer"):
        registry.set_active("missing")
    assert registry.active().path.name == "newer"


def test_new_bundle_dir_never_names_an_existing_folder(tmp_path):
    registry = BundleRegistry(tmp_path)
    first = registry.new_bundle_dir("retrain")
    first.mkdir()
    second = registry.new_bundle_dir("retrain")
    assert second != first and not second.exists() and second.name.startswith("retrain-")
