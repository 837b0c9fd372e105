"""Which features should the shift warning compare? (issue 19) On bench_shift's cached bundles.

For each A bundle a run of ``bench_shift.py`` left (``--pair SEED:TAG``, e.g. ``17101:473c7ec3``
for ``bundle-a-17101-473c7ec3`` with data seeds 17101 (train A) and 17103 / 17104 (test A / B)),
the script embeds 2,000 of A's Train images (seeded draw), all of A's Validation images and both
test sets once with ``sem_core.shift_features`` and fits a reference on column subsets of those
features:

- ``pooled_one_block``: both stages' pooled features as one block (the references before blocks);
- ``stage2_pooled``: stage 2's pooled features only;
- ``stage2_sixteenth``: stage 2's middle-depth block at 1/16 of the input only;
- ``blocks_equal``: all blocks, each weighed equally (what ``shift-reference`` writes now).

Each is judged on three shuffles of each test set into batches of 32: false alarms on A, detections
on B, and the margin (smallest B distance over the threshold).

Usage:
    python benchmarks/bench_shift_blocks.py --pair 16001:ace6abcd --pair 17001:dea36507
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import machine_facts, utc_stamp, write_record

REFERENCE_IMAGES = 2000
SHUFFLES = (1, 2, 3)


def variants(blocks: tuple[tuple[str, int], ...]) -> dict[str, tuple[list[int], tuple | None]]:
    """name -> (columns, blocks of those columns or None for one block)."""
    starts, end = {}, 0
    for name, width in blocks:
        starts[name] = (end, end + width)
        end += width
    columns = {name: list(range(*span)) for name, span in starts.items()}
    pooled = columns["stage1"] + columns["stage2"]
    sixteenth = [name for name, _ in blocks if name.startswith("stage2:")][-1:]
    chosen = {"pooled_one_block": (pooled, None), "stage2_pooled": (columns["stage2"], None),
              "blocks_equal": (list(range(end)), blocks)}
    if sixteenth:
        chosen["stage2_sixteenth"] = (columns[sixteenth[0]], None)
    return chosen


def judge(features, reference, batch_size: int = 32):
    """Distances of every full batch of three seeded shuffles of ``features``."""
    import numpy as np

    from sem_core.shift import batch_distance

    distances = []
    for seed in SHUFFLES:
        order = np.random.default_rng(seed).permutation(len(features))
        distances += [batch_distance(features[order[start:start + batch_size]], reference)
                      for start in range(0, len(order) - batch_size + 1, batch_size)]
    return np.array(distances)


def pair_record(work: Path, seed: int, tag: str) -> dict:
    import numpy as np

    from sem_core.deploy.gate_data import labelled_images
    from sem_core.registry import load_bundle
    from sem_core.shift import fit_shift_reference
    from sem_core.shift_features import shift_blocks, shift_features

    bundle_path = work / f"bundle-a-{seed}-{tag}"
    bundle = load_bundle(bundle_path)
    size = int(bundle.info.input_size)
    sets = {"train": (work / f"train-a-{seed}", "Train", REFERENCE_IMAGES),
            "validation": (work / f"train-a-{seed}", "Validation", None),
            "test_a": (work / f"test-a-{seed + 2}", "every", None),
            "test_b": (work / f"test-b-{seed + 3}", "every", None)}
    features = {name: shift_features(bundle, labelled_images(path, split, size, limit=limit,
                                                              seed=seed).images)
                for name, (path, split, limit) in sets.items()}
    blocks = shift_blocks(bundle)
    results = {}
    for name, (columns, sub_blocks) in variants(blocks).items():
        reference = fit_shift_reference(features["train"][:, columns],
                                        features["validation"][:, columns], blocks=sub_blocks)
        in_domain = judge(features["test_a"][:, columns], reference)
        shifted = judge(features["test_b"][:, columns], reference)
        results[name] = {
            "features": len(columns), "threshold": round(reference.threshold, 3),
            "false_alarm_rate": round(float(np.mean(in_domain > reference.threshold)), 4),
            "detection_rate": round(float(np.mean(shifted > reference.threshold)), 4),
            "in_domain_max": round(float(in_domain.max()), 3),
            "shifted_min": round(float(shifted.min()), 3),
            "shifted_median": round(float(np.median(shifted)), 3),
            "margin": round(float(shifted.min() / reference.threshold), 3),
            "batches_each": len(in_domain)}
        print(seed, name, results[name], flush=True)
    return {"bundle": str(bundle_path), "blocks": [list(block) for block in blocks],
            "images": {name: len(value) for name, value in features.items()},
            "variants": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", action="append", required=True,
                        help="SEED:TAG of a bench_shift run's A bundle (repeatable)")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "output" / "shift")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "shift_blocks.json")
    args = parser.parse_args()
    started = time.perf_counter()
    pairs = {}
    for pair in args.pair:
        seed, _, tag = pair.partition(":")
        pairs[pair] = pair_record(args.work, int(seed), tag)
    record = {"benchmark": "which features the shift warning compares (issue 19)",
              "when": utc_stamp(),
              "command": shlex.join(["python", "benchmarks/bench_shift_blocks.py",
                                     *sys.argv[1:]]),
              "pairs": pairs, "seconds": round(time.perf_counter() - started, 1),
              "machine": machine_facts()}
    write_record(args.out, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
