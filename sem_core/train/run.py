"""One training run end to end: manifest in, model bundle out.

``train_bundle`` decodes the Train and Validation splits once, trains stage 1, chooses its
operating point on validation, trains stage 2 on the defective images, fits each stage's
temperature on validation (and chooses the threshold again on the calibrated scores), measures
validation metrics, and writes a new bundle (models, bundle.json, history.json, MODEL_CARD.md). Every
random choice follows ``TrainConfig.seed``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from sem_core.classes import CLASSES, CLEAN, STAGE2_CLASSES
from sem_core.data.vocabulary import Split
from sem_core.errors import DatasetError
from sem_core.registry import MODEL_CARD_FILE, STAGE1_FILE, BundleError, BundleInfo, save_bundle
from sem_core.train.callbacks import EventKind, ProgressEvent, ProgressListener, ignore_progress
from sem_core.train.config import Recipe, TrainConfig
from sem_core.train.pipeline import DecodedImages, ImageFailure


@dataclass(frozen=True)
class TrainResult:
    """What a run produced.

    Attributes:
        bundle: The bundle folder written.
        info: Its ``BundleInfo``.
        failures: Files left out because they could not be decoded.
        seconds: Wall time of the whole run.
    """

    bundle: Path
    info: BundleInfo
    failures: tuple[ImageFailure, ...]
    seconds: float


def train_bundle(
    manifest,
    out: str | Path,
    config: TrainConfig = TrainConfig(),
    *,
    command: str = "",
    listener: ProgressListener = ignore_progress,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train both stages on a manifest and write a new bundle folder.

    Args:
        manifest: A ``sem_core.data.manifest.Manifest`` with 8-class labels and Train and
            Validation splits.
        out: Bundle folder to create; it must not exist yet (bundles are never overwritten).
        config: Training configuration. Default: ``TrainConfig()``.
        command: The command line recorded in bundle.json. Default: "".
        listener: Receives progress events. Default: drops them.
        should_stop: Polled after every batch; True cancels the run. Default: None.

    Returns:
        A ``TrainResult``.

    Raises:
        DatasetError: When a split or a class the run needs is missing.
        sem_core.registry.BundleError: When ``out`` already holds files.
        sem_core.models.weights.WeightsUnavailableError: When the initial weights cannot be had.
        sem_core.train.callbacks.TrainingCancelled: When ``should_stop`` asked to stop.
    """
    import keras
    import tensorflow as tf

    from sem_core.models.backbones import BACKBONES
    from sem_core.models.weights import (WeightsKind, ensure_imagenet_available, parse_weights,
                                         source_model_file)
    from sem_core.train.calibration import calibrate_stages, describe_calibration
    from sem_core.train.stages import build_initial_models, train_stages
    from sem_core.train.summary import bundle_info, model_card

    started = time.perf_counter()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"{out}: already exists; bundles are never overwritten. Choose a new folder.")
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    initial = parse_weights(config.weights)
    if initial.kind == WeightsKind.IMAGENET:
        ensure_imagenet_available(config.backbone)
        if config.stage1_backbone in BACKBONES:
            ensure_imagenet_available(config.stage1_backbone)
    train_split, validation_split = _splits(manifest)
    _say(listener, f"decoding {len(train_split)} training and {len(validation_split)} validation "
                   f"images at {config.image_size} px")
    train_images = _decode(manifest, train_split, config.image_size)
    validation_images = _decode(manifest, validation_split, config.image_size)
    failures = train_images.failures + validation_images.failures
    for failure in failures:
        _say(listener, f"skipped {failure.path}: {failure.reason}")
    _require_classes(train_images, validation_images)
    stage1, stage2, notes = build_initial_models(config, initial)
    # A fine-tuning retrain continues the base's own stage 1 rather than stage 2's backbone.
    stage1_from_stage2 = (config.stage1_from_stage2
                          and source_model_file(initial, STAGE1_FILE) is None)
    for note in notes:
        _say(listener, note)
    if config.recipe == Recipe.PROBE.value:
        from sem_core.train.probe import probe_stages

        outcome = probe_stages(stage1, stage2, train_images, validation_images, config, listener,
                               should_stop)
    else:
        outcome = train_stages(stage1, stage2, train_images, validation_images, config,
                               initial.is_pretrained, listener, should_stop, stage1_from_stage2)
    outcome = calibrate_stages(outcome, validation_images, config.stage1_recall,
                               _base_threshold(initial))
    _say(listener, describe_calibration(outcome))
    seconds = time.perf_counter() - started
    info = replace(bundle_info(config, initial, stage1, stage2, outcome, manifest, train_images,
                               validation_images, command, seconds, stage1_from_stage2),
                   name=out.name)
    history = json.dumps([phase.to_dict() for phase in outcome.phases], indent=2) + "\n"
    folder = save_bundle(out, info, stage1, stage2, {
        MODEL_CARD_FILE: model_card(info, outcome), "history.json": history})
    _say(listener, f"wrote bundle {folder} in {seconds:.0f} s")
    _write_shift_reference(folder, train_images, validation_images, config.seed, command, listener)
    return TrainResult(folder, info, failures, seconds)


