"""Pointing game: hand-made hits and misses, and a trained toy model that points at the defect."""

import keras
import numpy as np
import pytest

from sem_core.explain import Explainer, peak_in_mask_grid, pointing_game

SIZE = 48


def _mask(shape, rows, columns):
    mask = np.zeros(shape, bool)
    mask[rows, columns] = True
    return mask


def test_hits_misses_tolerance_and_skipped_clean_images():
    heat = np.zeros((10, 10), np.float32)
    heat[2, 2] = 1.0
    on_defect = _mask((10, 10), slice(1, 4), slice(1, 4))
    near_defect = _mask((10, 10), 2, slice(5, 7))     # 3 px right of the peak
    far_defect = _mask((10, 10), 9, 9)
    result = pointing_game([heat] * 4, [on_defect, near_defect, far_defect, np.zeros((10, 10))],
                           dilation_px=0)
    assert (result.hits, result.total, result.skipped) == (1, 3, 1)
    assert pointing_game([heat], [near_defect], dilation_px=3).hits == 1
    assert pointing_game([heat], [near_defect], dilation_px=2.9).hits == 0
    assert result.rate == pytest.approx(1 / 3)
    assert result.proportion.low < result.rate < result.proportion.high


def test_flat_heat_map_is_a_miss_and_peaks_scale_to_the_mask_grid():
    flat = np.full((8, 8), 0.3)
    assert pointing_game([flat], [np.ones((8, 8))], dilation_px=100).hits == 0
    heat = np.zeros((4, 4))
    heat[3, 0] = 1.0
    assert peak_in_mask_grid(heat, (40, 80)) == (35, 10)  # centre of the bottom-left cell


def test_mismatched_inputs_are_reported():
    with pytest.raises(ValueError, match="2 heat maps for 1 masks"):
        pointing_game([np.zeros((2, 2))] * 2, [np.ones((2, 2))])
    with pytest.raises(ValueError, match=r"masks\[0\] must be a \(height, width\)"):
        pointing_game([np.zeros((2, 2))], [np.ones((2, 2, 1))])


def _blob_images(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy images with a dark line anywhere; odd-numbered ones also carry a bright blob."""
    rows, columns = np.mgrid[:SIZE, :SIZE]
    images = 0.35 + 0.08 * rng.standard_normal((count, SIZE, SIZE))
    labels = np.arange(count) % 2
    masks = np.zeros((count, SIZE, SIZE), bool)
    for index in range(count):
        images[index, rng.integers(4, SIZE - 4), :] -= 0.15   # a distractor in every image
        if labels[index]:
            row, column = rng.integers(6, SIZE - 6, size=2)
            distance_squared = (rows - row) ** 2 + (columns - column) ** 2
            images[index] += 0.5 * np.exp(-distance_squared / (2 * 2.5 ** 2))
            masks[index] = distance_squared <= 3.75 ** 2
    return np.clip(images, 0.0, 1.0).astype(np.float32), labels, masks


@pytest.fixture(scope="module")
def trained_screener():
    rng = np.random.default_rng(0)
    train_images, train_labels, _ = _blob_images(rng, 400)
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu",
                            kernel_initializer=keras.initializers.GlorotUniform(seed=0))(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="last_conv",
                            kernel_initializer=keras.initializers.GlorotUniform(seed=1))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid",
                                 kernel_initializer=keras.initializers.GlorotUniform(seed=2))(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.003), "binary_crossentropy", metrics=["accuracy"])
    model.fit(train_images[..., None], train_labels, epochs=15, batch_size=32, shuffle=False,
              verbose=0)
    return model, _blob_images(rng, 60)


def test_trained_model_grad_cam_points_at_the_defect_and_not_for_clean(trained_screener):
    model, (images, labels, masks) = trained_screener
    assert model.evaluate(images[..., None], labels, verbose=0)[1] >= 0.9  # the model learned
    explainer = Explainer(model)
    defective = labels == 1
    for method in ("gradcam", "gradcampp"):
        towards_defect = explainer.explain_batch(images[defective], method, class_index=1)
        towards_clean = explainer.explain_batch(images[defective], method, class_index=0)
        assert pointing_game(towards_defect, masks[defective], dilation_px=3).rate > 0.7
        # Evidence for "Clean" is not the blob: the map is class-specific.
        assert pointing_game(towards_clean, masks[defective], dilation_px=3).rate < 0.3
