"""Temperature scaling: one positive number per stage that makes its probabilities honest.

The models output probabilities, so the logits are recovered from them: log p for the softmax
stage (softmax(log p) = p, whatever constant the true logits carried) and log(p / (1 - p)) for
the sigmoid stage. Scaling divides them by a temperature T: T > 1 softens an over-confident
model, T < 1 sharpens an under-confident one, and T = 1 returns the probabilities unchanged
(exactly: the functions do not compute anything at T = 1). The sigmoid stage may also carry a
bias b added to the scaled logit (Platt scaling, sigmoid(logit(p) / T + b)): it moves the whole
curve, which a temperature cannot, and so corrects a screen trained on a class mix other than
the one it is calibrated on (clean twins make training half clean; a validation split is not).
Scaling never changes a stage's argmax or the order of its scores, so accuracy and AUC stay as
they are; only the confidences move. ``fit_softmax_temperature`` and ``fit_sigmoid_temperature``
choose T (and b) by minimising the negative log-likelihood on held-out images (a bounded search)
and report the expected calibration error before and after.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sem_core.metrics.calibration import reliability

SOFTMAX_FLOOR = 1e-12
"""Smallest probability whose log is taken (a float32 softmax can underflow to 0)."""
SIGMOID_MARGIN = 1e-7
"""Sigmoid probabilities are kept this far from 0 and 1 (float32 rounds 1 - 1e-8 to 1)."""
TEMPERATURE_BOUNDS = (0.05, 20.0)
"""The search range of T: wider than any model we have seen needs, narrow enough that a
perfectly separated validation set cannot drive T to 0."""
BIAS_BOUNDS = (-10.0, 10.0)
"""The search range of the sigmoid stage's bias b (logit units; e^10 is a prior odds ratio far
beyond any class mix)."""


@dataclass(frozen=True)
class TemperatureFit:
    """A stage's fitted temperature and what it did on the images it was fitted on.

    Attributes:
        temperature: T > 0; 1.0 when there was nothing to fit (see the fit functions).
        images: Images it was fitted on.
        nll_before: Mean negative log-likelihood at T = 1.
        nll_after: The same at ``temperature``.
        ece_before: Expected calibration error (10 bins) at T = 1: of P(Defective) for the
            sigmoid stage, of the top-class confidence for the softmax stage.
        ece_after: The same at ``temperature`` (and ``bias``).
        bias: b added to the scaled logit (sigmoid stage, Platt scaling); 0.0 when not fitted.
    """

    temperature: float
    images: int
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    bias: float = 0.0

    def to_dict(self) -> dict[str, float | int]:
        """Plain-JSON view."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TemperatureFit:
        """Inverse of ``to_dict``."""
        return cls(float(data["temperature"]), int(data["images"]), float(data["nll_before"]),
                   float(data["nll_after"]), float(data["ece_before"]), float(data["ece_after"]),
                   float(data.get("bias", 0.0)))


@dataclass(frozen=True)
class ScalingEffect:
    """What a bundle's temperatures do to its ECE on one evaluated split (``evaluate``).

    Attributes:
        stage1_temperature: The bundle's stage-1 temperature.
        stage2_temperature: The bundle's stage-2 temperature.
        final_ece_before: ECE of the final-label confidence without scaling.
        final_ece_after: The same with the bundle's temperatures (what the cascade reports).
        stage1_ece_before: ECE of stage 1's P(Defective) without scaling.
        stage1_ece_after: The same with scaling.
        stage1_bias: The bundle's stage-1 bias (0.0 when it has none).
        stage2_ece_before: ECE of stage 2's top-class confidence on the defect images it
            scored, without scaling (0.0 when there were none, or in a report made before it).
        stage2_ece_after: The same with scaling.
    """

    stage1_temperature: float
    stage2_temperature: float
    final_ece_before: float
    final_ece_after: float
    stage1_ece_before: float
    stage1_ece_after: float
    stage1_bias: float = 0.0
    stage2_ece_before: float = 0.0
    stage2_ece_after: float = 0.0

    def to_dict(self) -> dict[str, float]:
        """Plain-JSON view."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScalingEffect:
        """Inverse of ``to_dict``."""
        return cls(**{key: float(data[key]) for key in cls.__dataclass_fields__ if key in data})

    def describe(self) -> str:
        """One line: temperatures (and stage 1's bias) and ECE before -> after."""
        bias = f", bias {self.stage1_bias:+.3f}" if self.stage1_bias else ""
        return (f"temperatures {self.stage1_temperature:.3f}{bias} (stage 1) / "
                f"{self.stage2_temperature:.3f} (stage 2); ECE final label "
                f"{self.final_ece_before:.3f} -> {self.final_ece_after:.3f}, stage 1 "
                f"{self.stage1_ece_before:.3f} -> {self.stage1_ece_after:.3f}, stage 2 "
                f"{self.stage2_ece_before:.3f} -> {self.stage2_ece_after:.3f}")


def _checked_temperature(temperature: float) -> float:
    value = float(temperature)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"A temperature must be a finite number above 0; received "
                         f"temperature={temperature!r}.")
    return value


