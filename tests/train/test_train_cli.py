"""End to end through the CLI: a tiny dataset in, a loadable bundle out."""

import json
from pathlib import Path

import numpy as np
import pytest

from sem_core.classes import CLASSES, STAGE2_CLASSES
from sem_core.cli import main


@pytest.fixture(scope="module")
def bundle(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles") / "tiny"
    code = main(["train", "--data", str(tiny_dataset), "--out", str(out), "--image-size", "32",
                 "--backbone", "mobilenetv3small", "--epochs", "1", "--stage1-epochs", "1",
                 "--batch-size", "8", "--seed", "3"])
    assert code == 0
    return out


def test_bundle_has_both_models_info_card_and_history(bundle):
    names = {path.name for path in bundle.iterdir()}
    assert {"stage1.keras", "stage2.keras", "bundle.json", "MODEL_CARD.md", "history.json"} <= names


def test_bundle_json_records_what_a_rerun_needs(bundle):
    info = json.loads((bundle / "bundle.json").read_text())
    assert info["schema_version"] == 3
    assert info["classes"] == list(CLASSES)
    assert info["input_size"] == 32
    assert info["stage2"]["architecture"] == "mobilenetv3small"
    assert info["training"]["config"]["seed"] == 3
    assert info["command"].startswith("python -m sem_core train --data ")
    assert "--seed 3" in info["command"]
    assert len(info["data"]["manifest_hash"]) == 64
    assert 0.0 <= info["stage1_threshold"] <= 1.0
    assert info["operating_point"]["threshold"] == info["stage1_threshold"]
    assert info["metrics"]["stage1_recall"] >= 0.99  # the threshold is chosen to reach the target


def test_bundle_loads_in_safe_mode_and_predicts_raw_grayscale(bundle):
    from sem_core.explain.side_model import MIN_CAM_SIDE, localising_layer
    from sem_core.registry import load_bundle

    loaded = load_bundle(bundle)
    images = np.random.default_rng(1).random((3, 32, 32, 1)).astype("float32")
    stage1 = np.asarray(loaded.stage1(images))
    stage2 = np.asarray(loaded.stage2(images))
    assert stage1.shape == (3, 1)
    assert stage2.shape == (3, len(STAGE2_CLASSES))
    # the recorded heat-map layer is fine enough to point at a defect (see localising_layer)
    assert loaded.info.stage2.gradcam_layer == localising_layer(loaded.stage2)
    assert loaded.stage2.get_layer(loaded.info.stage2.gradcam_layer).output.shape[1] >= MIN_CAM_SIDE
    loaded.stage1.get_layer(loaded.info.stage1.gradcam_layer)


def test_training_into_an_existing_bundle_is_refused(bundle, tiny_dataset, capsys):
    before = (bundle / "bundle.json").read_text()
    code = main(["train", "--data", str(tiny_dataset), "--out", str(bundle), "--image-size", "32"])
    assert code == 1
    assert "never overwritten" in capsys.readouterr().err
    assert (bundle / "bundle.json").read_text() == before


def test_several_datasets_combine_into_one_manifest_with_absolute_paths(tmp_path):
    from sem_core.data.manifest import Manifest, ManifestEntry
    from sem_core.train.cli import combine_manifests

    first = Manifest((ManifestEntry("a/x.png", "Clean", "Train"),), root=str(tmp_path / "one"))
    second = Manifest((ManifestEntry("a/x.png", "Vias", "Validation"),), root=str(tmp_path / "two"))
    combined = combine_manifests([first, second])
    assert [combined.resolve(entry) for entry in combined] == [tmp_path / "one/a/x.png", tmp_path / "two/a/x.png"]
    assert [entry.label for entry in combined] == ["Clean", "Vias"]
    assert combine_manifests([first]) is first


def test_bundle_carries_temperatures_fitted_on_validation_and_predict_uses_them(bundle, tmp_path):
    import pandas as pd

    from sem_core.data.image_io import load_image
    from sem_core.metrics.temperature import apply_sigmoid_temperature
    from sem_core.models.preprocessing import prepare_batch
    from sem_core.registry import load_bundle

    info = json.loads((bundle / "bundle.json").read_text())
    for stage in ("stage1", "stage2"):
        fit = info["calibration"][stage]
        assert info[f"{stage}_temperature"] == fit["temperature"] > 0
        assert fit["nll_after"] <= fit["nll_before"]  # never worse than no scaling
        assert 0.0 <= fit["ece_after"] <= 1.0 and fit["images"] > 0
    assert info["stage1_bias"] == info["calibration"]["stage1"]["bias"]  # Platt scaling
    assert info["calibration"]["stage2"]["bias"] == 0.0  # stage 2: a temperature only
    assert "Calibration" in (bundle / "MODEL_CARD.md").read_text()
    root = Path(json.loads((bundle / "bundle.json").read_text())["data"]["root"])
    images = sorted((root / "Test").rglob("*.png"))
    out = tmp_path / "results.csv"
    assert main(["predict", "--bundle", str(bundle), "--input", *map(str, images),
                 "--out", str(out)]) == 0
    loaded = load_bundle(bundle)
    raw = np.asarray(loaded.stage1.predict_on_batch(
        prepare_batch([load_image(path).pixels for path in images], 32)), np.float64).reshape(-1)
    rows = pd.read_csv(out).set_index("source").loc[[str(path) for path in images]]
    np.testing.assert_allclose(rows["stage1_probability"],
                               apply_sigmoid_temperature(raw, info["stage1_temperature"],
                                                         info["stage1_bias"]), atol=1e-6)


def test_a_dataset_too_small_to_calibrate_leaves_the_bundle_without_a_shift_reference(bundle):
    # 24 validation images: fewer than the threshold's calibration needs; the bundle is complete.
    from sem_core.shift import load_reference

    assert load_reference(bundle) is None
    assert (bundle / "stage2.keras").exists()


def test_training_stores_the_shift_reference_inspect_warns_with(tmp_path):
    from bundle_fixtures import write_tiny_dataset

    from sem_core.shift import MIN_CALIBRATION_IMAGES, load_reference

    data = write_tiny_dataset(tmp_path / "data", {"Train": 4, "Validation": 8}, seed=11)
    out = tmp_path / "bundle"
    assert main(["train", "--data", str(data), "--out", str(out), "--image-size", "32",
                 "--backbone", "mobilenetv3small", "--epochs", "1", "--stage1-epochs", "1",
                 "--batch-size", "8", "--seed", "5"]) == 0
    reference = load_reference(out)
    assert reference is not None and reference.threshold > 0
    assert (reference.reference_images, reference.calibration_images) == (32, 64)
    assert 64 >= MIN_CALIBRATION_IMAGES
    # the statistics are those of the bundle's own features: each stage's pooled features,
    # then stage 2's middle-depth feature maps (MobileNetV3Small has residual blocks there)
    from sem_core.registry import load_bundle
    from sem_core.review.features import embed_pixels
    from sem_core.shift_features import shift_blocks

    loaded = load_bundle(out)
    names = [name for name, _ in reference.blocks]
    assert reference.blocks == shift_blocks(loaded) and names[:2] == ["stage1", "stage2"]
    assert len(names) > 2 and all(name.startswith("stage2:") for name in names[2:])
    pooled = embed_pixels(loaded, np.zeros((1, 32, 32, 1), np.float32)).shape[1]
    assert sum(width for _, width in reference.blocks[:2]) == pooled
    assert reference.mean.shape == reference.scale.shape == (sum(w for _, w in reference.blocks),)
