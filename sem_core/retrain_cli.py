"""Commands that close the loop: ``retrain``, ``compare``, ``promote``, ``rollback`` (and, from
their own packages, ``labels`` and ``review``).

``retrain`` starts a background job (one at a time) and follows its progress until it ends;
``--background`` returns at once, ``--status`` and ``--cancel`` manage running jobs. ``compare``
judges two bundles on the held-out split; ``promote`` and ``rollback`` switch a registry's active
bundle and log the evidence.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sem_core.jobs.state import FIRST_MODEL_WEIGHTS

EXIT_BUSY = 3


def register(subparsers) -> None:
    """Add ``labels``, ``review``, ``retrain``, ``compare``, ``promote`` and ``rollback``."""
    from sem_core.labels import cli as labels_cli
    from sem_core.review import cli as review_cli

    labels_cli.register(subparsers)
    review_cli.register(subparsers)
    _register_retrain(subparsers)
    compare = subparsers.add_parser(
        "compare", help="compare two bundles on the held-out split",
        description="Evaluate an old and a new bundle on the same held-out images (pinned in the "
                    "label database before relabelling) and list what changed.")
    compare.add_argument("--old", required=True, help="old (active) bundle folder")
    compare.add_argument("--new", required=True, help="new bundle folder")
    compare.add_argument("--data", required=True, help="base dataset folder or manifest CSV")
    compare.add_argument("--labels", default=None,
                         help="label database (corrections, held-out pin)")
    compare.add_argument("--out", default=None, help="write the comparison JSON here")
    compare.set_defaults(func=_guarded(_compare))
    promote = subparsers.add_parser("promote", help="make a compared bundle active (logged)")
    promote.add_argument("--registry", required=True, help="registry root folder")
    promote.add_argument("--bundle", required=True, help="bundle name in the registry")
    promote.add_argument("--comparison", default=None, help="comparison JSON (evidence)")
    promote.add_argument("--force", action="store_true", help="promote without a comparison")
    promote.add_argument("--who", default=None)
    promote.add_argument("--note", default="")
    promote.set_defaults(func=_guarded(_promote))
    rollback = subparsers.add_parser("rollback", help="make an earlier active bundle active again")
    rollback.add_argument("--registry", required=True, help="registry root folder")
    rollback.add_argument("--bundle", default=None, help="bundle name (omit to list the log)")
    rollback.add_argument("--who", default=None)
    rollback.add_argument("--note", default="")
    rollback.set_defaults(func=_guarded(_rollback))


def _register_retrain(subparsers) -> None:
    from sem_core.jobs.state import default_jobs_root
    from sem_core.models.backbones import backbone_names, offline_imagenet_names

    parser = subparsers.add_parser(
        "retrain", help="retrain on the corrected dataset as a background job",
        description="Retrain the cascade on the base dataset corrected by the label log, "
                    "starting from a bundle's weights (or from scratch), in a separate process; "
                    "one job at a time. The new bundle is written as a new folder; the base "
                    "bundle is only read.")
    parser.add_argument("--bundle", help="base bundle folder (fine-tuned from and compared with); "
                        "omit it with --from-scratch to train a first model")
    parser.add_argument("--data", help="base dataset folder or manifest CSV")
    parser.add_argument("--labels", default=None, help="label database with the corrections")
    parser.add_argument("--out", help="new bundle folder (must not exist)")
    parser.add_argument("--from-scratch", action="store_true",
                        help="do not start from the base bundle's weights: random ones, or "
                             "ImageNet's with --weights imagenet for a first model")
    parser.add_argument("--epochs", type=int, default=None,
                        help="most stage-2 epochs (default: half the base bundle's when "
                             "fine-tuning from it, its own from scratch)")
    parser.add_argument("--stage1-epochs", type=int, default=None,
                        help="most stage-1 epochs (default: as for --epochs)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=None,
                        help="input size of a first model (no --bundle)")
    parser.add_argument("--backbone", default=None, choices=backbone_names(),
                        help="stage-2 backbone of a first model; ImageNet weights offline "
                             f"(pip-installed): {', '.join(offline_imagenet_names())}")
    parser.add_argument("--weights", default=None, choices=FIRST_MODEL_WEIGHTS,
                        help="initial weights of a first model (default none; imagenet is offline "
                             "for EfficientNet-Lite, needs the Keras cache or a network otherwise)")
    parser.add_argument("--stage1-backbone", default=None, choices=("cnn", *backbone_names()),
                        help="stage 1 of a first model: the small CNN (default) or a backbone "
                             "starting from --weights")
    parser.add_argument("--recipe", default=None, choices=("standard", "probe"),
                        help="a first model's recipe (default standard; probe: logistic-regression "
                             "heads on frozen pretrained features, needs --weights imagenet)")
    parser.add_argument("--no-compare", action="store_true", help="skip the held-out comparison")
    parser.add_argument("--who", default="", help="your name (recorded)")
    parser.add_argument("--jobs", default=str(default_jobs_root()),
                        help="jobs folder holding the lock and job folders (default %(default)s)")
    parser.add_argument("--background", action="store_true", help="start and return at once")
    parser.add_argument("--status", nargs="?", const="", default=None, metavar="JOB",
                        help="list jobs, or show one")
    parser.add_argument("--cancel", default=None, metavar="JOB", help="cancel a running job")
    parser.add_argument("--run-job", default=None, help=argparse.SUPPRESS)
    parser.set_defaults(func=_guarded(_retrain))


def _guarded(command):
    def run(args: argparse.Namespace) -> int:
        from sem_core.errors import SemCoreError
        from sem_core.jobs.lock import RetrainBusyError

        try:
            return command(args)
        except RetrainBusyError as error:
            print(f"refused: {error}", file=sys.stderr)
            return EXIT_BUSY
        except (SemCoreError, ValueError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1

    return run


def _retrain(args: argparse.Namespace) -> int:
    from sem_core.jobs import (JobLock, RetrainRequest, TrainingMode, cancel_job, job_state,
                               list_jobs, start_retrain)
    from sem_core.jobs.worker import run_job

    if args.run_job:
        state = run_job(args.run_job, JobLock(Path(args.run_job).parent))
        return 0 if state.status.value == "succeeded" else 1
    if args.status is not None:
        states = [job_state(Path(args.jobs) / args.status)] if args.status else list_jobs(args.jobs)
        for state in filter(None, states):
            print(f"{state.job_id}  {state.status.value:<11} {state.updated}  {state.message}")
        return 0
    if args.cancel:
        state = cancel_job(Path(args.jobs) / args.cancel)
        print(f"{args.cancel}: {'no such job' if state is None else state.status.value}")
        return 0
    needed = [("--data", args.data), ("--out", args.out)]
    if not args.from_scratch:
        needed.append(("--bundle", args.bundle))
    missing = [flag for flag, value in needed if not value]
    if missing:
        raise ValueError(f"retrain needs {', '.join(missing)} (--bundle may be left out only "
                         "with --from-scratch, for a first model).")
    request = RetrainRequest(
        data=args.data, base_bundle=args.bundle or "", out=args.out, labels=args.labels,
        mode=TrainingMode.SCRATCH if args.from_scratch else TrainingMode.FINETUNE,
        epochs=args.epochs, stage1_epochs=args.stage1_epochs, batch_size=args.batch_size,
        seed=args.seed, compare=not args.no_compare, who=args.who, image_size=args.image_size,
        backbone=args.backbone, weights=args.weights, stage1_backbone=args.stage1_backbone,
        recipe=args.recipe)
    handle = start_retrain(request, args.jobs)
    print(f"started job {handle.job_id} (process {handle.pid}); folder {handle.folder}")
    if args.background:
        return 0
    try:
        state = follow(handle.folder)
    except KeyboardInterrupt:
        state = cancel_job(handle.folder)
        print(f"cancelled: {state.message if state else ''}", file=sys.stderr)
        return 130
    print(f"{state.status.value}: {state.message}")
    return 0 if state.status.value == "succeeded" else 1


def follow(folder: Path, poll_s: float = 0.5):
    """Print a job's progress on stderr until it ends; returns its final ``JobState``."""
    from sem_core.jobs import job_state, read_events
    from sem_core.train.callbacks import EventKind, ProgressEvent
    from sem_core.train.progress import TqdmProgress

    offset = 0
    kinds = {kind.value for kind in EventKind}
    with TqdmProgress() as bar:
        while True:
            events, offset = read_events(folder, offset)
            for event in events:
                if event["kind"] in kinds and event["kind"] != "message":
                    bar(ProgressEvent(EventKind(event["kind"]), event.get("stage", ""),
                                      event.get("phase", ""), event.get("epoch", 0),
                                      event.get("epochs", 0), event.get("batch", 0),
                                      event.get("batches", 0), event.get("metrics", {})))
                elif event["kind"] in ("message", "error"):
                    bar(ProgressEvent(EventKind.MESSAGE, message=event.get("message", "")))
            state = job_state(folder)
            if state is not None and state.status.finished:
                return state
            time.sleep(poll_s)


