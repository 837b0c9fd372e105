"""Close the loop on a dataset with injected label noise, and time one-click retrains.

Not a test: run it by hand and commit the JSON it writes (each scenario is kept under its name).

    .venv/bin/python benchmarks/bench_retrain.py --name default-synth --start models/default
    .venv/bin/python benchmarks/bench_retrain.py --name simple-scratch --dataset simple \
        --scratch mobilenetv3small --size 64 --epochs 8 --stage1-epochs 4

1. Writes (or reuses) a dataset of ``8 * per_class`` images whose training labels are flipped
   with probability ``--noise`` (symmetric); ``label_true`` in its manifest says which.
   ``--dataset synth`` is the project's synthetic SEM generator; ``--dataset simple`` an easy
   control set (grey stripes with a class-shaped bright mark) that a small CNN learns in minutes.
2. "Old" bundle, trained on the noisy labels: ``--start B`` fine-tunes B (e.g. the shipped
   default) in a retrain job without a label log; ``--scratch BACKBONE`` trains from scratch.
3. Builds the review queue with the old bundle; counts flipped images in its top k (k = number
   of flipped training labels) and in its top 10 % (of the images scored).
4. Relabels the top k as a careful reviewer would (the true label; the given one where it was
   right), in one transaction.
5. One-click retrain on the corrected dataset with the same recipe as the old bundle (only the
   labels differ): fine-tune B again, or from scratch with the old bundle's configuration. Timed,
   with the longest silence a page polling the job's progress file would see. Then old and new
   are compared on the clean held-out test split (and, with ``--start``, B itself against new),
   and new is promoted in the run's registry with that comparison as its evidence.
   ``--from-old`` also fine-tunes the old bundle itself (what the app's button does by default).

The shipped default's scenario (issue #17: structured noise, spec C4):

    .venv/bin/python benchmarks/bench_retrain.py --name default-structured --start models/default \
        --noise-mode structured --seed 12017
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def synth_dataset(out: Path, per_class: int, size: int, noise: float, seed: int,
                  mode: str = "symmetric") -> Path:
    """The noisy synthetic SEM dataset's manifest CSV (reused when it exists already)."""
    from sem_core.data.synth.writer import write_dataset

    tag = "" if mode == "symmetric" else f"-{mode}"
    folder = out / f"synth-{per_class}x8-{size}px-{noise:g}{tag}-seed{seed}"
    if not (folder / "dataset.json").is_file():
        write_dataset(folder, per_class, size=size, seed=seed, label_noise=noise,
                      label_noise_mode=mode, progress=True)
    return folder / "manifest.csv"  # the CSV carries label_true, the folders only the given label


def simple_dataset(out: Path, per_class: int, size: int, noise: float, seed: int,
                   mode: str = "symmetric") -> Path:
    """The easy control dataset's manifest CSV (``benchmarks/control_set.py``), reused if there."""
    from benchmarks.control_set import write_control_set

    if mode != "symmetric":
        raise SystemExit("--dataset simple flips labels symmetrically only")
    return write_control_set(out / f"simple-{per_class}x8-{size}px-{noise:g}-seed{seed}",
                             per_class, size, noise, seed)


def run_job(request, jobs: Path, poll_s: float = 0.25) -> dict:
    """Start a retrain job, poll its progress file like the page does, and time it."""
    from sem_core.jobs import job_state, read_events, start_retrain

    started = time.monotonic()
    handle = start_retrain(request, jobs)
    offset, last_arrival, longest, events = 0, started, 0.0, 0
    first_event = None
    while True:
        new, offset = read_events(handle.folder, offset)
        now = time.monotonic()
        if new:
            first_event = first_event if first_event is not None else now - started
            longest = max(longest, now - last_arrival)
            last_arrival, events = now, events + len(new)
        state = job_state(handle.folder)
        if state.status.finished:
            break
        time.sleep(poll_s)
    return {"job": handle.job_id, "status": state.status.value, "message": state.message,
            "bundle": state.bundle, "comparison": state.comparison,
            "seconds": round(time.monotonic() - started, 1),
            "first_progress_line_after_s": round(first_event or 0.0, 2),
            "longest_silence_s": round(longest, 2), "progress_lines": events,
            "request": json.loads((handle.folder / "request.json").read_text())}


