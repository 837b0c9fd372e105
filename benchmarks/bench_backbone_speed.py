"""Forward and training-step speed of stage-2 backbones, side by side in one process.

For each input size and backbone, the stage-2 classifier (``build_stage2``, random weights:
speed does not depend on them) predicts batches of random grayscale images and takes full
training steps (every layer trainable, Adam), after warm-up calls that pay for graph tracing.
Rounds alternate between the models, so load from other users of a shared machine falls on
all of them alike; each figure is the median over rounds.

    .venv/bin/python benchmarks/bench_backbone_speed.py \
        --backbones efficientnet_lite0 efficientnet_lite2 densenet121 --sizes 128 224 \
        --out benchmarks/results/backbone_speed.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.record import machine_facts, utc_stamp, write_record  # noqa: E402


def _prepare(backbone: str, size: int, batch_size: int, seed: int) -> dict:
    import keras

    from sem_core.models import build_stage2

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_stage2(size, backbone)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="categorical_crossentropy")
    images = rng.random((batch_size, size, size, 1), dtype=np.float32)
    targets = np.eye(7, dtype=np.float32)[rng.integers(0, 7, size=batch_size)]
    started = time.perf_counter()
    model.predict_on_batch(images)
    model.predict_on_batch(images)
    forward_warmup = time.perf_counter() - started
    started = time.perf_counter()
    model.train_on_batch(images, targets)
    model.train_on_batch(images, targets)
    train_warmup = time.perf_counter() - started
    return {"model": model, "images": images, "targets": targets, "forward": [], "train": [],
            "forward_warmup_s": forward_warmup, "train_warmup_s": train_warmup,
            "parameters": int(model.count_params())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+",
                        default=["efficientnet_lite0", "efficientnet_lite2", "densenet121"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 224])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per model (median kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/backbone_speed.json")
    args = parser.parse_args()
    started_run = time.perf_counter()
    rows = []
    for size in args.sizes:
        prepared = {name: _prepare(name, size, args.batch_size, args.seed) for name in args.backbones}
        for _ in range(args.rounds):
            for name, item in prepared.items():
                begin = time.perf_counter()
                item["model"].predict_on_batch(item["images"])
                item["forward"].append(time.perf_counter() - begin)
                begin = time.perf_counter()
                item["model"].train_on_batch(item["images"], item["targets"])
                item["train"].append(time.perf_counter() - begin)
        for name, item in prepared.items():
            forward, train = float(np.median(item["forward"])), float(np.median(item["train"]))
            rows.append({"backbone": name, "image_size": size, "batch_size": args.batch_size,
                         "parameters": item["parameters"],
                         "forward_images_per_second": round(args.batch_size / forward, 2),
                         "train_step_seconds": round(train, 3),
                         "train_images_per_second": round(args.batch_size / train, 2),
                         "forward_seconds_per_batch": [round(value, 3) for value in item["forward"]],
                         "train_seconds_per_step": [round(value, 3) for value in item["train"]],
                         "first_calls_seconds": {"forward": round(item["forward_warmup_s"], 1),
                                                 "train": round(item["train_warmup_s"], 1)}})
            print(f"{size:>4} px {name:<20} forward {rows[-1]['forward_images_per_second']:>7} img/s, "
                  f"train step {rows[-1]['train_step_seconds']} s")
        prepared.clear()
    reference = {(row["image_size"]): row for row in rows if row["backbone"] == "densenet121"}
    for row in rows:
        base = reference.get(row["image_size"])
        if base is not None:
            row["forward_speedup_vs_densenet121"] = round(
                row["forward_images_per_second"] / base["forward_images_per_second"], 2)
            row["train_speedup_vs_densenet121"] = round(base["train_step_seconds"] / row["train_step_seconds"], 2)
    write_record(Path(args.out), {"benchmark": "backbone_speed", "when": utc_stamp(),
                                  "machine": machine_facts(), "command": " ".join(sys.argv),
                                  "wall_seconds": round(time.perf_counter() - started_run, 1),
                                  "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