def _compare(args: argparse.Namespace) -> int:
    from sem_core.compare import compare_bundles
    from sem_core.data.layouts import load_dataset
    from sem_core.labels import (LabelStore, apply_heldout, correct_manifest, ensure_sha256,
                                 pin_heldout)

    base = ensure_sha256(load_dataset(args.data).manifest)
    heldout = None
    if args.labels:
        store = LabelStore(args.labels)
        heldout = pin_heldout(store, base)
        corrected = correct_manifest(apply_heldout(base, heldout), store)
    else:
        corrected = correct_manifest(base, {})
    comparison = compare_bundles(args.old, args.new, corrected.manifest, heldout=heldout,
                                 dataset_version=corrected.version)
    if args.out:
        comparison.save(args.out)
    print(f"held-out images: {comparison.new.n_images} (+{len(comparison.relabelled)} relabelled, "
          f"scored apart)")
    for name in ("macro_f1", "accuracy", "escape_rate", "overkill_rate"):
        old, new = getattr(comparison.old, name), getattr(comparison.new, name)
        print(f"{name:<14} old {old:.4f}  new {new:.4f}  delta {new - old:+.4f}")
    print(comparison.class_deltas().round(3).to_string(index=False))
    print(f"{len(comparison.changed)} predictions changed "
          f"({sum(item.verdict == 'fixed' for item in comparison.changed)} fixed, "
          f"{sum(item.verdict == 'broken' for item in comparison.changed)} broken)")
    return 0


def _promote(args: argparse.Namespace) -> int:
    from sem_core.compare import BundleComparison
    from sem_core.jobs import promote
    from sem_core.registry import BundleRegistry

    comparison = BundleComparison.load(args.comparison) if args.comparison else None
    record = promote(BundleRegistry(args.registry), args.bundle, comparison=comparison,
                     comparison_path=args.comparison, who=args.who, note=args.note,
                     require_evidence=not args.force)
    print(f"active: {record.bundle} (was {record.previous}); logged by {record.who} at {record.at}")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from sem_core.jobs import read_log, rollback
    from sem_core.registry import BundleRegistry

    registry = BundleRegistry(args.registry)
    if not args.bundle:
        for record in read_log(registry.root):
            print(f"{record.at}  {record.action.value:<8} {record.bundle}  (was {record.previous}) "
                  f"by {record.who}: {record.note}")
        return 0
    record = rollback(registry, args.bundle, who=args.who, note=args.note)
    print(f"active: {record.bundle} (was {record.previous}); logged by {record.who} at {record.at}")
    return 0