def relabel_top_k(store, queue, base, k: int) -> dict:
    """Record the true label of each of the top k items (the oracle reviewer), one batch."""
    from sem_core.labels import DecisionSource, LabelChange

    truth = {entry.sha256: entry.extras.get("label_true", entry.label) for entry in base.entries}
    changes = []
    for item in queue.top(k):
        label = truth[item.sha256]
        source = (DecisionSource.ACCEPTED_SUGGESTION if label == item.suggested_label
                  else DecisionSource.MANUAL)
        changes.append(LabelChange(item.sha256, item.path, label, item.given_label,
                                   "benchmark: true label from the generator", source))
    store.record(changes, who="benchmark oracle")
    return {"decisions": len(changes),
            "labels_changed": sum(change.new_label != change.base_label for change in changes),
            "suggestion_was_right": sum(change.source == DecisionSource.ACCEPTED_SUGGESTION
                                        for change in changes)}


def headline(path: str | None) -> dict:
    """Old/new headline figures of a saved comparison."""
    from sem_core.compare import BundleComparison

    if not path:
        return {}
    result = BundleComparison.load(path)
    return {"heldout_images": result.new.n_images,
            **{f"{side}_{name}": round(getattr(getattr(result, side), name), 4)
               for side in ("old", "new") for name in ("macro_f1", "accuracy", "escape_rate",
                                                       "overkill_rate")},
            "predictions_changed": len(result.changed),
            "fixed": sum(item.verdict == "fixed" for item in result.changed),
            "broken": sum(item.verdict == "broken" for item in result.changed)}


