"""The ``adapt`` command: a new bundle adapted to unlabelled images of another tool."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from sem_core.adapt import TARGET_REFERENCE_IMAGES, AdaptMethod


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``adapt``."""
    parser = subparsers.add_parser(
        "adapt", help="adapt a bundle to a new tool's unlabelled images (a new bundle)",
        description="Adapt both stages of a bundle to images of another tool or fab, without "
                    "labels, and write the result as a new bundle (the source is never "
                    "changed). batchnorm re-estimates the batch-norm statistics on the images; "
                    "coral maps their pooled features onto the source's mean and spread, using "
                    "the bundle's shift reference (or --data); contrastive continues training "
                    "stage 2's backbone on the images without labels (self-supervised), then "
                    "fits its head again on the labelled source data (--data, required). "
                    "Compare the new bundle with the source on a few labelled images before "
                    "promoting it.")
    parser.add_argument("--bundle", required=True, type=Path, help="source bundle folder")
    parser.add_argument("--images", required=True, nargs="+", type=Path,
                        help="the new tool's unlabelled images: files, folders or zips")
    parser.add_argument("--out", required=True, type=Path, help="new bundle folder (must not exist)")
    parser.add_argument("--method", choices=[method.value for method in AdaptMethod],
                        default=AdaptMethod.CORAL.value,
                        help="how to adapt (coral: the one that did not lose accuracy in "
                             "benchmarks/bench_shift.py; see docs/domain-shift.md)")
    parser.add_argument("--data", type=Path,
                        help="the labelled dataset the bundle was trained on: coral without a "
                             "shift reference takes the source statistics from its Train split; "
                             "contrastive needs it (Train and Validation splits)")
    parser.add_argument("--epochs", type=int, default=2,
                        help="contrastive: passes over the unlabelled images (default 2; about "
                             "2 minutes per 1,000 images per pass at 224 px on 2 CPU cores)")
    parser.add_argument("--seed", type=int, default=0, help="contrastive: seed (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run_adapt)


def run_adapt(args: argparse.Namespace) -> int:
    """0 when the new bundle is written, 2 when it could not be."""
    import numpy as np
    from tqdm import tqdm

    from sem_core.adapt import AdaptError, adapt_bundle, image_digest, images_content_hash
    from sem_core.data.sources import iter_sources
    from sem_core.deploy.gate_data import ExportError
    from sem_core.errors import ImageLoadError
    from sem_core.models.preprocessing import prepare_image
    from sem_core.registry import BundleError, load_bundle
    from sem_core.shift import ShiftError

    if args.out.exists():
        print(f"error: {args.out} already exists; bundles are never overwritten.", file=sys.stderr)
        return 2
    try:
        bundle = load_bundle(args.bundle)
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    size = int(bundle.info.input_size)
    pixels, digests, skipped = [], [], 0
    sources = list(iter_sources(args.images))
    for source in tqdm(sources, desc="decode", unit="img", file=sys.stderr, disable=args.quiet):
        try:
            image = source.load().pixels
        except ImageLoadError as error:
            print(f"skipped {source.name}: {error}", file=sys.stderr)
            skipped += 1
            continue
        pixels.append(prepare_image(image, size))
        digests.append(image_digest(image))
    try:
        features = labelled = None
        if args.method == AdaptMethod.CORAL.value:
            features = _source_features(args, bundle)
        if args.method == AdaptMethod.CONTRASTIVE.value:
            labelled = _labelled_source(args, size)
        passes = {AdaptMethod.BATCH_NORM.value: 2, AdaptMethod.CORAL.value: 1,
                  AdaptMethod.CONTRASTIVE.value: max(args.epochs, 0)}[args.method] + (
            len(pixels) >= TARGET_REFERENCE_IMAGES)  # the new bundle's shift reference
        total = len(pixels) * passes
        bar = tqdm(total=total, desc=args.method, unit="img", file=sys.stderr, disable=args.quiet)
        result = adapt_bundle(bundle, np.stack(pixels) if pixels else np.zeros((0, size, size, 1)),
                              args.out, args.method, content_hash=images_content_hash(digests),
                              source_features=features, labelled_source=labelled,
                              epochs=args.epochs, seed=args.seed, progress=bar.update,
                              command=shlex.join(["python", "-m", "sem_core", *sys.argv[1:]]))
        bar.close()
    except (AdaptError, BundleError, ExportError, ShiftError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"adapted {bundle.info.name} by {result.method.value} on {result.images} images "
          f"({skipped} unreadable skipped) in {result.seconds:.1f} s -> {result.bundle}")
    reference = ("written" if result.shift_reference
                 else f"none (it needs at least {TARGET_REFERENCE_IMAGES} images)")
    print(f"shift reference of the new tool's images: {reference}")
    return 0


def _source_features(args: argparse.Namespace, bundle):
    """(mean, scale) of the source's pooled features: the shift reference, else --data."""
    from sem_core.adapt import AdaptError
    from sem_core.shift import feature_statistics, load_reference
    from sem_core.shift_features import STAGE1, STAGE2

    reference = load_reference(args.bundle)
    if reference is not None:
        return reference.statistics_of((STAGE1, STAGE2))
    if args.data is None:
        raise AdaptError(f"{args.bundle} has no shift reference: make one with `python -m "
                         f"sem_core shift-reference --bundle {args.bundle}`, or pass --data "
                         "with the dataset it was trained on.")
    from sem_core.deploy.gate_data import TRAIN, labelled_images
    from sem_core.review.features import embed_pixels
    from sem_core.shift_cli import REFERENCE_IMAGES

    train = labelled_images(args.data, TRAIN, int(bundle.info.input_size), limit=REFERENCE_IMAGES)
    return feature_statistics(embed_pixels(bundle, train.images))



def _labelled_source(args: argparse.Namespace, size: int):
    """The source's labelled Train (at most ``SOURCE_TRAIN_IMAGES``) and Validation images."""
    from sem_core.adapt import SOURCE_TRAIN_IMAGES, AdaptError, LabelledSource
    from sem_core.deploy.gate_data import TRAIN, VALIDATION, labelled_images

    if args.data is None:
        raise AdaptError("contrastive fits stage 2's head again on labelled source images: pass "
                         "--data with the dataset the bundle was trained on (Train and "
                         "Validation splits).")
    train = labelled_images(args.data, TRAIN, size, limit=SOURCE_TRAIN_IMAGES)
    validation = labelled_images(args.data, VALIDATION, size)
    if train.split != TRAIN or validation.split != VALIDATION:
        raise AdaptError(f"{args.data} needs both a Train and a Validation split for contrastive "
                         "(the head is fitted on one and stopped early on the other).")
    return LabelledSource((train.images, train.labels), (validation.images, validation.labels),
                          train.manifest_hash)
