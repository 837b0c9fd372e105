"""A human baseline: classify synthetic SEM images by eye, without their labels, and score it.

If a careful observer cannot tell the classes apart on a test set, no single-image classifier
can be expected to either, whatever its compute. This measures that ceiling.

    # 1. numbered sheets (no labels on them) and a separate answer key
    python benchmarks/blind_review.py sheets --data /tmp/s777 --out /tmp/blind --per-class 8
    # 2. look at /tmp/blind/sheet-*.png and write guesses.csv with columns number,guess
    #    (guess is a class name; write it before opening key.csv)
    # 3. score the guesses
    python benchmarks/blind_review.py score --out /tmp/blind --guesses guesses.csv \
        --record benchmarks/results/blind_review.json

`sheets --classes Clean Other --c-half 2 3` reviews a part: here Clean images beside Other
defects whose visibility-contract C-half is in [2, 3) (is the faint tail visible by eye at all?).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.record import machine_facts, utc_stamp, write_record
from sem_core.classes import CLASSES, CLEAN
from sem_core.data.image_io import load_image
from sem_core.metrics.confusion import score_classification

TILE = 224
COLUMNS = 4
ROWS = 4
CAPTION = 18


def choose(manifest: Path, per_class: int, seed: int, classes: tuple[str, ...] = CLASSES,
           c_half: tuple[float, float] | None = None) -> list[dict[str, str]]:
    """``per_class`` rows of each of ``classes`` from a synth manifest, in a seeded random order;
    with ``c_half`` (low, high), only defects whose sidecar C-half (visibility contract) is in
    [low, high)."""
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if c_half is not None:
        rows = [row for row in rows if row["label_true"] == CLEAN
                or c_half[0] <= _c_half(manifest.parent / row["sidecar"]) < c_half[1]]
    rng = np.random.default_rng(seed)
    chosen: list[dict[str, str]] = []
    for name in classes:
        of_class = [row for row in rows if row["label_true"] == name]
        if len(of_class) < per_class:
            raise SystemExit(f"{manifest}: only {len(of_class)} images of {name}, "
                             f"{per_class} asked for")
        picks = rng.choice(len(of_class), size=per_class, replace=False)
        chosen.extend(of_class[int(index)] for index in picks)
    order = rng.permutation(len(chosen))
    return [chosen[int(index)] for index in order]


def _c_half(sidecar: Path) -> float:
    value = json.loads(sidecar.read_text()).get("c_half")
    return float("inf") if value is None else float(value)


def tile(path: Path) -> Image.Image:
    """The image as an 8-bit grey tile of TILE x TILE."""
    pixels = load_image(path).pixels
    grey = Image.fromarray(np.clip(pixels * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return grey.resize((TILE, TILE), Image.Resampling.LANCZOS) if grey.size != (TILE, TILE) else grey


def write_sheets(data: Path, out: Path, per_class: int, seed: int, zoom: int = 1,
                 classes: tuple[str, ...] = CLASSES,
                 c_half: tuple[float, float] | None = None) -> int:
    """Numbered sheets of unlabelled images under ``out`` and the key in ``out/key.csv``.

    ``zoom`` enlarges each image that many times (nearest neighbour, so no pixel is invented)
    and puts ``COLUMNS // zoom`` of them a row, so a sheet keeps its width.
    """
    out.mkdir(parents=True, exist_ok=True)
    if (out / "key.csv").exists():
        raise SystemExit(f"{out / 'key.csv'} exists: choose another --out (guesses may refer to it)")
    rows = choose(data / "manifest.csv", per_class, seed, classes, c_half)
    columns, lines, side = max(COLUMNS // zoom, 1), max(ROWS // zoom, 1), TILE * zoom
    per_sheet = columns * lines
    for first in range(0, len(rows), per_sheet):
        batch = rows[first:first + per_sheet]
        sheet = Image.new("L", (columns * side, lines * (side + CAPTION)), 32)
        draw = ImageDraw.Draw(sheet)
        for offset, row in enumerate(batch):
            x, y = (offset % columns) * side, (offset // columns) * (side + CAPTION)
            image = tile(data / row["path"])
            if zoom > 1:
                image = image.resize((side, side), Image.Resampling.NEAREST)
            sheet.paste(image, (x, y))
            draw.text((x + 4, y + side + 3), f"#{first + offset + 1}", fill=230)
        sheet.save(out / f"sheet-{first // per_sheet + 1:02d}.png")
    with (out / "key.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", "label", "hard", "path"])
        for number, row in enumerate(rows, start=1):
            writer.writerow([number, row["label_true"], row["hard"], row["path"]])
    return len(rows)


def score(out: Path, guesses: Path) -> dict[str, object]:
    """Accuracy, macro-F1, per-class recall and screening rates of the guesses against the key."""
    with (out / "key.csv").open(newline="") as handle:
        key = {int(row["number"]): row for row in csv.DictReader(handle)}
    with guesses.open(newline="") as handle:
        guessed = {int(row["number"]): row["guess"].strip() for row in csv.DictReader(handle)}
    missing = sorted(set(key) - set(guessed))
    if missing:
        raise SystemExit(f"{guesses}: no guess for numbers {missing[:10]}")
    unknown = sorted({g for g in guessed.values() if g not in CLASSES})
    if unknown:
        raise SystemExit(f"{guesses}: unknown class names {unknown}; use one of {list(CLASSES)}")
    numbers = sorted(key)
    truth = [key[n]["label"] for n in numbers]
    guess = [guessed[n] for n in numbers]
    scores = score_classification(truth, guess, CLASSES)
    defective = np.array([t != CLEAN for t in truth])
    flagged = np.array([g != CLEAN for g in guess])
    hard = np.array([key[n]["hard"] == "1" for n in numbers])
    correct = np.array([t == g for t, g in zip(truth, guess)])
    return {
        "n_images": len(numbers),
        "accuracy": float(correct.mean()),
        "macro_f1": float(scores.macro_f1),
        "per_class": {name: s.to_dict() for name, s in scores.per_class.items()},
        "defect_recall": float(flagged[defective].mean()),
        "overkill": float(flagged[~defective].mean()),
        "hard_accuracy": float(correct[hard].mean()) if hard.any() else None,
        "confusion_matrix": scores.confusion.to_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sheets = commands.add_parser("sheets", help="write numbered, unlabelled sheets and a key")
    sheets.add_argument("--data", type=Path, required=True, help="a 'sem_core synth' output folder")
    sheets.add_argument("--out", type=Path, required=True)
    sheets.add_argument("--per-class", type=int, default=8)
    sheets.add_argument("--seed", type=int, default=0, help="which images and their order")
    sheets.add_argument("--zoom", type=int, default=1,
                        help="enlarge each image this many times (default 1)")
    sheets.add_argument("--classes", nargs="+", choices=CLASSES, default=list(CLASSES),
                        help="review only these classes (default: all eight)")
    sheets.add_argument("--c-half", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                        help="only defects whose contract C-half is in [LOW, HIGH)")
    scoring = commands.add_parser("score", help="score guesses.csv (number,guess) against the key")
    scoring.add_argument("--out", type=Path, required=True, help="the folder of 'sheets'")
    scoring.add_argument("--guesses", type=Path, required=True)
    scoring.add_argument("--record", type=Path, help="append the result to this JSON record")
    scoring.add_argument("--what", default="", help="a line saying what was reviewed, for the record")
    args = parser.parse_args(argv)
    if args.command == "sheets":
        count = write_sheets(args.data, args.out, args.per_class, args.seed, args.zoom,
                             tuple(args.classes), None if args.c_half is None else tuple(args.c_half))
        print(f"{count} images on sheets in {args.out}; the key is {args.out / 'key.csv'}")
        return 0
    result = score(args.out, args.guesses)
    print({k: v for k, v in result.items() if k not in ("confusion_matrix", "per_class")})
    if args.record:

        runs = json.loads(args.record.read_text())["runs"] if args.record.exists() else []
        runs.append({"when": utc_stamp(), "what": args.what, "sheets": str(args.out), **result})
        write_record(args.record, {"machine": machine_facts(), "runs": runs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
