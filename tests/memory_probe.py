"""Run one door of the app or command line on one archive, in this process, and print as JSON
its rows by error kind, the seconds taken and the peak memory above the baseline.

Usage: ``python tests/memory_probe.py predict|inspect BUNDLE ARCHIVE WORK_DIR``. TensorFlow and
sem_core are imported before the baseline is read, so the figure is what the door itself costs:
the kernel's high-water mark of resident memory (VmHWM) after the door, minus the resident
memory (VmRSS) just before it. Used by tests/test_hostile_memory.py and
benchmarks/bench_hostile_zip.py.
"""

from __future__ import annotations

import collections
import csv
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` memory field in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def run_predict(bundle: Path, archive: Path, work: Path) -> collections.Counter:
    from sem_core.cli import main

    out = work / "predict.csv"
    code = main(["predict", "--bundle", str(bundle), "--input", str(archive), "--out", str(out)])
    if code != 0:
        raise SystemExit(f"predict exited with {code}")
    with open(out, newline="", encoding="utf-8") as handle:
        return collections.Counter(row["error_kind"] or "classified" for row in csv.DictReader(handle))


def run_inspect(bundle: Path, archive: Path, work: Path) -> collections.Counter:
    from sem_core.registry import load_bundle
    from ui import inspection, uploads

    session = uploads.SessionUploads(work / "uploads")
    stored = session.store(archive.name, archive.read_bytes())  # as Streamlit hands over an upload
    items = inspection.items_from_uploads([(archive.name, stored)])
    results = inspection.run_inspection(lambda: load_bundle(bundle), "probe", items, {})
    session.remove()
    return collections.Counter(result.error_kind or "classified" for result in results)


def main(door: str, bundle: str, archive: str, work: str) -> None:
    import keras  # noqa: F401  (in the baseline)

    import sem_core.inference  # noqa: F401
    import ui.inspection  # noqa: F401

    work_dir = Path(work)
    work_dir.mkdir(parents=True, exist_ok=True)
    baseline = status_kib("VmRSS")
    started = time.perf_counter()
    runner = {"predict": run_predict, "inspect": run_inspect}[door]
    rows = runner(Path(bundle), Path(archive), work_dir)
    seconds = time.perf_counter() - started
    peak = status_kib("VmHWM")
    print(json.dumps({"door": door, "archive": Path(archive).name, "rows": dict(rows),
                      "seconds": round(seconds, 2), "baseline_mib": round(baseline / 1024, 1),
                      "peak_mib": round(peak / 1024, 1),
                      "peak_above_baseline_mib": round((peak - baseline) / 1024, 1)}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
