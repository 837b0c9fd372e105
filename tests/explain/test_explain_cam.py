"""Contract of every explanation method on tiny flat models, and the caller's model untouched."""

import keras
import numpy as np
import pytest

from sem_core.explain import CamMethod, Explainer, HeatMap, explain, explain_batch

SIZE = 48


def _build(output: str, seed: int = 0, kernel: str | None = None) -> keras.Model:
    def init(offset: int):
        return kernel or keras.initializers.GlorotUniform(seed=seed + offset)

    inputs = keras.Input((SIZE, SIZE, 1), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="first_conv",
                            kernel_initializer=init(0))(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="last_conv",
                            kernel_initializer=init(1))(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    units, activation = (3, "softmax") if output == "softmax" else (1, "sigmoid")
    outputs = keras.layers.Dense(units, activation=activation, name="probabilities",
                                 kernel_initializer=init(2))(x)
    return keras.Model(inputs, outputs, name=f"tiny_{output}")


@pytest.fixture(scope="module")
def models() -> dict[str, keras.Model]:
    return {"softmax": _build("softmax"), "sigmoid": _build("sigmoid")}


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).random((2, 40, 56)).astype(np.float32)


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
@pytest.mark.parametrize("method", list(CamMethod))
def test_every_method_gives_a_finite_unit_range_map_and_leaves_the_model_alone(
        models, images, output, method):
    model = models[output]
    probe = np.random.default_rng(1).random((1, SIZE, SIZE, 1)).astype(np.float32)
    weights_before = [weight.copy() for weight in model.get_weights()]
    predictions_before = model.predict(probe, verbose=0)
    heat_maps = explain_batch(model, images, method=method)
    assert len(heat_maps) == 2
    for heat_map in heat_maps:
        assert isinstance(heat_map, HeatMap) and heat_map.method is method
        assert heat_map.heatmap.shape == (SIZE, SIZE) and heat_map.heatmap.dtype == np.float32
        assert np.isfinite(heat_map.heatmap).all()
        assert heat_map.heatmap.min() >= 0.0 and heat_map.heatmap.max() <= 1.0
        assert heat_map.layer_name == "last_conv" and 0.0 <= heat_map.probability <= 1.0
        assert heat_map.seconds > 0.0
    # The caller's model keeps its weights, its squashing output and its predictions.
    for before, after in zip(weights_before, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert model.get_layer("probabilities").get_config()["activation"] == output
    np.testing.assert_allclose(model.predict(probe, verbose=0), predictions_before, rtol=1e-6)


def test_top_class_and_its_probability_match_the_model(models, images):
    model = models["softmax"]
    probabilities = model.predict(np.stack([_fit(image) for image in images])[..., None], verbose=0)
    for image, expected in zip(images, probabilities):
        heat_map = explain(model, image)
        assert heat_map.class_index == int(np.argmax(expected))
        assert heat_map.probability == pytest.approx(float(expected.max()), abs=1e-5)


def test_sigmoid_classes_are_clean_and_defective(models, images):
    model = models["sigmoid"]
    p_defective = float(model.predict(_fit(images[0])[None, ..., None], verbose=0)[0, 0])
    explainer = Explainer(model)
    assert explainer.is_binary and explainer.n_classes == 2
    defective = explainer.explain(images[0], class_index=1)
    clean = explainer.explain(images[0], class_index=0)
    assert defective.probability == pytest.approx(p_defective, abs=1e-5)
    assert clean.probability == pytest.approx(1 - p_defective, abs=1e-5)
    always_defective = Explainer(model, decision_threshold=0.0)
    assert always_defective.explain(images[0]).class_index == 1


def test_flat_heat_map_is_zeros_not_nan():
    model = _build("softmax", kernel="zeros")  # every activation is 0: nothing to point at
    for method in CamMethod:
        heat_map = explain(model, np.full((SIZE, SIZE), 0.5, np.float32), method=method)
        assert np.isfinite(heat_map.heatmap).all() and heat_map.heatmap.max() == 0.0


def test_layer_can_be_named_and_bad_names_are_explained(models, images):
    heat_map = explain(models["softmax"], images[0], layer_name="first_conv")
    assert heat_map.layer_name == "first_conv"
    with pytest.raises(ValueError, match="layer_name='pool'`, which has no 4-D output"):
        Explainer(models["softmax"], layer_name="pool")
    with pytest.raises(ValueError, match="layer_name='nope'`, which is not a layer"):
        Explainer(models["softmax"], layer_name="nope")


def test_bad_arguments_are_reported(models, images):
    explainer = Explainer(models["softmax"])
    with pytest.raises(ValueError, match="method='lime'"):
        explainer.explain(images[0], method="lime")
    with pytest.raises(ValueError, match="class_index=3"):
        explainer.explain(images[0], class_index=3)
    with pytest.raises(ValueError, match=r"received shape \(2, 40, 56\)"):
        explainer.explain(images)
    assert explainer.explain_batch(np.zeros((0, SIZE, SIZE))) == []


def _fit(image: np.ndarray) -> np.ndarray:
    """Resize like the explainer does (box filter when shrinking, bilinear when enlarging)."""
    from PIL import Image

    shrinking = image.shape[0] >= SIZE and image.shape[1] >= SIZE
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(image).resize((SIZE, SIZE), resample), dtype=np.float32)


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
def test_compiled_body_gives_the_same_maps_as_eager_execution(models, images, output):
    compiled = Explainer(models[output])
    eager = Explainer(models[output], compile_body=False)
    assert compiled.compiled and not eager.compiled
    for method in CamMethod:
        pairs = zip(compiled.explain_batch(images, method), eager.explain_batch(images, method))
        for fast, slow in pairs:
            np.testing.assert_allclose(fast.heatmap, slow.heatmap, atol=1e-5)
            assert fast.probability == pytest.approx(slow.probability, abs=1e-6)


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
def test_a_target_inside_the_model_gives_the_same_maps_compiled_as_eager(models, images, output):
    # the head then holds a conv layer: gradients must pass through the compiled head
    compiled = Explainer(models[output], layer_name="first_conv")
    eager = Explainer(models[output], layer_name="first_conv", compile_body=False)
    assert compiled.compiled and not eager.compiled
    for method in CamMethod:
        pairs = zip(compiled.explain_batch(images, method), eager.explain_batch(images, method))
        for fast, slow in pairs:
            assert fast.heatmap.max() > 0.0
            np.testing.assert_allclose(fast.heatmap, slow.heatmap, atol=1e-5)


def test_layer_bypassed_by_a_skip_connection_is_explained_eagerly():
    inputs = keras.Input((32, 32, 1))
    first = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="first")(inputs)
    second = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="second")(first)
    joined = keras.layers.Add(name="join")([first, second])
    pooled = keras.layers.GlobalAveragePooling2D()(joined)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(pooled))
    bypassed = Explainer(model, layer_name="second")  # the head also needs "first"
    assert not bypassed.compiled and Explainer(model, layer_name="join").compiled
    heat_map = bypassed.explain(np.random.default_rng(2).random((32, 32)))
    assert heat_map.heatmap.shape == (32, 32) and np.isfinite(heat_map.heatmap).all()


def test_long_batches_are_explained_in_chunks_in_order(models):
    from sem_core.explain.cam import CHUNK_SIZE

    images = np.random.default_rng(3).random((CHUNK_SIZE + 3, SIZE, SIZE)).astype(np.float32)
    explainer = Explainer(models["softmax"])
    heat_maps = explainer.explain_batch(images)
    assert len(heat_maps) == CHUNK_SIZE + 3
    alone = explainer.explain(images[-1])
    np.testing.assert_allclose(heat_maps[-1].heatmap, alone.heatmap, atol=1e-5)
