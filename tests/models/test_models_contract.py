"""Contract tests over every stage-2 backbone in the registry, and stage 1, with weights=None.

Each model must build from raw grayscale, train one step, save and reload in Keras safe mode
with identical predictions, and be a flat graph that tf-keras-vis Grad-CAM accepts at the
layer the registry names.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from sem_core.classes import STAGE2_CLASSES  # noqa: E402
from sem_core.models import (  # noqa: E402
    backbone_names,
    build_stage1,
    build_stage2,
    get_backbone,
    set_backbone_trainable,
    stage1_gradcam_layer,
)

SIZE = 32


def _stage2(name):
    return build_stage2(SIZE, name), get_backbone(name).gradcam_layer


def _stage1(_name):
    return build_stage1(SIZE, width=4), stage1_gradcam_layer()


BUILDERS = [pytest.param((_stage2, name), id=f"stage2-{name}") for name in backbone_names()]
BUILDERS.append(pytest.param((_stage1, "stage1"), id="stage1"))


@pytest.fixture(scope="session")
def images():
    return np.random.default_rng(0).random((4, SIZE, SIZE, 1)).astype("float32")


@pytest.fixture(scope="session", params=BUILDERS)
def built(request):
    builder, name = request.param
    model, layer = builder(name)
    return name, model, layer


def _targets(model, count):
    width = model.output.shape[-1]
    if width == 1:
        return np.array([[0.0], [1.0]] * (count // 2), dtype="float32")
    return np.eye(width, dtype="float32")[np.arange(count) % width]


def test_takes_raw_grayscale_and_outputs_probabilities(built, images):
    _, model, _ = built
    assert model.input.shape[1:] == (SIZE, SIZE, 1)
    output = np.asarray(model(images, training=False))
    assert output.shape[0] == len(images)
    if output.shape[1] > 1:
        assert output.shape[1] == len(STAGE2_CLASSES)
        np.testing.assert_allclose(output.sum(axis=1), 1.0, atol=1e-5)
    assert np.all((output >= 0) & (output <= 1))


def test_one_training_step_changes_the_weights(built, images):
    _, model, _ = built
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    loss = "binary_crossentropy" if clone.output.shape[-1] == 1 else "categorical_crossentropy"
    # Eager mode checks trainability without paying for graph compilation in the test suite.
    clone.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss, run_eagerly=True)
    before = [w.copy() for w in clone.get_weights()]
    clone.train_on_batch(images, _targets(clone, len(images)))
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, clone.get_weights()))
    assert changed > 0


def test_save_and_safe_mode_reload_predict_identically(built, images, tmp_path):
    _, model, _ = built
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    np.testing.assert_array_equal(np.asarray(model(images)), np.asarray(reloaded(images)))
    assert [layer.name for layer in reloaded.layers] == [layer.name for layer in model.layers]


def test_graph_is_flat_and_gradcam_accepts_the_registered_layer(built, images):
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    _, model, layer = built
    assert not any(isinstance(item, keras.Model) for item in model.layers)
    model.get_layer(layer)  # raises when the registry names a layer that is not there
    gradcam = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    cam = gradcam(CategoricalScore([0, 0]), images[:2], penultimate_layer=layer)
    assert np.asarray(cam).shape == (2, SIZE, SIZE)
    assert np.isfinite(cam).all()


def test_unknown_backbone_lists_the_registered_names():
    with pytest.raises(ValueError) as error:
        build_stage2(SIZE, "resnet9000")
    for name in backbone_names():
        assert name in str(error.value)
    assert "resnet9000" in str(error.value)


def test_fine_tuning_unfreezes_only_the_last_backbone_layers_without_batch_norm():
    model = build_stage2(SIZE, "mobilenetv3small")
    trainable = set_backbone_trainable(model, 10)
    assert 0 < trainable <= 10
    head = model.get_layer("head_dense")
    assert head.trainable
    frozen_bn = [layer for layer in model.layers
                 if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]
    assert frozen_bn == []
    assert set_backbone_trainable(model, 0) == 0
    assert all(layer.trainable for layer in model.layers if layer.name.startswith("head_"))


@pytest.mark.parametrize("size", [8, 15])
def test_stage1_refuses_inputs_too_small_for_its_blocks(size):
    with pytest.raises(ValueError, match="input_size"):
        build_stage1(size, blocks=4)


def _bright_square_task(count, size, rng):
    """Uniform noise, with a bright 4x4 square on every other image (label 1)."""
    pixels = rng.uniform(0.0, 0.6, (count, size, size, 1)).astype("float32")
    labels = np.zeros((count, 1), dtype="float32")
    for index in range(0, count, 2):
        row, col = rng.integers(0, size - 4, 2)
        pixels[index, row:row + 4, col:col + 4] += 0.4
        labels[index] = 1.0
    return pixels, labels


def test_a_short_run_leaves_batch_norm_statistics_that_predict_well():
    # A few dozen steps, as in a quick retrain: with Keras' default momentum (0.99) the moving
    # statistics are still mostly their (0, 1) start, and inference-mode scores collapse to one
    # value (accuracy 0.50 at the 0.5 threshold here, against 0.91 with momentum 0.9).
    rng = np.random.default_rng(3)
    keras.utils.set_random_seed(3)
    train_x, train_y = _bright_square_task(192, SIZE, rng)
    test_x, test_y = _bright_square_task(64, SIZE, rng)
    model = build_stage1(SIZE, width=8, blocks=3)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    model.fit(train_x, train_y, batch_size=16, epochs=3, verbose=0)
    scores = model.predict(test_x, verbose=0)[:, 0]
    accuracy = float(np.mean((scores > 0.5) == (test_y[:, 0] == 1)))
    assert accuracy > 0.8


@pytest.mark.parametrize("name", backbone_names())
def test_every_stage2_batch_norm_uses_the_short_run_momentum_and_keeps_it_when_saved(name, tmp_path):
    model = build_stage2(SIZE, name)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.momentum == pytest.approx(0.9) for layer in norms)
    path = tmp_path / "stage2.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    assert all(layer.momentum == pytest.approx(0.9) for layer in reloaded.layers
               if isinstance(layer, keras.layers.BatchNormalization))
