"""Can a screener learn the synthetic SEM defects? Probes recorded as JSON (not a test).

Three measurements, all on images rendered natively at the probe size (no presentation layer):

* ``square``: the training stack's sanity check. Stage 1 learns a bright 5x5 square on uniform
  noise; if this fails, the stack is broken, not the data.
* ``visibility``: per class, the energy of (defect image - its clean twin) divided by the image's
  pixel noise sigma. It is what an observer who knows the clean scene could use, so an upper bound
  for a network that sees one image.
* ``stage1``: stage 1 (``sem_core.models.build_stage1``) trained on the defect images plus the
  clean twin of each (each pair differs only at the defect, spec C5), scored by validation AUC
  on images of other split ids, with the training loss next to the constant-prediction baseline.

    .venv/bin/python benchmarks/probe_learnability.py --size 96 --images 4000 --epochs 4

See docs/attempts/learnability-2026-11-28.md for what the probes found.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from record import machine_facts, utc_stamp, write_record  # noqa: E402  (benchmarks/record.py)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from sem_core.classes import CLASSES, CLEAN  # noqa: E402

_EPSILON = 1e-9


def render_pair(job: tuple[int, int, int, int]) -> tuple[str, np.ndarray, np.ndarray | None, float] | None:
    """(class, image, clean twin or None, visibility) of one generator image; None if it failed."""
    from sem_core.data.synth import SynthConfig, generate_clean_twin, generate_sample

    size, seed, split, index = job
    config = SynthConfig(size=size, presentation=False)
    label = CLASSES[index % len(CLASSES)]
    try:
        sample = generate_sample(config, seed, split, index)
        if label == CLEAN:
            return label, sample.raw_image, None, 0.0
        twin = generate_clean_twin(config, seed, split, index).raw_image
    except (RuntimeError, ValueError):
        return None
    return label, sample.raw_image, twin, visibility(sample.raw_image, twin)


def visibility(image: np.ndarray, twin: np.ndarray) -> float:
    """Matched-filter energy of the defect over the pixel noise sigma (from row differences)."""
    defect = image.astype(np.float64) - twin.astype(np.float64)
    rows = twin.astype(np.float64)
    sigma = float(np.std(rows[1:] - rows[:-1]) / np.sqrt(2.0)) + _EPSILON
    return float(np.sqrt(np.sum(defect**2)) / sigma)


def render(size: int, seed: int, split: int, count: int, workers: int) -> list[tuple]:
    jobs = [(size, seed, split, index) for index in range(count)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [result for result in pool.map(render_pair, jobs, chunksize=16) if result is not None]


def visibility_table(samples: list[tuple]) -> dict[str, dict[str, float]]:
    table = {}
    for name in CLASSES[1:]:
        values = np.array([sample[3] for sample in samples if sample[0] == name])
        if len(values):
            low, quarter, median, upper = np.percentile(values, [10, 25, 50, 75])
            table[name] = {"p10": round(low, 1), "p25": round(quarter, 1), "median": round(median, 1),
                           "p75": round(upper, 1), "n": int(len(values))}
    return table


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(positive, scores))


def train_probe(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray,
                epochs: int, width: int, blocks: int, seed: int) -> list[dict[str, float]]:
    """Stage-1 CNN, dihedral augmentation, class-balanced weights; one record per epoch."""
    import keras

    from sem_core.models import build_stage1
    from sem_core.train.augment import LIGHT_AUGMENT, build_augmenter
    from sem_core.train.pipeline import balanced_sample_weights, make_dataset

    keras.utils.set_random_seed(seed)
    model = build_stage1(train_x.shape[1], width=width, blocks=blocks)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    targets = train_y.astype(np.float32)[:, None]
    dataset = make_dataset(train_x, targets, 32,
                           sample_weights=balanced_sample_weights(train_y.astype(int), 2),
                           shuffle_seed=seed, augmenter=build_augmenter(LIGHT_AUGMENT, seed=seed),
                           deterministic=False)
    records = []
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        loss = model.fit(dataset, epochs=1, verbose=0, shuffle=False).history["loss"][0]
        scores = model.predict(val_x.astype(np.float32) / 255.0, batch_size=64, verbose=0)[:, 0]
        records.append({"epoch": epoch, "train_loss": round(float(loss), 4),
                        "val_auc": round(auc(scores, val_y), 3),
                        "seconds": round(time.perf_counter() - started, 1)})
        print(json.dumps(records[-1]), flush=True)
    return records


def square_task(size: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """uint8 uniform noise in [0, 153]; every other image gets a 5x5 square 102 grey levels brighter."""
    pixels = rng.integers(0, 154, size=(count, size, size, 1)).astype(np.uint8)
    labels = np.zeros(count, dtype=bool)
    for index in range(0, count, 2):
        row, col = rng.integers(0, size - 5, 2)
        pixels[index, row:row + 5, col:col + 5] += 102
        labels[index] = True
    return pixels, labels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=96, help="native render size in px")
    parser.add_argument("--images", type=int, default=4000, help="training images (before twins)")
    parser.add_argument("--val-images", type=int, default=800)
    parser.add_argument("--seed", type=int, default=4001)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--square-epochs", type=int, default=3)
    parser.add_argument("--width", type=int, default=24)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "learnability.json")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    square_x, square_y = square_task(args.size, 1200, rng)
    print("square task", flush=True)
    square = train_probe(square_x[:1000], square_y[:1000], square_x[1000:], square_y[1000:],
                         args.square_epochs, args.width, args.blocks, args.seed)

    started = time.perf_counter()
    train = render(args.size, args.seed, 0, args.images, args.workers)
    validation = render(args.size, args.seed, 1, args.val_images, args.workers)
    render_seconds = time.perf_counter() - started
    images = [sample[1] for sample in train] + [sample[2] for sample in train if sample[2] is not None]
    defective = [sample[0] != CLEAN for sample in train] + [False] * sum(s[2] is not None for s in train)
    train_x = np.stack(images)[..., None]
    train_y = np.array(defective)
    val_x = np.stack([sample[1] for sample in validation])[..., None]
    val_y = np.array([sample[0] != CLEAN for sample in validation])
    share = float(train_y.mean())
    baseline = -(share * np.log(share) + (1 - share) * np.log(1 - share))
    print(f"stage-1 probe on {len(train_x)} images ({len(train)} rendered + twins)", flush=True)
    epochs = train_probe(train_x, train_y, val_x, val_y, args.epochs, args.width, args.blocks, args.seed)

    record = {
        "command": " ".join(["python", *sys.argv]),
        "generator": {"size": args.size, "seed": args.seed, "presentation": False,
                      "train_split_id": 0, "validation_split_id": 1,
                      "rendered": len(train), "validation": len(validation),
                      "render_seconds": round(render_seconds, 1)},
        "square_sanity": {"images": 1000, "epochs": square},
        "visibility": visibility_table(train),
        "stage1": {"model": f"build_stage1(width={args.width}, blocks={args.blocks})",
                   "train_images": int(len(train_x)), "defective_share": round(share, 3),
                   "constant_prediction_loss_unweighted": round(float(baseline), 4),
                   "note": "train_loss is class-weighted binary cross-entropy: its constant-prediction "
                           "value is ln 2 = 0.6931",
                   "epochs": epochs},
        "machine": machine_facts(),
        "recorded": utc_stamp(),
    }
    write_record(args.out, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
