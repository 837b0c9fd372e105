"""Does ImageNet pretraining pay on a small set? Probe vs fine-tune (Lite0) vs DenseNet121 from scratch.

One run, same small synthetic training set, same unseen test set (another generator seed), in
this order: (a) ``--recipe probe`` on ImageNet EfficientNet-Lite0, (b) the standard fine-tune
from ImageNet Lite0 (both stages on the backbone), (c) DenseNet121 from random weights with the
small CNN as stage 1, given (b)'s wall time as its budget (``--max-minutes``). Each bundle is
scored end to end (cascade macro-F1, 8 classes) and on the test set's defects alone (stage-2
macro-F1), with its wall time.

    .venv/bin/python benchmarks/bench_transfer.py --work runs/transfer --per-class 50 \
        --synth-args="--ease 1" --out benchmarks/results/transfer_ease1.json

``--synth-args`` goes to ``python -m sem_core synth`` unchanged, so the same benchmark runs on
another preset (e.g. ``--synth-args="--difficulty standard"``, the generator's standard preset).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks.record import machine_facts, utc_stamp, write_record  # noqa: E402


def synth(folder: Path, per_class: int, size: int, seed: int, extra: str) -> Path:
    """Generate (or reuse) one synthetic dataset; returns its folder."""
    if (folder / "manifest.csv").is_file():
        return folder
    command = [sys.executable, "-m", "sem_core", "synth", "--out", str(folder), "--per-class",
               str(per_class), "--size", str(size), "--seed", str(seed), "--quiet", *shlex.split(extra)]
    print("$", shlex.join(command), flush=True)
    subprocess.run(command, check=True)
    return folder


def train(data: Path, out: Path, options: list[str]) -> tuple[float, dict]:
    """Train one bundle through the command line; returns (wall seconds, bundle.json)."""
    command = [sys.executable, "-m", "sem_core", "train", "--data", str(data), "--out", str(out), *options]
    print("$", shlex.join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - started
    return seconds, json.loads((out / "bundle.json").read_text())


def score(bundle: Path, test_data: Path) -> dict:
    """Cascade and stage-2 scores of a bundle on every image of the test dataset."""
    from sem_core.data.layouts import load_dataset
    from sem_core.evaluation import evaluate_bundle
    from sem_core.registry import load_bundle

    manifest = load_dataset(test_data, hash_images=False).manifest
    started = time.perf_counter()
    run = evaluate_bundle(load_bundle(bundle), manifest, split="all")
    report = run.report
    return {"test_images": report.n_images, "cascade_macro_f1": round(report.macro_f1, 4),
            "cascade_accuracy": round(report.accuracy, 4),
            "stage2_macro_f1_on_its_defects": round(report.stage2.scores.macro_f1, 4),
            "stage1_recall": round(report.stage1.rates.recall, 4),
            "stage1_overkill_rate": round(report.stage1.rates.overkill.rate, 4),
            "evaluation_seconds": round(time.perf_counter() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="runs/transfer", help="folder for datasets and bundles")
    parser.add_argument("--per-class", type=int, default=50, help="training-set images per class")
    parser.add_argument("--test-per-class", type=int, default=50)
    parser.add_argument("--synth-size", type=int, default=128)
    parser.add_argument("--synth-args", default="--ease 1", help="extra options of `sem_core synth`")
    parser.add_argument("--seed", type=int, default=0, help="training-set generator seed")
    parser.add_argument("--test-seed", type=int, default=1000, help="unseen test-set generator seed")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--stage1-epochs", type=int, default=15)
    parser.add_argument("--frozen-learning-rate", type=float, default=None,
                        help="phase-1 rate of the fine-tune (b); default: the training default")
    parser.add_argument("--runs", nargs="+", choices=("a", "b", "c"), default=["a", "b", "c"],
                        help="which runs to make; (c) takes (b)'s wall time as its budget")
    parser.add_argument("--out", default="benchmarks/results/transfer.json")
    args = parser.parse_args()
    work = Path(args.work)
    tag = shlex.join(shlex.split(args.synth_args)).replace(" ", "").replace("-", "") or "spec"
    train_data = synth(work / f"train-{tag}-{args.per_class}-seed{args.seed}", args.per_class,
                       args.synth_size, args.seed, args.synth_args)
    test_data = synth(work / f"test-{tag}-{args.test_per_class}-seed{args.test_seed}", args.test_per_class,
                      args.synth_size, args.test_seed, args.synth_args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    common = ["--image-size", str(args.image_size), "--epochs", str(args.epochs),
              "--stage1-epochs", str(args.stage1_epochs), "--seed", str(args.seed)]
    lite = ["--backbone", "efficientnet_lite0", "--weights", "imagenet"]
    if "c" in args.runs and "b" not in args.runs:
        parser.error("run c takes run b's wall time as its budget; ask for b too")
    finetune = [*lite, "--stage1-backbone", "efficientnet_lite0"]
    if args.frozen_learning_rate is not None:
        finetune += ["--frozen-learning-rate", f"{args.frozen_learning_rate:g}"]
    runs = {}
    for name, options in (("a_probe_lite0_imagenet", [*lite, "--recipe", "probe"]),
                          ("b_finetune_lite0_imagenet", finetune)):
        if name[0] not in args.runs:
            continue
        seconds, info = train(train_data, work / f"{stamp}-{name}", [*common, *options])
        runs[name] = {"options": options, "wall_seconds": round(seconds, 1), "validation": {
            key: info["metrics"][key] for key in ("stage2_macro_f1", "cascade_macro_f1")},
            "phases": info["training"]["phases"], **score(work / f"{stamp}-{name}", test_data)}
    if "c" in args.runs:
        budget = runs["b_finetune_lite0_imagenet"]["wall_seconds"] / 60.0
        options = ["--backbone", "densenet121", "--weights", "none", "--max-minutes", f"{budget:.2f}"]
        seconds, info = train(train_data, work / f"{stamp}-c_densenet121_scratch", [*common, *options])
        runs["c_densenet121_scratch_same_budget"] = {
            "options": options, "wall_seconds": round(seconds, 1),
            "validation": {key: info["metrics"][key] for key in ("stage2_macro_f1", "cascade_macro_f1")},
            "phases": info["training"]["phases"], **score(work / f"{stamp}-c_densenet121_scratch", test_data)}
    for name, run in runs.items():
        print(f"{name:<36} test cascade macro-F1 {run['cascade_macro_f1']:.3f}, stage-2 macro-F1 "
              f"{run['stage2_macro_f1_on_its_defects']:.3f}, {run['wall_seconds']:.0f} s")
    write_record(Path(args.out), {
        "benchmark": "transfer", "when": utc_stamp(), "machine": machine_facts(),
        "command": shlex.join([sys.executable, *sys.argv]),
        "data": {"train": str(train_data), "test": str(test_data), "synth_args": args.synth_args,
                 "per_class": args.per_class, "test_per_class": args.test_per_class,
                 "note": "synthetic images, not SEM data; the test set is another generator seed"},
        "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
