"""Input pipeline, augmentation, class weights, progress events, cancellation and repeatability."""

import numpy as np
import pytest
from PIL import Image

from sem_core.train.augment import build_augmenter
from sem_core.train.callbacks import EventKind, TrainingCancelled
from sem_core.train.config import TrainConfig
from sem_core.train.pipeline import balanced_sample_weights, decode_images, make_dataset


def _pixels(count=16, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(count, size, size, 1), dtype=np.uint8)


def test_decode_keeps_order_resizes_and_reports_a_bad_file_without_stopping(tmp_path):
    good = []
    for index, side in enumerate((40, 24)):
        path = tmp_path / f"good{index}.png"
        Image.fromarray(np.full((side, side), 60 * (index + 1), dtype=np.uint8)).save(path)
        good.append(path)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    decoded = decode_images([good[0], bad, good[1]], ["Clean", "Cracks", "Vias"], size=32)
    assert decoded.pixels.shape == (2, 32, 32, 1) and decoded.pixels.dtype == np.uint8
    assert decoded.labels == ("Clean", "Vias")
    assert decoded.pixels[0].mean() == pytest.approx(60, abs=1) and decoded.pixels[1].mean() == pytest.approx(120, abs=1)
    assert len(decoded.failures) == 1 and decoded.failures[0].path.endswith("bad.png")
    assert "bad.png" in decoded.failures[0].reason


def test_balanced_weights_give_every_present_class_the_same_total():
    targets = np.array([0] * 8 + [1] * 2 + [3] * 6)
    weights = balanced_sample_weights(targets, num_classes=4)
    totals = [weights[targets == k].sum() for k in (0, 1, 3)]
    np.testing.assert_allclose(totals, totals[0], rtol=1e-5)
    assert weights.mean() == pytest.approx(1.0, rel=1e-5)


def test_augmentation_keeps_shape_and_range_changes_pixels_and_follows_the_seed():
    batch = _pixels(8).astype("float32") / 255.0
    first = np.asarray(build_augmenter(seed=4)(batch, training=True))
    again = np.asarray(build_augmenter(seed=4)(batch, training=True))
    other = np.asarray(build_augmenter(seed=5)(batch, training=True))
    assert first.shape == batch.shape
    assert first.min() >= 0.0 and first.max() <= 1.0
    assert not np.allclose(first, batch)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_dataset_serves_float_batches_with_weights_and_reshuffles_each_epoch():
    pixels = _pixels(10)
    targets = np.arange(10, dtype=np.float32)[:, None]
    dataset = make_dataset(pixels, targets, 4, sample_weights=np.ones(10), shuffle_seed=1)
    epoch1 = list(dataset)
    epoch2 = list(dataset)
    images, labels, weights = epoch1[0]
    assert images.dtype.name == "float32" and float(np.max(images)) <= 1.0
    assert [len(batch[0]) for batch in epoch1] == [4, 4, 2]
    order1 = np.concatenate([batch[1].numpy()[:, 0] for batch in epoch1])
    order2 = np.concatenate([batch[1].numpy()[:, 0] for batch in epoch2])
    assert sorted(order1) == list(range(10)) and not np.array_equal(order1, order2)
    # Images stay paired with their labels through the shuffle.
    for batch_images, batch_labels, _ in epoch1:
        for image, label in zip(batch_images.numpy(), batch_labels.numpy()[:, 0]):
            np.testing.assert_allclose(image, pixels[int(label)] / 255.0, atol=1e-6)


def _fit_tiny_stage1(seed, listener=None, should_stop=None, deadline=None):
    import keras

    from sem_core.models import build_stage1
    from sem_core.train.fit import FitContext, fit_stage1

    keras.utils.set_random_seed(seed)
    pixels = _pixels(16, seed=3)
    targets = (np.arange(16) % 2).astype(np.float32)[:, None]
    train = make_dataset(pixels, targets, 8, shuffle_seed=seed, augmenter=build_augmenter(seed=seed))
    validation = make_dataset(pixels[:8], targets[:8], 8)
    events = []
    context = FitContext(train, validation, 2, listener or events.append, should_stop, deadline)
    model = build_stage1(32, width=2, blocks=2)
    config = TrainConfig(image_size=32, stage1_epochs=2, patience=5)
    phases = fit_stage1(model, context, config)
    return model, phases, events


def test_progress_events_cover_every_batch_and_epoch_and_history_is_kept():
    _, phases, events = _fit_tiny_stage1(seed=0)
    kinds = [event.kind for event in events]
    assert kinds[0] == EventKind.PHASE_START and kinds[-1] == EventKind.PHASE_END
    assert kinds.count(EventKind.BATCH) == 4 and kinds.count(EventKind.EPOCH) == 2
    epoch_events = [event for event in events if event.kind == EventKind.EPOCH]
    assert [event.epoch for event in epoch_events] == [1, 2]
    assert {"loss", "val_loss", "learning_rate"} <= set(epoch_events[-1].metrics)
    assert phases[0].epochs_run == 2 and len(phases[0].history["val_loss"]) == 2
    assert 1 <= phases[0].best_epoch <= 2


def test_should_stop_cancels_after_the_current_batch():
    calls = []
    with pytest.raises(TrainingCancelled):
        _fit_tiny_stage1(seed=0, listener=calls.append, should_stop=lambda: True)
    assert [event.kind for event in calls].count(EventKind.BATCH) == 1


def test_same_seed_gives_the_same_weights():
    first, _, _ = _fit_tiny_stage1(seed=11)
    second, _, _ = _fit_tiny_stage1(seed=11)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_spent_time_budget_ends_training_after_one_epoch_and_keeps_the_model():
    import time

    _, phases, events = _fit_tiny_stage1(seed=0, deadline=time.monotonic())
    assert phases[0].epochs_run == 1
    assert any("time budget" in event.message for event in events if event.kind == EventKind.MESSAGE)


def test_augmentation_levels_none_light_full():
    from sem_core.train.augment import AugmentConfig, augment_config

    assert augment_config("none") is None
    assert augment_config("full") == AugmentConfig()
    light = augment_config("light")
    assert light.rotation_degrees == 0 and light.noise_std == 0 and light.blur_sigma == 0
    batch = _pixels(4).astype("float32") / 255.0
    out = np.asarray(build_augmenter(light, seed=1)(batch, training=True))
    assert out.shape == batch.shape and 0.0 <= out.min() and out.max() <= 1.0


def test_config_reads_the_old_boolean_augment_flag_and_rejects_unknown_levels():
    assert TrainConfig(augment=False).augment == "none"
    assert TrainConfig.from_dict({"augment": True}).augment == "full"
    with pytest.raises(ValueError, match="augment"):
        TrainConfig(augment="heavy")
