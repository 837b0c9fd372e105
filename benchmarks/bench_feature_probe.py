"""Do frozen ImageNet features see the synthetic defects? A two-minute diagnostic of the data.

Extracts a backbone's ImageNet features (default EfficientNet-Lite0, the offline weights) of
every image of a synth dataset, pools them over the field (average and max), and fits logistic
regressions on the Train split: Clean vs Defective (validation ROC AUC) and all eight classes
(validation macro-F1). ``--frame K`` instead crops each defect image to K times its mask's
bounding box (Clean images to a box of a defect image's size at a random central place) before
the features, which asks how much a review-style close-up would help.

Pooled features are what the probe recipe (``train --recipe probe``) fits on, so an AUC near 0.5
here says that no head on them can screen these images. Results go to
benchmarks/results/feature_probe_<name>.json.

Run: ``.venv/bin/python benchmarks/bench_feature_probe.py --data DATASET [--size 128]
[--backbone efficientnet_lite2] [--frame 3]``
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.record import machine_facts, utc_stamp, write_record


def _mask_box(path: Path) -> tuple[int, int, int, int] | None:
    from PIL import Image

    rows, cols = np.nonzero(np.asarray(Image.open(path)) > 0)
    if rows.size == 0:
        return None
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


def load_split_images(data: Path, size: int, frame: float, seed: int = 0):
    """(images in [0, 1] at ``size``, class indices, split names) of a synth dataset."""
    from PIL import Image

    from sem_core.classes import CLASSES, CLEAN
    from sem_core.data.image_io import load_image

    rng = np.random.default_rng(seed)
    with (data / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    boxes = {row["path"]: _mask_box(data / row["mask"]) for row in rows
             if frame and row["label"] != CLEAN}
    sizes = [max(b[1] - b[0], b[3] - b[2]) for b in boxes.values() if b is not None]
    images, labels, splits = [], [], []
    for row in rows:
        # the project's decoder: the synth format mix includes 16-bit TIFFs
        image = Image.fromarray(load_image(data / row["path"]).pixels, mode="F")
        if frame:
            width = image.size[0]
            box = boxes.get(row["path"])
            if box is None:  # Clean (or an empty mask): a defect's box size, a central place
                extent = sizes[int(rng.integers(len(sizes)))]
                centre_y, centre_x = rng.uniform(0.2 * width, 0.8 * width, 2)
            else:
                extent = max(box[1] - box[0], box[3] - box[2])
                centre_y, centre_x = (box[0] + box[1]) / 2, (box[2] + box[3]) / 2
            side = float(np.clip(frame * extent + 8, 48, width))
            top = float(np.clip(centre_y - side / 2, 0, width - side))
            left = float(np.clip(centre_x - side / 2, 0, width - side))
            image = image.crop((left, top, left + side, top + side))
        image = image.resize((size, size), Image.Resampling.BILINEAR)
        images.append(np.asarray(image, np.float32)[..., None])
        labels.append(CLASSES.index(row["label"]))
        splits.append(row["split"])
    return np.stack(images), np.array(labels), np.array(splits)


def pooled_features(images: np.ndarray, size: int,
                    backbone: str = "efficientnet_lite0") -> dict[str, np.ndarray]:
    """Average- and max-pooled ImageNet features of ``images`` from ``backbone``."""
    import keras

    from sem_core.models.stage2 import build_backbone_classifier

    model = build_backbone_classifier(size, backbone, "imagenet", 8, "softmax",
                                      "probe", 0, 0.0, "stage2")
    features = keras.Model(model.input, model.get_layer("backbone_features").output)
    average, maximum = [], []
    for start in range(0, len(images), 32):
        maps = features.predict(images[start:start + 32], verbose=0)
        average.append(maps.mean(axis=(1, 2)))
        maximum.append(maps.max(axis=(1, 2)))
    return {"average": np.concatenate(average), "max": np.concatenate(maximum)}


def probe(features: np.ndarray, labels: np.ndarray, splits: np.ndarray, c: float) -> dict:
    """Validation AUC (Clean vs Defective) and 8-class macro-F1 of logistic regressions."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, roc_auc_score
    from sklearn.preprocessing import StandardScaler

    train, validation = splits == "Train", splits == "Validation"
    scaled = StandardScaler().fit(features[train]).transform(features)
    classes = LogisticRegression(C=c, max_iter=3000).fit(scaled[train], labels[train])
    defective = LogisticRegression(C=c, max_iter=3000).fit(scaled[train], labels[train] > 0)
    guess = classes.predict(scaled[validation])
    score = defective.predict_proba(scaled[validation])[:, 1]
    return {
        "macro_f1_8_class": round(float(f1_score(labels[validation], guess, average="macro")), 3),
        "detect_auc": round(float(roc_auc_score(labels[validation] > 0, score)), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a synth dataset folder")
    parser.add_argument("--size", type=int, default=224, help="feature input px (default 224)")
    parser.add_argument("--frame", type=float, default=0.0,
                        help="crop to this many times the defect's box first (default 0: off)")
    parser.add_argument("--c", type=float, default=0.01, help="inverse L2 strength (default 0.01)")
    parser.add_argument("--name", default=None, help="result name (default: the data folder's)")
    parser.add_argument("--backbone", default="efficientnet_lite0",
                        help="a registered backbone with ImageNet weights (default efficientnet_lite0)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    images, labels, splits = load_split_images(args.data, args.size, args.frame)
    loaded = time.perf_counter()
    pools = pooled_features(images, args.size, args.backbone)
    feature_seconds = time.perf_counter() - loaded
    results = {name: probe(values, labels, splits, args.c) for name, values in pools.items()}
    for name, figures in results.items():
        print(f"{name:8s} pooling: 8-class macro-F1 {figures['macro_f1_8_class']:.3f}, "
              f"Clean vs Defective AUC {figures['detect_auc']:.3f}")
    name = args.name or args.data.name + (f"-frame{args.frame:g}" if args.frame else "")
    write_record(ROOT / "benchmarks" / "results" / f"feature_probe_{name}.json", {
        "benchmark": "frozen ImageNet features, logistic probes (Clean vs Defective, 8 classes)",
        "backbone": args.backbone,
        "data": str(args.data),
        "images": {split: int((splits == split).sum()) for split in ("Train", "Validation")},
        "size": args.size,
        "frame": args.frame,
        "c": args.c,
        "results": results,
        "seconds": round(time.perf_counter() - start, 1),
        # model build (weights load) included: an upper bound of the per-image forward cost
        "feature_ms_per_image": round(1000 * feature_seconds / len(images), 2),
        "command": "python benchmarks/bench_feature_probe.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_facts(),
        "utc": utc_stamp(),
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
