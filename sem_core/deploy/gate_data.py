"""The images an export is judged and calibrated on.

The gate runs on the bundle's validation split: the dataset that bundle.json names as its
training data (``data.root``), or the dataset given with ``--data``, taking its ``Validation``
split (every image when it has none). int8 calibration takes up to a few hundred images, chosen
with a seed, of the ``--calibration`` dataset or of the gate dataset's ``Train`` split, so the
gate is not judged on the images the quantiser tuned its ranges on. Images are decoded and
resized exactly as the cascade does (``prepare_batch``); files that fail to decode are counted
and left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sem_core.data.image_io import load_image
from sem_core.data.manifest import Manifest
from sem_core.data.vocabulary import Split
from sem_core.errors import ImageLoadError, SemCoreError
from sem_core.models.preprocessing import prepare_batch
from sem_core.registry import BundleInfo

VALIDATION = Split.VALIDATION.value
TRAIN = Split.TRAIN.value


class ExportError(SemCoreError):
    """An export cannot be made: no data to judge it on, or its folder already exists."""


@dataclass(frozen=True)
class LabelledImages:
    """Decoded, resized images with their true labels, and where they came from.

    Attributes:
        images: (N, S, S, 1) float32 in [0, 1].
        labels: N true 8-class labels.
        source: The dataset folder or manifest.
        split: The split taken ("all" when the dataset has none of the one asked for).
        manifest_hash: ``Manifest.content_hash`` of the whole dataset.
        unreadable: Files of the split that could not be decoded (left out).
    """

    images: np.ndarray
    labels: tuple[str, ...]
    source: str
    split: str
    manifest_hash: str
    unreadable: int = 0

    def describe(self) -> dict[str, object]:
        """What export.json records about these images."""
        return {"source": self.source, "split": self.split, "images": len(self.labels),
                "unreadable": self.unreadable, "manifest_hash": self.manifest_hash}


def gate_dataset(info: BundleInfo, data: Path | None = None) -> Path:
    """The dataset the gate reads: ``data``, else the one bundle.json names.

    Raises:
        ExportError: When neither is given or the named one is not on this machine.
    """
    if data is not None:
        return Path(data)
    root = str(info.data.get("root") or "")
    if not root or not Path(root).exists():
        named = f"names {root!r}, which is not here" if root else "names no training data"
        raise ExportError(f"bundle {info.name!r}: its bundle.json {named}; the parity gate needs "
                          "labelled images: pass --data DATASET (its Validation split is used).")
    return Path(root)


def labelled_images(path: Path, split: str, size: int, *, limit: int | None = None,
                    seed: int = 0) -> LabelledImages:
    """Decode a dataset split for the gate or for calibration.

    Args:
        path: A dataset folder or manifest CSV (any layout ``load_dataset`` reads).
        split: The split to take; every image when the dataset has none in it.
        size: The bundle's input size.
        limit: At most this many images, drawn with ``seed``; None takes all. Default: None.
        seed: Seed of that draw. Default: 0.

    Raises:
        ExportError: When no image of the split can be decoded.
    """
    from sem_core.data.layouts import load_dataset

    manifest = load_dataset(path).manifest
    chosen, taken = manifest.by_split(split), split
    if len(chosen) == 0:
        chosen, taken = manifest, "all"
    entries = list(chosen.entries)
    if limit is not None and len(entries) > limit:
        picks = np.sort(np.random.default_rng(seed).choice(len(entries), limit, replace=False))
        entries = [entries[index] for index in picks]
    pixels, labels, unreadable = _decode(chosen, entries)
    if not pixels:
        raise ExportError(f"{path}: none of the {len(entries)} images of split {taken!r} could "
                          "be decoded; the export cannot be judged on them.")
    return LabelledImages(prepare_batch(pixels, size), tuple(labels), str(path), taken,
                          manifest.content_hash(), unreadable)


def _decode(manifest: Manifest, entries) -> tuple[list[np.ndarray], list[str], int]:
    pixels, labels, unreadable = [], [], 0
    for entry in entries:
        try:
            pixels.append(load_image(manifest.resolve(entry)).pixels)
            labels.append(entry.label)
        except ImageLoadError:
            unreadable += 1
    return pixels, labels, unreadable
