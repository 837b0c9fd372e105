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

from sem_core.data.synth import SynthConfig, generate_sample
from sem_core.data.synth.audit import global_features, ks_pvalues, shortcut_probe

PER_CLASS = 80
SIZE = 64
CHANCE = 1 / 8


@pytest.fixture(scope="module")
def dataset():
    config = SynthConfig(size=SIZE)
    features, labels = [], []
    for idx in range(8 * PER_CLASS):
        features.append(global_features(generate_sample(config, 2024, 2, idx).image))
        labels.append(idx % 8)
    return np.array(features), np.array(labels)


def test_logistic_probe_on_global_statistics_is_near_chance(dataset):
    accuracy = shortcut_probe(*dataset)
    assert CHANCE - 0.05 <= accuracy <= CHANCE + 0.05, accuracy


def test_class_conditional_statistics_pass_ks_tests(dataset):
    pvalues = ks_pvalues(*dataset)
    tests = sum(len(values) for values in pvalues.values())
    for name, values in pvalues.items():
        for label, p in enumerate(values):
            assert p > 0.01 / tests, (name, label, p)
