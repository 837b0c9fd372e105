"""Cascade benchmarks of a bundle: throughput vs stage-2-only, per-image latency, pointing game.

Usage (defaults: the shipped bundle and a fresh synthetic test set, seed 777, never used in training):
    .venv/bin/python benchmarks/bench_cascade.py [--bundle models/default] [--data DIR]
        [--per-class 100] [--out benchmarks/results/cascade.json]

What it measures, all in one process so ratios are side by side:
* throughput (images/s, models only, images pre-decoded) of the cascade and of a single-stage
  run that puts every image through both models (the DenseNet121 cost the cascade avoids), on
  folders with 0-95 % clean images; macro-F1 of both. The single-stage labels are the argmax of
  the 8-class probabilities [1 - p1, p1 * p2], so it uses stage 2 on every image;
* the ideal speed-up from the measured per-image cost of each stage: (c1 + c2) / (c1 + f c2), with
  f the fraction flagged by stage 1;
* per-image latency (batch of 1, median of repeats) of each stage and each explanation method;
* pointing game of each explanation method on up to 200 synthetic defect images with masks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from record import machine_facts, utc_stamp, write_record  # noqa: E402  (benchmarks/record.py)

from sem_core.classes import CLASSES, CLEAN  # noqa: E402
from sem_core.data.image_io import load_image  # noqa: E402
from sem_core.data.manifest import Manifest  # noqa: E402
from sem_core.inference import BundleExplainer, cascade_from_bundle  # noqa: E402
from sem_core.data.sources import ImageSource  # noqa: E402
from sem_core.metrics import score_classification  # noqa: E402
from sem_core.models.preprocessing import prepare_batch  # noqa: E402
from sem_core.registry import load_bundle  # noqa: E402

CLEAN_FRACTIONS = (0.0, 0.5, 0.8, 0.9, 0.95)


def make_test_set(out: Path, per_class: int, size: int, seed: int) -> tuple[Path, dict]:
    """The test set's manifest, generated with the project's own command when the folder has
    none, and a record of where it came from (the synth command, or the folder as found)."""
    command = ["python", "-m", "sem_core", "synth", "--out", str(out), "--per-class",
               str(per_class), "--size", str(size), "--seed", str(seed)]
    if not (out / "manifest.csv").is_file():
        subprocess.run([sys.executable, *command[1:], "--quiet"], check=True, cwd=ROOT)
        return out / "manifest.csv", {"command": " ".join(command), "generated": True}
    described = out / "dataset.json"
    origin: dict = {"folder": str(out), "generated": False}
    if described.is_file():  # a synth dataset: its own record of seed and configuration
        info = json.loads(described.read_text())
        origin.update({key: info[key] for key in ("generator_version", "seed", "per_class", "size",
                                                 "presentation", "ease") if key in info})
    return out / "manifest.csv", origin


def mixture(labels: np.ndarray, clean_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of all clean images plus defects (balanced over classes) for a clean fraction."""
    clean = np.flatnonzero(labels == CLEAN)
    defects = np.flatnonzero(labels != CLEAN)
    if clean_fraction <= 0.0:
        return defects
    n_defects = int(round(len(clean) * (1.0 - clean_fraction) / clean_fraction))
    chosen = rng.permutation(defects)[:n_defects]
    return np.sort(np.concatenate([clean, chosen]))


def timed_cascade(cascade, images: list[np.ndarray], repeats: int) -> tuple[float, list]:
    best = float("inf")
    results = []
    for _ in range(repeats):
        sources = [ImageSource(name=str(index), array=image) for index, image in enumerate(images)]
        started = time.perf_counter()
        results = list(cascade.run(sources))
        best = min(best, time.perf_counter() - started)
    return len(images) / best, results


def timed_single_stage(bundle, images: list[np.ndarray], batch_size: int, repeats: int):
    size = int(bundle.info.input_size)
    best = float("inf")
    labels: list[str] = []
    for _ in range(repeats):
        started = time.perf_counter()
        labels = []
        for start in range(0, len(images), batch_size):
            batch = prepare_batch(images[start:start + batch_size], size)
            p1 = np.asarray(bundle.stage1.predict_on_batch(batch)).reshape(-1)
            p2 = np.asarray(bundle.stage2.predict_on_batch(batch))
            eight = np.concatenate([(1.0 - p1)[:, None], p1[:, None] * p2], axis=1)
            labels.extend(CLASSES[index] for index in eight.argmax(axis=1))
        best = min(best, time.perf_counter() - started)
    return len(images) / best, labels


