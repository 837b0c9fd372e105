"""Temperature (and Platt) scaling: identity at T = 1, recovery of a known temperature and
bias, lower ECE."""

import numpy as np
import pytest

from sem_core.metrics.temperature import (
    TemperatureFit,
    apply_sigmoid_temperature,
    apply_softmax_temperature,
    fit_sigmoid_temperature,
    fit_softmax_temperature,
    invert_sigmoid_scaling,
    uncalibrated_threshold,
)


def _softmax(logits: np.ndarray) -> np.ndarray:
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def _softmax_set(true_temperature: float, seed: int, n: int = 4000, k: int = 7):
    """Labels drawn from softmax(z / T0); the model reports softmax(z): off by exactly T0."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, size=(n, k))
    truth = _softmax(logits / true_temperature)
    labels = np.array([rng.choice(k, p=row) for row in truth])
    return _softmax(logits).astype(np.float32), labels


def _sigmoid_set(true_temperature: float, seed: int, n: int = 4000):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 4.0, size=n)
    positive = rng.random(n) < 1.0 / (1.0 + np.exp(-logits / true_temperature))
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32), positive


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_softmax_fit_recovers_the_temperature_the_labels_were_drawn_with(true_temperature):
    probabilities, labels = _softmax_set(true_temperature, seed=int(true_temperature * 10))
    fit = fit_softmax_temperature(probabilities, labels)
    assert fit.temperature == pytest.approx(true_temperature, rel=0.1)
    assert fit.nll_after < fit.nll_before and fit.images == len(labels)


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_sigmoid_fit_recovers_the_temperature_the_outcomes_were_drawn_with(true_temperature):
    probabilities, positive = _sigmoid_set(true_temperature, seed=int(true_temperature * 10) + 1)
    fit = fit_sigmoid_temperature(probabilities, positive)
    assert fit.temperature == pytest.approx(true_temperature, rel=0.1)


def test_scaling_an_over_confident_set_lowers_its_ece():
    probabilities, labels = _softmax_set(3.0, seed=3)
    fit = fit_softmax_temperature(probabilities, labels)
    assert fit.temperature > 1.0
    assert fit.ece_after < fit.ece_before
    scores, positive = _sigmoid_set(3.0, seed=4)
    stage1 = fit_sigmoid_temperature(scores, positive)
    assert stage1.ece_after < stage1.ece_before


def test_temperature_one_is_the_identity_exactly():
    probabilities, _ = _softmax_set(1.0, seed=5, n=50)
    probabilities[0] = [1.0, 0, 0, 0, 0, 0, 0]  # saturated rows are not clipped at T = 1
    np.testing.assert_array_equal(apply_softmax_temperature(probabilities, 1.0),
                                  probabilities.astype(np.float64))
    scores = np.array([0.0, 1e-9, 0.3, 1.0], np.float32)
    np.testing.assert_array_equal(apply_sigmoid_temperature(scores, 1.0), scores.astype(np.float64))


def test_scaling_keeps_the_order_and_its_inverse_undoes_it():
    probabilities, _ = _softmax_set(1.0, seed=6, n=200)
    scaled = apply_softmax_temperature(probabilities, 1.7)
    np.testing.assert_array_equal(scaled.argmax(axis=1), probabilities.argmax(axis=1))
    np.testing.assert_allclose(scaled.sum(axis=1), 1.0)
    np.testing.assert_allclose(apply_softmax_temperature(scaled, 1 / 1.7), probabilities, atol=1e-6)
    scores = np.linspace(0.01, 0.99, 30)
    calibrated = apply_sigmoid_temperature(scores, 2.0)
    assert np.all(np.diff(calibrated) > 0)
    assert apply_sigmoid_temperature(np.array([uncalibrated_threshold(0.8, 2.0)]), 2.0)[0] == \
        pytest.approx(0.8)


def test_platt_scaling_finds_the_bias_of_a_screen_trained_on_another_class_mix():
    # A screen trained half clean, read on a set with seven defects to one clean: its logits are
    # off by about log 7. A temperature alone cannot move the curve; the bias can.
    rng = np.random.default_rng(9)
    true_logits = rng.normal(0.0, 3.0, 4000)
    positive = rng.random(4000) < 1.0 / (1.0 + np.exp(-true_logits))
    scores = 1.0 / (1.0 + np.exp(-(true_logits - np.log(7.0))))
    platt = fit_sigmoid_temperature(scores, positive, bias=True)
    plain = fit_sigmoid_temperature(scores, positive)
    assert plain.bias == 0.0
    assert platt.bias == pytest.approx(np.log(7.0), abs=0.25)
    assert platt.temperature == pytest.approx(1.0, abs=0.1)
    assert platt.nll_after < plain.nll_after and platt.ece_after < plain.ece_after
    assert TemperatureFit.from_dict(platt.to_dict()) == platt
    older = {key: value for key, value in plain.to_dict().items() if key != "bias"}
    assert TemperatureFit.from_dict(older) == plain  # bundles written before the bias


def test_the_inverse_of_platt_scaling_gives_back_the_raw_scores_and_threshold():
    scores = np.linspace(0.01, 0.99, 30)
    calibrated = apply_sigmoid_temperature(scores, 0.7, 1.9)
    assert np.all(np.diff(calibrated) > 0)
    half = apply_sigmoid_temperature(np.array([0.5]), 0.7, 1.9)[0]
    assert half == pytest.approx(1 / (1 + np.exp(-1.9)))  # logit 0: only the bias is left
    np.testing.assert_allclose(invert_sigmoid_scaling(calibrated, 0.7, 1.9), scores, atol=1e-9)
    raw = uncalibrated_threshold(0.3, 0.7, 1.9)
    assert apply_sigmoid_temperature(np.array([raw]), 0.7, 1.9)[0] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="bias"):
        apply_sigmoid_temperature(scores, 1.0, float("nan"))


def test_nothing_to_fit_gives_temperature_one():
    assert fit_sigmoid_temperature(np.array([0.9, 0.8]), np.array([True, True])).temperature == 1.0
    assert fit_softmax_temperature(np.zeros((0, 7)), np.zeros(0)).temperature == 1.0


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), float("inf")])
def test_a_temperature_that_is_not_positive_and_finite_is_refused(temperature):
    with pytest.raises(ValueError, match="temperature"):
        apply_sigmoid_temperature(np.array([0.5]), temperature)
