"""Shortcut audit of a synthetic dataset (spec C6.2, C6.3): can global statistics tell the class?

``global_features`` reduces an image to statistics that carry no defect shape (a 32-bin
histogram, mean, standard deviation, a high-pass noise estimate and 8 radial power-spectrum
bands); ``shortcut_probe`` cross-validates a standardised logistic regression on them (it should
score near chance, 1/8) and ``ks_pvalues`` compares each class's mean, standard deviation and
noise estimate with the other classes' by two-sample KS tests.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from scipy import ndimage, stats

STATISTICS = {"mean": 32, "std": 33, "noise": 34}
"""Columns of ``global_features`` compared by the KS tests."""


def global_features(image: np.ndarray) -> np.ndarray:
    """Histogram, mean, std, noise estimate and radial power-spectrum bands of one uint8 image."""
    x = image.astype(np.float64) / 255.0
    histogram = np.histogram(x, bins=32, range=(0.0, 1.0))[0] / x.size
    noise = np.std(x - ndimage.uniform_filter(x, 3))
    power = np.abs(np.fft.fftshift(np.fft.fft2(x - x.mean()))) ** 2
    rows, cols = np.indices(x.shape)
    radius = np.hypot(rows - x.shape[0] / 2, cols - x.shape[1] / 2)
    edges = np.linspace(0, x.shape[0] / 2, 9)
    bands = [
        np.log(power[(radius >= lo) & (radius < hi)].mean() + 1e-12)
        for lo, hi in pairwise(edges)
    ]
    return np.concatenate([histogram, [x.mean(), x.std(), noise], bands])


def shortcut_probe(features: np.ndarray, labels: np.ndarray, folds: int = 5) -> float:
    """Mean 5-fold cross-validated accuracy of a logistic regression on ``global_features``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    splits = StratifiedKFold(folds, shuffle=True, random_state=0)
    return float(cross_val_score(probe, features, labels, cv=splits).mean())


def ks_pvalues(features: np.ndarray, labels: np.ndarray) -> dict[str, list[float]]:
    """Per statistic, the KS p-value of each class against all the others."""
    return {
        name: [
            float(stats.ks_2samp(features[labels == label, column],
                                 features[labels != label, column]).pvalue)
            for label in np.unique(labels)
        ]
        for name, column in STATISTICS.items()
    }
