"""``python -m sem_core review``: build the review queue of likely label errors.

``--out`` is replaced only by a complete queue (written to a hidden sibling, flushed, renamed), so
an interrupted run leaves the previous queue as it was. ``--job-dir`` is how the app's background
job (``sem_core.jobs.review_job.start_review``) runs this command: state, progress lines and
cancellation go through that folder (``sem_core.jobs.review_run``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


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
    parser.add_argument("--batch-size", type=int, default=32,
                        help="images per model call (default 32)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--job-dir", default=None,
                        help="job folder made by start_review: record state and progress there")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the command; 0 on success, 1 on a user-fixable error."""
    from contextlib import nullcontext

    from sem_core.errors import SemCoreError
    from sem_core.jobs.review_job import ReviewCancelled
    from sem_core.jobs.review_run import ReviewJobRun

    try:
        with ReviewJobRun(args.job_dir) if args.job_dir else nullcontext() as job:
            return _review(args, job)
    except ReviewCancelled as error:
        print(f"cancelled: {error}; the saved queue was not changed", file=sys.stderr)
        return 1
    except (SemCoreError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def save_atomically(queue, path: str | os.PathLike) -> Path:
    """Write ``queue`` to ``path`` only once complete: a hidden sibling, flushed, then renamed.

    Args:
        queue: The ``ReviewQueue``.
        path: Its JSON file; an existing queue there stays readable until the rename.

    Returns:
        The written path.
    """
    target = Path(path)
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        queue.save(staging)
        with open(staging, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    return target


def _review(args: argparse.Namespace, job=None) -> int:
    from tqdm import tqdm

    from sem_core.data.layouts import load_dataset
    from sem_core.jobs.review_job import ReviewCancelled
    from sem_core.labels import LabelStore, ensure_sha256
    from sem_core.registry import load_bundle
    from sem_core.review import CrossValidationConfig, ReviewConfig, build_review_queue

    config = ReviewConfig(
        splits=tuple(name.strip() for name in args.splits.split(",") if name.strip()),
        low_confidence=args.low_confidence, include_reviewed=args.include_reviewed,
        cross_validation=CrossValidationConfig(folds=args.folds, seed=args.seed),
        batch_size=args.batch_size)
    say = job.activity if job is not None else (lambda text: None)
    say(f"reading the dataset {args.data}")
    base = ensure_sha256(load_dataset(args.data).manifest)
    store = LabelStore(args.labels) if args.labels else None
    say(f"loading the bundle {args.bundle}")
    bundle = load_bundle(args.bundle)
    say("embedding the images with the bundle")
    with tqdm(desc="embedding", unit="img", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)
            if job is not None:
                job.progress(done, total)
                if done >= total:
                    say("cross-validating and ranking (cleanlab)")

        queue = build_review_queue(bundle, base, store, config, progress=progress)
    if job is not None and job.should_stop():
        raise ReviewCancelled(f"{args.job_dir}: cancelled before the queue was written")
    if args.out:
        save_atomically(queue, args.out)
    if args.csv:
        queue.to_frame().to_csv(args.csv, index=False)
    frame = queue.to_frame().head(args.top)
    print(f"{len(queue)} of {queue.n_images} images up for review ({queue.method}).")
    if len(frame):
        print(frame[["score", "given_label", "suggested_label", "reasons", "path"]]
              .to_string(index=False))
    for path, reason in queue.failures:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if job is not None:
        job.succeed(f"done: {len(queue)} of {queue.n_images} images up for review, ranked with "
                    f"bundle {queue.bundle}", dataset_version=queue.dataset_version)
    return 0
