"""Fitting the two stages: compile, callbacks, phases, and a typed history.

Stage 1 trains in one phase (the small CNN, or a backbone from scratch). Stage 2 trains in one
phase from scratch (every layer trainable, said so in the log), or, from pretrained weights, in
the notebook's two phases: the backbone frozen (Adam 1e-4), then its last ~40 layers unfrozen
(Adam 1e-5; ``finetune_layers`` sets how many, or all), batch norm kept in inference mode; a
stage 1 on a pretrained backbone does the same. Every phase restores the weights of its best validation epoch (stage 2 pretrained: best
validation macro-F1; stage 1: best validation AUC) and halves the learning rate on plateaus.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from sem_core.models.stage2 import backbone_layers, set_backbone_trainable
from sem_core.train.callbacks import (
    DeadlineStop,
    EventKind,
    ProgressBridge,
    ProgressEvent,
    ProgressListener,
    TrainingCancelled,
)
from sem_core.train.config import FINETUNE_ALL, TrainConfig


@dataclass(frozen=True)
class PhaseHistory:
    """What one ``fit`` call did.

    Attributes:
        stage: "stage1" or "stage2".
        phase: "train", "frozen" or "finetune".
        learning_rate: Starting Adam learning rate.
        trainable: What was trainable, in words.
        epochs_run: Epochs actually run (early stopping may cut them short).
        best_epoch: 1-based epoch whose weights were kept.
        history: Metric name -> one value per epoch.
    """

    stage: str
    phase: str
    learning_rate: float
    trainable: str
    epochs_run: int
    best_epoch: int
    history: dict[str, list[float]]

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON view (saved as history.json in the bundle)."""
        return {"stage": self.stage, "phase": self.phase, "learning_rate": self.learning_rate,
                "trainable": self.trainable, "epochs_run": self.epochs_run,
                "best_epoch": self.best_epoch, "history": self.history}


@dataclass(frozen=True)
class FitContext:
    """Data and hooks shared by the phases of one stage.

    Attributes:
        train: Training dataset (augmented, weighted).
        validation: Validation dataset.
        batches: Training batches per epoch.
        listener: Receives progress events.
        should_stop: Polled after each batch to cancel; None never cancels.
        deadline: ``time.monotonic()`` value by which training should end; None for no budget.
    """

    train: object
    validation: object
    batches: int
    listener: ProgressListener
    should_stop: Callable[[], bool] | None = None
    deadline: float | None = None


class ValidationMacroF1(keras.callbacks.Callback):
    """Adds ``val_macro_f1`` (one-hot targets, argmax predictions) to each epoch's logs.

    Listed before early stopping, which then picks the epoch a user would pick: on a small,
    unbalanced validation split the loss can fall while rare classes are lost.
    """

    def __init__(self, validation) -> None:
        super().__init__()
        self.validation = validation

    def on_epoch_end(self, epoch, logs=None):
        truth, guess = [], []
        for batch in self.validation:
            images, targets = batch[0], batch[1]
            truth.append(np.argmax(np.asarray(targets), axis=1))
            guess.append(np.argmax(np.asarray(self.model(images, training=False)), axis=1))
        if logs is not None:
            logs["val_macro_f1"] = macro_f1(np.concatenate(truth), np.concatenate(guess))


def macro_f1(truth: np.ndarray, guess: np.ndarray) -> float:
    """Unweighted mean F1 over the classes present in ``truth`` or ``guess``."""
    scores = []
    for label in np.union1d(truth, guess):
        true_positive = float(np.sum((guess == label) & (truth == label)))
        denominator = float(np.sum(guess == label) + np.sum(truth == label))
        scores.append(2.0 * true_positive / max(denominator, 1e-9))
    return float(np.mean(scores)) if scores else 0.0


def fit_stage1(model: keras.Model, context: FitContext, config: TrainConfig,
               pretrained: bool = False) -> list[PhaseHistory]:
    """Train stage 1 (binary cross-entropy with label smoothing) in place.

    Args:
        model: A ``build_stage1`` model (the CNN or on a backbone).
        context: Data and hooks.
        config: Epochs, rates, patience, label smoothing.
        pretrained: Whether a backbone stage 1 starts from learned weights (two phases).
            Default: False.

    Raises:
        TrainingCancelled: When ``should_stop`` asked to stop.
    """
    def loss():
        return keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing)

    def metrics():
        return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")]

    # Validation AUC, not loss, picks the best epoch: the validation split is not class-weighted,
    # so its loss rewards calling everything Defective, which is what the threshold must avoid.
    if pretrained:
        return _fit_pretrained(model, context, config, "stage1", config.stage1_epochs, loss, metrics,
                               monitor="val_auc", extra=())
    return [_fit_phase(model, context, config, "stage1", "train", config.stage1_epochs,
                       config.stage1_learning_rate, loss(), metrics(), "all layers", monitor="val_auc")]


