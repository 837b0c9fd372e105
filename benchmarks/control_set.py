"""An easy control dataset: grey stripes with one class-shaped mark per defect image.

A small CNN learns it in minutes, so it shows whether the machinery around a model (review
queue, retraining, cascade speed-up, Grad-CAM pointing) works when the model has learned its
classes. It is not SEM data and says nothing about the synthetic SEM generator.

    .venv/bin/python benchmarks/control_set.py --out DIR --per-class 100 --size 96 --seed 777

Writes PNG images in ``Split/Class/`` folders, a defect mask per defect image under ``masks/``
and ``manifest.csv`` (path, label, split, label_true, mask). Training labels are flipped with
probability ``--noise`` (symmetric); ``label_true`` says which were.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from sem_core.classes import CLASSES


def control_image(label_index: int, size: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 image, bool mark mask): grey stripes with noise; each defect class adds its own
    shape (bright or dark square, disc, ring, cross), which flips, turns and small zooms do not
    confuse. Clean images have an empty mask."""
    period = int(rng.integers(5, 11))
    phase = int(rng.integers(0, period))
    bands = 0.35 + 0.15 * (((np.arange(size) + phase) // max(period // 2, 1)) % 2)
    image = np.tile(bands, (size, 1))
    image = image.T if rng.random() < 0.5 else image
    image = image + rng.normal(0.0, 0.04, (size, size))
    mask = np.zeros((size, size), bool)
    if label_index:
        radius = size * rng.uniform(0.12, 0.16)
        centre = rng.uniform(radius + 2, size - radius - 2, size=2)
        rows, columns = np.ogrid[:size, :size]
        distance = np.hypot(rows - centre[0], columns - centre[1])
        box = np.maximum(abs(rows - centre[0]), abs(columns - centre[1]))
        cross = np.minimum(abs(rows - centre[0]), abs(columns - centre[1]))
        shapes = {1: (box <= radius, 0.95), 2: ((cross <= 1.2) & (box <= radius), 0.05),
                  3: (distance <= radius, 0.05), 4: (distance <= radius, 0.95),
                  5: ((distance <= radius) & (distance >= radius - 2.5), 0.95),
                  6: ((cross <= 1.2) & (box <= radius), 0.95),
                  7: ((box <= radius) & (box >= radius - 2.5), 0.05)}
        mask, value = shapes[label_index]
        image[mask] = value
    return (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8), mask


def write_control_set(folder: Path, per_class: int, size: int, noise: float, seed: int) -> Path:
    """Write the control set into ``folder`` (reused when its manifest exists); its manifest."""
    manifest = folder / "manifest.csv"
    if manifest.is_file():
        return manifest
    rng = np.random.default_rng(seed)
    counts = {"Train": round(per_class * 0.7), "Validation": round(per_class * 0.15)}
    counts["Test"] = per_class - counts["Train"] - counts["Validation"]
    rows = []
    for split, count in counts.items():
        for index, label in enumerate(CLASSES):
            for number in range(count):
                path = Path(split) / label / f"{label}_{number:04d}.png"
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                image, mask = control_image(index, size, rng)
                Image.fromarray(image).save(folder / path)
                mask_path = ""
                if mask.any():
                    mask_path = (Path("masks") / path).as_posix()
                    (folder / mask_path).parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(mask.astype(np.uint8) * 255).save(folder / mask_path)
                given = label
                if split == "Train" and rng.random() < noise:
                    given = CLASSES[(index + int(rng.integers(1, len(CLASSES)))) % len(CLASSES)]
                rows.append({"path": path.as_posix(), "label": given, "split": split,
                             "label_true": label, "mask": mask_path})
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "split", "label_true", "mask"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    manifest = write_control_set(args.out, args.per_class, args.size, args.noise, args.seed)
    print(f"control set: {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
