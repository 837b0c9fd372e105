"""Stage 1 taught where the defect is: a per-position defect score supervised by the synthetic
defect masks, the image's score its largest. A design for the faint tail (small particles,
residue) that sets the 99 %-recall threshold; the product does not ship it.

Usage:
    .venv/bin/python benchmarks/bench_stage1_masks.py --data D --test T \
        [--init-from models/default] [--mask-weight 1.0] [--epochs 4] [--tag NAME] \
        [--out benchmarks/results/stage1_masks.json]

The model is stage 1's backbone (EfficientNet-Lite0 at 224 px, from ImageNet or from a bundle's
stage-2 backbone) with a linear score at every position of its last feature map. Two losses:
the image's label against the largest position score, and each position against the defect
mask max-pooled to that grid (all zero for Clean images and clean twins). `--mask-weight 0`
drops the second loss: the same model and loop without the masks, the control of the same run.
Training is this script's own loop, not the product's: one epoch on the head, then the whole
backbone with batch norm frozen (Adam 1e-3, then 1e-4), batch 16, a random flip or quarter turn
of every image and its mask, no label smoothing. Scores as `bench_stage_recipe.py --stage 1`.
Synthetic datasets only: masks are read from `annotations/<split>/<stem>_mask.png`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_stage_recipe import _score_stage1, dihedral  # noqa: E402
from benchmarks.record import append_run  # noqa: E402

from sem_core.classes import CLEAN  # noqa: E402

SIZE = 224
BATCH = 16


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a synthetic dataset with masks")
    parser.add_argument("--test", type=Path, required=True, help="a held-out dataset, every split")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="start from this bundle's stage-2 backbone instead of ImageNet")
    parser.add_argument("--mask-weight", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=4,
                        help="one on the head, the rest fine-tuning")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "stage1_masks.json")
    args = parser.parse_args(argv)
    row = run(args)
    print(json.dumps(row))
    append_run(args.out, args.tag or f"mask-weight-{args.mask_weight:g}", row)
    return 0


def grid_masks(root: Path, entries: list, grid: int) -> np.ndarray:
    """Each entry's defect mask max-pooled to ``grid`` x ``grid``; zeros for Clean entries."""
    from PIL import Image

    cells = SIZE // grid
    out = np.zeros((len(entries), grid, grid, 1), dtype=np.float32)
    for index, entry in enumerate(entries):
        if entry.label == CLEAN:
            continue
        parts = Path(entry.path).parts  # master_dataset/<split>/<class>/<stem>.<ext>
        path = root / "annotations" / parts[1] / f"{Path(parts[-1]).stem}_mask.png"
        mask = np.asarray(Image.open(path).convert("L").resize((SIZE, SIZE), Image.NEAREST)) > 0
        mask = mask[:grid * cells, :grid * cells].reshape(grid, cells, grid, cells)
        out[index, ..., 0] = mask.max(axis=(1, 3))
    return out


def build(init_from: Path | None):
    """Returns (training model with outputs score and map, scoring model with the score alone)."""
    import keras

    from sem_core.models import build_stage1
    from sem_core.models.backbones import FEATURES_LAYER
    from sem_core.models.weights import application_weights, parse_weights

    weights = application_weights(parse_weights("imagenet"), "efficientnet_lite0")
    base = build_stage1(SIZE, backbone="efficientnet_lite0", weights=weights)
    if init_from is not None:
        from sem_core.registry import STAGE2_FILE
        from sem_core.train.stages import copy_backbone

        source = init_from / STAGE2_FILE if init_from.is_dir() else init_from
        copy_backbone(keras.saving.load_model(source, compile=False, safe_mode=True), base)
    x = keras.layers.Dropout(0.3, name="head_dropout")(base.get_layer(FEATURES_LAYER).output)
    x = keras.layers.Dense(1, name="head_dense")(x)  # a score at every position
    position_map = keras.layers.Activation("sigmoid", name="defect_map")(x)
    score = keras.layers.GlobalMaxPooling2D(name="head_pool")(position_map)
    trainer = keras.Model(base.input, {"score": score, "map": position_map})
    return trainer, keras.Model(base.input, score)


