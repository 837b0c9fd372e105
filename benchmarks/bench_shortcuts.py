"""Shortcut audit (spec C6.2, C6.3) of the generator: probe accuracy and KS p-values, recorded.

Renders ``--per-class`` images of every class (test split), reduces each to global statistics
(``sem_core.data.synth.audit``) and records the cross-validated accuracy of a logistic-regression
probe (chance is 12.5 %) and the smallest KS p-value per statistic (Bonferroni level 0.01 / 24)
to benchmarks/results/shortcuts_<difficulty>_<size>.json.

Run: ``.venv/bin/python benchmarks/bench_shortcuts.py --seed 8802 --per-class 100 --size 224``
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.record import machine_facts, utc_stamp, write_record  # noqa: E402
from sem_core.data.synth import GENERATOR_VERSION, SynthConfig, generate_sample  # noqa: E402
from sem_core.data.synth.audit import global_features, ks_pvalues, shortcut_probe  # noqa: E402


def features_of(config: SynthConfig, seed: int, idx: int) -> np.ndarray:
    """Global statistics of test image ``idx`` (as presented: what a model would see)."""
    return global_features(generate_sample(config, seed, 2, idx).image)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True, help="master seed")
    parser.add_argument("--per-class", type=int, default=100, help="images per class (default 100)")
    parser.add_argument("--size", type=int, default=224, help="image side in px (default 224)")
    parser.add_argument("--difficulty", choices=("standard", "hard"), default="standard",
                        help="difficulty preset (default standard)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    args = parser.parse_args(argv)
    config = SynthConfig(size=args.size, difficulty=args.difficulty)
    indices = list(range(8 * args.per_class))
    start = time.perf_counter()
    with get_context("fork").Pool(args.workers) as pool:
        features = np.array(pool.map(partial(features_of, config, args.seed), indices, chunksize=8))
    labels = np.array(indices) % 8
    accuracy = shortcut_probe(features, labels)
    pvalues = ks_pvalues(features, labels)
    tests = sum(len(values) for values in pvalues.values())
    smallest = {name: min(values) for name, values in pvalues.items()}
    record = {
        "benchmark": "shortcut probe and KS tests on global statistics (spec C6.2, C6.3)",
        "generator_version": GENERATOR_VERSION,
        "difficulty": args.difficulty,
        "seed": args.seed,
        "size": args.size,
        "per_class": args.per_class,
        "probe_accuracy": round(accuracy, 4),
        "chance": 0.125,
        "ks_smallest_pvalue": {name: round(p, 5) for name, p in smallest.items()},
        "ks_level": 0.01 / tests,
        "ks_all_pass": all(p > 0.01 / tests for p in smallest.values()),
        "seconds": round(time.perf_counter() - start, 1),
        "machine": machine_facts(),
        "utc": utc_stamp(),
    }
    print(f"probe accuracy {accuracy:.3f} (chance 0.125); smallest KS p {smallest} "
          f"(level {0.01 / tests:.5f})")
    write_record(ROOT / "benchmarks" / "results"
                 / f"shortcuts_{args.difficulty}_{args.size}.json", record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