def _base_threshold(initial) -> float | None:
    """The calibrated stage-1 threshold of the bundle whose stage 1 this run fine-tunes, or None
    (a first model, a stage 1 started elsewhere, or a bundle that records none)."""
    from sem_core.models.weights import source_model_file
    from sem_core.registry import read_bundle_info

    if source_model_file(initial, STAGE1_FILE) is None:
        return None
    try:
        threshold = read_bundle_info(initial.path).stage1_threshold
    except (BundleError, OSError, ValueError, KeyError):
        return None
    return float(threshold) if threshold is not None else None


SHIFT_REFERENCE_IMAGES = 2000
"""Training images drawn (seeded) for the shift reference's statistics, as ``shift-reference``."""
SHIFT_PROGRESS_EVERY = 256
"""Images embedded between two progress lines (about 2 s at 128 px on 2 cores)."""


def _write_shift_reference(folder: Path, train_images: DecodedImages,
                           validation_images: DecodedImages, seed: int, command: str,
                           listener: ProgressListener) -> None:
    """The bundle's shift reference (``sem_core.shift``), from the images it was trained on, so
    that Inspect can warn about unlike images from the start. A dataset too small to calibrate
    the threshold leaves the bundle without one, with a note; the bundle itself is complete."""
    import numpy as np

    from sem_core.registry import load_bundle
    from sem_core.shift import ShiftError, fit_shift_reference, save_reference
    from sem_core.shift_features import shift_blocks, shift_features

    picks = np.arange(len(train_images))
    if len(picks) > SHIFT_REFERENCE_IMAGES:
        picks = np.sort(np.random.default_rng(seed).choice(len(picks), SHIFT_REFERENCE_IMAGES,
                                                           replace=False))

    def embed(bundle, pixels: np.ndarray, what: str) -> np.ndarray:
        def report(done: int, total: int) -> None:  # a line now and then: never silent long
            if done % SHIFT_PROGRESS_EVERY == 0 or done == total:
                _say(listener, f"domain-shift reference: {what} {done}/{total} embedded")

        return shift_features(bundle, pixels, progress=report)

    try:
        _say(listener, "domain-shift reference: loading the new bundle")
        bundle = load_bundle(folder)
        _say(listener, f"domain-shift reference: embedding {len(picks)} training and "
                       f"{len(validation_images)} validation images")
        reference = fit_shift_reference(
            embed(bundle, train_images.pixels[picks], "training images"),
            embed(bundle, validation_images.pixels, "validation images"),
            blocks=shift_blocks(bundle))
        save_reference(folder, reference, command=f"{command} (at the end of training)".strip())
    except (ShiftError, OSError) as error:
        _say(listener, f"no domain-shift reference for this bundle: {error} Make one later with "
                       f"`python -m sem_core shift-reference --bundle {folder} --data DATA`.")
        return
    _say(listener, f"domain-shift reference: threshold {reference.threshold:.2f} on "
                   f"{reference.calibration_images} validation images")


def _say(listener: ProgressListener, message: str) -> None:
    listener(ProgressEvent(EventKind.MESSAGE, message=message))


def _splits(manifest) -> tuple[list, list]:
    train = [entry for entry in manifest.entries if entry.split == Split.TRAIN.value]
    validation = [entry for entry in manifest.entries if entry.split == Split.VALIDATION.value]
    if not train or not validation:
        raise DatasetError(
            f"{manifest.root or 'manifest'}: training needs Train and Validation images; found "
            f"{len(train)} Train and {len(validation)} Validation.")
    unknown = sorted({entry.label for entry in train + validation} - set(CLASSES))
    if unknown:
        raise DatasetError(
            f"{manifest.root or 'manifest'}: labels {', '.join(unknown)} are not among the 8 classes; "
            "the cascade needs images labelled with the defect class.")
    return train, validation


def _decode(manifest, entries: list, size: int) -> DecodedImages:
    from sem_core.train.pipeline import decode_images

    return decode_images([manifest.resolve(entry) for entry in entries],
                         [entry.label for entry in entries], size)


def _require_classes(train: DecodedImages, validation: DecodedImages) -> None:
    for name, images in (("Train", train), ("Validation", validation)):
        labels = set(images.labels)
        if CLEAN not in labels or not labels & set(STAGE2_CLASSES):
            raise DatasetError(
                f"The {name} split needs both Clean and defective images for stage 1; "
                f"it has {', '.join(sorted(labels)) or 'none'}.")
    missing = sorted(set(STAGE2_CLASSES) - set(train.labels))
    if missing:
        raise DatasetError(f"The Train split has no images of {', '.join(missing)}; stage 2 needs every "
                           f"defect class ({', '.join(STAGE2_CLASSES)}).")

