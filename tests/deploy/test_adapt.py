"""``adapt``: a new bundle fitted to another tool's unlabelled images; the source never changes."""

import json

import numpy as np
import pytest
from bundle_fixtures import write_tiny_dataset
from deploy_helpers import make_responsive_bundle
from PIL import Image

from sem_core.adapt import align_head, images_content_hash, reestimate_batch_norm
from sem_core.cli import main
from sem_core.registry import load_bundle
from sem_core.shift import load_reference


def _other_tool(data, folder, seed=0):
    """The dataset's images through another tool: a brighter tone curve and more noise."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for path in sorted(data.rglob("*.png")):
        grey = np.asarray(Image.open(path), dtype=np.float64)
        toned = 255.0 * (grey / 255.0) ** 0.5 + rng.normal(0, 12, grey.shape)
        Image.fromarray(np.clip(toned, 0, 255).astype(np.uint8)).save(folder / path.name)
    return folder


def test_batch_norm_statistics_become_the_target_images_average():
    import keras

    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.BatchNormalization(name="norm")(inputs)
    model = keras.Model(inputs, outputs)
    pixels = np.random.default_rng(0).normal(3.0, 2.0, (64, 8, 8, 1)).astype("float32")
    adapted, layers = reestimate_batch_norm(model, pixels, batch_size=16)
    mean, variance = adapted.get_layer("norm").get_weights()[2:]
    assert layers == 1
    assert mean[0] == pytest.approx(pixels.mean(), abs=1e-4)
    batch_variances = [pixels[start:start + 16].var() for start in range(0, 64, 16)]
    assert variance[0] == pytest.approx(np.mean(batch_variances), rel=1e-3)
    # The source model is untouched; the copy keeps its flags and momentum for later training.
    assert model.get_layer("norm").get_weights()[2][0] == 0.0
    assert adapted.get_layer("norm").trainable and adapted.get_layer("norm").momentum == 0.99


def test_aligned_head_reads_target_features_as_source_ones():
    import keras

    inputs = keras.Input((3,))
    pooled = keras.layers.Activation("linear", name="pool")(inputs)
    outputs = keras.layers.Dense(2, name="out")(keras.layers.Dropout(0.1)(pooled))
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(1)
    source = rng.normal(0.0, 1.0, (500, 3))
    target = 5.0 + 3.0 * source  # the same images seen by a tool with another gain and offset
    adapted = align_head(model, "pool", source.mean(0), source.std(0), target)
    np.testing.assert_allclose(adapted.predict(target, verbose=0), model.predict(source, verbose=0),
                               atol=1e-4)


def test_content_hash_ignores_order():
    assert images_content_hash(["b", "a"]) == images_content_hash(["a", "b"])
    assert images_content_hash(["a"]) != images_content_hash(["a", "c"])


@pytest.mark.slow  # a tiny bundle and two adaptations over a few dozen 32-px images
def test_adapt_writes_a_new_bundle_recording_method_and_images(tmp_path, capsys):
    data = write_tiny_dataset(tmp_path / "data", {"Train": 12, "Validation": 10, "Test": 6}, seed=5)
    bundle = make_responsive_bundle(tmp_path / "bundle", data)
    before = {path.name: path.read_bytes() for path in bundle.iterdir() if path.is_file()}
    target = _other_tool(data / "Test", tmp_path / "target")
    (target / "broken.png").write_bytes(b"not a png")

    out = tmp_path / "adapted-bn"
    assert main(["adapt", "--bundle", str(bundle), "--images", str(target), "--out", str(out),
                 "--method", "batchnorm", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "broken.png" in captured.err and "batchnorm" in captured.out
    info = json.loads((out / "bundle.json").read_text())
    adaptation = info["training"]["adaptation"]
    assert adaptation["method"] == "batchnorm" and adaptation["images"] == 48
    assert len(adaptation["content_hash"]) == 64
    assert info["parent"] == str(load_bundle(bundle).path)
    assert info["metrics"] == {}
    # Batch norm now carries the target's statistics; the source bundle is byte for byte as it was.
    source, adapted = load_bundle(bundle), load_bundle(out)
    norm = next(layer.name for layer in source.stage1.layers if "bn" in layer.name)
    assert not np.allclose(source.stage1.get_layer(norm).get_weights()[2],
                           adapted.stage1.get_layer(norm).get_weights()[2])
    assert {path.name: path.read_bytes() for path in bundle.iterdir() if path.is_file()} == before

    # coral (the default) needs the source's statistics: refused with advice, then taken from
    # the reference.
    assert main(["adapt", "--bundle", str(bundle), "--images", str(target), "--out",
                 str(tmp_path / "coral"), "--quiet"]) == 2
    assert "shift-reference" in capsys.readouterr().err
    assert main(["shift-reference", "--bundle", str(bundle)]) == 0
    assert main(["adapt", "--bundle", str(bundle), "--images", str(target), "--out",
                 str(tmp_path / "coral"), "--quiet"]) == 0
    record = json.loads((tmp_path / "coral" / "bundle.json").read_text())["training"]["adaptation"]
    assert record["method"] == "coral" and record["content_hash"] == adaptation["content_hash"]
    # 48 target images are too few for the new bundle's own shift reference.
    assert load_reference(tmp_path / "coral") is None and load_reference(out) is None
    # Never over an existing bundle.
    assert main(["adapt", "--bundle", str(bundle), "--images", str(target), "--out", str(out),
                 "--quiet"]) == 2


@pytest.mark.slow  # a tiny bundle and one adaptation over 320 32-px images
def test_enough_target_images_give_the_adapted_bundle_a_shift_reference_of_its_own(tmp_path,
                                                                                   capsys):
    from sem_core.adapt import TARGET_REFERENCE_IMAGES

    data = write_tiny_dataset(tmp_path / "data", {"Train": 12, "Validation": 10, "Test": 40},
                              seed=6)
    bundle = make_responsive_bundle(tmp_path / "bundle", data)
    target = _other_tool(data / "Test", tmp_path / "target")
    assert len(list(target.iterdir())) == TARGET_REFERENCE_IMAGES
    out = tmp_path / "adapted"
    assert main(["adapt", "--bundle", str(bundle), "--images", str(target), "--out", str(out),
                 "--method", "batchnorm", "--quiet"]) == 0
    assert "shift reference of the new tool's images: written" in capsys.readouterr().out
    reference = load_reference(out)
    # four in five of the target images for the statistics, every fifth for the threshold
    assert (reference.reference_images, reference.calibration_images) == (256, 64)
    assert reference.threshold > 0 and load_reference(bundle) is None  # the source has none
    # its statistics are the adapted bundle's features of the target images (not the source's)
    from sem_core.models.preprocessing import prepare_image
    from sem_core.shift_features import shift_blocks, shift_features

    files = sorted(target.iterdir())
    pixels = np.stack([prepare_image(np.asarray(Image.open(path)) / 255.0, 32) for path in files])
    adapted = load_bundle(out)
    features = shift_features(adapted, pixels)
    assert reference.blocks == shift_blocks(adapted)
    kept = np.ones(len(files), bool)
    kept[::5] = False
    np.testing.assert_allclose(reference.mean, features[kept].mean(axis=0), rtol=1e-4, atol=1e-6)


def test_contrastive_loss_is_lower_for_agreeing_views_than_for_mixed_up_ones():
    from sem_core.adapt_contrastive import nt_xent

    rng = np.random.default_rng(2)
    first = rng.normal(size=(8, 16)).astype("float32")
    agreeing = first + 0.05 * rng.normal(size=first.shape).astype("float32")
    mixed_up = agreeing[::-1]
    assert float(nt_xent(first, agreeing)) < float(nt_xent(first, mixed_up)) - 1.0


def test_sem_views_stay_images_and_differ_by_seed_only():
    import tensorflow as tf

    from sem_core.adapt_contrastive import sem_views

    images = tf.constant(np.random.default_rng(3).uniform(0, 1, (4, 32, 32, 1)), tf.float32)
    one = sem_views(images, tf.constant([0, 1])).numpy()
    again = sem_views(images, tf.constant([0, 1])).numpy()
    other = sem_views(images, tf.constant([0, 2])).numpy()
    assert one.shape == images.shape and one.min() >= 0.0 and one.max() <= 1.0
    np.testing.assert_array_equal(one, again)
    assert not np.allclose(one, other)


def test_refit_head_learns_the_labels_from_the_pooled_features():
    import keras

    from sem_core.adapt_contrastive import refit_head

    keras.utils.set_random_seed(4)
    inputs = keras.Input((8, 8, 1), name="image")
    pooled = keras.layers.GlobalAveragePooling2D(name="head_pool")(
        keras.layers.Conv2D(4, 3, padding="same", kernel_initializer="ones", name="conv")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax",
                                                   name="class_probabilities")(pooled))
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 200)
    pixels = (-0.4 + 0.8 * labels[:, None, None, None]
              + rng.normal(0, 0.05, (200, 8, 8, 1))).astype("float32")
    # a head that reads the features the wrong way round: bright images -> class 0
    model.get_layer("class_probabilities").set_weights(
        [np.tile([[0.01, -0.01]], (4, 1)).astype("float32"), np.zeros(2, "float32")])
    conv_before = model.get_layer("conv").get_weights()[0].copy()
    before = np.mean(model.predict(pixels[150:], verbose=0).argmax(1) == labels[150:])
    refit_head(model, pixels[:150], labels[:150], pixels[150:], labels[150:])
    accuracy = np.mean(model.predict(pixels[150:], verbose=0).argmax(1) == labels[150:])
    assert before < 0.05 and accuracy >= 0.95
    # only the head moved: the features it reads are the ones the backbone gave before
    np.testing.assert_array_equal(model.get_layer("conv").get_weights()[0], conv_before)


@pytest.mark.slow  # a tiny bundle, one contrastive pass over 48 32-px images and a head refit
def test_contrastive_adapts_stage2_and_keeps_stage1(tmp_path, capsys):
    data = write_tiny_dataset(tmp_path / "data", {"Train": 12, "Validation": 10, "Test": 6}, seed=7)
    bundle = make_responsive_bundle(tmp_path / "bundle", data)
    before = {path.name: path.read_bytes() for path in bundle.iterdir() if path.is_file()}
    target = _other_tool(data / "Test", tmp_path / "target")
    out = tmp_path / "adapted"
    command = ["adapt", "--bundle", str(bundle), "--images", str(target), "--out", str(out),
               "--method", "contrastive", "--epochs", "1", "--quiet"]
    # The head is fitted again on labelled source images, so they are required.
    assert main(command) == 2
    assert "--data" in capsys.readouterr().err and not out.exists()
    assert main([*command, "--data", str(data)]) == 0
    info = json.loads((out / "bundle.json").read_text())
    adaptation = info["training"]["adaptation"]
    assert adaptation["method"] == "contrastive" and adaptation["images"] == 48
    assert adaptation["epochs"] == 1 and adaptation["steps"] == 3  # 48 images, 16 a step
    assert adaptation["stages"].startswith("stage 2") and len(adaptation["source_data"]) == 64
    source, adapted = load_bundle(bundle), load_bundle(out)
    conv = source.stage2.get_layer("block1_conv").get_weights()[0]
    assert not np.allclose(conv, adapted.stage2.get_layer("block1_conv").get_weights()[0])
    for old, new in zip(source.stage1.get_weights(), adapted.stage1.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    assert adapted.info.stage1_threshold == source.info.stage1_threshold
    # stage 2's temperature is refitted on the source's validation defects (7 classes x 10)
    assert info["calibration"]["stage2"]["images"] == 70
    assert info["stage2_temperature"] == info["calibration"]["stage2"]["temperature"]
    assert "fitted again on the source's labelled images" in (out / "MODEL_CARD.md").read_text()
    assert {path.name: path.read_bytes() for path in bundle.iterdir() if path.is_file()} == before
