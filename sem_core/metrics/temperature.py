"""Temperature scaling: one positive number per stage that makes its probabilities honest.

The models output probabilities, so the logits are recovered from them: log p for the softmax
stage (softmax(log p) = p, whatever constant the true logits carried) and log(p / (1 - p)) for
the sigmoid stage. Scaling divides them by a temperature T: T > 1 softens an over-confident
model, T < 1 sharpens an under-confident one, and T = 1 returns the probabilities unchanged
(exactly: the functions do not compute anything at T = 1). Scaling never changes a stage's
argmax or the order of its scores, so accuracy and AUC stay as they are; only the confidences
move. ``fit_softmax_temperature`` and ``fit_sigmoid_temperature`` choose T by minimising the
negative log-likelihood on held-out images (a bounded search on log T) and report the expected
calibration error before and after.
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
        ece_after: The same at ``temperature``.
    """

    temperature: float
    images: int
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float

    def to_dict(self) -> dict[str, float | int]:
        """Plain-JSON view."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TemperatureFit:
        """Inverse of ``to_dict``."""
        return cls(float(data["temperature"]), int(data["images"]), float(data["nll_before"]),
                   float(data["nll_after"]), float(data["ece_before"]), float(data["ece_after"]))


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
    """

    stage1_temperature: float
    stage2_temperature: float
    final_ece_before: float
    final_ece_after: float
    stage1_ece_before: float
    stage1_ece_after: float

    def to_dict(self) -> dict[str, float]:
        """Plain-JSON view."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScalingEffect:
        """Inverse of ``to_dict``."""
        return cls(**{key: float(data[key]) for key in cls.__dataclass_fields__})

    def describe(self) -> str:
        """One line: temperatures and ECE before -> after."""
        return (f"temperatures {self.stage1_temperature:.3f} (stage 1) / "
                f"{self.stage2_temperature:.3f} (stage 2); ECE final label "
                f"{self.final_ece_before:.3f} -> {self.final_ece_after:.3f}, stage 1 "
                f"{self.stage1_ece_before:.3f} -> {self.stage1_ece_after:.3f}")


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


def apply_sigmoid_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """sigmoid(logit(p) / T), element by element.

    Args:
        probabilities: P(positive) of each image, any shape.
        temperature: T > 0; 1.0 returns them unchanged.

    Returns:
        float64 probabilities in the same order (the scaling is increasing in p).

    Raises:
        ValueError: When T is not a finite number above 0.
    """
    temperature = _checked_temperature(temperature)
    if temperature == 1.0:
        return np.array(probabilities, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-sigmoid_logits(probabilities) / temperature))


def uncalibrated_threshold(threshold: float, temperature: float) -> float:
    """The raw-model score that scales to ``threshold`` at ``temperature`` (the inverse scaling),
    for code that compares a model's own sigmoid output with a calibrated threshold. Thresholds
    of 0 and 1 stay as they are (flag everything, flag only certainty)."""
    if threshold <= 0.0 or threshold >= 1.0:
        return float(threshold)
    return float(apply_sigmoid_temperature(np.array([threshold]), 1.0 / _checked_temperature(
        temperature))[0])


def _softmax_nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    scaled = logits / temperature
    top = scaled.max(axis=1, keepdims=True)
    log_normaliser = top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1))
    return float(np.mean(log_normaliser - scaled[np.arange(len(labels)), labels]))


def _sigmoid_nll(logits: np.ndarray, positive: np.ndarray, temperature: float) -> float:
    signed = np.where(positive, logits, -logits) / temperature
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


def fit_sigmoid_temperature(probabilities: np.ndarray, positive: np.ndarray) -> TemperatureFit:
    """The T minimising the NLL of sigmoid(logit(p) / T) against the true outcomes.

    Args:
        probabilities: (N,) P(positive) of held-out images.
        positive: (N,) True where the image is positive (defective).

    Returns:
        The ``TemperatureFit`` (ECE of P(positive)). With no images, or images of one outcome
        only, T is 1.0.

    Raises:
        ValueError: When the arrays differ in length.
    """
    scores = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    truth = np.asarray(positive).reshape(-1).astype(bool)
    if scores.size != truth.size:
        raise ValueError(f"probabilities has {scores.size} entries but positive has "
                         f"{truth.size}; they must match one to one.")
    logits = sigmoid_logits(scores)

    def ece(temperature: float) -> float:
        return reliability(apply_sigmoid_temperature(scores, temperature), truth).ece

    nll = lambda temperature: _sigmoid_nll(logits, truth, temperature) if truth.size else 0.0
    if truth.size == 0 or truth.all() or not truth.any():
        return _unfitted(truth.size, nll, ece)
    return _fit(truth.size, nll, ece)


def _fit(images: int, nll, ece) -> TemperatureFit:
    temperature = _minimise(nll)
    return TemperatureFit(temperature, images, nll(1.0), nll(temperature), ece(1.0),
                          ece(temperature))


def _unfitted(images: int, nll, ece) -> TemperatureFit:
    before_nll, before_ece = nll(1.0), ece(1.0)
    return TemperatureFit(1.0, images, before_nll, before_nll, before_ece, before_ece)
