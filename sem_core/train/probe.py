"""The ``probe`` recipe: logistic-regression heads on frozen pretrained features, in about a minute.

Both stages share one frozen pretrained backbone, so each image's pooled features (``head_pool``)
are computed once, without augmentation. Stage 1's head is a binary logistic regression
(Defective vs Clean), stage 2's a multinomial one over the seven defect classes, each with
balanced class weights and its regularisation chosen on the validation split (stage 1: AUC,
stage 2: macro-F1). The fitted coefficients, with the feature standardisation folded in, become
the weights of each model's output Dense layer, so the bundle predicts, explains and retrains
like any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from sem_core.classes import CLEAN, STAGE2_CLASSES
from sem_core.train.callbacks import EventKind, ProgressEvent, ProgressListener, TrainingCancelled
from sem_core.train.config import TrainConfig
from sem_core.train.fit import PhaseHistory, macro_f1
from sem_core.train.operating_point import choose_threshold
from sem_core.train.pipeline import DecodedImages
from sem_core.train.stages import StagesOutcome

# Inverse regularisation strengths tried for each head; the best on validation is kept.
C_GRID = (0.01, 0.1, 1.0, 10.0)
FEATURES_LAYER = "head_pool"


def pooled_features(model, pixels: np.ndarray, batch_size: int) -> np.ndarray:
    """Pooled backbone features (N, channels) of uint8 or [0, 1] images (N, size, size, 1).

    A side model from the input to ``head_pool`` is built; ``model`` is not changed.
    """
    import keras

    side = keras.Model(model.inputs, model.get_layer(FEATURES_LAYER).output)
    images = pixels.astype(np.float32) / (255.0 if pixels.dtype == np.uint8 else 1.0)
    return side.predict(images, batch_size=batch_size, verbose=0)


def fit_linear_head(features: np.ndarray, labels: np.ndarray, validation_features: np.ndarray,
                    validation_labels: np.ndarray, score: Callable[[np.ndarray, np.ndarray], float],
                    seed: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Fit a class-balanced logistic regression, choosing C on validation.

    Args:
        features: Training features (N, D).
        labels: Integer class of each training row.
        validation_features: Validation features (M, D).
        validation_labels: Integer class of each validation row.
        score: ``score(labels, probabilities)``; higher is better.
        seed: Seed of the solver.

    Returns:
        ``(kernel, bias, C, validation score)``: a Dense kernel (D, K) and bias (K,) whose output
        is the regression's logits on raw features (K = 1 for two classes).
    """
    from sklearn.linear_model import LogisticRegression

    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    best = None
    for strength in C_GRID:
        regression = LogisticRegression(C=strength, class_weight="balanced", max_iter=2000,
                                        random_state=seed)
        regression.fit((features - mean) / scale, labels)
        probabilities = regression.predict_proba((validation_features - mean) / scale)
        value = score(validation_labels, probabilities)
        if best is None or value > best[0]:
            best = (value, strength, regression)
    value, strength, regression = best
    coefficients = regression.coef_ / scale  # undo the standardisation inside the Dense layer
    bias = regression.intercept_ - coefficients @ mean
    return coefficients.T.astype(np.float32), bias.astype(np.float32), strength, float(value)


def probe_stages(stage1, stage2, train: DecodedImages, validation: DecodedImages, config: TrainConfig,
                 listener: ProgressListener,
                 should_stop: Callable[[], bool] | None = None) -> StagesOutcome:
    """Fit both stages' heads on frozen features (models change in place; see module docstring).

    Raises:
        TrainingCancelled: When ``should_stop`` asked to stop (checked between steps).
    """
    from sklearn.metrics import roc_auc_score

    def say(message: str, stage: str = "") -> None:
        listener(ProgressEvent(EventKind.MESSAGE, stage, "probe", message=message))
        if should_stop is not None and should_stop():
            raise TrainingCancelled("probe: stopped on request")

    started = time.perf_counter()
    say(f"probe: pooled {config.backbone} features of {len(train) + len(validation)} images")
    train_features = pooled_features(stage2, train.pixels, config.batch_size)
    validation_features = pooled_features(stage2, validation.pixels, config.batch_size)
    stage1_train, stage1_validation = train_features, validation_features
    if not _same_backbone(stage1, stage2):  # e.g. a bundle whose stages were fine-tuned apart
        stage1_train = pooled_features(stage1, train.pixels, config.batch_size)
        stage1_validation = pooled_features(stage1, validation.pixels, config.batch_size)
    feature_seconds = time.perf_counter() - started

    def auc(labels, probabilities):
        return float(roc_auc_score(labels, probabilities[:, 1])) if 0 < labels.sum() < len(labels) else 0.0

    def f1(labels, probabilities):
        return macro_f1(labels, probabilities.argmax(axis=1))

    stage1_started = time.perf_counter()
    defective = np.array([label != CLEAN for label in train.labels], dtype=int)
    validation_defective = np.array([label != CLEAN for label in validation.labels], dtype=int)
    kernel, bias, strength1, value1 = fit_linear_head(
        stage1_train, defective, stage1_validation, validation_defective, auc, config.seed)
    stage1.get_layer("defect_probability").set_weights([kernel, bias])
    say(f"stage 1 probe: C={strength1:g}, validation AUC {value1:.3f}", "stage1")
    stage1_seconds = time.perf_counter() - stage1_started

    stage2_started = time.perf_counter()
    train_classes = np.array([STAGE2_CLASSES.index(label) for label in train.labels if label != CLEAN])
    validation_classes = np.array([STAGE2_CLASSES.index(label) for label in validation.labels
                                   if label != CLEAN])
    kernel, bias, strength2, value2 = fit_linear_head(
        train_features[defective == 1], train_classes,
        validation_features[validation_defective == 1], validation_classes, f1, config.seed)
    stage2.get_layer("class_probabilities").set_weights([kernel, bias])
    say(f"stage 2 probe: C={strength2:g}, validation macro-F1 {value2:.3f}", "stage2")
    stage2_seconds = time.perf_counter() - stage2_started

    validation_pixels = validation.pixels.astype(np.float32) / 255.0
    stage1_scores = stage1.predict(validation_pixels, batch_size=config.batch_size, verbose=0)[:, 0]
    point = choose_threshold(stage1_scores, validation_defective.astype(bool), config.stage1_recall)
    stage2_probabilities = stage2.predict(validation_pixels, batch_size=config.batch_size, verbose=0)
    trainable = f"logistic regression on frozen {config.backbone} features"
    phases = (PhaseHistory("stage1", "probe", 0.0, f"{trainable}, C={strength1:g}", 0, 0,
                           {"val_auc": [value1]}),
              PhaseHistory("stage2", "probe", 0.0, f"{trainable}, C={strength2:g}", 0, 0,
                           {"val_macro_f1": [value2]}))
    # Feature extraction serves both stages; each is charged half of it.
    seconds = {"stage1": stage1_seconds + feature_seconds / 2, "stage2": stage2_seconds + feature_seconds / 2}
    throughput = {"stage1": len(train) / max(seconds["stage1"], 1e-9),
                  "stage2": int(defective.sum()) / max(seconds["stage2"], 1e-9)}
    return StagesOutcome(phases, point, stage1_scores, stage2_probabilities, seconds, throughput)


def _same_backbone(stage1, stage2) -> bool:
    from sem_core.models import backbone_layers

    first, second = backbone_layers(stage1), backbone_layers(stage2)
    return len(first) == len(second) and all(
        len(a.weights) == len(b.weights)
        and all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
        for a, b in zip(first, second))
