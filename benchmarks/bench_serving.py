"""The cascade through `predict --runtime auto` against Keras, and the Ray engine against local.

Both measured with the real command (``python -m sem_core predict``) in fresh processes, runs
alternating so load from other users of the shared machine falls on both alike:

* cascade: a folder of ``--images`` test images of which ``--clean`` are clean (the rest spread
  over the seven defect classes), ``--runtime keras`` against ``--runtime auto`` on a bundle whose
  exports were made with ``python -m sem_core export`` (made here when missing). Wall time of
  the command (Python, TensorFlow or runtime start-up and model loading included) and the
  cascade's own time (the rows' decode/stage timings summed), and whether the labels agree;
* Ray: ``--engine ray`` against ``--engine local`` (both ``--runtime auto``) on every image of
  the test set and on ``--small`` of its images (every k-th, so the mix of classes is the same): wall time and images per second, start-up
  included, and the marginal throughput (extra images over extra seconds between the two sizes),
  which leaves out what each engine pays once per command (Ray's start and its actors' loading);
  and on a ``--large`` job (links cycling through the test set), a batch long enough that the
  start-up weighs as it does in the batch jobs Ray is for. From the two shorter jobs it also
  records each engine's start-up and the job size from which Ray keeps 70 % of the local
  throughput.

    .venv/bin/python benchmarks/bench_serving.py --bundle B --test-data DIR \
        --exports onnx:float32 litert:float32 --out benchmarks/results/serving.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.record import machine_facts, utc_stamp, write_record


def sem_core(*arguments: str) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``python -m sem_core ARGUMENTS``; its wall seconds and the finished process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sem_core", *arguments], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"sem_core {' '.join(arguments)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done


def ensure_exports(bundle: Path, exports: list[str]) -> list[dict]:
    """Export each ``format:precision`` not yet in the bundle; what each export recorded."""
    records = []
    for item in exports:
        export_format, precision = item.split(":")
        folder = bundle / "exports" / f"{export_format}-{precision}"
        outcome = {"export": folder.name, "command": f"python -m sem_core export --bundle {bundle} "
                                                     f"--format {export_format} --precision {precision}"}
        if not folder.exists():
            seconds, done = sem_core("export", "--bundle", str(bundle), "--format", export_format,
                                     "--precision", precision)
            outcome.update(seconds=round(seconds, 1), exit_code=done.returncode,
                           output=(done.stdout + done.stderr).strip().splitlines()[-8:])
        if folder.exists():
            record = json.loads((folder / "export.json").read_text())
            outcome.update(passed=True, speed=record["speed"], parity=record["parity"]["parts"])
        else:
            outcome["passed"] = False
        records.append(outcome)
        print(json.dumps(outcome), flush=True)
    return records


def mixture(test_data: Path, out: Path, images: int, clean: int, seed: int) -> Path:
    """A folder of links: ``clean`` clean images and the rest over the defect classes."""
    from sem_core.classes import CLEAN
    from sem_core.data.manifest import Manifest

    manifest = Manifest.read_csv(test_data / "manifest.csv")
    rng = np.random.default_rng(seed)
    entries = list(manifest.entries)
    clean_entries = [entry for entry in entries if entry.label == CLEAN]
    defects = [entry for entry in entries if entry.label != CLEAN]
    chosen = [clean_entries[index] for index in rng.permutation(len(clean_entries))[:clean]]
    by_class: dict[str, list] = {}
    for entry in defects:
        by_class.setdefault(entry.label, []).append(entry)
    classes = sorted(by_class)
    for number in range(images - clean):
        pool = by_class[classes[number % len(classes)]]
        chosen.append(pool[number // len(classes)])
    out.mkdir(parents=True)
    for number, entry in enumerate(chosen):
        source = manifest.resolve(entry)
        (out / f"{number:05d}_{entry.label}{source.suffix}").symlink_to(source.resolve())
    return out


def predict_runs(bundle: Path, inputs: Path, variants: dict[str, list[str]], repeats: int,
                 scratch: Path, label: str) -> dict[str, dict]:
    """Each variant's predict command ``repeats`` times, alternating; medians and last table."""
    timings: dict[str, list[float]] = {name: [] for name in variants}
    tables: dict[str, pd.DataFrame] = {}
    lines: dict[str, str] = {}
    for repeat in range(repeats):
        for name, extra in variants.items():
            out = scratch / f"{label}-{name}-{repeat}.csv"
            seconds, done = sem_core("predict", "--bundle", str(bundle), "--input", str(inputs),
                                     "--out", str(out), *extra)
            timings[name].append(seconds)
            tables[name] = pd.read_csv(out)
            lines[name] = done.stdout.strip().splitlines()[-1]
    results = {}
    for name, table in tables.items():
        cascade_ms = table[[c for c in ("decode_ms", "stage1_ms", "stage2_ms") if c in table]]
        results[name] = {
            "wall_s": round(float(np.median(timings[name])), 2),
            "wall_s_runs": [round(value, 2) for value in timings[name]],
            "images": len(table), "images_per_second": round(len(table) / np.median(timings[name]), 1),
            # Per-image timings are per batch / images, so their sum is the cascade's own time.
            "cascade_s": round(float(cascade_ms.fillna(0).to_numpy().sum() / 1000.0), 2),
            "flagged_fraction": round(float((table["stage1_decision"] == "Defective").mean()), 3),
            "summary": lines[name]}
    return results, tables


def repeated(test_data: Path, out: Path, images: int) -> Path:
    """A folder of ``images`` links that cycle through the test set (a longer batch job of the
    same images: each engine's per-image work is the same, its start-up weighs less)."""
    from sem_core.data.manifest import Manifest

    manifest = Manifest.read_csv(test_data / "manifest.csv")
    entries = list(manifest.entries)
    out.mkdir(parents=True)
    for number in range(images):
        source = manifest.resolve(entries[number % len(entries)])
        (out / f"{number:06d}{source.suffix}").symlink_to(source.resolve())
    return out


