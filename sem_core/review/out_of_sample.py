"""Out-of-sample class probabilities by K-fold cross-validation of a fast linear model.

Confident learning needs, for every image, probabilities from a model that did not see that
image's label. Refitting the bundle K times would take hours on two CPU cores; instead a
standardised multinomial logistic regression is fitted K times on the bundle's embeddings
(``features``), each fold predicting the images it held out. For ~1,000 images and ~1,000
features this takes seconds. Classes missing from a fold's training part get probability 0 there.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_EPSILON = 1e-12


@dataclass(frozen=True)
class CrossValidationConfig:
    """How the out-of-sample model is fitted.

    Attributes:
        folds: Number of folds (fewer when the largest class is smaller). Default: 5.
        regularization: Inverse L2 strength ``C`` of the logistic regression. Default: 0.1.
        max_iterations: Solver iterations per fit. Default: 300.
        seed: Seed of the fold assignment. Default: 0.
    """

    folds: int = 5
    regularization: float = 0.1
    max_iterations: int = 300
    seed: int = 0

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError(f"folds must be >= 2. Received `folds={self.folds}`.")
        if self.regularization <= 0:
            raise ValueError(f"regularization must be > 0. Received "
                             f"`regularization={self.regularization}`.")


def out_of_sample_probabilities(features: np.ndarray, labels: Sequence[int], n_classes: int,
                                config: CrossValidationConfig = CrossValidationConfig()
                                ) -> np.ndarray:
    """Predict each image's class probabilities from a model fitted without it.

    Args:
        features: (N, D) embeddings.
        labels: N class indices in ``range(n_classes)``.
        n_classes: Number of classes (columns of the result).
        config: Folds, regularisation and seed. Default: ``CrossValidationConfig()``.

    Returns:
        (N, n_classes) probabilities; each row sums to 1.

    Raises:
        ValueError: When shapes disagree, a label is out of range, or there are fewer images
            than folds.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=int)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"features must be (N, D) with N = len(labels); received {x.shape} "
                         f"and {len(y)} labels.")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}; received {y.min()}..{y.max()}.")
    folds = min(config.folds, int(np.bincount(y).max()) if len(y) else 0)
    if folds < 2:
        raise ValueError(f"Cross-validation needs at least 2 images of some class; received "
                         f"{len(y)} images.")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    probabilities = np.zeros((len(y), n_classes))
    with warnings.catch_warnings():
        # Rare classes have fewer members than folds; that is expected and handled below.
        warnings.simplefilter("ignore", UserWarning)
        splits = list(splitter.split(x, y))
    for train_index, held_index in splits:
        present = np.unique(y[train_index])
        if len(present) == 1:
            probabilities[np.ix_(held_index, present)] = 1.0
            continue
        model = make_pipeline(StandardScaler(), LogisticRegression(
            C=config.regularization, max_iter=config.max_iterations))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence: more iterations barely move it
            model.fit(x[train_index], y[train_index])
        probabilities[np.ix_(held_index, model.classes_)] = model.predict_proba(x[held_index])
    return probabilities / (probabilities.sum(axis=1, keepdims=True) + _EPSILON)
