"""Rendering pieces of the synthetic SEM generator: roughness, beam, scan, scale, masks."""

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from sem_core.data.synth import SynthConfig, generate_sample
from sem_core.data.synth.canvas import FieldGeometry
from sem_core.data.synth.imaging import apply_lag, block_mean, lag_kernel, psf_kernel, shift_rows
from sem_core.data.synth.roughness import gaussian_field_pair, rough_edges
from sem_core.data.synth.sample import sample_parameters


def test_rough_edges_have_the_exact_sigma_and_zero_mean():
    edges = rough_edges(
        np.random.default_rng(0), 5, 1024, 0.5, sigma=1.7, correlation=6.0, hurst=0.7
    )
    assert np.allclose(edges.std(axis=1), 1.7) and np.allclose(edges.mean(axis=1), 0.0, atol=1e-9)


def test_texture_fields_are_standardised_and_independent():
    first, second = gaussian_field_pair(np.random.default_rng(1), (96, 96), (3.0, 3.0))
    assert (
        abs(first.std() - 1) < 1e-9 and abs(np.corrcoef(first.ravel(), second.ravel())[0, 1]) < 0.2
    )


def test_psf_is_normalised_and_astigmatic():
    params = sample_parameters(SynthConfig(), 0, 0, 3).imaging
    kernel = psf_kernel(params, FieldGeometry(224))
    assert abs(kernel.sum() - 1) < 1e-12 and kernel.shape[0] % 2 == 1
    assert kernel[0, 0] == 0.0  # truncated: finite support keeps defects local


def test_detector_lag_is_causal_and_keeps_the_mean():
    weights = lag_kernel(1.0)
    step = np.zeros((1, 40))
    step[0, 20:] = 1.0
    out = apply_lag(step, weights)
    assert abs(weights.sum() - 1) < 1e-12
    assert np.all(out[0, :20] == 0) and 0 < out[0, 20] < 1 and out[0, -1] == 1.0


@pytest.mark.parametrize("tau", [0.0011, 0.0014, 0.05])
def test_a_vanishing_detector_lag_is_one_tap(tau):
    # exp(-1 / tau) underflows to 0 just above the 1e-3 cut; that once crashed the render
    assert lag_kernel(tau).tolist() == [1.0]


def test_block_mean_and_row_shift():
    values = np.arange(16.0).reshape(4, 4)
    assert np.array_equal(block_mean(values, 2), [[2.5, 4.5], [10.5, 12.5]])
    shifted = shift_rows(values, np.array([1.0, 0.0, 0.5, 0.0]))
    assert shifted[0, 1] == values[0, 0] and shifted[2, 1] == 0.5 * (values[2, 0] + values[2, 1])


def test_a_small_image_looks_like_a_downscaled_large_one():
    big, small = SynthConfig(size=224, presentation=False), SynthConfig(size=64, presentation=False)
    correlations = []
    for idx in range(16):
        large = generate_sample(big, 8, 2, idx).raw_image
        reduced = np.asarray(Image.fromarray(large).resize((64, 64), Image.Resampling.BOX), float)
        direct = generate_sample(small, 8, 2, idx).raw_image.astype(float)
        a, b = ndimage.gaussian_filter(reduced, 1), ndimage.gaussian_filter(direct, 1)
        correlations.append(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    assert np.median(correlations) > 0.6, np.round(correlations, 2)


def test_mask_and_bbox_agree_with_the_sidecar():
    config = SynthConfig(size=96)
    for idx in (1, 2, 5, 15):
        sample = generate_sample(config, 4, 0, idx)
        rows, cols = np.nonzero(sample.raw_mask)
        r0, c0, r1, c1 = sample.sidecar.raw_bbox
        assert (
            rows.min() == r0 and rows.max() + 1 == r1 and cols.min() == c0 and cols.max() + 1 == c1
        )
        assert sample.mask.shape == sample.image.shape == (96, 96)
    clean = generate_sample(config, 4, 0, 8)
    assert not clean.mask.any() and clean.sidecar.defect["params"]["decoy"]


def test_a_bridge_finds_a_host_between_wide_lines_at_a_film_regions_edge():
    # seed 43, split 0, image 489: a film scene whose patterned region holds only lines 48 px wide
    # near its edge; the bridge once found no position and the image was left out of the dataset
    sample = generate_sample(SynthConfig(size=224, tool="full"), 43, 0, 489)
    assert sample.sidecar.label_true == "Bridges" and sample.sidecar.scene["view"] == "blanket"
    assert sample.mask.any()