def latency(function, repeats: int) -> float:
    function()  # warm-up (compilation)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench-seed777")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=777)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pointing-images", type=int, default=200)
    parser.add_argument("--dilation", type=float, default=8.0,
                        help="defect-mask dilation in mask pixels for the pointing game")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cascade.json")
    parser.add_argument("--note", default="", help="free text stored with the results (e.g. a stand-in bundle)")
    args = parser.parse_args()

    bundle = load_bundle(args.bundle)
    size = int(bundle.info.input_size)
    manifest_path, origin = make_test_set(args.data, args.per_class, 224, args.seed)
    manifest = Manifest.read_csv(manifest_path)
    entries = list(manifest.entries)
    labels = np.array([entry.label for entry in entries])
    images = [load_image(manifest.resolve(entry)).pixels for entry in entries]
    rng = np.random.default_rng(0)
    cascade = cascade_from_bundle(bundle, batch_size=args.batch_size)
    timed_cascade(cascade, images[: args.batch_size], 1)  # compile both models once
    timed_single_stage(bundle, images[: args.batch_size], args.batch_size, 1)

    c1 = latency(lambda: bundle.stage1.predict_on_batch(prepare_batch(images[:16], size)), 5) / 16
    c2 = latency(lambda: bundle.stage2.predict_on_batch(prepare_batch(images[:16], size)), 5) / 16
    sweep = []
    for fraction in CLEAN_FRACTIONS:
        chosen = mixture(labels, fraction, rng)
        subset = [images[index] for index in chosen]
        truth = list(labels[chosen])
        cascade_rate, results = timed_cascade(cascade, subset, args.repeats)
        single_rate, single_labels = timed_single_stage(bundle, subset, args.batch_size, args.repeats)
        flagged = float(np.mean([result.stage1_decision == "Defective" for result in results]))
        cascade_f1 = score_classification(truth, [r.final_label for r in results], CLASSES).macro_f1
        single_f1 = score_classification(truth, single_labels, CLASSES).macro_f1
        sweep.append({
            "clean_fraction": fraction, "n_images": len(subset), "flagged_fraction": flagged,
            "cascade_images_per_s": cascade_rate, "single_stage_images_per_s": single_rate,
            "speedup": cascade_rate / single_rate,
            "ideal_speedup": (c1 + c2) / (c1 + flagged * c2),
            "cascade_macro_f1": cascade_f1, "single_stage_macro_f1": single_f1,
        })
        print(json.dumps(sweep[-1]), flush=True)

    explainer = BundleExplainer(bundle)
    image = images[int(np.flatnonzero(labels != CLEAN)[0])]
    latencies = {
        "stage1_ms_batch1": 1000 * latency(lambda: bundle.stage1.predict_on_batch(prepare_batch([image], size)), 20),
        "stage2_ms_batch1": 1000 * latency(lambda: bundle.stage2.predict_on_batch(prepare_batch([image], size)), 20),
        "stage1_ms_per_image_batch16": 1000 * c1, "stage2_ms_per_image_batch16": 1000 * c2,
    }
    for method in ("gradcam", "gradcampp", "scorecam", "layercam"):
        for stage in (1, 2):
            latencies[f"{method}_stage{stage}_s"] = latency(
                lambda: explainer.explain(image, stage=stage, method=method), 5)
    print(json.dumps(latencies), flush=True)

    defect_rows = [index for index, entry in enumerate(entries)
                   if entry.label != CLEAN and entry.extras.get("mask")][: args.pointing_images]
    pointing = {}
    from sem_core.explain import pointing_game

    masks = [load_image(Path(manifest.root) / entries[index].extras["mask"]).pixels > 0.5
             for index in defect_rows]
    for method in ("gradcam", "gradcampp", "scorecam", "layercam"):
        for stage in (1, 2):
            maps = []
            for index in defect_rows:
                class_name = "Defective" if stage == 1 else entries[index].label
                maps.append(explainer.explain(images[index], stage=stage, method=method,
                                              class_name=class_name))
            result = pointing_game(maps, masks, dilation_px=args.dilation)
            pointing[f"{method}_stage{stage}"] = {
                "hits": result.hits, "total": result.total, "rate": result.rate,
                "low": result.proportion.low, "high": result.proportion.high,
                "dilation_px": args.dilation}
            print(method, stage, pointing[f"{method}_stage{stage}"], flush=True)

    record = {
        "note": args.note,
        "command": " ".join(["python", *sys.argv]),
        "bundle": str(args.bundle), "bundle_name": bundle.info.name, "input_size": size,
        "data": {**origin, "n_images": len(entries)},
        "batch_size": args.batch_size, "sweep": sweep, "latency": latencies,
        "pointing_game": pointing,
        "machine": machine_facts(),
        "recorded": utc_stamp(),
    }
    write_record(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
