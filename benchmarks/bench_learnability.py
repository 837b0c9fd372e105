"""Learnability of the synthetic data by the product's own training (spec C6.9), both presets.

For each difficulty preset, renders ``--per-class`` images per class at 224 px (a seed of its
own; the same seed for both presets, so the scenes are the same), trains a bundle with
``python -m sem_core train`` at ``--image-size`` within ``--max-minutes`` (both stages, from
scratch), and records the validation figures the training reports (stage-2 and end-to-end
macro-F1, stage-1 recall and overkill) with the wall time, to
benchmarks/results/learnability_v2.json. The bar for ``standard``: validation macro-F1 >= 0.6
within 10 minutes at 96 px with 150 images per class.

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

from benchmarks.record import machine_facts, utc_stamp, write_record  # noqa: E402

BAR = 0.6


def run(command: list[str]) -> float:
    """Run a command (output streamed), fail loudly, return its wall seconds."""
    print("+", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True, help="data seed (use an unseen one)")
    parser.add_argument("--per-class", type=int, default=150, help="images per class (default 150)")
    parser.add_argument("--image-size", type=int, default=96, help="training input (default 96)")
    parser.add_argument("--max-minutes", type=float, default=10.0,
                        help="training budget, both stages (default 10)")
    parser.add_argument("--backbone", default="densenet121", help="stage-2 backbone")
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
        if bundle.exists():
            shutil.rmtree(bundle)
        seconds = run([python, "-m", "sem_core", "train", "--data", str(data), "--out",
                       str(bundle), "--image-size", str(args.image_size), "--backbone",
                       args.backbone, "--epochs", "60", "--stage1-epochs", "20", "--patience",
                       "8", "--augment", "light", "--seed", "0", "--max-minutes",
                       f"{args.max_minutes:g}"])
        metrics = json.loads((bundle / "bundle.json").read_text()).get("metrics", {})
        results[difficulty] = {"train_seconds": round(seconds, 1), "validation": metrics}
        print(difficulty, json.dumps(metrics, indent=1)[:800], flush=True)
    record = {
        "benchmark": "learnability of the synthetic data by `sem_core train` (spec C6.9)",
        "seed": args.seed,
        "per_class": args.per_class,
        "image_size": args.image_size,
        "max_minutes": args.max_minutes,
        "backbone": args.backbone,
        "bar": {"standard_validation_macro_f1": BAR},
        "results": results,
        "command": "python benchmarks/bench_learnability.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_facts(),
        "utc": utc_stamp(),
    }
    write_record(ROOT / "benchmarks" / "results" / "learnability_v2.json", record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
