"""One stage trained alone with a given recipe, scored on a held-out set: the quick way to choose
a backbone, input size or fine-tuning depth before a full `make default-model`.

Usage:
    .venv/bin/python benchmarks/bench_stage_recipe.py --stage 2 --data D [D ...] --test T \
        [--size 224] [--backbone efficientnet_lite0] [--finetune-layers 40|all] [--epochs 10] \
        [--frozen-fraction 0.5] [--init-from BUNDLE] [--head avg|maxlogit] [--loss bce|focal] \
        [--tta 1|2|4|8] [--tag NAME] [--out benchmarks/results/stage_recipes.json]

Stage 1 (`--stage 1`, Clean vs Defective on every image; `--backbone cnn` for the small CNN
trained from scratch) reports validation and test ROC AUC and the test overkill at the
threshold that keeps 99 % of validation defects (and at the test's own 95 % and 99 % recall
thresholds); `--init-from` starts stage 1 from a bundle's stage-2 backbone. Three stage-1 variants
the product does not ship, for the faint-defect tail that sets the 99 % threshold: `--head
maxlogit` (a linear score at every position of the last feature map, the image's score its
largest: a small defect is not averaged away), `--loss focal` (binary focal cross-entropy, gamma
2, which weighs the examples the model still gets wrong) and `--tta N` (the score averaged, in
log-odds, over N of the eight flips and quarter turns of each scored image). Stage 2 (`--stage
2`, the seven defect classes on the defective images) reports validation and test macro-F1 and
per-class test F1.
Both report training wall time and forward images/s. Each run is appended to the record under
its tag, with the command, so earlier rows stay beside it.
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

from benchmarks.record import append_run  # noqa: E402

from sem_core.classes import CLEAN, STAGE2_CLASSES  # noqa: E402
from sem_core.train.stages import _class_indices  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", type=int, choices=(1, 2), required=True)
    parser.add_argument("--data", nargs="+", required=True, help="training dataset folder(s)")
    parser.add_argument("--test", nargs="+", required=True, help="held-out dataset folder(s), every split")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--backbone", default="efficientnet_lite0", help="a backbone, or cnn (stage 1 only)")
    parser.add_argument("--finetune-layers", default="40", help="a count or all")
    parser.add_argument("--frozen-fraction", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--augment", default="light")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-from", type=Path, default=None,
                        help="stage 1 on a backbone: start from this bundle's (or .keras file's) "
                             "stage-2 backbone instead of ImageNet, as train --stage1-from-stage2 "
                             "does")
    parser.add_argument("--head", choices=("avg", "maxlogit"), default="avg",
                        help="stage 1 on a backbone: average-pooled features (as shipped) or the "
                             "largest per-position score")
    parser.add_argument("--loss", choices=("bce", "focal"), default="bce", help="stage-1 loss")
    parser.add_argument("--tta", type=int, choices=(1, 2, 4, 8), default=1,
                        help="stage 1: score each image as the mean log-odds over this many "
                             "flips and quarter turns")
    parser.add_argument("--tag", default="")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "stage_recipes.json")
    args = parser.parse_args(argv)
    row = run(args)
    print(json.dumps(row))
    default_tag = f"stage{args.stage}-{args.backbone}-{args.size}-{args.finetune_layers}"
    append_run(args.out, args.tag or default_tag, row)
    return 0


def run(args: argparse.Namespace) -> dict:
    import keras

    from sem_core.data.layouts import load_dataset
    from sem_core.train.cli import combine_manifests
    from sem_core.train.config import FINETUNE_ALL, TrainConfig
    from sem_core.train.run import _decode, _splits
    from sem_core.train.stages import _context

    keras.utils.set_random_seed(args.seed)
    layers = FINETUNE_ALL if args.finetune_layers == FINETUNE_ALL else int(args.finetune_layers)
    manifest = combine_manifests([load_dataset(d, seed=args.seed).manifest for d in args.data])
    train_entries, validation_entries = _splits(manifest)
    test_manifest = combine_manifests([load_dataset(d, seed=args.seed).manifest for d in args.test])
    test_entries = list(test_manifest.entries)
    if args.stage == 2:  # stage 2 sees defective images only
        train_entries, validation_entries, test_entries = (
            [e for e in entries if e.label != CLEAN] for entries in (train_entries, validation_entries, test_entries))
    train = _decode(manifest, train_entries, args.size)
    validation = _decode(manifest, validation_entries, args.size)
    test = _decode(test_manifest, test_entries, args.size)
    cnn = args.backbone == "cnn"
    config = TrainConfig(image_size=args.size, epochs=args.epochs, stage1_epochs=args.epochs,
                         augment=args.augment, patience=8, batch_size=16, seed=args.seed,
                         frozen_learning_rate=1e-3, finetune_learning_rate=1e-4,
                         backbone="efficientnet_lite0" if cnn else args.backbone,
                         stage1_backbone="cnn" if cnn else args.backbone,
                         finetune_layers=layers, frozen_fraction=args.frozen_fraction)
    model = _build(args, cnn)
    if args.init_from is not None:
        from sem_core.registry import STAGE2_FILE
        from sem_core.train.stages import copy_backbone

        source = args.init_from / STAGE2_FILE if args.init_from.is_dir() else args.init_from
        copy_backbone(keras.saving.load_model(source, compile=False, safe_mode=True), model)
    started = time.perf_counter()
    if args.stage == 1:
        from sem_core.train.fit import fit_stage1

        defective = np.array([label != CLEAN for label in train.labels])
        targets = np.array([[label != CLEAN] for label in validation.labels])
        context = _context(train.pixels, defective[:, None], defective.astype(int), 2, validation,
                           targets, config, 0, lambda event: None, None, None)
        with _stage1_loss(args.loss):
            phases = fit_stage1(model, context, config, pretrained=not cnn)
    else:
        from sem_core.train.fit import fit_stage2

        eye = np.eye(len(STAGE2_CLASSES), dtype=np.float32)
        train_index, validation_index = _class_indices(train.labels), _class_indices(validation.labels)
        context = _context(train.pixels, eye[train_index], train_index, len(STAGE2_CLASSES), validation,
                           eye[validation_index], config, 1, lambda event: None, None, None)
        phases = fit_stage2(model, context, config, True)
    seconds = time.perf_counter() - started
    row = {"command": " ".join(["python", "benchmarks/bench_stage_recipe.py", *sys.argv[1:]]),
           "stage": args.stage, "backbone": args.backbone, "size": args.size,
           "finetune_layers": args.finetune_layers, "epochs": args.epochs,
           "frozen_fraction": args.frozen_fraction,
           "initial_weights": str(args.init_from) if args.init_from else "imagenet",
           **({"head": args.head, "loss": args.loss, "tta": args.tta} if args.stage == 1 else {}),
           "images": {"train": len(train), "validation": len(validation), "test": len(test)},
           "train_seconds": round(seconds, 1),
           "phases": [{"phase": p.phase, "epochs_run": p.epochs_run, "best_epoch": p.best_epoch,
                       "validation_by_epoch": [round(v, 4) for v in p.history.get(
                           "val_auc" if args.stage == 1 else "val_macro_f1", [])]}
                      for p in phases]}
    row.update(_score_stage1(model, validation, test, args.tta) if args.stage == 1
               else _score_stage2(model, validation, test))
    started = time.perf_counter()
    model.predict(test.pixels[:128].astype(np.float32) / 255.0, batch_size=16, verbose=0)
    row["forward_images_per_second"] = round(min(128, len(test)) / (time.perf_counter() - started), 1)
    return row


def _build(args: argparse.Namespace, cnn: bool):
    from sem_core.models import build_stage1, build_stage2
    from sem_core.models.weights import application_weights, parse_weights

    if args.stage == 1 and cnn:
        return build_stage1(args.size)
    weights = application_weights(parse_weights("imagenet"), args.backbone)
    if args.stage == 1:
        model = build_stage1(args.size, backbone=args.backbone, weights=weights)
        return _max_logit_head(model) if args.head == "maxlogit" else model
    return build_stage2(args.size, args.backbone, weights=weights, dense_units=512)


def _max_logit_head(model):
    """The same backbone with a linear score at each position of its last feature map; the image's
    score is the largest. The head's layers reuse the names of the shipped head's (``head_*``), so
    the training code tells them from the backbone as it does for the shipped head."""
    import keras

    from sem_core.models.backbones import FEATURES_LAYER
    from sem_core.models.stage1 import STAGE1_OUTPUT_NAME

    x = keras.layers.Dropout(0.3, name="head_dropout")(model.get_layer(FEATURES_LAYER).output)
    x = keras.layers.Dense(1, name="head_dense")(x)  # acts on the channel axis of every position
    x = keras.layers.GlobalMaxPooling2D(name="head_pool")(x)
    outputs = keras.layers.Activation("sigmoid", name=STAGE1_OUTPUT_NAME)(x)
    return keras.Model(model.input, outputs, name=model.name)


def _stage1_loss(kind: str):
    """A context in which stage-1 training uses ``kind``'s loss (focal: gamma 2, the same label
    smoothing) instead of binary cross-entropy; the product's training code is not changed."""
    import contextlib
    from unittest import mock

    import keras

    if kind == "bce":
        return contextlib.nullcontext()

    def focal(label_smoothing: float = 0.0, **_):
        return keras.losses.BinaryFocalCrossentropy(gamma=2.0, label_smoothing=label_smoothing)

    return mock.patch.object(keras.losses, "BinaryCrossentropy", focal)


