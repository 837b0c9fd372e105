"""Small statistical helpers shared by training (operating points) and evaluation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class Proportion:
    """A rate with its Wilson score confidence interval.

    Attributes:
        successes: Count of events (e.g. escapes).
        total: Count of trials; 0 gives ``rate`` NaN-free 0.0 and the interval (0, 1).
        rate: successes / total, or 0.0 when total is 0.
        low: Lower bound of the interval.
        high: Upper bound of the interval.
        confidence: Two-sided confidence level of the interval.
    """

    successes: int
    total: int
    rate: float
    low: float
    high: float
    confidence: float

    def to_dict(self) -> dict[str, float | int]:
        """Plain-JSON view."""
        return {"successes": self.successes, "total": self.total, "rate": self.rate,
                "low": self.low, "high": self.high, "confidence": self.confidence}


def wilson_interval(successes: int, total: int, confidence: float = 0.95) -> Proportion:
    """Wilson score interval for a binomial proportion.

    Args:
        successes: Number of events, 0 <= successes <= total.
        total: Number of trials (may be 0: then the rate is 0.0 and the interval is (0, 1)).
        confidence: Two-sided confidence level in (0, 1). Default: 0.95.

    Returns:
        A ``Proportion`` with the point estimate and interval.

    Raises:
        ValueError: When the counts or the confidence are out of range.
    """
    if total < 0 or successes < 0 or successes > total:
        raise ValueError(f"Need 0 <= successes <= total; received successes={successes}, total={total}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1); received confidence={confidence}.")
    if total == 0:
        return Proportion(0, 0, 0.0, 0.0, 1.0, confidence)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    rate = successes / total
    denominator = 1.0 + z * z / total
    centre = (rate + z * z / (2.0 * total)) / denominator
    half_width = z * math.sqrt(rate * (1.0 - rate) / total + z * z / (4.0 * total * total)) / denominator
    # At 0 or total events the bound is exactly 0 or 1; the formula leaves rounding residue.
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == total else min(1.0, centre + half_width)
    return Proportion(successes, total, rate, low, high, confidence)
