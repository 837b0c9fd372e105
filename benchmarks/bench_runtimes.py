"""Speed of each stage model in Keras, ONNX Runtime and LiteRT, float32 and int8, side by side.

For each input size and model (the stage-1 CNN, DenseNet121 and EfficientNet-Lite0 stage-2
classifiers, random weights: speed does not depend on them), the model is converted with the
project's own converter (``sem_core.deploy.convert``; int8 calibrated on 32 random images) and
every variant is timed in one process: per-image latency at batch 1 and throughput at batch 16.
Rounds alternate between the variants, so load from other users of the shared machine falls on
all of them alike; each figure is the median over rounds. The DenseNet121 goal is checked
against the 34 ms floor of its 5.7 GFLOP at 224 px on two cores (issue 20).

    .venv/bin/python benchmarks/bench_runtimes.py --sizes 128 224 \
        --out benchmarks/results/runtimes.json
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.record import machine_facts, utc_stamp, write_record

MODELS = ("stage1_cnn", "densenet121", "efficientnet_lite0")
VARIANTS = (("keras", None), ("onnx", "float32"), ("onnx", "int8"),
            ("litert", "float32"), ("litert", "int8"))
FLOOR_MS = 34.0  # DenseNet121 at 224 px: 5.7 GFLOP on 2 cores (issue 20)
GOAL_RATIO = 1.3


def build(name: str, size: int):
    import keras

    from sem_core.models import build_stage1, build_stage2

    keras.utils.set_random_seed(0)
    return build_stage1(size) if name == "stage1_cnn" else build_stage2(size, name)


def predictors(model, folder: Path, calibration: np.ndarray) -> tuple[dict, dict]:
    """Each variant's predictor and the seconds its conversion took."""
    from sem_core.deploy.convert import convert_model
    from sem_core.deploy.options import ExportFormat, Precision
    from sem_core.deploy.runtimes import load_predictor
    from sem_core.inference import model_predictor

    found, seconds = {"keras": model_predictor(model)}, {}
    for runtime, precision in VARIANTS[1:]:
        export_format = ExportFormat(runtime)
        path = folder / f"{model.name}-{precision}{export_format.suffix}"
        started = time.perf_counter()
        convert_model(model, path, export_format, Precision(precision), calibration)
        seconds[f"{runtime}_{precision}"] = round(time.perf_counter() - started, 1)
        found[f"{runtime}_{precision}"] = load_predictor(path)
    return found, seconds


def timed(functions: dict, batch: np.ndarray, rounds: int) -> dict[str, float]:
    """Median milliseconds per image of each function on ``batch``, rounds interleaved."""
    for function in functions.values():
        function(batch)  # warm-up: tracing, memory planning, XNNPACK packing
    samples: dict[str, list[float]] = {key: [] for key in functions}
    for _ in range(rounds):
        for key, function in functions.items():
            started = time.perf_counter()
            function(batch)
            samples[key].append(1000.0 * (time.perf_counter() - started) / len(batch))
    return {key: float(np.median(values)) for key, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 224])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds at batch 1")
    parser.add_argument("--batch-rounds", type=int, default=5, help="timed rounds at batch 16")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/runtimes.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            calibration = rng.random((32, size, size, 1), dtype=np.float32)
            single, batch = calibration[:1], calibration[:16]
            for name in args.models:
                model = build(name, size)
                functions, conversion_s = predictors(model, Path(scratch), calibration)
                reference = functions["keras"](batch)
                latency = timed(functions, single, args.rounds)
                per_image = timed(functions, batch, args.batch_rounds)
                for key, function in functions.items():
                    rows.append({
                        "model": name, "image_size": size, "variant": key,
                        "latency_ms_batch1": round(latency[key], 2),
                        "images_per_second_batch16": round(1000.0 / per_image[key], 1),
                        "speedup_batch1_vs_keras": round(latency["keras"] / latency[key], 2),
                        "speedup_batch16_vs_keras": round(per_image["keras"] / per_image[key], 2),
                        "max_abs_difference_vs_keras": float(np.abs(
                            np.asarray(function(batch)) - reference).max()),
                        "conversion_s": conversion_s.get(key)})
                    print(rows[-1], flush=True)
    record = {"command": " ".join(["python", *sys.argv]), "rows": rows,
              "densenet121_224_goal": goal(rows), "machine": machine_facts(),
              "recorded": utc_stamp()}
    write_record(args.out, record)
    return 0


def goal(rows: list[dict]) -> dict[str, object]:
    """DenseNet121 at 224 px: the best float32 and int8 batch-1 latency against the floor."""
    chosen = [row for row in rows if row["model"] == "densenet121" and row["image_size"] == 224]
    if not chosen:
        return {}
    summary: dict[str, object] = {"floor_ms": FLOOR_MS, "goal_ms": FLOOR_MS * GOAL_RATIO}
    for precision in ("float32", "int8"):
        best = min((row for row in chosen if row["variant"].endswith(precision)
                    or (precision == "float32" and row["variant"] == "keras")),
                   key=lambda row: row["latency_ms_batch1"])
        summary[precision] = {"variant": best["variant"], "latency_ms": best["latency_ms_batch1"],
                              "ratio_to_floor": round(best["latency_ms_batch1"] / FLOOR_MS, 2),
                              "met": best["latency_ms_batch1"] <= FLOOR_MS * GOAL_RATIO}
    return summary


if __name__ == "__main__":
    sys.exit(main())
