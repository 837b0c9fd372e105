"""Overlays come back at the original image size, with the promised colours and blending."""

import numpy as np
import pytest

from sem_core.explain import CamMethod, Colormap, HeatMap, colorize, overlay


def test_overlay_is_rgb_at_the_original_size_for_any_heat_map_size():
    image = np.linspace(0.0, 1.0, 70 * 90, dtype=np.float32).reshape(70, 90)
    heat = np.zeros((48, 48), np.float32)
    heat[:24, :24] = 1.0
    result = overlay(image, heat)
    assert result.shape == (70, 90, 3) and result.dtype == np.uint8
    # Hot top-left renders red with jet; the cold bottom-right renders blue-ish.
    assert result[5, 5, 0] > result[5, 5, 2]
    assert result[65, 85, 2] > result[65, 85, 0]


def test_alpha_zero_gives_the_image_and_alpha_one_the_colours():
    image = np.full((32, 40), 0.5, np.float32)
    heat = np.random.default_rng(0).random((32, 40)).astype(np.float32)
    np.testing.assert_array_equal(overlay(image, heat, alpha=0.0),
                                  np.full((32, 40, 3), 128, np.uint8))
    np.testing.assert_array_equal(overlay(image, heat, alpha=1.0, colormap="inferno"),
                                  colorize(heat, "inferno"))
    with pytest.raises(ValueError, match="alpha=1.5"):
        overlay(image, heat, alpha=1.5)


def test_overlay_accepts_a_heatmap_record_and_uint8_images():
    record = HeatMap(np.ones((48, 48), np.float32), CamMethod.GRADCAM, 1, 0.9, "last_conv", 0.01)
    result = overlay(np.zeros((64, 64), np.uint8), record, colormap="gray", alpha=0.5)
    np.testing.assert_array_equal(result, np.full((64, 64, 3), 128, np.uint8))


@pytest.mark.parametrize("colormap", list(Colormap))
def test_colormaps_run_from_their_low_to_their_high_colour(colormap):
    ramp = colorize(np.linspace(0.0, 1.0, 11)[None, :], colormap)[0].astype(int)
    assert ramp.shape == (11, 3)
    if colormap is not Colormap.JET:  # jet is dark at both ends by design
        brightness = ramp.sum(axis=1)
        assert brightness[-1] > brightness[0]
    known = {Colormap.GRAY: ([0, 0, 0], [255, 255, 255]),
             Colormap.VIRIDIS: ([68, 1, 84], [253, 231, 37]),
             Colormap.INFERNO: ([0, 0, 4], [252, 255, 164]),
             Colormap.HOT: ([0, 0, 0], [255, 255, 255]),
             Colormap.JET: ([0, 0, 128], [128, 0, 0])}
    low, high = known[colormap]
    np.testing.assert_allclose(ramp[0], low, atol=1)
    np.testing.assert_allclose(ramp[-1], high, atol=1)


def test_unknown_colormap_lists_the_choices():
    with pytest.raises(ValueError, match="colormap='rainbow'.*jet, inferno"):
        colorize(np.zeros((2, 2)), "rainbow")
