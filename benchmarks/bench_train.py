"""Training throughput of each stage (images/s) on this machine, recorded as JSON.

Measures steady-state ``model.fit`` speed on cached in-memory batches with the training
augmentation applied, after one warm-up epoch that pays for graph compilation, so the figure
is what a long training run sees. Not a test: run it by hand and commit the JSON.

    .venv/bin/python benchmarks/bench_train.py --sizes 128 --out benchmarks/results/train.json

With ``--pilot DATA`` it instead trains short bundles at each size on a dataset and records
validation macro-F1 against wall time (how the default input size was chosen).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def measure(stage: str, size: int, backbone: str, batch_size: int, steps: int, seed: int = 0) -> dict:
    """Images/s of one stage's training steps at one input size."""
    import keras

    from sem_core.models import build_stage1, build_stage2
    from sem_core.train.augment import build_augmenter
    from sem_core.train.pipeline import make_dataset

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    count = batch_size * steps
    pixels = rng.integers(0, 256, size=(count, size, size, 1), dtype=np.uint8)
    if stage == "stage1":
        model = build_stage1(size)
        targets = rng.integers(0, 2, size=(count, 1)).astype(np.float32)
        loss = keras.losses.BinaryCrossentropy(label_smoothing=0.1)
    else:
        model = build_stage2(size, backbone)
        targets = np.eye(7, dtype=np.float32)[rng.integers(0, 7, size=count)]
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    dataset = make_dataset(pixels, targets, batch_size, shuffle_seed=seed, augmenter=build_augmenter(seed=seed))
    started = time.perf_counter()
    model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    warmup = time.perf_counter() - started
    started = time.perf_counter()
    model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - started
    return {"stage": stage, "architecture": "stage1_cnn" if stage == "stage1" else backbone,
            "image_size": size, "batch_size": batch_size, "images": count,
            "images_per_second": round(count / seconds, 2), "first_epoch_seconds": round(warmup, 1)}


def pilot(data: Path, size: int, epochs: int, seed: int = 0) -> dict:
    """Train a short bundle at one size; return validation figures and wall time."""
    import tempfile

    from sem_core.data.layouts import load_dataset
    from sem_core.train.config import TrainConfig
    from sem_core.train.run import train_bundle

    manifest = load_dataset(data, seed=seed, hash_images=False).manifest
    config = TrainConfig(image_size=size, epochs=epochs, stage1_epochs=max(1, epochs // 2), seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        result = train_bundle(manifest, Path(folder) / "pilot", config)
    metrics = result.info.metrics
    return {"image_size": size, "epochs": epochs, "seconds": round(result.seconds, 1),
            "stage2_seconds": result.info.training["seconds"]["stage2"],
            "stage2_macro_f1": metrics["stage2_macro_f1"], "cascade_macro_f1": metrics["cascade_macro_f1"],
            "stage1_overkill_rate": metrics["stage1_overkill_rate"],
            "stage2_macro_f1_per_hour": round(metrics["stage2_macro_f1"] * 3600 / result.seconds, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128])
    parser.add_argument("--backbone", default="densenet121")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=12, help="measured steps per stage")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/train.json"))
    parser.add_argument("--note", default="", help="free text stored with the results")
    parser.add_argument("--pilot", type=Path, default=None, help="dataset for the input-size pilot")
    parser.add_argument("--pilot-epochs", type=int, default=4)
    args = parser.parse_args()
    existing = json.loads(args.out.read_text()) if args.out.is_file() else {}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.pilot is not None:
        runs = []
        for size in args.sizes:
            runs.append(pilot(args.pilot, size, args.pilot_epochs))
            print(json.dumps(runs[-1]), flush=True)
        existing["input_size_pilot"] = {"data": str(args.pilot), "note": args.note, "runs": runs,
                                        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        args.out.write_text(json.dumps(existing, indent=2) + "\n")
        return
    results = []
    for size in args.sizes:
        for stage in ("stage1", "stage2"):
            result = measure(stage, size, args.backbone, args.batch_size, args.steps)
            print(json.dumps(result), flush=True)
            results.append(result)
    record = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)", "note": args.note,
              "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": results}
    existing["throughput"] = record
    args.out.write_text(json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    main()
