"""Initial weights: ImageNet fails fast offline, files and bundles transfer by layer name."""

import time

import numpy as np
import pytest

from sem_core.cli import main
from sem_core.models.weights import (
    WeightsKind,
    WeightsUnavailableError,
    ensure_imagenet_available,
    parse_weights,
    transfer_weights,
)


def test_imagenet_offline_fails_with_instructions(offline):
    with pytest.raises(WeightsUnavailableError) as error:
        ensure_imagenet_available("densenet121")
    message = str(error.value)
    assert "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    for advice in ("--weights PATH", "--weights default", "--weights none"):
        assert advice in message


def test_imagenet_in_the_keras_cache_needs_no_network(offline):
    cache = offline / "models"
    cache.mkdir(parents=True)
    (cache / "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5").write_bytes(b"h5")
    ensure_imagenet_available("mobilenetv3small")  # does not raise


def test_train_cli_with_imagenet_offline_fails_fast_before_reading_data(offline, tmp_path, capsys):
    started = time.perf_counter()
    code = main(["train", "--data", str(tmp_path / "no_such_data"), "--out", str(tmp_path / "b"),
                 "--weights", "imagenet"])
    elapsed = time.perf_counter() - started
    assert code == 1
    err = capsys.readouterr().err
    assert "ImageNet weights" in err and "--weights none" in err
    assert elapsed < 5.0
    assert not (tmp_path / "b").exists()


def test_parse_weights_accepts_the_named_sources(tmp_path):
    assert parse_weights(None).kind == WeightsKind.NONE
    assert parse_weights("None").kind == WeightsKind.NONE
    assert parse_weights("imagenet").kind == WeightsKind.IMAGENET
    file = tmp_path / "w.keras"
    file.write_bytes(b"x")
    parsed = parse_weights(str(file))
    assert parsed.kind == WeightsKind.PATH and parsed.path == file


def test_missing_path_and_missing_default_bundle_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(WeightsUnavailableError, match="not found"):
        parse_weights(str(tmp_path / "nope.keras"))
    monkeypatch.setenv("SEM_DEFAULT_BUNDLE", str(tmp_path / "empty"))
    with pytest.raises(WeightsUnavailableError, match="make default-model"):
        parse_weights("default")


def test_transfer_copies_matching_layers_and_skips_other_shapes(tmp_path):
    from sem_core.models import build_stage1

    donor = build_stage1(32, width=4)
    for layer in donor.layers:
        if layer.get_weights():
            layer.set_weights([np.full_like(w, 0.5) for w in layer.get_weights()])
    donor.save(tmp_path / "donor.keras")
    same = build_stage1(64, width=4)  # another input size: conv weights still fit
    report = transfer_weights(same, tmp_path / "donor.keras")
    assert report.skipped == ()
    assert np.all(same.get_layer("block2_conv").get_weights()[0] == 0.5)
    wider = build_stage1(32, width=8)
    report = transfer_weights(wider, tmp_path / "donor.keras")
    assert "block1_conv" in report.skipped
    assert not np.all(wider.get_layer("block1_conv").get_weights()[0] == 0.5)


def test_initial_models_from_a_bundle_folder_start_from_its_weights(tmp_path, monkeypatch):
    from sem_core.models import build_stage1, build_stage2
    from sem_core.train.config import TrainConfig
    from sem_core.train.stages import build_initial_models

    bundle = tmp_path / "parent"
    bundle.mkdir()
    parent1 = build_stage1(32, width=4)
    parent2 = build_stage2(32, "mobilenetv3small")
    parent1.save(bundle / "stage1.keras")
    parent2.save(bundle / "stage2.keras")
    monkeypatch.setenv("SEM_DEFAULT_BUNDLE", str(bundle))
    config = TrainConfig(image_size=32, backbone="mobilenetv3small", weights="default", stage1_width=4)
    stage1, stage2, notes = build_initial_models(config, parse_weights("default"))
    images = np.random.default_rng(2).random((2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(stage2(images)), np.asarray(parent2(images)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(stage1(images)), np.asarray(parent1(images)), atol=1e-6)
    assert any("stage2.keras: copied weights" in note for note in notes)
