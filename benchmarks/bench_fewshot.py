"""The few-shot curve (issue 19, item 4): target macro-F1 against labelled target images.

An engineer who moves a model to a new tool can label a few dozen of its images. This measures
what that buys: for each starting bundle (the source model, and the source model adapted to the
target without labels) and each ``--labels-per-class`` k, the product's own retrain
(``python -m sem_core retrain``, fine-tuned from the starting bundle) on the source's labelled
data plus k labelled target training images per class (drawn with ``--seed``; the same images
for both starting points), scored on every image of the target's test set. k = 0 is the
starting bundle itself.

The source's Validation split stays the validation split (the k target images all go to
Train), so the operating threshold is chosen as a user without target validation labels would.

    .venv/bin/python benchmarks/bench_fewshot.py \
        --start source=benchmarks/output/shift/bundle-a-61201-e5841d65 \
        --start coral=benchmarks/output/shift/adapted-coral-61201-e5841d65 \
        --source-data benchmarks/output/shift/train-a-61201 \
        --target-train benchmarks/output/shift/train-b-61202 \
        --target-test benchmarks/output/shift/test-b-61204 --seed 61301
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_transfer import score
from benchmarks.record import machine_facts, utc_stamp, write_record
from sem_core.classes import CLASSES
from sem_core.data.layouts import load_dataset
from sem_core.data.manifest import Manifest


def absolute(manifest: Manifest) -> list:
    """The entries with absolute paths, so manifests of two datasets can be joined."""
    return [replace(entry, path=str(manifest.resolve(entry).resolve())) for entry in manifest]


def few_labels(train_entries: list, per_class: int, seed: int) -> list:
    """``per_class`` of the target's Train entries of each class, the first ``per_class`` of one
    seeded order per class (so the k = 5 images are among the k = 10 ones)."""
    chosen = []
    for number, name in enumerate(CLASSES):
        of_class = [entry for entry in train_entries if entry.label == name]
        order = np.random.default_rng([seed, number]).permutation(len(of_class))
        chosen += [of_class[int(index)] for index in order[:per_class]]
    return chosen


def retrain(start: Path, data: Path, out: Path) -> float:
    """Fine-tune ``start`` on the manifest ``data`` with the product's retrain; wall seconds."""
    command = [sys.executable, "-m", "sem_core", "retrain", "--bundle", str(start), "--data",
               str(data), "--out", str(out), "--no-compare", "--seed", "0",
               "--jobs", str(out.parent / "jobs")]
    print("$", shlex.join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", action="append", required=True, metavar="NAME=BUNDLE",
                        help="a starting bundle (repeat: e.g. source=... and coral=...)")
    parser.add_argument("--source-data", type=Path, required=True,
                        help="the source's labelled dataset the starting bundles were trained on")
    parser.add_argument("--target-train", type=Path, required=True,
                        help="target dataset the labelled images are drawn from (Train split)")
    parser.add_argument("--target-test", type=Path, required=True, help="target test dataset")
    parser.add_argument("--labels-per-class", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--seed", type=int, required=True, help="which target images are labelled")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "output" / "fewshot")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "fewshot.json")
    args = parser.parse_args()
    starts = dict(item.split("=", 1) for item in args.start)
    started = time.perf_counter()
    source = absolute(load_dataset(args.source_data, hash_images=False).manifest)
    target = [entry for entry in absolute(load_dataset(args.target_train, hash_images=False).manifest)
              if entry.split == "Train"]
    curves: dict[str, list[dict]] = {}
    for name, bundle in starts.items():
        points = [{"labels_per_class": 0, "retrain_seconds": 0.0,
                   **score(Path(bundle), args.target_test)}]
        for k in sorted(args.labels_per_class):
            folder = args.work / f"seed-{args.seed}" / f"{name}-{k}"
            folder.mkdir(parents=True, exist_ok=True)
            data = folder / "manifest.csv"
            Manifest(tuple(source + few_labels(target, k, args.seed))).write_csv(data)
            bundle_out = folder / "bundle"
            seconds = 0.0 if (bundle_out / "bundle.json").exists() else retrain(
                Path(bundle), data, bundle_out)
            points.append({"labels_per_class": k, "retrain_seconds": round(seconds, 1),
                           **score(bundle_out, args.target_test)})
            print(name, points[-1], flush=True)
        curves[name] = points
    record = {
        "benchmark": "few-shot curve: target macro-F1 against labelled target images (issue 19)",
        "when": utc_stamp(),
        "command": shlex.join(["python", "benchmarks/bench_fewshot.py", *sys.argv[1:]]),
        "starts": starts,
        "source_data": str(args.source_data),
        "target_train": str(args.target_train),
        "target_test": str(args.target_test),
        "curves": curves,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine_facts(),
    }
    write_record(args.out, record)
    for name, points in curves.items():
        print(name, [(point["labels_per_class"], point["cascade_macro_f1"]) for point in points])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