def job_size_for_ratio(startup: dict[str, float], marginal: dict[str, float],
                       ratio: float) -> int | None:
    """Images from which Ray's throughput stays at least ``ratio`` of the local engine's.

    Each engine's wall time is modelled as its start-up plus images over its marginal
    throughput; None when Ray's marginal throughput is below ``ratio`` of the local one (no job
    is long enough)."""
    per_image = 1.0 / (ratio * marginal["local"]) - 1.0 / marginal["ray"]
    if per_image <= 0:
        return None
    return max(0, math.ceil((startup["ray"] - startup["local"] / ratio) / per_image))


def ray_against_local(args: argparse.Namespace, scratch: Path) -> dict[str, object]:
    """Both engines on the whole test set, on ``--small`` of its images and on a ``--large``
    job that cycles through it, alternating."""
    from sem_core.data.manifest import Manifest

    everything = args.test_data / "manifest.csv"
    manifest = Manifest.read_csv(everything)
    small = scratch / "small.csv"
    step = max(1, len(manifest.entries) // args.small)  # every step-th image: the same mix
    manifest.with_entries(manifest.entries[::step][:args.small]).write_csv(small)
    engines = {"local": ["--runtime", "auto"], "ray": ["--runtime", "auto", "--engine", "ray"]}
    runs = {}
    jobs = [("small", small), ("all", everything)]
    if args.large:
        jobs.append(("large", repeated(args.test_data, scratch / "large", args.large)))
    for size, inputs in jobs:
        runs[size], job_tables = predict_runs(args.bundle, inputs, engines, args.repeats, scratch,
                                              f"ray-{size}")
        if size == "all":
            tables = job_tables
    same = [column for column in tables["local"] if not column.endswith("_ms")]
    marginal = {engine: (runs["all"][engine]["images"] - runs["small"][engine]["images"])
                / (runs["all"][engine]["wall_s"] - runs["small"][engine]["wall_s"])
                for engine in engines}
    startup = {engine: runs["small"][engine]["wall_s"] - runs["small"][engine]["images"]
               / marginal[engine] for engine in engines}
    large = {} if not args.large else {"ray_over_local_throughput_large": round(
        runs["large"]["ray"]["images_per_second"] / runs["large"]["local"]["images_per_second"], 2)}
    return {**runs, "comparison": {
        "ray_over_local_throughput": round(runs["all"]["ray"]["images_per_second"]
                                           / runs["all"]["local"]["images_per_second"], 2),
        **large,
        "marginal_images_per_second": {key: round(value, 1) for key, value in marginal.items()},
        "ray_over_local_marginal_throughput": round(marginal["ray"] / marginal["local"], 2),
        # what each command pays once (start-up, model loading; Ray: its start, the actors'
        # start and its shutdown), and the job from which Ray keeps 70 % of the local throughput
        "startup_s": {key: round(value, 2) for key, value in startup.items()},
        "images_for_ratio_0.70": job_size_for_ratio(startup, marginal, 0.70),
        "labels_identical": bool((tables["ray"]["final_label"] == tables["local"]["final_label"]).all()),
        "same_rows": bool(np.allclose(tables["ray"][same].select_dtypes("number"),
                                      tables["local"][same].select_dtypes("number"),
                                      atol=1e-6, equal_nan=True)
                          and tables["ray"][same].select_dtypes(exclude="number").equals(
                              tables["local"][same].select_dtypes(exclude="number")))}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--test-data", type=Path, required=True, help="folder with manifest.csv")
    parser.add_argument("--exports", nargs="*", default=["onnx:float32", "litert:float32"])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--clean", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--small", type=int, default=320,
                        help="images of the small Ray/local run (for the marginal throughput)")
    parser.add_argument("--large", type=int, default=12800,
                        help="images of a longer Ray/local job cycling through the test set "
                             "(0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/serving.json")
    args = parser.parse_args()
    exports = ensure_exports(args.bundle, args.exports)
    record: dict[str, object] = {"command": " ".join(["python", *sys.argv]),
                                 "bundle": str(args.bundle), "exports": exports}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        folder = mixture(args.test_data, scratch / "mixture", args.images, args.clean, args.seed)
        cascade, tables = predict_runs(args.bundle, folder, {
            "keras": ["--runtime", "keras"], "auto": ["--runtime", "auto"]}, args.repeats, scratch,
            "cascade")
        keras_labels, auto_labels = tables["keras"]["final_label"], tables["auto"]["final_label"]
        probabilities = [c for c in tables["keras"] if c.startswith("prob_")]
        cascade["comparison"] = {
            "wall_speedup": round(cascade["keras"]["wall_s"] / cascade["auto"]["wall_s"], 2),
            "cascade_speedup": round(cascade["keras"]["cascade_s"] / cascade["auto"]["cascade_s"], 2),
            "identical_labels": bool((keras_labels == auto_labels).all()),
            "label_agreement": round(float((keras_labels == auto_labels).mean()), 4),
            "max_abs_probability_difference": float(np.abs(
                tables["keras"][probabilities] - tables["auto"][probabilities]).to_numpy().max())}
        record["cascade"] = {"images": args.images, "clean": args.clean, **cascade}
        print(json.dumps(record["cascade"]), flush=True)
        if not args.skip_ray:
            record["ray"] = ray_against_local(args, scratch)
            print(json.dumps(record["ray"]), flush=True)
    record.update(machine=machine_facts(), recorded=utc_stamp())
    write_record(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
