"""``python -m sem_core review``: build the review queue of likely label errors."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    """Add the ``review`` command."""
    parser = subparsers.add_parser(
        "review", help="rank images by likely label error (cleanlab) for review",
        description="Embed the images with a bundle, fit a cross-validated linear model, and rank "
                    "images by confident learning, low confidence, stage-1 disagreement and flags.")
    parser.add_argument("--bundle", required=True, help="bundle folder (usually the active one)")
    parser.add_argument("--data", required=True, help="base dataset folder or manifest CSV")
    parser.add_argument("--labels", default=None, help="label database (decisions and flags)")
    parser.add_argument("--out", default=None, help="write the queue as JSON here")
    parser.add_argument("--csv", default=None, help="write the queue as CSV here")
    parser.add_argument("--top", type=int, default=20, help="items to print (default 20)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--splits", default="Train,Validation",
                        help="comma-separated splits to rank (default Train,Validation); "
                             "flagged images of other splits join the queue too")
    parser.add_argument("--low-confidence", type=float, default=0.5,
                        help="top probability under which an image is reviewed (default 0.5)")
    parser.add_argument("--include-reviewed", action="store_true",
                        help="keep images a person has already decided")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the command; 0 on success, 1 on a user-fixable error."""
    from sem_core.errors import SemCoreError

    try:
        return _review(args)
    except (SemCoreError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _review(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sem_core.data.layouts import load_dataset
    from sem_core.labels import LabelStore, ensure_sha256
    from sem_core.registry import load_bundle
    from sem_core.review import CrossValidationConfig, ReviewConfig, build_review_queue

    config = ReviewConfig(
        splits=tuple(name.strip() for name in args.splits.split(",") if name.strip()),
        low_confidence=args.low_confidence, include_reviewed=args.include_reviewed,
        cross_validation=CrossValidationConfig(folds=args.folds, seed=args.seed))
    base = ensure_sha256(load_dataset(args.data).manifest)
    store = LabelStore(args.labels) if args.labels else None
    bundle = load_bundle(args.bundle)
    with tqdm(desc="embedding", unit="img", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        queue = build_review_queue(bundle, base, store, config, progress=progress)
    if args.out:
        queue.save(args.out)
    if args.csv:
        queue.to_frame().to_csv(args.csv, index=False)
    frame = queue.to_frame().head(args.top)
    print(f"{len(queue)} of {queue.n_images} images up for review ({queue.method}).")
    if len(frame):
        print(frame[["score", "given_label", "suggested_label", "reasons", "path"]]
              .to_string(index=False))
    for path, reason in queue.failures:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    return 0