def fit_stage2(model: keras.Model, context: FitContext, config: TrainConfig,
               pretrained: bool) -> list[PhaseHistory]:
    """Train stage 2 in place: two fine-tuning phases when pretrained, one phase otherwise.

    Args:
        model: A ``build_stage2`` model.
        context: Data and hooks.
        config: Epochs, rates, layers to unfreeze, patience, label smoothing.
        pretrained: Whether the backbone starts from learned weights.

    Returns:
        One ``PhaseHistory`` per phase run.

    Raises:
        TrainingCancelled: When ``should_stop`` asked to stop.
    """
    def loss():
        return keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)

    def metrics():
        return [keras.metrics.CategoricalAccuracy(name="accuracy")]

    if not pretrained:
        layers = set_backbone_trainable(model, None)
        context.listener(ProgressEvent(EventKind.MESSAGE, "stage2", "train", message=(
            f"stage 2 starts from random weights: training all layers ({layers} backbone layers) "
            f"from scratch at learning rate {config.scratch_learning_rate:g}")))
        return [_fit_phase(model, context, config, "stage2", "train", config.epochs,
                           config.scratch_learning_rate, loss(), metrics(),
                           f"all layers ({layers} backbone layers), from scratch")]
    return _fit_pretrained(model, context, config, "stage2", config.epochs, loss, metrics,
                           monitor="val_macro_f1", extra=(ValidationMacroF1(context.validation),))


def _fit_pretrained(model: keras.Model, context: FitContext, config: TrainConfig, stage: str,
                    epochs: int, loss, metrics, monitor: str, extra: tuple) -> list[PhaseHistory]:
    """Phase 1 with the backbone frozen, phase 2 with its last layers unfrozen (batch norm frozen)."""
    frozen_epochs = min(epochs, max(1, math.ceil(epochs * config.frozen_fraction)))
    set_backbone_trainable(model, 0)
    phases = [_fit_phase(model, context, config, stage, "frozen", frozen_epochs,
                         config.frozen_learning_rate, loss(), metrics(), "head only (backbone frozen)",
                         monitor=monitor, extra=extra)]
    finetune_epochs = epochs - frozen_epochs
    if finetune_epochs > 0:
        every = config.finetune_layers == FINETUNE_ALL
        unfrozen = set_backbone_trainable(model, len(backbone_layers(model)) if every else config.finetune_layers)
        which = "all" if every else f"last {config.finetune_layers}"
        phases.append(_fit_phase(
            model, context, config, stage, "finetune", finetune_epochs,
            config.finetune_learning_rate, loss(), metrics(),
            f"head + {which} backbone layers ({unfrozen} trainable, batch norm frozen)",
            monitor=monitor, extra=extra))
    return phases


def _fit_phase(model: keras.Model, context: FitContext, config: TrainConfig, stage: str, phase: str,
               epochs: int, learning_rate: float, loss, metrics, trainable: str,
               monitor: str = "val_loss", extra: tuple = ()) -> PhaseHistory:
    if epochs < 1:
        return PhaseHistory(stage, phase, learning_rate, trainable, 0, 0, {})
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)
    bridge = ProgressBridge(context.listener, stage, phase, epochs, context.batches, context.should_stop)
    mode = "min" if monitor.endswith("loss") else "max"
    stopper = keras.callbacks.EarlyStopping(
        monitor=monitor, mode=mode, patience=config.patience, restore_best_weights=True)
    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor=monitor, mode=mode, factor=0.5, patience=max(1, config.patience // 2), min_lr=1e-6)
    callbacks = [*extra, stopper, plateau, bridge]
    if context.deadline is not None:
        callbacks.insert(0, DeadlineStop(context.deadline, context.listener, stage))
    result = model.fit(context.train, validation_data=context.validation, epochs=epochs,
                       callbacks=callbacks, verbose=0, shuffle=False)
    if bridge.cancelled:
        raise TrainingCancelled(f"{stage} {phase}: stopped on request")
    history = {key: [float(value) for value in values] for key, values in result.history.items()}
    epochs_run = len(history.get("loss", []))
    return PhaseHistory(stage, phase, learning_rate, trainable, epochs_run,
                        int(stopper.best_epoch) + 1, history)
