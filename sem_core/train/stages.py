"""Build both stages with their initial weights, then train them in order.

Stage 1 learns Clean vs Defective on every training image; its threshold is chosen on the
validation split; stage 2 learns the seven defect classes on the defective images only.
Both see class-balanced sample weights and augmented batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sem_core.classes import CLEAN, STAGE2_CLASSES
from sem_core.metrics.temperature import TemperatureFit
from sem_core.models import build_stage1, build_stage2
from sem_core.models.weights import (InitialWeights, application_weights, copy_layer_weights,
                                     source_model_file, transfer_weights)
from sem_core.train.augment import augment_config, build_augmenter
from sem_core.train.callbacks import EventKind, ProgressEvent, ProgressListener
from sem_core.train.config import STAGE1_CNN, TrainConfig
from sem_core.train.fit import FitContext, PhaseHistory, fit_stage1, fit_stage2
from sem_core.train.operating_point import OperatingPoint, choose_threshold
from sem_core.train.pipeline import DecodedImages, balanced_sample_weights, make_dataset


@dataclass(frozen=True)
class StagesOutcome:
    """What training both stages produced.

    Attributes:
        phases: History of every phase, in order.
        operating_point: The stage-1 threshold chosen on validation.
        validation_stage1: Stage-1 probability of each validation image.
        validation_stage2: Stage-2 probabilities (N, 7) of each validation image.
        seconds: Training wall time per stage ("stage1", "stage2").
        images_per_second: Training throughput per stage (images seen / seconds).
        stage1_fit: Stage 1's temperature fitted on validation, or None before calibration
            (``sem_core.train.calibration``); once set, the validation scores and the operating
            point above are on the calibrated scale.
        stage2_fit: The same for stage 2.
    """

    phases: tuple[PhaseHistory, ...]
    operating_point: OperatingPoint
    validation_stage1: np.ndarray
    validation_stage2: np.ndarray
    seconds: dict[str, float]
    images_per_second: dict[str, float]
    stage1_fit: TemperatureFit | None = None
    stage2_fit: TemperatureFit | None = None


def build_initial_models(config: TrainConfig, initial: InitialWeights) -> tuple[object, object, list[str]]:
    """Build stage 1 and stage 2 and load their initial weights.

    Returns:
        (stage1, stage2, notes): the models and log lines saying where weights came from.

    Raises:
        WeightsUnavailableError: When ImageNet weights are requested but unreachable.
    """
    from sem_core.train.config import Recipe

    notes = []
    # The probe recipe fits linear heads on pooled features; the hidden layer would stay random.
    dense_units = 0 if config.recipe == Recipe.PROBE.value else 512
    if config.stage1_backbone == STAGE1_CNN:
        stage1 = build_stage1(config.image_size, width=config.stage1_width)
    else:
        stage1 = build_stage1(config.image_size, backbone=config.stage1_backbone,
                              weights=application_weights(initial, config.stage1_backbone))
    stage2 = build_stage2(config.image_size, config.backbone,
                          weights=application_weights(initial, config.backbone), dense_units=dense_units)
    for name, model in (("stage1.keras", stage1), ("stage2.keras", stage2)):
        source = source_model_file(initial, name)
        if source is not None:
            report = transfer_weights(model, source)
            notes.append(f"{name}: copied weights of {len(report.copied)} layers from {source}; "
                         f"{len(report.skipped)} layers keep fresh weights")
    notes.append(f"initial weights: {initial.describe()}")
    return stage1, stage2, notes


def train_stages(stage1, stage2, train: DecodedImages, validation: DecodedImages, config: TrainConfig,
                 pretrained: bool, listener: ProgressListener,
                 should_stop: Callable[[], bool] | None = None,
                 stage1_from_stage2: bool = False) -> StagesOutcome:
    """Train stage 1, choose its threshold, then train stage 2 (models change in place); with
    ``stage1_from_stage2``, stage 2 first and stage 1 from a copy of its trained backbone.

    Args:
        stage1: A ``build_stage1`` model.
        stage2: A ``build_stage2`` model.
        train: Decoded training images.
        validation: Decoded validation images.
        config: The run's configuration.
        pretrained: Whether stage 2 starts from learned weights (two-phase fine-tuning).
        listener: Receives progress events.
        should_stop: Cancellation hook polled after each batch. Default: None.
        stage1_from_stage2: Train stage 2 first and copy its backbone's weights into stage 1
            before stage 1 trains (``TrainConfig.stage1_from_stage2``, where stage 1 did not
            start from a bundle). Stage 1 then fine-tunes in two phases as a pretrained
            backbone does. Default: False.

    Returns:
        A ``StagesOutcome``.
    """
    # A little time is kept back for the predictions and the bundle written after training.
    deadline = (time.monotonic() + config.max_minutes * 60.0 - 60.0) if config.max_minutes > 0 else None
    seconds: dict[str, float] = {}
    throughput: dict[str, float] = {}
    phases: list[PhaseHistory] = []

    defective = np.array([label != CLEAN for label in train.labels])
    validation_defective = np.array([label != CLEAN for label in validation.labels])
    validation_pixels = validation.pixels.astype(np.float32) / 255.0

    def run_stage1() -> None:
        context = _context(train.pixels, defective[:, None], defective.astype(int), 2, validation,
                           validation_defective[:, None], config, 0, listener, should_stop,
                           deadline)
        started = time.perf_counter()
        stage1_phases = fit_stage1(stage1, context, config,
                                   pretrained=(pretrained or stage1_from_stage2)
                                   and config.stage1_backbone != STAGE1_CNN)
        seconds["stage1"] = time.perf_counter() - started
        phases.extend(stage1_phases)
        throughput["stage1"] = _throughput(stage1_phases, len(train), seconds["stage1"])

    def run_stage2() -> None:
        defects_train = train.subset(defective)
        defects_validation = validation.subset(validation_defective)
        train_index = _class_indices(defects_train.labels)
        validation_index = _class_indices(defects_validation.labels)
        eye = np.eye(len(STAGE2_CLASSES), dtype=np.float32)
        context = _context(defects_train.pixels, eye[train_index], train_index,
                           len(STAGE2_CLASSES), defects_validation, eye[validation_index], config,
                           1, listener, should_stop, deadline)
        started = time.perf_counter()
        stage2_phases = fit_stage2(stage2, context, config, pretrained)
        seconds["stage2"] = time.perf_counter() - started
        phases.extend(stage2_phases)
        throughput["stage2"] = _throughput(stage2_phases, len(defects_train), seconds["stage2"])

    if stage1_from_stage2:
        run_stage2()
        copied = copy_backbone(stage2, stage1)
        listener(ProgressEvent(EventKind.MESSAGE, "stage1", message=(
            f"stage 1 starts from stage 2's trained backbone ({copied} layers copied)")))
        run_stage1()
    else:
        run_stage1()
    stage1_scores = stage1.predict(validation_pixels, batch_size=config.batch_size, verbose=0)[:, 0]
    point = choose_threshold(stage1_scores, validation_defective, config.stage1_recall)
    listener(ProgressEvent(EventKind.MESSAGE, "stage1", message=(
        f"stage-1 threshold {point.threshold:.4f}: recall {point.recall.rate:.3f}, "
        f"overkill {point.overkill_rate.rate:.3f} on {len(validation)} validation images")))
    if not stage1_from_stage2:
        run_stage2()
    stage2_probabilities = stage2.predict(validation_pixels, batch_size=config.batch_size, verbose=0)
    return StagesOutcome(tuple(phases), point, stage1_scores, stage2_probabilities, seconds, throughput)


def copy_backbone(source, target) -> int:
    """Copy the backbone layers' weights of ``source`` into the same-named layers of
    ``target`` (two backbone classifiers on one backbone); returns the layers copied.

    Raises:
        ValueError: When a backbone layer of ``target`` has no counterpart of the same shape.
    """
    from sem_core.models.stage2 import backbone_layers

    report = copy_layer_weights(backbone_layers(target), backbone_layers(source))
    if report.skipped:
        raise ValueError(f"stage 2 has no layer {report.skipped[0]!r} shaped like stage 1's: the "
                         "stages are not on the same backbone.")
    return len(report.copied)


def _class_indices(labels: tuple[str, ...]) -> np.ndarray:
    return np.array([STAGE2_CLASSES.index(label) for label in labels], dtype=int)


def _context(pixels: np.ndarray, targets: np.ndarray, classes: np.ndarray, num_classes: int,
             validation: DecodedImages, validation_targets: np.ndarray, config: TrainConfig,
             stage_offset: int, listener: ProgressListener,
             should_stop: Callable[[], bool] | None, deadline: float | None) -> FitContext:
    seed = config.seed * 10 + stage_offset
    strengths = augment_config(config.augment)
    augmenter = build_augmenter(strengths, seed=seed) if strengths is not None else None
    train = make_dataset(pixels, targets, config.batch_size,
                         sample_weights=balanced_sample_weights(classes, num_classes),
                         shuffle_seed=seed, augmenter=augmenter, deterministic=config.deterministic)
    held_out = make_dataset(validation.pixels, validation_targets, config.batch_size)
    batches = int(np.ceil(len(pixels) / config.batch_size))
    return FitContext(train, held_out, batches, listener, should_stop, deadline)


def _throughput(phases: list[PhaseHistory], images: int, seconds: float) -> float:
    epochs = sum(phase.epochs_run for phase in phases)
    return epochs * images / max(seconds, 1e-9)
