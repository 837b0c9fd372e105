"""Benchmark of the synthetic SEM generator, end to end (render, encode, write, link, manifest).

Run: ``.venv/bin/python benchmarks/bench_synth.py [--per-class 25] [--size 224] [--workers 2]``.
Writes the dataset under benchmarks/output/ (git-ignored) and records images/s, a per-stage
breakdown (ms per image, measured in this process on a sample) and machine facts for both
difficulty presets side by side (standard over hard is the cost of the visibility contract),
including the load average before and after (other work on the machine slows the figure
down), to benchmarks/results/synth.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import scipy  # noqa: E402

from sem_core.data.synth import (  # noqa: E402
    GENERATOR_VERSION,
    SynthConfig,
    formats,  # noqa: E402
)
from sem_core.data.synth.sample import generate_sample  # noqa: E402
from sem_core.data.synth.sidecar import StageTimer  # noqa: E402
from sem_core.data.synth.writer import write_dataset  # noqa: E402


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its reaped children (the pool workers)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def stage_breakdown(size: int, count: int, seed: int, difficulty: str = "standard") -> dict:
    """Mean wall and CPU ms per image of every pipeline stage plus encoding, in this process.

    CPU time hardly depends on other load on the machine, so it is the figure to compare
    between runs; wall time is what a user waits.
    """
    config = SynthConfig(size=size, difficulty=difficulty)
    generate_sample(config, seed, 2, 0)  # warm-up: imports, the Gamma quantile table
    record = {"images": count}
    for clock in ("wall", "cpu"):
        timer = StageTimer(cpu=clock == "cpu")
        start = time.process_time() if clock == "cpu" else time.perf_counter()
        for idx in range(count):
            sample = generate_sample(config, seed, 2, idx, timer=timer)
            with timer.stage("encode"):
                formats.encode_image(sample.image, sample.presentation)
        end = time.process_time() if clock == "cpu" else time.perf_counter()
        record[f"{clock}_ms_per_image_single_process"] = round((end - start) * 1000.0 / count, 2)
        record[f"{clock}_stages_ms"] = {
            name: round(value, 2) for name, value in timer.mean_ms().items()
        }
    return record


def _run(args: argparse.Namespace, difficulty: str) -> dict:
    """One end-to-end ``write_dataset`` run of a preset, with its stage breakdown."""
    out = Path(args.out) / difficulty
    if out.exists():
        shutil.rmtree(out)
    load_before = os.getloadavg()
    cpu_before = _cpu_seconds()
    result = write_dataset(
        out, args.per_class, size=args.size, seed=args.seed, workers=args.workers,
        progress=False, difficulty=difficulty,
    )
    cpu_used = _cpu_seconds() - cpu_before
    return {
        "images": result.images,
        "seconds": round(result.seconds, 2),
        "images_per_second": round(result.images / result.seconds, 2),
        "end_to_end_cpu_seconds": round(cpu_used, 2),
        "end_to_end_cpu_ms_per_image": round(1000.0 * cpu_used / result.images, 2),
        "projected_images_per_second_idle": round(args.workers * result.images / cpu_used, 1),
        "load_average_before": [round(v, 2) for v in load_before],
        "stage_breakdown": stage_breakdown(
            args.size, args.stage_images, args.seed + 1, difficulty
        ),
    }


def main() -> int:
    """Run the benchmark and write the JSON record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=25)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stage-images", type=int, default=48)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "output" / "synth"))
    parser.add_argument("--result", default=str(ROOT / "benchmarks" / "results" / "synth.json"))
    args = parser.parse_args()

    runs = {difficulty: _run(args, difficulty) for difficulty in ("standard", "hard")}
    standard, hard = runs["standard"], runs["hard"]
    record = {
        "benchmark": "write_dataset end to end (render, presentation, encode, write, links, "
        "masks, sidecars, manifest), both difficulty presets in one run",
        "generator_version": GENERATOR_VERSION,
        "size": args.size,
        "workers": args.workers,
        "target_images_per_second": 20.0,
        "images_per_second": standard["images_per_second"],
        "projected_images_per_second_idle": standard["projected_images_per_second_idle"],
        "standard": standard,
        "hard": hard,
        "standard_over_hard_wall": round(
            standard["images_per_second"] / hard["images_per_second"], 3
        ),
        "standard_over_hard_cpu": round(
            hard["end_to_end_cpu_ms_per_image"] / standard["end_to_end_cpu_ms_per_image"], 3
        ),
        "projection_note": (
            "workers x images / CPU seconds consumed by the whole write_dataset run (workers "
            "and parent, disk writes included): what the same run reaches on idle cores; under "
            "load CPU time itself inflates (shared caches, SMT), so this is conservative"
        ),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
        },
        "command": "python benchmarks/bench_synth.py " + " ".join(sys.argv[1:]),
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    Path(args.result).parent.mkdir(parents=True, exist_ok=True)
    Path(args.result).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
