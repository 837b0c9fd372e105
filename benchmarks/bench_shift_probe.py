"""How much of a tool shift is shift, not the target's own difficulty? A few-minute probe.

Frozen ImageNet features (``bench_feature_probe.pooled_features``: average and max pooled) of a
source dataset and of one or more target datasets; a logistic regression fitted on the source's
Train split and one fitted on the target's own Train split, both scored (8-class macro-F1) on the
target's Validation and Test images. ``gap`` = target->target - source->target: the part of the
loss that a model of the target's own images would not have. The shift benchmark
(``bench_shift.py``) asks the same question with two trained bundles in about an hour; this asks
it of frozen features in minutes, to compare generator tool profiles before that run.

Run: ``.venv/bin/python benchmarks/bench_shift_probe.py --source A_DATASET --target B_DATASET
[B2 ...] [--size 224] [--out benchmarks/results/shift_probe.json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_feature_probe import load_split_images, pooled_features
from benchmarks.record import machine_facts, utc_stamp, write_record


def features_of(data: Path, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pooled features, class indices, split names) of every image of a synth dataset."""
    images, labels, splits = load_split_images(data, size, 0.0)
    pooled = pooled_features(images, size)
    return np.concatenate([pooled["average"], pooled["max"]], axis=1), labels, splits


def fit_probe(train: tuple, c: float):
    """A function from features to classes: a logistic regression fitted on ``train``'s Train
    split (features standardised by that split)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    features, labels, splits = train
    rows = splits == "Train"
    scaler = StandardScaler().fit(features[rows])
    model = LogisticRegression(C=c, max_iter=3000).fit(scaler.transform(features[rows]),
                                                       labels[rows])
    return lambda test_features: model.predict(scaler.transform(test_features))


def macro_f1(probe, test_features: np.ndarray, test_labels: np.ndarray) -> float:
    """Macro-F1 of a fitted probe on the test images."""
    from sklearn.metrics import f1_score

    return round(float(f1_score(test_labels, probe(test_features), average="macro")), 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="the source tool's dataset")
    parser.add_argument("--target", type=Path, nargs="+", required=True,
                        help="target tool datasets (each with its own Train split)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--c", type=float, default=0.01, help="inverse L2 strength")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "shift_probe.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    source_probe = fit_probe(features_of(args.source, args.size), args.c)
    targets = {}
    for target in args.target:
        data = features_of(target, args.size)
        held_out = data[2] != "Train"
        own = macro_f1(fit_probe(data, args.c), data[0][held_out], data[1][held_out])
        shifted = macro_f1(source_probe, data[0][held_out], data[1][held_out])
        meta = json.loads((target / "dataset.json").read_text())
        targets[str(target)] = {
            "generator_version": meta.get("generator_version"), "tool": meta.get("tool"),
            "held_out_images": int(held_out.sum()), "target_to_target": own,
            "source_to_target": shifted, "gap_points": round(100 * (own - shifted), 1)}
        print(target, targets[str(target)], flush=True)
    write_record(args.out, {
        "benchmark": "frozen-feature probe of a tool shift (issue 19)",
        "when": utc_stamp(),
        "command": " ".join(["python", "benchmarks/bench_shift_probe.py", *sys.argv[1:]]),
        "source": str(args.source), "size": args.size, "c": args.c,
        "backbone": "efficientnet_lite0 (ImageNet, frozen), average and max pooled",
        "targets": targets,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine_facts(),
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
