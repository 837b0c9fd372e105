"""The ``shift-reference`` and ``shift-check`` commands (``sem_core.shift``)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from sem_core.shift import DEFAULT_BATCH_SIZE, DEFAULT_QUANTILE

REFERENCE_IMAGES = 2000


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``shift-reference`` and ``shift-check``."""
    fit = subparsers.add_parser(
        "shift-reference", help="store a bundle's training-domain feature statistics",
        description="Compute the mean and spread of the bundle's features (each stage's pooled "
                    "features and stage 2's middle-depth feature maps) over its training images "
                    "(the dataset's Train split) and calibrate the shift threshold on its "
                    "Validation split, into BUNDLE/shift/reference.json. The bundle's models and "
                    "bundle.json are not changed.")
    fit.add_argument("--bundle", required=True, type=Path, help="model bundle folder")
    fit.add_argument("--data", type=Path, nargs="+",
                     help="the labelled dataset(s) the bundle was trained on, as given to "
                          "train (several: the Train images are drawn evenly from each, every "
                          "Validation image is used; default: the one bundle.json names)")
    fit.add_argument("--reference-images", type=int, default=REFERENCE_IMAGES,
                     help="Train images drawn for the statistics (seeded)")
    fit.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                     help="batch size the threshold is calibrated at")
    fit.add_argument("--quantile", type=float, default=DEFAULT_QUANTILE,
                     help="share of in-domain calibration batches under the threshold")
    fit.add_argument("--overwrite", action="store_true", help="replace an existing reference")
    fit.set_defaults(func=run_shift_reference)
    check = subparsers.add_parser(
        "shift-check", help="do these images look like the bundle's training images?",
        description="Embed the images with the bundle's models and compare them with the stored "
                    "reference (shift-reference), in batches of the size its threshold was "
                    "calibrated at (input order). Prints each batch's distance and a "
                    "warning when it exceeds the threshold; exit code 3 when any batch is shifted.")
    check.add_argument("--bundle", required=True, type=Path, help="model bundle folder")
    check.add_argument("--input", required=True, nargs="+", type=Path,
                       help="image files, folders or zips")
    check.set_defaults(func=run_shift_check)


def run_shift_reference(args: argparse.Namespace) -> int:
    """Fit and store the reference; 0 when written, 2 when it could not be."""
    import numpy as np

    from sem_core.deploy.gate_data import (
        TRAIN,
        VALIDATION,
        ExportError,
        gate_dataset,
        labelled_images,
    )
    from sem_core.registry import BundleError, load_bundle
    from sem_core.shift import ShiftError, fit_shift_reference, save_reference
    from sem_core.shift_features import shift_blocks, shift_features

    try:
        bundle = load_bundle(args.bundle)
        size = int(bundle.info.input_size)
        datasets = args.data or [gate_dataset(bundle.info)]
        per_dataset = -(-args.reference_images // len(datasets))
        train, held_out = [], []
        for data in datasets:
            train.append(labelled_images(data, TRAIN, size, limit=per_dataset))
            held_out.append(labelled_images(data, VALIDATION, size))
            if train[-1].split != TRAIN or held_out[-1].split != VALIDATION:
                raise ShiftError(f"{data}: needs both a {TRAIN} and a {VALIDATION} split (the "
                                 "threshold is calibrated on images the statistics did not "
                                 "see).")
        train_images = np.concatenate([part.images for part in train])
        held_out_images = np.concatenate([part.images for part in held_out])
        print(f"embedding {len(train_images)} {TRAIN} and {len(held_out_images)} {VALIDATION} "
              "images...", file=sys.stderr)
        reference = fit_shift_reference(shift_features(bundle, train_images),
                                        shift_features(bundle, held_out_images),
                                        blocks=shift_blocks(bundle),
                                        batch_size=args.batch_size, quantile=args.quantile)
        path = save_reference(args.bundle, reference, overwrite=args.overwrite,
                              command=shlex.join(["python", "-m", "sem_core", *sys.argv[1:]]))
    except (BundleError, ExportError, ShiftError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    median, largest = reference.calibration_distances
    print(f"threshold {reference.threshold:.2f} (quantile {reference.quantile:g} of "
          f"{reference.calibration_images} held-out images in batches of {reference.batch_size}; "
          f"median {median:.2f}, largest {largest:.2f}) -> {path}")
    return 0


def run_shift_check(args: argparse.Namespace) -> int:
    """Judge the inputs in batches; 0 when none is shifted, 3 when one is, 2 on an error."""
    from sem_core.data.sources import iter_sources
    from sem_core.errors import ImageLoadError
    from sem_core.models.preprocessing import prepare_batch
    from sem_core.registry import BundleError, load_bundle
    from sem_core.shift import ShiftError, check_batches, load_reference
    from sem_core.shift_features import check_reference_matches, reference_features

    try:
        reference = load_reference(args.bundle)
        if reference is None:
            raise ShiftError(f"{args.bundle} has no shift reference; make one with "
                             f"`python -m sem_core shift-reference --bundle {args.bundle}`.")
        bundle = load_bundle(args.bundle)
        check_reference_matches(bundle, reference)
    except (BundleError, ShiftError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    import numpy as np

    size, batch, features = int(bundle.info.input_size), [], []
    # Decoded a batch at a time and kept only as features, so memory stays flat however many
    # files there are; the verdicts are check_batches', as in the app.
    for source in iter_sources(args.input):
        try:
            batch.append(source.load().pixels)
        except ImageLoadError as error:
            print(f"skipped {source.name}: {error}", file=sys.stderr)
            continue
        if len(batch) == reference.batch_size:
            features.append(reference_features(bundle, prepare_batch(batch, size), reference))
            batch = []
    if batch:
        features.append(reference_features(bundle, prepare_batch(batch, size), reference))
    if not features:
        print("error: no readable image among the inputs.", file=sys.stderr)
        return 2
    first = 1
    verdicts = check_batches(np.concatenate(features), reference)
    for verdict in verdicts:
        print(f"images {first}-{first + verdict.images - 1}: {verdict.describe()}")
        first += verdict.images
    return 3 if any(verdict.shifted for verdict in verdicts) else 0
