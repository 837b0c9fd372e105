"""Out-of-sample class probabilities by K-fold cross-validation of a fast linear model.

Confident learning needs, for every image, probabilities from a model that did not see that
image's label. Refitting the bundle K times would take hours on two CPU cores; instead a
standardised multinomial logistic regression is fitted K times on the bundle's embeddings
(``features``), each fold predicting the images it held out. For ~1,000 images and ~1,000
features this takes seconds. Classes missing from a fold's training part get probability 0 there.
``fit_and_predict`` fits the same model once on a whole pool and predicts images outside it
(flagged held-out images), which are then out of sample by construction.
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


def _checked(features: np.ndarray, labels: Sequence[int],
             n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=int)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"features must be (N, D) with N = len(labels); received {x.shape} "
                         f"and {len(y)} labels.")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}; received {y.min()}..{y.max()}.")
    return x, y


def _fitted_probabilities(x_train: np.ndarray, y_train: np.ndarray, x_new: np.ndarray,
                          n_classes: int, config: CrossValidationConfig) -> np.ndarray:
    """Fit the standardised logistic regression on (x_train, y_train); (len(x_new), n_classes)
    probabilities, 0 for the classes absent from ``y_train``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probabilities = np.zeros((len(x_new), n_classes))
    present = np.unique(y_train)
    if len(present) == 1:
        probabilities[:, present] = 1.0
        return probabilities
    model = make_pipeline(StandardScaler(), LogisticRegression(
        C=config.regularization, max_iter=config.max_iterations))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence: more iterations barely move it
        model.fit(x_train, y_train)
    if len(x_new):
        probabilities[:, model.classes_] = model.predict_proba(x_new)
    return probabilities


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
    from sklearn.model_selection import StratifiedKFold

    x, y = _checked(features, labels, n_classes)
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
        probabilities[held_index] = _fitted_probabilities(
            x[train_index], y[train_index], x[held_index], n_classes, config)
    return probabilities / (probabilities.sum(axis=1, keepdims=True) + _EPSILON)


def fit_and_predict(features_train: np.ndarray, labels: Sequence[int], features_new: np.ndarray,
                    n_classes: int, config: CrossValidationConfig = CrossValidationConfig()
                    ) -> np.ndarray:
    """Fit the linear model once on a pool and predict images that are not in it.

    The new images never touch the fit, so their probabilities are out of sample; the pool's
    own out-of-sample figures still come from ``out_of_sample_probabilities`` alone.

    Args:
        features_train: (N, D) embeddings of the pool.
        labels: N class indices in ``range(n_classes)`` (the pool's given labels).
        features_new: (M, D) embeddings of the images to predict (M may be 0).
        n_classes: Number of classes (columns of the result).
        config: Regularisation and iterations (folds and seed are not used).
            Default: ``CrossValidationConfig()``.

    Returns:
        (M, n_classes) probabilities; each row sums to 1.

    Raises:
        ValueError: When shapes disagree, a label is out of range, the pool is empty, or the
            new images have another width than the pool's.
    """
    x, y = _checked(features_train, labels, n_classes)
    new = np.asarray(features_new, dtype=np.float64)
    if new.size == 0:
        new = new.reshape(0, x.shape[1])
    if not len(y):
        raise ValueError("fit_and_predict needs at least one pool image to fit on.")
    if new.ndim != 2 or new.shape[1] != x.shape[1]:
        raise ValueError(f"features_new must be (M, {x.shape[1]}) like the pool; received "
                         f"{new.shape}.")
    probabilities = _fitted_probabilities(x, y, new, n_classes, config)
    return probabilities / (probabilities.sum(axis=1, keepdims=True) + _EPSILON)
