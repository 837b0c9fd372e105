"""No shortcut: global image statistics must not reveal the class (spec C6.2, C6.3).

A standardised logistic regression on global statistics (32-bin histogram, mean and standard
deviation, 8 radial power-spectrum bands, high-pass noise estimate) must score within 5 points of
chance (12.5 %) in 5-fold cross-validation. The class-conditional distributions of the mean, the
standard deviation and the noise estimate are compared, each class against all others, with
two-sample KS tests; 8 classes x 3 statistics = 24 tests, so the family-wise level 0.01 is split
by Bonferroni: every p-value must exceed 0.01 / 24.
"""

import numpy as np
import pytest
from scipy import ndimage, stats
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sem_core.data.synth import SynthConfig, generate_sample

PER_CLASS = 80
SIZE = 64
CHANCE = 1 / 8
STATISTICS = {"mean": 32, "std": 33, "noise": 34}


def global_features(image: np.ndarray) -> np.ndarray:
    """Histogram, mean, std, noise estimate and radial power-spectrum bands of one image."""
    x = image.astype(np.float64) / 255.0
    histogram = np.histogram(x, bins=32, range=(0.0, 1.0))[0] / x.size
    noise = np.std(x - ndimage.uniform_filter(x, 3))
    power = np.abs(np.fft.fftshift(np.fft.fft2(x - x.mean()))) ** 2
    rows, cols = np.indices(x.shape)
    radius = np.hypot(rows - x.shape[0] / 2, cols - x.shape[1] / 2)
    edges = np.linspace(0, x.shape[0] / 2, 9)
    bands = [
        np.log(power[(radius >= lo) & (radius < hi)].mean() + 1e-12)
        for lo, hi in zip(edges[:-1], edges[1:])
    ]
    return np.concatenate([histogram, [x.mean(), x.std(), noise], bands])


@pytest.fixture(scope="module")
def dataset():
    config = SynthConfig(size=SIZE)
    features, labels = [], []
    for idx in range(8 * PER_CLASS):
        features.append(global_features(generate_sample(config, 2024, 2, idx).image))
        labels.append(idx % 8)
    return np.array(features), np.array(labels)


def test_logistic_probe_on_global_statistics_is_near_chance(dataset):
    features, labels = dataset
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    accuracy = cross_val_score(probe, features, labels, cv=folds).mean()
    assert CHANCE - 0.05 <= accuracy <= CHANCE + 0.05, accuracy


def test_class_conditional_statistics_pass_ks_tests(dataset):
    features, labels = dataset
    tests = len(STATISTICS) * 8
    for name, column in STATISTICS.items():
        for label in range(8):
            p = stats.ks_2samp(
                features[labels == label, column], features[labels != label, column]
            ).pvalue
            assert p > 0.01 / tests, (name, label, p)