def softmax_logits(probabilities: np.ndarray) -> np.ndarray:
    """log p of softmax rows, floored at ``SOFTMAX_FLOOR`` (logits up to a constant per row)."""
    return np.log(np.clip(np.asarray(probabilities, dtype=np.float64), SOFTMAX_FLOOR, 1.0))


def sigmoid_logits(probabilities: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), with p kept ``SIGMOID_MARGIN`` away from 0 and 1."""
    clipped = np.clip(np.asarray(probabilities, dtype=np.float64), SIGMOID_MARGIN,
                      1.0 - SIGMOID_MARGIN)
    return np.log(clipped) - np.log1p(-clipped)


def apply_softmax_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) of each row.

    Args:
        probabilities: (N, K) softmax rows (a float32 model output is fine).
        temperature: T > 0; 1.0 returns the rows unchanged.

    Returns:
        (N, K) float64 rows that sum to 1; the argmax of each row is kept.

    Raises:
        ValueError: When T is not a finite number above 0.
    """
    temperature = _checked_temperature(temperature)
    if temperature == 1.0:
        return np.array(probabilities, dtype=np.float64)
    scaled = softmax_logits(probabilities) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    weights = np.exp(scaled)
    return weights / weights.sum(axis=-1, keepdims=True)


def _checked_bias(bias: float) -> float:
    value = float(bias)
    if not math.isfinite(value):
        raise ValueError(f"A bias must be a finite number; received bias={bias!r}.")
    return value


def apply_sigmoid_temperature(probabilities: np.ndarray, temperature: float,
                              bias: float = 0.0) -> np.ndarray:
    """sigmoid(logit(p) / T + b), element by element.

    Args:
        probabilities: P(positive) of each image, any shape.
        temperature: T > 0; with b = 0, 1.0 returns them unchanged.
        bias: b, added to the scaled logit. Default: 0.0.

    Returns:
        float64 probabilities in the same order (the scaling is increasing in p).

    Raises:
        ValueError: When T is not a finite number above 0 or b is not finite.
    """
    temperature, bias = _checked_temperature(temperature), _checked_bias(bias)
    if temperature == 1.0 and bias == 0.0:
        return np.array(probabilities, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-(sigmoid_logits(probabilities) / temperature + bias)))


def invert_sigmoid_scaling(probabilities: np.ndarray, temperature: float,
                           bias: float = 0.0) -> np.ndarray:
    """The raw scores that ``apply_sigmoid_temperature(., T, b)`` maps to ``probabilities``:
    sigmoid((logit(q) - b) * T). Exact except within ``SIGMOID_MARGIN`` of 0 and 1."""
    temperature, bias = _checked_temperature(temperature), _checked_bias(bias)
    return apply_sigmoid_temperature(probabilities, 1.0 / temperature, -bias * temperature)


def uncalibrated_threshold(threshold: float, temperature: float, bias: float = 0.0) -> float:
    """The raw-model score that scales to ``threshold`` at ``temperature`` and ``bias`` (the
    inverse scaling), for code that compares a model's own sigmoid output with a calibrated
    threshold. Thresholds of 0 and 1 stay as they are (flag everything, flag only certainty)."""
    if threshold <= 0.0 or threshold >= 1.0:
        return float(threshold)
    return float(invert_sigmoid_scaling(np.array([threshold]), temperature, bias)[0])


def _softmax_nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    scaled = logits / temperature
    top = scaled.max(axis=1, keepdims=True)
    log_normaliser = top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1))
    return float(np.mean(log_normaliser - scaled[np.arange(len(labels)), labels]))


def _sigmoid_nll(logits: np.ndarray, positive: np.ndarray, temperature: float,
                 bias: float = 0.0) -> float:
    scaled = logits / temperature + bias
    signed = np.where(positive, scaled, -scaled)
    return float(np.mean(np.logaddexp(0.0, -signed)))


def _minimise(nll) -> float:
    from scipy.optimize import minimize_scalar

    low, high = (math.log(bound) for bound in TEMPERATURE_BOUNDS)
    found = minimize_scalar(lambda log_t: nll(math.exp(log_t)), bounds=(low, high),
                            method="bounded", options={"xatol": 1e-5})
    best = math.exp(float(found.x))
    return best if nll(best) < nll(1.0) else 1.0  # never worse than no scaling


