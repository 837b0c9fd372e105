"""Visibility-contract statistics of the synthetic generator (spec C6.8), per class.

Renders ``--per-class`` images of every defect class (no files written) and records, per class,
the median and 5th percentile of d' and C-half, the share of images whose defect still fails
the contract after every try (``contract_met = false``, at most 1 % in ``standard``), the mean
number of tries and the visible defect area, to benchmarks/results/contract_<difficulty>.json.

Run: ``.venv/bin/python benchmarks/bench_contract.py --seed 8801 --per-class 200``
(use a seed never used before: the figures are only honest on unseen images).
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
from sem_core.classes import CLASSES, CLEAN  # noqa: E402
from sem_core.data.synth import GENERATOR_VERSION, SynthConfig  # noqa: E402
from sem_core.data.synth.presets import preset_for  # noqa: E402
from sem_core.data.synth.sample import generate_sample  # noqa: E402

DEFECT_CLASSES = [name for name in CLASSES if name != CLEAN]


def contract_row(config: SynthConfig, seed: int, idx: int) -> dict:
    """The contract fields and a few scene facts of image ``idx`` (train split); an image that
    fails to render counts as not met."""
    try:
        record = generate_sample(config, seed, 0, idx).sidecar.to_dict()
    except Exception as error:  # noqa: BLE001 - one image must not stop the statistics
        from sem_core.data.synth.streams import class_for_index

        return {"class": class_for_index(idx), "d_prime": 0.0, "c_half": 0.0, "tries": 0,
                "met": False, "area": 0, "view": "error", "subtype": str(error)[:80]}
    return {
        "class": record["label_true"],
        "d_prime": record["d_prime"],
        "c_half": record["c_half"],
        "tries": record["tries"],
        "met": record["contract_met"],
        "area": record["render"]["mask_pixels"],
        "view": record["scene"]["view"],
        "subtype": record["defect"]["subtype"],
    }


def summarise(rows: list[dict]) -> dict:
    """Per-class statistics of the contract rows."""
    out = {}
    for name in DEFECT_CLASSES:
        mine = [row for row in rows if row["class"] == name]
        d_prime = np.array([row["d_prime"] for row in mine])
        c_half = np.array([row["c_half"] for row in mine])
        failed = [row for row in mine if not row["met"]]
        out[name] = {
            "images": len(mine),
            "d_prime_median": round(float(np.median(d_prime)), 2),
            "d_prime_p5": round(float(np.percentile(d_prime, 5)), 2),
            "c_half_median": round(float(np.median(c_half)), 3),
            "c_half_p5": round(float(np.percentile(c_half, 5)), 3),
            "not_met_share": round(len(failed) / max(len(mine), 1), 4),
            "mean_tries": round(float(np.mean([row["tries"] for row in mine])), 3),
            "area_median_px": float(np.median([row["area"] for row in mine])),
            "area_p5_px": float(np.percentile([row["area"] for row in mine], 5)),
            "not_met_examples": [f"{row['view']}/{row['subtype']}" for row in failed[:5]],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True, help="master seed (use an unseen one)")
    parser.add_argument("--per-class", type=int, default=200, help="images per class (default 200)")
    parser.add_argument("--size", type=int, default=224, help="image side in px (default 224)")
    parser.add_argument("--difficulty", choices=("standard", "hard"), default="standard",
                        help="difficulty preset (default standard)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--record", type=Path, default=None,
                        help="result JSON (default benchmarks/results/contract_<difficulty>.json)")
    args = parser.parse_args(argv)
    config = SynthConfig(size=args.size, presentation=False, difficulty=args.difficulty)
    indices = [
        row + len(CLASSES) * column
        for column in range(args.per_class)
        for row in range(1, len(CLASSES))
    ]
    start = time.perf_counter()
    with get_context("fork").Pool(args.workers) as pool:
        rows = pool.map(partial(contract_row, config, args.seed), indices, chunksize=8)
    seconds = time.perf_counter() - start
    preset = preset_for(args.difficulty)
    per_class = summarise(rows)
    record = {
        "benchmark": "visibility contract statistics per defect class (spec C6.8)",
        "generator_version": GENERATOR_VERSION,
        "difficulty": args.difficulty,
        "thresholds": {"d_prime": preset.min_d_prime, "c_half": preset.min_c_half,
                       "area_px_at_224": preset.min_area},
        "seed": args.seed,
        "size": args.size,
        "per_class": args.per_class,
        "seconds": round(seconds, 1),
        "command": "python benchmarks/bench_contract.py " + " ".join(argv or sys.argv[1:]),
        "max_not_met_share": max(stats["not_met_share"] for stats in per_class.values()),
        "classes": per_class,
        "machine": machine_facts(),
        "utc": utc_stamp(),
    }
    for name, stats in per_class.items():
        print(f"{name:10s} d' median {stats['d_prime_median']:7.1f} p5 {stats['d_prime_p5']:6.1f}  "
              f"C-half median {stats['c_half_median']:5.2f} p5 {stats['c_half_p5']:5.2f}  "
              f"not met {100 * stats['not_met_share']:4.1f} %  tries {stats['mean_tries']:.2f}  "
              f"area p5 {stats['area_p5_px']:.0f}")
    path = args.record or ROOT / "benchmarks" / "results" / f"contract_{args.difficulty}.json"
    write_record(path, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
