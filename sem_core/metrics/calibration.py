"""Calibration: does a stated probability match how often the model is right?

One function serves both uses: the top-label reliability of the cascade (predicted = confidence
of the final label, observed = whether it was correct) and the reliability of the stage-1 score
(predicted = P(Defective), observed = whether the image is defective). Bins are equal-width on
[0, 1]: bin b holds b/n <= p < (b+1)/n, and the last bin also holds p = 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sem_core.metrics.confusion import read_only


@dataclass(frozen=True, eq=False)
class Calibration:
    """Reliability curve and expected calibration error.

    Attributes:
        n_bins: Number of equal-width bins on [0, 1].
        ece: Expected calibration error, sum over bins of (bin count / total) x
            |observed frequency - mean predicted probability|; 0.0 for no images.
        bin_edges: Read-only array of n_bins + 1 edges.
        mean_predicted: Read-only array, mean predicted probability per bin (0.0 when empty).
        observed_frequency: Read-only array, fraction of events per bin (0.0 when empty).
        counts: Read-only int64 array, images per bin; use it to skip empty bins in a plot.
    """

    n_bins: int
    ece: float
    bin_edges: np.ndarray
    mean_predicted: np.ndarray
    observed_frequency: np.ndarray
    counts: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view."""
        return {"n_bins": self.n_bins, "ece": self.ece, "bin_edges": self.bin_edges.tolist(),
                "mean_predicted": self.mean_predicted.tolist(),
                "observed_frequency": self.observed_frequency.tolist(),
                "counts": self.counts.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Inverse of ``to_dict``."""
        return cls(int(data["n_bins"]), float(data["ece"]),
                   read_only(np.asarray(data["bin_edges"], dtype=np.float64)),
                   read_only(np.asarray(data["mean_predicted"], dtype=np.float64)),
                   read_only(np.asarray(data["observed_frequency"], dtype=np.float64)),
                   read_only(np.asarray(data["counts"], dtype=np.int64)))


def reliability(predicted: np.ndarray, observed: np.ndarray, n_bins: int = 10) -> Calibration:
    """Bin predicted probabilities and compare each bin's mean with its event frequency.

    Args:
        predicted: Probabilities in [0, 1], one per image.
        observed: 1/True where the event happened (prediction correct, image defective).
        n_bins: Number of equal-width bins. Default: 10.

    Returns:
        A ``Calibration``; empty input gives ECE 0.0 and empty bins.

    Raises:
        ValueError: When ``n_bins`` < 1, the arrays differ in length, or a probability is
            outside [0, 1] or NaN.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1; received n_bins={n_bins}.")
    probabilities = np.asarray(predicted, dtype=np.float64).reshape(-1)
    events = np.asarray(observed, dtype=np.float64).reshape(-1)
    if probabilities.size != events.size:
        raise ValueError(f"predicted has {probabilities.size} entries but observed has "
                         f"{events.size}; they must match one to one.")
    outside = np.flatnonzero(~((probabilities >= 0.0) & (probabilities <= 1.0)))
    if outside.size:
        raise ValueError(f"predicted[{outside[0]}] = {probabilities[outside[0]]} is not a "
                         "probability in [0, 1].")
    bins = np.minimum((probabilities * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    sum_predicted = np.bincount(bins, weights=probabilities, minlength=n_bins)
    sum_observed = np.bincount(bins, weights=events, minlength=n_bins)
    filled = counts > 0
    mean_predicted = np.divide(sum_predicted, counts, out=np.zeros(n_bins), where=filled)
    observed_frequency = np.divide(sum_observed, counts, out=np.zeros(n_bins), where=filled)
    total = probabilities.size
    gaps = counts * np.abs(observed_frequency - mean_predicted)
    ece = float(gaps.sum() / total) if total else 0.0
    return Calibration(n_bins, ece, read_only(np.linspace(0.0, 1.0, n_bins + 1)),
                       read_only(mean_predicted), read_only(observed_frequency),
                       read_only(counts.astype(np.int64)))