def run(args: argparse.Namespace) -> dict:
    import keras
    import tensorflow as tf

    from sem_core.data.layouts import load_dataset
    from sem_core.models.stage2 import backbone_layers
    from sem_core.train.run import _decode, _splits

    keras.utils.set_random_seed(args.seed)
    manifest = load_dataset(args.data, seed=args.seed).manifest
    train_entries, validation_entries = _splits(manifest)
    test_manifest = load_dataset(args.test, seed=args.seed).manifest
    train, validation = (_decode(manifest, entries, SIZE)
                         for entries in (train_entries, validation_entries))
    test = _decode(test_manifest, list(test_manifest.entries), SIZE)
    trainer, scorer = build(args.init_from)
    grid = int(trainer.output["map"].shape[1])
    masks = grid_masks(args.data, train_entries, grid)
    labels = np.array([[label != CLEAN] for label in train.labels], dtype=np.float32)
    rng = np.random.default_rng(args.seed)

    def batches():
        order = rng.permutation(len(labels))
        for start in range(0, len(order) - BATCH + 1, BATCH):
            pick = order[start:start + BATCH]
            turns, flips = rng.integers(4, size=len(pick)), rng.integers(2, size=len(pick))
            views = list(zip(pick, turns, flips))
            images = np.stack([dihedral(train.pixels[i], t, f) for i, t, f in views])
            maps = np.stack([dihedral(masks[i], t, f) for i, t, f in views])
            yield images.astype(np.float32) / 255.0, {"score": labels[pick], "map": maps}

    signature = (tf.TensorSpec((None, SIZE, SIZE, 1), tf.float32),
                 {"score": tf.TensorSpec((None, 1), tf.float32),
                  "map": tf.TensorSpec((None, grid, grid, 1), tf.float32)})
    started, epochs = time.perf_counter(), []
    for epoch in range(args.epochs):
        head_only = epoch == 0
        # backbone_layers leaves the head's weighted layers out (defect_map has no weights)
        for layer in backbone_layers(trainer):
            batch_norm = isinstance(layer, keras.layers.BatchNormalization)
            layer.trainable = not head_only and not batch_norm
        if epoch <= 1:  # compile when the trainable set changes
            trainer.compile(optimizer=keras.optimizers.Adam(1e-3 if head_only else 1e-4),
                            loss={"score": keras.losses.BinaryCrossentropy(),
                                  "map": keras.losses.BinaryCrossentropy()},
                            loss_weights={"score": 1.0, "map": args.mask_weight})
        history = trainer.fit(tf.data.Dataset.from_generator(batches, output_signature=signature),
                              epochs=1, verbose=0)
        scores = _score_stage1(scorer, validation, test)
        epochs.append({"epoch": epoch + 1, "head_only": head_only,
                       "losses": {k: round(v[-1], 4) for k, v in history.history.items()},
                       "validation_auc": scores["validation_auc"], "test_auc": scores["test_auc"],
                       "seconds": round(time.perf_counter() - started, 1)})
        print(json.dumps(epochs[-1]), flush=True)
    row = {"command": " ".join(["python", "benchmarks/bench_stage1_masks.py", *sys.argv[1:]]),
           "mask_weight": args.mask_weight, "grid": grid, "epochs": args.epochs,
           "initial_weights": str(args.init_from) if args.init_from else "imagenet",
           "images": {"train": len(train), "validation": len(validation), "test": len(test)},
           "train_seconds": round(time.perf_counter() - started, 1), "by_epoch": epochs}
    row.update(_score_stage1(scorer, validation, test))  # after the last epoch
    return row


if __name__ == "__main__":
    raise SystemExit(main())
