"""The heat-map layer: fine enough to point at a small defect, the deepest such map otherwise."""

import keras
import pytest

from sem_core.explain.side_model import MIN_CAM_SIDE, find_target_layer, localising_layer
from sem_core.models import build_stage1, build_stage2


def _side(model, name):
    return model.get_layer(name).output.shape[1]


def test_densenet_at_96_px_steps_back_from_its_3x3_map_to_the_last_12x12_activation():
    model = build_stage2(96, "densenet121")
    assert _side(model, find_target_layer(model)) == 3
    chosen = localising_layer(model)
    assert chosen == "pool3_relu"
    assert _side(model, chosen) == 12


@pytest.mark.parametrize("size", [32, 96])
def test_every_backbone_gets_a_map_of_at_least_the_minimum_side(size):
    model = build_stage2(size, "mobilenetv3small")
    chosen = localising_layer(model)
    assert _side(model, chosen) >= MIN_CAM_SIDE
    assert isinstance(model.get_layer(chosen), (keras.layers.Activation, keras.layers.ReLU))


def test_a_map_that_is_fine_enough_already_is_kept():
    model = build_stage1(96, width=4)
    assert _side(model, find_target_layer(model)) >= MIN_CAM_SIDE
    assert localising_layer(model) == find_target_layer(model)


def _small_model(size):
    inputs = keras.Input((size, size, 1))
    x = keras.layers.Conv2D(2, 3, padding="same", name="fine_conv")(inputs)
    x = keras.layers.Conv2D(2, 3, strides=2, padding="same", name="coarse_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))


def test_without_activations_the_last_fine_map_is_used_and_all_coarse_keeps_the_last():
    assert localising_layer(_small_model(12)) == "fine_conv"  # 12x12 then 6x6
    assert localising_layer(_small_model(6)) == "coarse_conv"  # 6x6 then 3x3: nothing fine
