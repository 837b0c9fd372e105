"""Shortcut audit (spec C6.2, C6.3) of the generator: probe accuracy and KS p-values, recorded.

Renders ``--per-class`` images of every class (test split), reduces each to global statistics
(``sem_core.data.synth.audit``) and records the cross-validated accuracy of a logistic-regression
probe (chance is 12.5 %) and the smallest KS p-value per statistic (Bonferroni level 0.01 / 24)
with the class it belongs to, for each ``--seed``, to
benchmarks/results/shortcuts_<difficulty>_<size>.json. A generator that meets C6.2 fails the KS
tests on about one seed in a hundred, so give several unseen seeds. Beside each seed's figures
the same probe and tests run on the images' clean twins (``twin_*``: the same scene, imaging,
tone and noise with the defect left out, labelled with their image's class), which separates
what the nuisances tell about the class from what the defect's own pixels do.

Run: ``.venv/bin/python benchmarks/bench_shortcuts.py --seed 8802 8803 8804 --per-class 100``
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
from sem_core.classes import CLASSES  # noqa: E402
from sem_core.data.synth import (GENERATOR_VERSION, SynthConfig, generate_clean_twin,  # noqa: E402
                                 generate_sample)
from sem_core.data.synth.audit import global_features, ks_pvalues, shortcut_probe  # noqa: E402


def features_of(config: SynthConfig, seed: int, idx: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Global statistics of test image ``idx`` and of its clean twin (as presented: what a model
    would see); None where the scene has no host for the class's defect (``synth`` leaves such
    images out)."""
    try:
        return (global_features(generate_sample(config, seed, 2, idx).image),
                global_features(generate_clean_twin(config, seed, 2, idx).image))
    except RuntimeError as error:
        if "No host" not in str(error):
            raise
        return None


def audit(config: SynthConfig, seed: int, per_class: int, workers: int) -> dict:
    """Probe accuracy and the smallest KS p-value per statistic on one seed's test images."""
    indices = list(range(8 * per_class))
    start = time.perf_counter()
    with get_context("fork").Pool(workers) as pool:
        rows = pool.map(partial(features_of, config, seed), indices, chunksize=8)
    kept = [(i, row) for i, row in zip(indices, rows) if row is not None]
    labels = np.array([i for i, _ in kept]) % 8
    images = _statistics(np.array([row[0] for _, row in kept]), labels)
    twins = _statistics(np.array([row[1] for _, row in kept]), labels)
    return {
        "seed": seed,
        "images": len(kept),
        "no_host": len(indices) - len(kept),
        **images,
        **{f"twin_{key}": value for key, value in twins.items()},
        "seconds": round(time.perf_counter() - start, 1),
    }


def _statistics(features: np.ndarray, labels: np.ndarray) -> dict:
    """Probe accuracy, and the smallest KS p-value per statistic with its class."""
    pvalues = ks_pvalues(features, labels)
    tests = sum(len(values) for values in pvalues.values())
    smallest = {name: min(values) for name, values in pvalues.items()}
    return {
        "probe_accuracy": round(shortcut_probe(features, labels), 4),
        "ks_smallest_pvalue": {name: round(p, 6) for name, p in smallest.items()},
        "ks_smallest_class": {name: CLASSES[int(np.argmin(values))]
                              for name, values in pvalues.items()},
        "ks_level": 0.01 / tests,
        "ks_all_pass": all(p > 0.01 / tests for p in smallest.values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, nargs="+", required=True,
                        help="master seed(s); several give the share of seeds that pass")
    parser.add_argument("--per-class", type=int, default=100, help="images per class (default 100)")
    parser.add_argument("--size", type=int, default=224, help="image side in px (default 224)")
    parser.add_argument("--difficulty", choices=("standard", "hard"), default="standard",
                        help="difficulty preset (default standard)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    args = parser.parse_args(argv)
    config = SynthConfig(size=args.size, difficulty=args.difficulty)
    runs = []
    for seed in args.seed:
        run = audit(config, seed, args.per_class, args.workers)
        runs.append(run)
        print(f"seed {seed}: probe accuracy {run['probe_accuracy']:.3f} (chance 0.125); "
              f"smallest KS p {run['ks_smallest_pvalue']} in {run['ks_smallest_class']} "
              f"(level {run['ks_level']:.5f}): {'pass' if run['ks_all_pass'] else 'FAIL'}; "
              f"clean twins: probe {run['twin_probe_accuracy']:.3f}, KS "
              f"{'pass' if run['twin_ks_all_pass'] else 'FAIL'}")
    record = {
        "benchmark": "shortcut probe and KS tests on global statistics (spec C6.2, C6.3)",
        "generator_version": GENERATOR_VERSION,
        "difficulty": args.difficulty,
        "size": args.size,
        "per_class": args.per_class,
        "chance": 0.125,
        "seeds": runs,
        "ks_pass_share": round(float(np.mean([run["ks_all_pass"] for run in runs])), 4),
        "probe_accuracy_mean": round(float(np.mean([run["probe_accuracy"] for run in runs])), 4),
        "twin_ks_pass_share": round(float(np.mean([run["twin_ks_all_pass"] for run in runs])), 4),
        "twin_probe_accuracy_mean": round(
            float(np.mean([run["twin_probe_accuracy"] for run in runs])), 4),
        "machine": machine_facts(),
        "utc": utc_stamp(),
    }
    print(f"KS tests pass on {sum(run['ks_all_pass'] for run in runs)} of {len(runs)} seeds; "
          f"mean probe accuracy {record['probe_accuracy_mean']:.3f}; on the clean twins "
          f"{sum(run['twin_ks_all_pass'] for run in runs)} of {len(runs)} and "
          f"{record['twin_probe_accuracy_mean']:.3f}")
    write_record(ROOT / "benchmarks" / "results"
                 / f"shortcuts_{args.difficulty}_{args.size}.json", record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
