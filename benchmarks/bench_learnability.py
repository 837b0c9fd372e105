"""Learnability of the synthetic data by the product's own training (spec C6.9), both presets.

For each difficulty preset, renders ``--per-class`` images per class at 224 px (a seed of its
own; the same seed for both presets, so the scenes are the same) and trains from scratch within
``--max-minutes`` at ``--image-size``, one of two ways (``--model``):

* ``bundle``: ``python -m sem_core train`` (stage 1 and a stage-2 ``--backbone``), recording
  the validation figures the training reports (stage-2 and end-to-end macro-F1);
* ``small-cnn``: the stage-1 screener's convolutional body (``build_stage1``, four conv blocks)
  with an 8-way softmax head, trained on all eight classes with flips and quarter turns,
  recording the best validation macro-F1 of its epochs.

Results go to benchmarks/results/learnability_v2_<model>.json. The bar for ``standard`` (spec
C6.9): validation macro-F1 >= 0.6 within 10 minutes at 96 px with 150 images per class.

Run: ``.venv/bin/python benchmarks/bench_learnability.py --seed 8803``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.record import machine_facts, utc_stamp, write_record

BAR = 0.6


def run(command: list[str]) -> float:
    """Run a command (output streamed), fail loudly, return its wall seconds."""
    print("+", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return time.perf_counter() - start


def train_bundle(python: str, data: Path, bundle: Path, args: argparse.Namespace) -> dict:
    """``sem_core train`` within the budget; the validation figures from bundle.json."""
    if bundle.exists():
        shutil.rmtree(bundle)
    seconds = run([python, "-m", "sem_core", "train", "--data", str(data), "--out", str(bundle),
                   "--image-size", str(args.image_size), "--backbone", args.backbone,
                   "--epochs", "60", "--stage1-epochs", "20", "--patience", "8", "--augment",
                   "light", "--seed", "0", "--max-minutes", f"{args.max_minutes:g}"])
    metrics = json.loads((bundle / "bundle.json").read_text()).get("metrics", {})
    return {"train_seconds": round(seconds, 1), "validation": metrics}


def _split_arrays(data: Path, size: int) -> dict[str, tuple]:
    """(images, labels) per split of a synth dataset, grey in [0, 1] at ``size``."""
    import csv

    import numpy as np
    from PIL import Image

    from sem_core.classes import CLASSES
    from sem_core.data.image_io import load_image

    splits: dict[str, tuple[list, list]] = {}
    with (data / "manifest.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            pixels = load_image(data / row["path"]).pixels
            grey = Image.fromarray(np.clip(pixels * 255 + 0.5, 0, 255).astype(np.uint8))
            grey = grey.resize((size, size), Image.Resampling.BILINEAR)
            images, labels = splits.setdefault(row["split"], ([], []))
            images.append(np.asarray(grey, np.float32)[..., None] / 255.0)
            labels.append(CLASSES.index(row["label"]))
    return {name: (np.stack(x), np.array(y)) for name, (x, y) in splits.items()}


def train_small_cnn(data: Path, size: int, max_minutes: float, seed: int = 0) -> dict:
    """Train the small CNN on all eight classes within the budget (see the module docstring)."""
    import keras
    import numpy as np
    from sklearn.metrics import confusion_matrix, f1_score

    from sem_core.classes import CLASSES

    from sem_core.models.stage1 import build_stage1

    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    arrays = _split_arrays(data, size)
    (train_x, train_y), (val_x, val_y) = arrays["Train"], arrays["Validation"]
    body = build_stage1(size, width=32)
    head = keras.layers.Dense(8, activation="softmax", name="classes")(
        body.get_layer("dropout").output
    )
    model = keras.Model(body.input, head)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    history, best = [], (-1.0, None)
    deadline = start + max_minutes * 60.0
    epoch = 0
    while time.perf_counter() < deadline:
        epoch += 1
        order = rng.permutation(len(train_x))
        batch = train_x[order]
        flips = rng.random(len(batch)) < 0.5
        batch[flips] = batch[flips, :, ::-1]
        batch = np.stack([np.rot90(image, int(k)) for image, k in
                          zip(batch, rng.integers(0, 4, len(batch)), strict=True)])
        model.fit(batch, train_y[order], batch_size=16, epochs=1, verbose=0)
        guess = model.predict(val_x, batch_size=64, verbose=0).argmax(axis=1)
        score = float(f1_score(val_y, guess, average="macro"))
        history.append({"epoch": epoch, "seconds": round(time.perf_counter() - start, 1),
                        "validation_macro_f1": round(score, 4)})
        print(f"small-cnn epoch {epoch}: validation macro-F1 {score:.3f}", flush=True)
        if score > best[0]:
            best = (score, epoch)
            per_class = f1_score(val_y, guess, average=None, labels=range(len(CLASSES)))
            confusion = confusion_matrix(val_y, guess, labels=range(len(CLASSES)))
    return {
        "train_seconds": round(time.perf_counter() - start, 1),
        "epochs": epoch,
        "best_validation_macro_f1": round(best[0], 4),
        "best_epoch": best[1],
        "validation_images": len(val_x),
        # At the best epoch: which classes are learned and which are confused (rows: true).
        "best_per_class_f1": {name: round(float(value), 3)
                              for name, value in zip(CLASSES, per_class, strict=True)},
        "best_confusion": {"classes": list(CLASSES), "rows_true": confusion.tolist()},
        "history": history,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True, help="data seed (use an unseen one)")
    parser.add_argument("--per-class", type=int, default=150, help="images per class (default 150)")
    parser.add_argument("--image-size", type=int, default=96, help="training input (default 96)")
    parser.add_argument("--max-minutes", type=float, default=10.0,
                        help="training budget, both stages (default 10)")
    parser.add_argument("--backbone", default="densenet121", help="stage-2 backbone (bundle)")
    parser.add_argument("--model", choices=("bundle", "small-cnn"), default="small-cnn",
                        help="what to train (default small-cnn)")
    parser.add_argument("--difficulties", nargs="+", default=["standard", "hard"])
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "output" / "learn")
    args = parser.parse_args(argv)
    python = sys.executable
    results = {}
    for difficulty in args.difficulties:
        data = args.work / f"{difficulty}-{args.seed}-{args.per_class}"
        bundle = args.work / f"bundle-{difficulty}-{args.seed}"
        if not (data / "manifest.csv").exists():
            run([python, "-m", "sem_core", "synth", "--out", str(data), "--per-class",
                 str(args.per_class), "--size", "224", "--seed", str(args.seed), "--difficulty",
                 difficulty, "--quiet", "--overwrite"])
        if args.model == "small-cnn":
            results[difficulty] = train_small_cnn(data, args.image_size, args.max_minutes)
        else:
            results[difficulty] = train_bundle(python, data, bundle, args)
        print(difficulty, json.dumps(results[difficulty])[:600], flush=True)
    record = {
        "benchmark": "learnability of the synthetic data by `sem_core train` (spec C6.9)",
        "seed": args.seed,
        "per_class": args.per_class,
        "image_size": args.image_size,
        "max_minutes": args.max_minutes,
        "model": args.model,
        "backbone": args.backbone if args.model == "bundle" else "stage-1 body, 8-way head",
        "bar": {"standard_validation_macro_f1": BAR},
        "results": results,
        "command": "python benchmarks/bench_learnability.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_facts(),
        "utc": utc_stamp(),
    }
    write_record(ROOT / "benchmarks" / "results" / f"learnability_v2_{args.model}.json", record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
