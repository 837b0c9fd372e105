"""Where stage 1 loses its defects: its recall at the bundle's own threshold by class and by how far
each defect stands out of the noise (the visibility contract's C-half, from the synthetic
sidecars), and which Clean images pass it.

Usage:
    .venv/bin/python benchmarks/bench_faint_tail.py --bundle models/default --data D [D ...] \
        [--tag NAME] [--out benchmarks/results/faint_tail.json]

D are `sem_core synth` outputs (every split is scored; clean twins count as Clean images). The
record keeps, per class and per C-half bin, the defect images and those stage 1 passes on; the
overkill over Clean images; and each missed defect (class, kind, C-half, d', score) so a reader
can look at it.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import append_run  # noqa: E402
from sem_core.classes import CLEAN, STAGE2_CLASSES  # noqa: E402

C_HALF_BINS = (2.0, 3.0, 4.0, 6.0, 10.0, float("inf"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--data", type=Path, nargs="+", required=True)
    parser.add_argument("--tag", default="")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "faint_tail.json")
    args = parser.parse_args(argv)
    row = run(args.bundle, args.data)
    row["command"] = " ".join(["python", "benchmarks/bench_faint_tail.py", *sys.argv[1:]])
    print(json.dumps({k: v for k, v in row.items() if k != "missed"}, indent=1))
    append_run(args.out, args.tag or args.bundle.name, row)
    return 0


def read_images(folders: list[Path]) -> list[dict]:
    """Path, label and the sidecar's contract figures of every image of the synth outputs."""
    images = []
    for folder in folders:
        with open(folder / "manifest.csv", newline="") as handle:
            for entry in csv.DictReader(handle):
                sidecar = json.loads((folder / entry["sidecar"]).read_text())
                defect = sidecar.get("defect") or {}
                images.append({"path": str(folder / entry["path"]), "label": entry["label"],
                               "kind": defect.get("subtype", ""), "c_half": sidecar.get("c_half"),
                               "d_prime": sidecar.get("d_prime")})
    return images


def run(bundle: Path, folders: list[Path]) -> dict:
    from sem_core.inference import predict

    images = read_images(folders)
    results = predict(bundle, [image["path"] for image in images])
    failed = [result.source for result in results if not result.ok]
    if failed:
        raise SystemExit(f"{len(failed)} image(s) could not be scored, e.g. {failed[0]}")
    for image, result in zip(images, results):
        image["score"] = result.stage1_probability
        image["passed"] = result.stage1_decision != CLEAN
    defects = [image for image in images if image["label"] != CLEAN]
    clean = [image for image in images if image["label"] == CLEAN]
    by_class = {name: _recall([d for d in defects if d["label"] == name])
                for name in STAGE2_CLASSES}
    measured = [d for d in defects if d["c_half"] is not None]
    by_c_half = {f"{low:g}-{high:g}": _recall([d for d in measured if low <= d["c_half"] < high])
                 for low, high in zip(C_HALF_BINS[:-1], C_HALF_BINS[1:])}
    missed = sorted((d for d in defects if not d["passed"]), key=lambda d: d["c_half"] or 0.0)
    return {"bundle": str(bundle), "data": [str(folder) for folder in folders],
            "defects": _recall(defects), "by_class": by_class, "by_c_half": by_c_half,
            "clean_images": len(clean),
            "overkill": round(float(np.mean([c["passed"] for c in clean])), 4) if clean else None,
            "missed": [{key: (round(value, 3) if isinstance(value, float) else value)
                        for key, value in d.items() if key != "passed"} for d in missed]}


def _recall(defects: list[dict]) -> dict:
    passed = sum(d["passed"] for d in defects)
    return {"images": len(defects), "passed": passed,
            "recall": round(passed / len(defects), 4) if defects else None}


if __name__ == "__main__":
    raise SystemExit(main())