def fit_softmax_temperature(probabilities: np.ndarray, labels: np.ndarray) -> TemperatureFit:
    """The T minimising the NLL of softmax(log p / T) against the true classes.

    Args:
        probabilities: (N, K) softmax rows of held-out images.
        labels: (N,) true class index of each row.

    Returns:
        The ``TemperatureFit`` (ECE of the top-class confidence). With no images, or with
        every image of one class (T would only grow confidence without bound), T is 1.0.

    Raises:
        ValueError: When the shapes disagree or a label is outside 0..K-1.
    """
    rows = np.asarray(probabilities, dtype=np.float64)
    truth = np.asarray(labels).reshape(-1).astype(np.int64)
    if rows.ndim != 2 or rows.shape[0] != truth.size:
        raise ValueError(f"probabilities must be (N, K) with one row per label; received "
                         f"shape {rows.shape} for {truth.size} labels.")
    if truth.size and not (0 <= truth.min() and truth.max() < rows.shape[1]):
        raise ValueError(f"labels must be class indices 0..{rows.shape[1] - 1}; received "
                         f"{truth.min()}..{truth.max()}.")
    logits = softmax_logits(rows)

    def ece(temperature: float) -> float:
        scaled = apply_softmax_temperature(rows, temperature)
        return reliability(scaled.max(axis=1), scaled.argmax(axis=1) == truth).ece

    if truth.size == 0 or np.unique(truth).size < 2:
        return _unfitted(truth.size, lambda t: _softmax_nll(logits, truth, t) if truth.size else 0.0,
                         ece)
    nll = lambda temperature: _softmax_nll(logits, truth, temperature)
    return _fit(truth.size, nll, ece)


def fit_sigmoid_temperature(probabilities: np.ndarray, positive: np.ndarray,
                            bias: bool = False) -> TemperatureFit:
    """The T (and b) minimising the NLL of sigmoid(logit(p) / T + b) against the true outcomes.

    Args:
        probabilities: (N,) P(positive) of held-out images.
        positive: (N,) True where the image is positive (defective).
        bias: Also fit b (Platt scaling); otherwise b = 0. Default: False.

    Returns:
        The ``TemperatureFit`` (ECE of P(positive)). With no images, or images of one outcome
        only, T is 1.0 and b 0.0. A fit that would not lower the NLL below no scaling's is not
        taken.

    Raises:
        ValueError: When the arrays differ in length.
    """
    scores = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    truth = np.asarray(positive).reshape(-1).astype(bool)
    if scores.size != truth.size:
        raise ValueError(f"probabilities has {scores.size} entries but positive has "
                         f"{truth.size}; they must match one to one.")
    logits = sigmoid_logits(scores)

    def ece(temperature: float, offset: float = 0.0) -> float:
        return reliability(apply_sigmoid_temperature(scores, temperature, offset), truth).ece

    nll = lambda temperature: _sigmoid_nll(logits, truth, temperature) if truth.size else 0.0
    if truth.size == 0 or truth.all() or not truth.any():
        return _unfitted(truth.size, nll, ece)
    if not bias:
        return _fit(truth.size, nll, ece)
    temperature, offset = _minimise_with_bias(lambda t, b: _sigmoid_nll(logits, truth, t, b))
    return TemperatureFit(temperature, truth.size, nll(1.0),
                          _sigmoid_nll(logits, truth, temperature, offset), ece(1.0),
                          ece(temperature, offset), offset)


def _minimise_with_bias(nll) -> tuple[float, float]:
    """(T, b) minimising ``nll(T, b)`` within the bounds; (1.0, 0.0) unless that lowers it."""
    from scipy.optimize import minimize

    log_bounds = tuple(math.log(bound) for bound in TEMPERATURE_BOUNDS)
    found = minimize(lambda x: nll(math.exp(x[0]), x[1]), x0=np.zeros(2), method="L-BFGS-B",
                     bounds=(log_bounds, BIAS_BOUNDS))
    best = (math.exp(float(found.x[0])), float(found.x[1]))
    return best if nll(*best) < nll(1.0, 0.0) else (1.0, 0.0)


def _fit(images: int, nll, ece) -> TemperatureFit:
    temperature = _minimise(nll)
    return TemperatureFit(temperature, images, nll(1.0), nll(temperature), ece(1.0),
                          ece(temperature))


def _unfitted(images: int, nll, ece) -> TemperatureFit:
    before_nll, before_ece = nll(1.0), ece(1.0)
    return TemperatureFit(1.0, images, before_nll, before_nll, before_ece, before_ece)
