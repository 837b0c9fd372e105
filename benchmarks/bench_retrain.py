"""Close the loop on a synthetic dataset with injected label noise, and time one-click retrains.

Not a test: run it by hand and commit the JSON it writes.

    .venv/bin/python benchmarks/bench_retrain.py --start models/default \
        --out benchmarks/output/retrain --result benchmarks/results/retrain.json

1. Writes (or reuses) a synthetic dataset of ``8 * per_class`` images whose training labels
   are flipped with probability ``--noise``; ``label_true`` in the manifest says which.
2. "Old" bundle: the start bundle fine-tuned on the noisy labels (a retrain job without a label
   log), i.e. the team's model trained on its own, partly wrong, labels.
3. Builds the review queue with the old bundle and measures how many flipped images are in its
   top k (k = number of flipped training labels).
4. Relabels the top k as a careful reviewer would (the true label; the given one where it was
   right), in one transaction.
5. One-click retrain of the start bundle on the corrected dataset (same recipe as the old
   bundle: only the labels differ), timed, with the longest silence a page polling the job's
   progress file would see; then compares old and new on the clean test split. With
   ``--from-old`` also retrains the old bundle itself (the app's default: fine-tune the active).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def dataset(out: Path, per_class: int, size: int, noise: float, seed: int) -> Path:
    """The noisy dataset's manifest CSV (the dataset is reused when it exists already)."""
    from sem_core.data.synth.writer import write_dataset

    folder = out / f"noisy-{per_class}x8-{size}px-{noise:g}-seed{seed}"
    if not (folder / "dataset.json").is_file():
        write_dataset(folder, per_class, size=size, seed=seed, label_noise=noise, progress=True)
    return folder / "manifest.csv"  # the CSV carries label_true, the folders only the given label


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", required=True, help="start bundle (the shipped default)")
    parser.add_argument("--out", default="benchmarks/output/retrain", help="work folder")
    parser.add_argument("--result", default="benchmarks/results/retrain.json")
    parser.add_argument("--per-class", type=int, default=125,
                        help="images per class (125 -> 1,000 images)")
    parser.add_argument("--size", type=int, default=None, help="image px (default: bundle input)")
    parser.add_argument("--noise", type=float, default=0.10, help="training label flip rate")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--epochs", type=int, default=None,
                        help="stage-2 epochs (default: the start bundle's)")
    parser.add_argument("--stage1-epochs", type=int, default=None)
    parser.add_argument("--from-old", action="store_true", help="also retrain the old bundle")
    args = parser.parse_args()

    from sem_core.data.layouts import load_dataset
    from sem_core.jobs import RetrainRequest
    from sem_core.labels import LabelStore, ensure_sha256
    from sem_core.registry import load_bundle, read_bundle_info
    from sem_core.review import build_review_queue

    out = Path(args.out).resolve()
    run = out / time.strftime("run-%Y%m%d-%H%M%S")
    start_info = read_bundle_info(args.start)
    size = args.size or int(start_info.input_size)
    data = dataset(out, args.per_class, size, args.noise, args.seed)
    base = ensure_sha256(load_dataset(data).manifest)
    flipped = {entry.sha256 for entry in base.entries if entry.split == "Train"
               and entry.extras.get("label_true", entry.label) != entry.label}
    record: dict = {"benchmark": "review-queue recall and one-click retrain, noisy synthetic data",
                    "dataset": {"folder": str(data), "images": len(base),
                                "per_class": args.per_class, "size": size, "noise": args.noise,
                                "seed": args.seed, "train_flipped": len(flipped)},
                    "start_bundle": str(Path(args.start).resolve())}
    recipe = {"epochs": args.epochs, "stage1_epochs": args.stage1_epochs, "seed": 0}
    jobs = run / "jobs"

    old = run_job(RetrainRequest(str(data), args.start, str(run / "registry" / "old"),
                                 compare=False, **recipe), jobs)
    record["old"] = old
    print(f"old bundle: {old['status']} in {old['seconds']} s", flush=True)

    store = LabelStore(run / "labels.db")
    started = time.monotonic()
    queue = build_review_queue(load_bundle(old["bundle"]), base, store)
    found = len({item.sha256 for item in queue.top(len(flipped))} & flipped)
    record["review"] = {"k": len(flipped), "flipped_in_top_k": found,
                        "recall_at_k": round(found / max(len(flipped), 1), 4),
                        "flipped_anywhere_in_queue": len({i.sha256 for i in queue.items} & flipped),
                        "queue_length": len(queue), "images_scored": queue.n_images,
                        "seconds": round(time.monotonic() - started, 1), "method": queue.method}
    print(f"review: {found}/{len(flipped)} flipped labels in the top {len(flipped)}", flush=True)
    record["relabel"] = relabel_top_k(store, queue, base, len(flipped))

    new = run_job(RetrainRequest(str(data), args.start, str(run / "registry" / "new"),
                                 labels=str(store.path), compare=False, **recipe), jobs)
    record["retrain_start_bundle"] = new
    from sem_core.compare import compare_bundles
    from sem_core.labels import apply_heldout, correct_manifest, pinned_heldout

    heldout = pinned_heldout(store)
    corrected = correct_manifest(apply_heldout(base, heldout), store)
    comparison = compare_bundles(old["bundle"], new["bundle"], corrected.manifest, heldout=heldout,
                                 dataset_version=corrected.version)
    record["old_vs_new"] = headline(str(comparison.save(run / "old_vs_new.json")))
    print(f"one-click retrain of the start bundle: {new['seconds']} s, longest silence "
          f"{new['longest_silence_s']} s; macro-F1 old {comparison.old.macro_f1:.4f} -> new "
          f"{comparison.new.macro_f1:.4f}", flush=True)
    if args.from_old:
        again = run_job(RetrainRequest(str(data), old["bundle"],
                                       str(run / "registry" / "new_from_old"),
                                       labels=str(store.path), **recipe), jobs)
        record["retrain_old_bundle"] = {**again, "old_vs_new": headline(again["comparison"])}
    record["machine"] = {"cores": os.cpu_count(), "platform": platform.platform(),
                         "python": platform.python_version(), "load_average_end": os.getloadavg()}
    record["recorded"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    record["command"] = " ".join(["python", *sys.argv])
    Path(args.result).parent.mkdir(parents=True, exist_ok=True)
    Path(args.result).write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