def train_old_from_scratch(data: Path, out: Path, backbone: str, size: int, epochs: int,
                           stage1_epochs: int) -> dict:
    """Train the old bundle from scratch on the noisy labels (in this process)."""
    from sem_core.data.layouts import load_dataset
    from sem_core.train.config import TrainConfig
    from sem_core.train.run import train_bundle

    config = TrainConfig(image_size=size, backbone=backbone, epochs=epochs,
                         stage1_epochs=stage1_epochs, weights="none", seed=0)
    started = time.monotonic()
    result = train_bundle(load_dataset(data).manifest, out, config,
                          command="benchmarks/bench_retrain.py (old bundle, noisy labels)")
    return {"bundle": str(result.bundle), "seconds": round(time.monotonic() - started, 1),
            "config": config.to_dict()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="scenario name in the results file")
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument("--start", help="bundle the old and new bundles are fine-tuned from")
    start.add_argument("--scratch", metavar="BACKBONE", help="train old and new from scratch")
    parser.add_argument("--dataset", choices=("synth", "simple"), default="synth")
    parser.add_argument("--out", default="benchmarks/output/retrain", help="work folder")
    parser.add_argument("--result", default="benchmarks/results/retrain.json")
    parser.add_argument("--per-class", type=int, default=125,
                        help="images per class (125 -> 1,000 images)")
    parser.add_argument("--size", type=int, default=None, help="image px (default: bundle input)")
    parser.add_argument("--noise", type=float, default=0.10, help="training label flip rate")
    parser.add_argument("--noise-mode", choices=("symmetric", "structured"), default="symmetric",
                        help="how labels flip (structured: to look-alike classes, spec C4)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--epochs", type=int, default=None,
                        help="stage-2 epochs (default: the retrain job's own, half the start "
                             "bundle's for a fine-tune)")
    parser.add_argument("--stage1-epochs", type=int, default=None)
    parser.add_argument("--from-old", action="store_true", help="also fine-tune the old bundle")
    args = parser.parse_args()

    from sem_core.bundle_registry import BundleRegistry
    from sem_core.compare import compare_bundles
    from sem_core.data.layouts import load_dataset
    from sem_core.jobs.promotion import promote
    from sem_core.jobs import RetrainRequest, TrainingMode
    from sem_core.labels import (
        LabelStore,
        apply_heldout,
        correct_manifest,
        ensure_sha256,
        pinned_heldout,
    )
    from sem_core.registry import load_bundle, read_bundle_info
    from sem_core.review import build_review_queue

    out = Path(args.out).resolve()
    run = out / time.strftime(f"{args.name}-%Y%m%d-%H%M%S")
    size = args.size or (int(read_bundle_info(args.start).input_size) if args.start else 64)
    make = synth_dataset if args.dataset == "synth" else simple_dataset
    data = make(out, args.per_class, size, args.noise, args.seed, args.noise_mode)
    base = ensure_sha256(load_dataset(data).manifest)
    flipped = {entry.sha256 for entry in base.entries if entry.split == "Train"
               and entry.extras.get("label_true", entry.label) != entry.label}
    record: dict = {"scenario": args.name,
                    "dataset": {"kind": args.dataset, "manifest": str(data), "images": len(base),
                                "per_class": args.per_class, "size": size, "noise": args.noise,
                                "noise_mode": args.noise_mode, "seed": args.seed, "train_flipped": len(flipped)},
                    "start": str(Path(args.start).resolve()) if args.start else
                    f"scratch:{args.scratch}"}
    recipe = {"epochs": args.epochs, "stage1_epochs": args.stage1_epochs, "seed": 0}
    jobs = run / "jobs"

    if args.start:
        old = run_job(RetrainRequest(str(data), args.start, str(run / "registry" / "old"),
                                     compare=False, **recipe), jobs)
    else:
        old = train_old_from_scratch(data, run / "registry" / "old", args.scratch, size,
                                     args.epochs or 10, args.stage1_epochs or 5)
    record["old"] = old
    print(f"old bundle in {old['seconds']} s", flush=True)

    store = LabelStore(run / "labels.db")
    started = time.monotonic()
    queue = build_review_queue(load_bundle(old["bundle"]), base, store)
    found = len({item.sha256 for item in queue.top(len(flipped))} & flipped)
    tenth = math.ceil(0.1 * queue.n_images)
    in_tenth = len({item.sha256 for item in queue.top(tenth)} & flipped)
    record["review"] = {"k": len(flipped), "flipped_in_top_k": found,
                        "top_10_percent": tenth, "flipped_in_top_10_percent": in_tenth,
                        "share_of_flipped_in_top_10_percent": round(in_tenth / max(len(flipped), 1), 4),
                        "recall_at_k": round(found / max(len(flipped), 1), 4),
                        "flipped_anywhere_in_queue": len({i.sha256 for i in queue.items} & flipped),
                        "queue_length": len(queue), "images_scored": queue.n_images,
                        "seconds": round(time.monotonic() - started, 1), "method": queue.method}
    print(f"review: {found}/{len(flipped)} flipped labels in the top {len(flipped)}", flush=True)
    record["relabel"] = relabel_top_k(store, queue, base, len(flipped))

    if args.start:  # same recipe as the old bundle, corrected labels
        request = RetrainRequest(str(data), args.start, str(run / "registry" / "new"),
                                 labels=str(store.path), compare=False, **recipe)
    else:
        request = RetrainRequest(str(data), old["bundle"], str(run / "registry" / "new"),
                                 labels=str(store.path), mode=TrainingMode.SCRATCH, compare=False)
    new = run_job(request, jobs)
    record["retrain"] = new
    heldout = pinned_heldout(store)
    corrected = correct_manifest(apply_heldout(base, heldout), store)
    comparison = compare_bundles(old["bundle"], new["bundle"], corrected.manifest, heldout=heldout,
                                 dataset_version=corrected.version)
    record["old_vs_new"] = headline(str(comparison.save(run / "old_vs_new.json")))
    if args.start:  # the start bundle itself on the same pinned held-out images
        against_start = compare_bundles(args.start, new["bundle"], corrected.manifest,
                                        heldout=heldout, dataset_version=corrected.version)
        record["start_vs_new"] = headline(str(against_start.save(run / "start_vs_new.json")))
    promoted = promote(BundleRegistry(run / "registry"), Path(new["bundle"]).name,
                       comparison=comparison, comparison_path=run / "old_vs_new.json",
                       who="benchmark", note="retrained on the corrected labels")
    record["promoted"] = {"bundle": promoted.bundle, "previous": promoted.previous,
                          "active_now": str(BundleRegistry(run / "registry").active().path)}
    print(f"one-click retrain: {new['seconds']} s, longest silence {new['longest_silence_s']} s; "
          f"macro-F1 old {comparison.old.macro_f1:.4f} -> new {comparison.new.macro_f1:.4f}",
          flush=True)
    if args.from_old:
        again = run_job(RetrainRequest(str(data), old["bundle"],
                                       str(run / "registry" / "new_from_old"),
                                       labels=str(store.path), **recipe), jobs)
        record["retrain_from_old"] = {**again, "old_vs_new": headline(again["comparison"])}
    record["machine"] = {"cores": os.cpu_count(), "platform": platform.platform(),
                         "python": platform.python_version(), "load_average_end": os.getloadavg()}
    record["recorded"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    record["command"] = " ".join(["python", *sys.argv])
    results = Path(args.result)
    everything = json.loads(results.read_text()) if results.is_file() else {
        "benchmark": "review-queue recall and one-click retrain on data with injected label noise",
        "scenarios": {}}
    everything["scenarios"][args.name] = record
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(everything, indent=2) + "\n")
    print(f"wrote {results} ({args.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