def _scores(model, images) -> np.ndarray:
    return model.predict(images.pixels.astype(np.float32) / 255.0, batch_size=32, verbose=0)


def dihedral(array: np.ndarray, turns: int, flip: bool,
             axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """``array`` turned ``turns`` quarter turns in the plane of ``axes``, then mirrored across the
    second of them when ``flip``: one of the eight flips and turns of an image (or a batch)."""
    turned = np.rot90(array, turns, axes=axes)
    return np.ascontiguousarray(np.flip(turned, axis=axes[1]) if flip else turned)


def _dihedral_scores(model, images, views: int) -> np.ndarray:
    """Stage-1 scores averaged in log-odds over the first ``views`` of the eight flips and turns."""
    pixels, logits = images.pixels.astype(np.float32) / 255.0, []
    for view in range(views):
        turned = dihedral(pixels, view % 4, view >= 4, axes=(1, 2))
        p = model.predict(turned, batch_size=32, verbose=0)[:, 0]
        p = np.clip(p, 1e-7, 1 - 1e-7)
        logits.append(np.log(p / (1.0 - p)))
    return 1.0 / (1.0 + np.exp(-np.mean(logits, axis=0)))  # back to a probability


def _score_stage1(model, validation, test, views: int = 1) -> dict:
    from sklearn.metrics import roc_auc_score

    from sem_core.train.operating_point import choose_threshold

    (v_scores, v_truth), (t_scores, t_truth) = (
        (_dihedral_scores(model, images, views),
         np.array([label != CLEAN for label in images.labels]))
        for images in (validation, test))
    threshold = choose_threshold(v_scores, v_truth, 0.99).threshold  # training's own rule
    defect_scores = np.sort(t_scores[t_truth])
    at_recall = {recall: defect_scores[int(np.floor((1.0 - recall) * len(defect_scores)))]
                 for recall in (0.95, 0.99)}  # the test's own thresholds, for the ranking alone
    return {"validation_auc": round(float(roc_auc_score(v_truth, v_scores)), 4),
            "test_auc": round(float(roc_auc_score(t_truth, t_scores)), 4),
            "test_overkill_at_validation_threshold": round(float(np.mean(t_scores[~t_truth] >= threshold)), 3),
            "test_recall_at_validation_threshold": round(float(np.mean(t_scores[t_truth] >= threshold)), 3),
            **{f"test_overkill_at_test_recall_{recall:g}": round(float(np.mean(t_scores[~t_truth] >= cut)), 3)
               for recall, cut in at_recall.items()}}


def _score_stage2(model, validation, test) -> dict:
    from sklearn.metrics import f1_score

    from sem_core.train.fit import macro_f1

    out = {}
    for name, images in (("validation", validation), ("test", test)):
        truth, guess = _class_indices(images.labels), _scores(model, images).argmax(axis=1)
        out[f"{name}_macro_f1"] = round(macro_f1(truth, guess), 4)
    per_class = f1_score(truth, guess, average=None, labels=range(len(STAGE2_CLASSES)))
    out["test_f1_per_class"] = dict(zip(STAGE2_CLASSES, np.round(per_class, 3).tolist()))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
