"""What the shift reference compares: each stage's pooled features and stage 2's middle depths."""

import numpy as np
import pytest
from bundle_fixtures import write_tiny_dataset
from deploy_helpers import make_responsive_bundle

from sem_core.shift import ShiftError, fit_shift_reference
from sem_core.shift_features import (
    middle_layers,
    reference_features,
    shift_blocks,
    shift_features,
)


def _stage2_with_middle_blocks(size: int = 32):
    """A residual block at 1/8 of the input, plain layers at 1/16, then the usual head."""
    import keras

    layers = keras.layers
    inputs = keras.Input((size, size, 1), name="image")
    x = inputs
    for step in (1, 2, 3):  # 16, 8, 4 px
        x = layers.Conv2D(4, 3, strides=2, padding="same", name=f"down{step}")(x)
    x = layers.Add(name="residual_4px")([x, layers.Conv2D(4, 3, padding="same", name="branch")(x)])
    x = layers.Conv2D(6, 3, strides=2, padding="same", name="down4")(x)  # 2 px
    x = layers.ReLU(name="relu_2px")(x)
    pooled = layers.GlobalAveragePooling2D(name="head_pool")(x)
    outputs = layers.Dense(7, activation="softmax", name="class_probabilities")(pooled)
    return keras.Model(inputs, outputs, name="stage2_residual")


def test_middle_layers_are_the_last_merge_or_else_the_last_layer_at_each_depth():
    model = _stage2_with_middle_blocks()
    assert middle_layers(model, 32) == ("residual_4px", "relu_2px")
    assert middle_layers(model, 1024) == ()  # nothing at 128 or 64 px, 1/8 and 1/16 of 1024


@pytest.mark.slow  # a tiny bundle, embedded twice
def test_shift_features_are_the_pooled_embedding_then_the_middle_means(tmp_path):
    import keras

    from sem_core.registry import load_bundle
    from sem_core.review.features import embed_pixels

    data = write_tiny_dataset(tmp_path / "data", {"Train": 2}, seed=7)
    bundle = load_bundle(make_responsive_bundle(tmp_path / "bundle", data,
                                                stage2=_stage2_with_middle_blocks()))
    blocks = shift_blocks(bundle)
    assert [name for name, _ in blocks] == ["stage1", "stage2", "stage2:residual_4px",
                                            "stage2:relu_2px"]
    assert [width for _, width in blocks][1:] == [6, 4, 6]
    pixels = np.random.default_rng(0).random((5, 32, 32, 1)).astype(np.float32)
    features = shift_features(bundle, pixels, batch_size=4)  # a padded last batch too
    assert features.shape == (5, sum(width for _, width in blocks))
    pooled = embed_pixels(bundle, pixels)
    np.testing.assert_allclose(features[:, :pooled.shape[1]], pooled, atol=1e-5)
    maps = keras.Model(bundle.stage2.inputs, bundle.stage2.get_layer("residual_4px").output)
    np.testing.assert_allclose(features[:, pooled.shape[1]:pooled.shape[1] + 4],
                               np.asarray(maps.predict_on_batch(pixels)).mean(axis=(1, 2)),
                               atol=1e-5)
    # each reference gets the features it was fitted on; another bundle's blocks are refused
    rng = np.random.default_rng(1)
    width = features.shape[1]
    current = fit_shift_reference(rng.normal(size=(100, width)), rng.normal(size=(64, width)),
                                  blocks=blocks)
    assert reference_features(bundle, pixels, current).shape == features.shape
    old = fit_shift_reference(rng.normal(size=(100, pooled.shape[1])),
                              rng.normal(size=(64, pooled.shape[1])))
    np.testing.assert_allclose(reference_features(bundle, pixels, old), pooled, atol=1e-5)
    other = fit_shift_reference(rng.normal(size=(100, width)), rng.normal(size=(64, width)),
                                blocks=(*blocks[:3], ("stage2:elsewhere", 6)))
    with pytest.raises(ShiftError, match="another bundle"):
        reference_features(bundle, pixels, other)
