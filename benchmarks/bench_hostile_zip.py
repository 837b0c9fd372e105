"""Benchmark of hostile zips at the two doors that read them: time and peak memory per door.

Run: ``.venv/bin/python benchmarks/bench_hostile_zip.py [--bundle models/default] [--note TEXT]``.

Builds under benchmarks/output/hostile_zip/ (git-ignored) a zip whose single member
decompresses to 4 GiB of zeros (streamed through deflate, about 18 MB on disk) and a zip of
100,000 empty members, then runs each through ``predict`` and through the Inspect page's upload
path, each in a fresh process (tests/memory_probe.py: TensorFlow imported before the baseline;
peak = VmHWM after minus VmRSS before). Without ``--bundle`` an untrained 32-px bundle is built
(weights do not matter: no member of these archives reaches a model). Records the rows by kind,
seconds and MiB above baseline to benchmarks/results/hostile_zip.json. With
``--before CHECKOUT`` (a worktree of an older commit) the 4 GiB bomb also goes through that
checkout's ``predict``, for comparison (the probe is copied into its tests/ folder).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from record import machine_facts, utc_stamp, write_record

OUTPUT = ROOT / "benchmarks" / "output" / "hostile_zip"
RESULT = ROOT / "benchmarks" / "results" / "hostile_zip.json"
PROBE = ROOT / "tests" / "memory_probe.py"


def _inputs(bundle: Path | None) -> dict[str, Path]:
    from archive_fixtures import write_many_empty, write_zero_bomb

    OUTPUT.mkdir(parents=True, exist_ok=True)
    bomb, many = OUTPUT / "bomb_4gib.zip", OUTPUT / "many_100000_empty.zip"
    if not bomb.exists():
        write_zero_bomb(bomb)
    if not many.exists():
        write_many_empty(many)
    if bundle is None:
        from bundle_fixtures import make_untrained_bundle

        bundle = OUTPUT / "untrained_bundle"
        if not bundle.exists():
            make_untrained_bundle(bundle)
    return {"bundle": bundle, "bomb": bomb, "many": many}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="bundle folder (default: an untrained 32-px one)")
    parser.add_argument("--note", default="", help="free text stored with the record")
    parser.add_argument("--before", type=Path, help="checkout of an older commit to compare")
    args = parser.parse_args()
    inputs = _inputs(args.bundle)
    before = None
    if args.before:
        probe = args.before / "tests" / PROBE.name
        shutil.copyfile(PROBE, probe)
        work = OUTPUT / "work_before"
        shutil.rmtree(work, ignore_errors=True)
        completed = subprocess.run([sys.executable, str(probe), "predict", str(inputs["bundle"]),
                                    str(inputs["bomb"]), str(work)], capture_output=True,
                                   text=True, check=True, cwd=args.before)
        commit = subprocess.run(["git", "-C", str(args.before), "rev-parse", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        before = {"commit": commit, **json.loads(completed.stdout.strip().splitlines()[-1])}
        print("before:", before)
    runs = []
    for archive in ("bomb", "many"):
        for door in ("predict", "inspect"):
            work = OUTPUT / f"work_{door}_{archive}"
            shutil.rmtree(work, ignore_errors=True)
            completed = subprocess.run([sys.executable, str(PROBE), door, str(inputs["bundle"]),
                                        str(inputs[archive]), str(work)], capture_output=True,
                                       text=True, check=True, cwd=ROOT)
            runs.append(json.loads(completed.stdout.strip().splitlines()[-1]))
            print(runs[-1])
    write_record(RESULT, {
        "benchmark": "hostile zips through predict and the Inspect upload path: rows by kind, "
                     "seconds, peak resident memory above the baseline (fresh process each)",
        "note": args.note, "command": " ".join(["python", *sys.argv]), "recorded": utc_stamp(),
        "archives": {"bomb": {"file": inputs["bomb"].name, "bytes": inputs["bomb"].stat().st_size,
                              "member_bytes": 4 << 30},
                     "many": {"file": inputs["many"].name, "bytes": inputs["many"].stat().st_size,
                              "members": 100_000}},
        "bundle": str(inputs["bundle"]), "runs": runs, "before": before,
        "machine": machine_facts()})


if __name__ == "__main__":
    main()
