"""Inverse-CDF noise: exact Poisson quantiles, accurate Gamma quantiles, controlled SNR."""

import numpy as np
import pytest
from scipy import stats

from sem_core.data.synth import SynthConfig, generate_sample
from sem_core.data.synth.config import NoiseModel
from sem_core.data.synth.imaging import apply_lag, lag_kernel
from sem_core.data.synth.noise import (
    add_noise,
    dose_for_snr,
    gamma_quantile,
    noise_gain_of,
    poisson_quantile,
)


def test_poisson_quantile_equals_scipy_ppf():
    rng = np.random.default_rng(0)
    lam = np.exp(rng.uniform(np.log(1e-3), np.log(2e4), 200_000))
    u = rng.random(lam.size)
    u[:500] = rng.random(500) * 1e-9
    u[500:1000] = 1 - rng.random(500) * 1e-9
    assert np.array_equal(poisson_quantile(u, lam), stats.poisson.ppf(u, lam))


def test_quantiles_are_monotone_in_u():
    u = np.linspace(1e-6, 1 - 1e-6, 5001)
    for lam in (0.3, 7.0, 55.0, 900.0):
        assert np.all(np.diff(poisson_quantile(u, np.full(u.size, lam))) >= 0)
    for shape in (0.5, 5.0, 60.0, 400.0):
        assert np.all(np.diff(gamma_quantile(u, np.full(u.size, shape))) > 0)


def test_gamma_quantile_error_is_a_tiny_fraction_of_sigma():
    rng = np.random.default_rng(1)
    shape = np.exp(rng.uniform(np.log(0.2), np.log(5e3), 50_000))
    u = np.clip(rng.random(shape.size), 1e-9, 1 - 1e-9)
    error = np.abs(gamma_quantile(u, shape) - stats.gamma.ppf(u, shape)) / np.sqrt(shape)
    assert error.max() < 0.01


@pytest.mark.parametrize("model", list(NoiseModel))
@pytest.mark.parametrize("snr", [1.5, 4.0, 15.0])
def test_realised_snr_matches_target(model, snr):
    rng = np.random.default_rng(2)
    contrast, mean, excess = 0.15, 0.3, 2.0 if model == NoiseModel.GAMMA else 1.0
    weights = lag_kernel(0.9)
    dose, sigma_d = dose_for_snr(mean, contrast, snr, 0.01, excess, noise_gain_of(weights))
    flat = np.full((256, 256), mean)
    noisy = add_noise(
        flat, rng.random(flat.shape), rng.standard_normal(flat.shape), dose, model, excess, sigma_d
    )
    realised = contrast / apply_lag(noisy, weights)[:, 16:].std()
    assert realised == pytest.approx(snr, rel=0.06)


def test_same_uniform_field_gives_same_counts_where_signal_is_equal():
    rng = np.random.default_rng(3)
    u, z = rng.random((64, 64)), rng.standard_normal((64, 64))
    signal = np.full((64, 64), 0.3)
    edited = signal.copy()
    edited[10:20, 10:20] = 0.6
    a = add_noise(signal, u, z, 300.0, NoiseModel.POISSON, 1.0, 0.01)
    b = add_noise(edited, u, z, 300.0, NoiseModel.POISSON, 1.0, 0.01)
    changed = a != b
    assert changed[10:20, 10:20].any() and not changed[20:, :].any() and not changed[:, 20:].any()


@pytest.mark.parametrize("difficulty", ["standard", "hard"])
def test_saturation_stays_below_a_third_of_a_percent_outside_the_defect(difficulty):
    # saturated pixels the defect did not make, as a share of the image (C6.6: 0.3 %);
    # `standard`'s grey scale is its clean scene's, set on every pixel of it
    config = SynthConfig(size=64, presentation=False, difficulty=difficulty)
    for idx in range(24):
        sample = generate_sample(config, 9, 2, idx)
        outside = sample.raw_image[~sample.influence]
        assert np.sum(outside == 255) / sample.raw_image.size <= 0.0035
