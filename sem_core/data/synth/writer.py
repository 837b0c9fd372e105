"""Write a synthetic dataset in the Kaggle layout, with masks, sidecars and a manifest.

``out_dir/master_dataset/{Train,Validation,Test}/{Class}/<stem><ext>`` holds the files;
``stage1_binary_dataset`` (Clean / Defective) and ``stage2_multiclass_dataset`` (7 defect
classes) hold hard links to them (copies where links fail). Sidecars and masks live under
``out_dir/annotations/{split}/`` so that no dataset reader mistakes a mask for an image, and
``out_dir/manifest.csv`` lists every file. Images are rendered by a process pool in chunks; the
output does not depend on the number of workers.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image

from sem_core.classes import CLASSES, CLEAN, stage1_label
from sem_core.data.synth.config import (
    GENERATOR_VERSION,
    Difficulty,
    LabelNoiseMode,
    SynthConfig,
)
from sem_core.data.synth.tools import presents
from sem_core.data.vocabulary import DEFAULT_SPLIT_FRACTIONS, MANIFEST_COLUMNS, SPLITS, KaggleView
from sem_core.errors import DatasetError

EXTRA_COLUMNS: tuple[str, ...] = ("label_true", "hard", "sidecar", "mask")
OWNED_ENTRIES: tuple[str, ...] = (
    KaggleView.MASTER.value,
    KaggleView.STAGE1.value,
    KaggleView.STAGE2.value,
    "annotations",
    "manifest.csv",
    "dataset.json",
)
SOURCE = "synthetic"
TWIN_SUFFIX = "_twin"
"""Stem suffix of a clean twin written by ``write_dataset(clean_twins=True)``."""


@dataclass(frozen=True)
class WriteResult:
    """What ``write_dataset`` wrote."""

    out_dir: Path
    manifest: Path
    images: int
    per_split: dict
    seconds: float
    failures: tuple[str, ...] = ()


def split_counts(per_class: int) -> tuple[int, int, int]:
    """Images per class in Train, Validation and Test (70/15/15, rounding to Test)."""
    train = round(per_class * DEFAULT_SPLIT_FRACTIONS[0])
    validation = round(per_class * DEFAULT_SPLIT_FRACTIONS[1])
    return train, validation, per_class - train - validation


def _prepare(out_dir: Path, overwrite: bool) -> None:
    """Refuse a non-empty folder unless ``overwrite``; then remove only what we write."""
    if out_dir.exists() and not out_dir.is_dir():
        raise DatasetError(f"{out_dir}: exists and is not a folder.")
    existing = sorted(p.name for p in out_dir.iterdir()) if out_dir.exists() else []
    if existing and not overwrite:
        raise DatasetError(
            f"{out_dir}: folder is not empty ({', '.join(existing[:5])}...); "
            "choose an empty folder or pass --overwrite."
        )
    for name in OWNED_ENTRIES:
        path = out_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for split in SPLITS:
        for label in CLASSES:
            (out_dir / KaggleView.MASTER.value / split / label).mkdir(parents=True, exist_ok=True)
            if label != CLEAN:
                (out_dir / KaggleView.STAGE2.value / split / label).mkdir(
                    parents=True, exist_ok=True
                )
        for label in ("Clean", "Defective"):
            (out_dir / KaggleView.STAGE1.value / split / label).mkdir(parents=True, exist_ok=True)
        (out_dir / "annotations" / split).mkdir(parents=True, exist_ok=True)


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _mask_png(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_one(out_dir: Path, config: SynthConfig, seed: int, task: tuple[int, int],
              clean_twins: bool = False) -> list[dict]:
    """Render and write one image (and its clean twin, see ``write_dataset``).

    Returns:
        Its manifest rows, or ``[{"error": message}]``: a failing image never stops the batch,
        its seeds and the error are reported instead.
    """
    try:
        return _write_one(out_dir, config, seed, task, clean_twins)
    except Exception as error:  # noqa: BLE001 - one image must not stop a dataset
        split_id, idx = task
        return [{
            "error": f"seed {seed}, split {split_id}, idx {idx}: {type(error).__name__}: {error}"
        }]


def _write_one(out_dir: Path, config: SynthConfig, seed: int, task: tuple[int, int],
               clean_twins: bool) -> list[dict]:
    from sem_core.data.synth.sample import TRAIN_SPLIT_ID, generate_clean_twin, generate_sample

    split_id, idx = task
    sample = generate_sample(config, seed, split_id, idx)
    stem = f"syn{seed}_{split_id}_{idx:06d}"
    rows = [_write_sample(out_dir, sample, split_id, stem, sample.sidecar.label_observed,
                          sample.sidecar.label_true, {})]
    if clean_twins and split_id == TRAIN_SPLIT_ID and sample.sidecar.label_true != CLEAN:
        twin = generate_clean_twin(config, seed, split_id, idx)
        rows.append(_write_sample(out_dir, twin, split_id, stem + TWIN_SUFFIX, CLEAN, CLEAN,
                                  {"twin_of": rows[0]["path"]}))
    return rows


def _write_sample(out_dir: Path, sample, split_id: int, stem: str, label: str, label_true: str,
                  extra: dict) -> dict:
    """Write one rendered sample as ``label``; returns its manifest row."""
    from sem_core.data.synth import formats

    split = SPLITS[split_id]
    data, extension = formats.encode_image(sample.image, sample.presentation)
    relative = Path(KaggleView.MASTER.value) / split / label / f"{stem}{extension}"
    (out_dir / relative).write_bytes(data)
    _link(
        out_dir / relative,
        out_dir / KaggleView.STAGE1.value / split / stage1_label(label) / relative.name,
    )
    if label != CLEAN:
        _link(out_dir / relative, out_dir / KaggleView.STAGE2.value / split / label / relative.name)
    annotations = Path("annotations") / split
    mask_path, sidecar_path = annotations / f"{stem}_mask.png", annotations / f"{stem}.json"
    (out_dir / mask_path).write_bytes(_mask_png(sample.mask))
    record = {**sample.sidecar.to_dict(), "label_true": label_true, "label_observed": label,
              "file": relative.as_posix(), "mask": mask_path.as_posix(), **extra}
    (out_dir / sidecar_path).write_text(json.dumps(record, indent=1))
    return {
        "path": relative.as_posix(),
        "label": label,
        "split": split,
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": SOURCE,
        "label_true": label_true,
        "hard": int(sample.sidecar.hard),
        "sidecar": sidecar_path.as_posix(),
        "mask": mask_path.as_posix(),
    }


def write_dataset(
    out_dir: str | Path,
    per_class: int,
    size: int = 224,
    seed: int = 0,
    workers: int | None = None,
    label_noise: float = 0.0,
    label_noise_mode: LabelNoiseMode | str = LabelNoiseMode.SYMMETRIC,
    overwrite: bool = False,
    progress: bool = True,
    presentation: bool = True,
    ease: float = 0.0,
    difficulty: Difficulty | str = Difficulty.STANDARD,
    tool: str = "mixed",
    clean_twins: bool = False,
) -> WriteResult:
    """Generate ``8 * per_class`` images in the Kaggle layout under ``out_dir``.

    Args:
        out_dir: Target folder; must be empty or missing unless ``overwrite``.
        per_class: Images per class over all splits (split 70/15/15).
        size: Image side in px. Default: 224.
        seed: Master seed. Default: 0.
        workers: Worker processes; default: all CPU cores. 1 renders in this process.
        label_noise: Label flip rate on the training split. Default: 0.0.
        label_noise_mode: "symmetric" or "structured". Default: symmetric.
        overwrite: Replace a previous dataset's folders and manifest in ``out_dir``. Default: False.
        progress: Show a tqdm progress bar on stderr. Default: True.
        presentation: Apply the presentation layer (annotations, borders, format mix).
            Default: True.
        ease: Move the hardness draws toward the easy end (``SynthConfig.ease``); 0 follows the
            specification. Default: 0.
        difficulty: Difficulty preset, "standard" or "hard" (``SynthConfig.difficulty``).
            Default: standard.
        tool: Tool profile (``SynthConfig.tool``): "mixed", or one tool's narrower mix of
            scenes and imaging (``sem_core.data.synth.tools.TOOLS``). Default: mixed.
        clean_twins: Also write, for every defect image of the training split, its clean twin
            (the same scene, imaging and noise without the defect, ``generate_clean_twin``) as
            an extra Clean training image ``<stem>_twin``. A screener that sees such pairs can
            only tell them apart by the defect itself. Validation and Test stay as drawn, and
            ``per_split`` counts the drawn images only. Default: False.

    Returns:
        A ``WriteResult``; images that failed to render are left out and listed in ``failures``
        (also printed to stderr and written to dataset.json).

    Raises:
        DatasetError: When ``out_dir`` is not empty (without ``overwrite``) or not a folder.
        ValueError: When ``per_class`` < 1 or a configuration value is invalid.
    """
    from tqdm import tqdm

    if per_class < 1:
        raise ValueError(
            f"write_dataset: per_class must be >= 1. Received `per_class={per_class}`."
        )
    config = SynthConfig(
        size=size,
        label_noise_rate=label_noise,
        label_noise_mode=LabelNoiseMode(label_noise_mode),
        presentation=presentation,
        ease=ease,
        difficulty=difficulty,
        tool=tool,
    )
    out_dir = Path(out_dir)
    _prepare(out_dir, overwrite)
    counts = split_counts(per_class)
    tasks = [
        (split_id, idx)
        for split_id, count in enumerate(counts)
        for idx in range(count * len(CLASSES))
    ]
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    job = partial(write_one, out_dir, config, seed, clean_twins=clean_twins)
    start = time.perf_counter()
    bar = tqdm(total=len(tasks), desc="synth", unit="img", file=sys.stderr, disable=not progress)
    rows = []
    if workers == 1:
        for task in tasks:
            rows.extend(job(task))
            bar.update()
    else:
        chunk = max(1, min(16, len(tasks) // (4 * workers)))
        with get_context("fork").Pool(workers) as pool:
            for written in pool.imap(job, tasks, chunksize=chunk):
                rows.extend(written)
                bar.update()
    bar.close()
    failures = tuple(row["error"] for row in rows if "error" in row)
    rows = [row for row in rows if "error" not in row]
    for failure in failures:
        print(f"synth: image skipped ({failure})", file=sys.stderr)
    manifest = out_dir / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(MANIFEST_COLUMNS) + list(EXTRA_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    per_split = {split: counts[i] * len(CLASSES) for i, split in enumerate(SPLITS)}
    (out_dir / "dataset.json").write_text(
        json.dumps(
            {
                "generator_version": GENERATOR_VERSION,
                "seed": seed,
                "per_class": per_class,
                "size": size,
                "label_noise": label_noise,
                "label_noise_mode": LabelNoiseMode(label_noise_mode).value,
                "presentation": presents(config),
                "ease": ease,
                "difficulty": config.difficulty.value,
                "tool": config.tool,
                "clean_twins": sum(1 for row in rows if Path(row["path"]).stem.endswith(TWIN_SUFFIX)),
                "images": len(rows),
                "per_split": per_split,
                "failures": list(failures),
            },
            indent=1,
        )
    )
    return WriteResult(
        out_dir=out_dir,
        manifest=manifest,
        images=len(rows),
        per_split=per_split,
        seconds=time.perf_counter() - start,
        failures=failures,
    )
