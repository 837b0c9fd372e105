"""Benchmark of ``python -m sem_core predict`` on large folders with bad files: peak memory and speed.

Run: ``.venv/bin/python benchmarks/bench_predict_memory.py [--bundle models/default]
[--sizes 500 1000 2500 5000] [--note TEXT]``.

Builds once (cached under benchmarks/output/predict_memory/, git-ignored) a pool of distinct
224-px PNGs: a few hundred synthetic renders, each written as many lightly varied copies (dihedral
flip/rotation, a small crop resized back, faint noise) so no two files share a sha256. For each
size it hard-links the first N pool images into a folder, adds the same bad files (zero-byte
.png, text renamed .png, truncated PNG, a .txt file and an empty folder named x.png), runs
``predict`` as a child process, samples the resident memory of the child and its descendants
every 0.2 s, takes the kernel's peak (``ru_maxrss``) when it exits, and checks the exit code and
that the CSV holds one row per file with an error on exactly the bad ones. Records everything,
with a ``flat`` verdict (peak at the largest size minus peak at the smallest), to
benchmarks/results/predict_memory.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sem_core.data.synth import GENERATOR_VERSION, SynthConfig, generate_sample  # noqa: E402

POOL_VERSION = 1  # bump when the way pool images are made changes, so the cache is rebuilt
SAMPLE_SECONDS = 0.2
TIMELINE_POINTS = 60
TEXT_BYTES = b"This is a text file, not an image.\n"
BAD_FILES = ("empty.png", "text_renamed.png", "truncated.png", "notes.txt")
BAD_FOLDER = "x.png"  # a folder with an image extension: must be walked, not read as an image
MIB = 1024.0 * 1024.0


def vary(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A lightly varied copy of a uint8 image: dihedral transform, small crop resized back, noise."""
    image = np.rot90(base, k=int(rng.integers(4)))
    if rng.random() < 0.5:
        image = image[:, ::-1]
    size = image.shape[0]
    margin = int(rng.integers(0, max(size // 14, 1) + 1))
    top, left = (int(value) for value in rng.integers(0, margin + 1, size=2))
    crop = image[top:top + size - margin, left:left + size - margin]
    resized = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize(
        (size, size), Image.Resampling.BILINEAR), dtype=np.float32)
    noisy = resized + rng.normal(0.0, 2.0, size=resized.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def build_pool(pool: Path, count: int, bases: int, size: int, seed: int) -> dict:
    """Write ``count`` distinct PNGs to ``pool`` unless a matching pool is cached there.

    Returns:
        The pool's metadata (also kept in ``pool/meta.json``), with generation seconds.
    """
    key = {"pool_version": POOL_VERSION, "generator": GENERATOR_VERSION, "images": count,
           "base_renders": bases, "size_px": size, "seed": seed}
    meta_file = pool / "meta.json"
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        if {name: meta.get(name) for name in key} == key:
            return {**meta, "cached": True}
    shutil.rmtree(pool, ignore_errors=True)
    pool.mkdir(parents=True)
    start = time.perf_counter()
    config = SynthConfig(size=size, presentation=False)
    renders = [generate_sample(config, seed, 2, index).image for index in range(bases)]
    render_seconds = time.perf_counter() - start
    digests = set()
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        path = pool / f"img_{index:05d}.png"
        Image.fromarray(vary(renders[index % bases], rng)).save(path, compress_level=1)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    if len(digests) != count:
        raise RuntimeError(f"{pool}: only {len(digests)} of {count} pool images are distinct.")
    meta = {**key, "distinct_sha256": len(digests), "render_seconds": round(render_seconds, 1),
            "total_seconds": round(time.perf_counter() - start, 1)}
    meta_file.write_text(json.dumps(meta, indent=2) + "\n")
    return {**meta, "cached": False}


def build_folder(pool: Path, folder: Path, count: int) -> list[str]:
    """Hard-link the first ``count`` pool images into ``folder`` and add the bad files.

    Returns:
        The names of every regular file in the folder (what ``predict`` must report on).
    """
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    names = [f"img_{index:05d}.png" for index in range(count)]
    for name in names:
        os.link(pool / name, folder / name)
    good_png = (pool / names[0]).read_bytes()
    (folder / "empty.png").write_bytes(b"")
    (folder / "text_renamed.png").write_bytes(TEXT_BYTES)
    (folder / "truncated.png").write_bytes(good_png[: len(good_png) // 2])
    (folder / "notes.txt").write_bytes(TEXT_BYTES)
    (folder / BAD_FOLDER).mkdir()
    return names + list(BAD_FILES)


def _parent_ids() -> dict[int, int]:
    """pid -> parent pid for every process (this kernel has no /proc/<pid>/task/*/children)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, in bytes (0 once it is gone)."""
    parents = _parent_ids()
    tree, frontier = {pid}, [pid]
    while frontier:
        current = frontier.pop()
        children = [child for child, parent in parents.items() if parent == current]
        tree.update(children)
        frontier.extend(children)
    total = 0
    for member in tree:
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def run_predict(bundle: Path, folder: Path, out_csv: Path, log: Path) -> dict:
    """Run ``predict`` as a child, sampling its memory until it exits; return the measurements."""
    out_csv.unlink(missing_ok=True)
    command = [sys.executable, "-m", "sem_core", "predict", "--bundle", str(bundle),
               "--input", str(folder), "--out", str(out_csv)]
    timeline = []
    with log.open("wb") as log_handle:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, stdout=log_handle, stderr=subprocess.STDOUT)
        while True:
            timeline.append((time.perf_counter() - start, tree_rss_bytes(child.pid)))
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid == child.pid:
                break
            time.sleep(SAMPLE_SECONDS)
        seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait
    step = max(1, len(timeline) // TIMELINE_POINTS)
    return {
        "command": " ".join(command[1:]).replace(str(ROOT) + "/", ""),
        "exit_code": child.returncode,
        "wall_seconds": round(seconds, 2),
        "peak_rss_mib": round(usage.ru_maxrss * 1024 / MIB, 1),  # ru_maxrss is KiB on Linux
        "sampled_peak_rss_mib_incl_children": round(max(rss for _, rss in timeline) / MIB, 1),
        "samples": len(timeline),
        # a zombie awaiting its reaping reads 0; those samples say nothing about memory
        "rss_timeline_s_mib": [[round(t, 1), round(rss / MIB, 1)] for t, rss in timeline[::step] if rss],
    }


def check_table(out_csv: Path, files: list[str]) -> dict:
    """Assert one row per file, an error on every bad file and on no good one; return counts."""
    import pandas as pd

    frame = pd.read_csv(out_csv)
    names = [Path(source).name for source in frame["source"]]
    if sorted(names) != sorted(files):
        missing, extra = sorted(set(files) - set(names)), sorted(set(names) - set(files))
        raise AssertionError(f"{out_csv}: {len(frame)} rows for {len(files)} files; "
                             f"missing {missing[:5]}, extra {extra[:5]}.")
    failed = frame["error"].notna()
    bad = frame[[name in BAD_FILES for name in names]]
    if not bad["error"].notna().all():
        silent = bad[bad["error"].isna()]["source"].tolist()
        raise AssertionError(f"{out_csv}: bad files without an error: {silent}.")
    if int(failed.sum()) != len(BAD_FILES):
        raise AssertionError(f"{out_csv}: {int(failed.sum())} error rows, expected {len(BAD_FILES)}: "
                             f"{frame[failed]['source'].tolist()[:10]}.")
    return {
        "rows": len(frame),
        "error_rows": int(failed.sum()),
        "stage2_rows": int((frame["stage1_decision"] == "Defective").sum()),
        "bad_files": {Path(row.source).name: {"kind": row.error_kind, "error": row.error}
                      for row in bad.itertuples()},
    }


def bundle_facts(bundle: Path) -> dict:
    """Path, input size, stage architectures and size on disk of a bundle."""
    info = json.loads((bundle / "bundle.json").read_text())
    disk = sum(path.stat().st_size for path in bundle.iterdir() if path.is_file())
    return {"path": str(bundle), "input_size": info["input_size"],
            "stage1_architecture": info["stage1"]["architecture"],
            "stage2_architecture": info["stage2"]["architecture"],
            "stage1_threshold": info["stage1_threshold"], "megabytes_on_disk": round(disk / MIB, 1)}


def resolve_bundle(argument: str | None) -> Path:
    """The bundle to use: ``--bundle``, else models/default; exits with a message when missing."""
    bundle = Path(argument) if argument else ROOT / "models" / "default"
    if not (bundle / "bundle.json").is_file():
        hint = "" if argument else " (no --bundle given, and models/default is not there)"
        raise SystemExit(f"error: {bundle}: not a model bundle, bundle.json missing{hint}; "
                         "pass --bundle PATH to a folder written by `python -m sem_core train`.")
    return bundle.resolve()


def machine_facts() -> dict:
    """CPU, cores and library versions."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    versions = {}
    for package in ("tensorflow-cpu", "tensorflow", "keras", "numpy", "pillow", "pandas"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "packages": versions}


def main() -> int:
    """Build the folders, run predict on each size and write the JSON record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", help="model bundle folder (default models/default)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2500, 5000])
    parser.add_argument("--base-renders", type=int, default=200)
    parser.add_argument("--size", type=int, default=224, help="image side in px (default 224)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="free text kept in the record")
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / "output" / "predict_memory"))
    parser.add_argument("--result", default=str(ROOT / "benchmarks" / "results" / "predict_memory.json"))
    args = parser.parse_args()

    bundle = resolve_bundle(args.bundle)
    sizes = sorted(set(args.sizes))
    work = Path(args.work)
    pool = build_pool(work / "pool", sizes[-1], args.base_renders, args.size, args.seed)
    print(f"pool: {pool['images']} images ({'cached' if pool['cached'] else 'built'})", flush=True)
    load_before = os.getloadavg()
    runs = {}
    for count in sizes:
        folder = work / "folders" / f"n{count:05d}"
        files = build_folder(work / "pool", folder, count)
        out_csv = work / "results" / f"n{count:05d}.csv"
        out_csv.parent.mkdir(parents=True, exist_ok=True)
        run = run_predict(bundle, folder, out_csv, out_csv.with_suffix(".log"))
        if run["exit_code"] != 0:
            raise AssertionError(f"predict exited {run['exit_code']} on {folder}; "
                                 f"see {out_csv.with_suffix('.log')}.")
        table = check_table(out_csv, files)
        run.update(images=count, files=len(files), **table,
                   images_per_second=round(count / run["wall_seconds"], 1))
        runs[str(count)] = run
        print(f"{count} images: peak {run['peak_rss_mib']} MiB, {run['wall_seconds']} s, "
              f"{run['images_per_second']} img/s, {table['rows']} rows, "
              f"{table['error_rows']} errors", flush=True)
    load_after = os.getloadavg()
    small, large = runs[str(sizes[0])], runs[str(sizes[-1])]
    marginal = (large["images"] - small["images"]) / max(large["wall_seconds"] - small["wall_seconds"], 1e-9)
    record = {
        "benchmark": "python -m sem_core predict on a folder of distinct 224-px PNGs plus bad files: "
                     "peak RSS of the child process per folder size, wall time, images/s",
        "note": args.note,
        "command": "python benchmarks/bench_predict_memory.py " + " ".join(sys.argv[1:]),
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "bundle": bundle_facts(bundle),
        "images": {key: pool[key] for key in ("images", "size_px", "base_renders", "distinct_sha256",
                                                "generator", "seed", "cached")}
                  | {"generation_seconds": pool.get("total_seconds"), "bad_files": list(BAD_FILES),
                     "bad_folder": BAD_FOLDER},
        "runs": runs,
        "flat": {
            "peak_rss_growth_mib": round(large["peak_rss_mib"] - small["peak_rss_mib"], 1),
            "peak_rss_ratio": round(large["peak_rss_mib"] / small["peak_rss_mib"], 3),
            "from_images": small["images"], "to_images": large["images"],
        },
        "marginal_images_per_second": round(marginal, 1),
        "marginal_note": "(images at the largest size - at the smallest) / (difference in wall "
                         "time): throughput without the fixed start-up (imports, model loading)",
        "machine": machine_facts() | {"load_average_before": [round(v, 2) for v in load_before],
                                      "load_average_after": [round(v, 2) for v in load_after]},
    }
    Path(args.result).parent.mkdir(parents=True, exist_ok=True)
    Path(args.result).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({key: record[key] for key in ("flat", "marginal_images_per_second")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
