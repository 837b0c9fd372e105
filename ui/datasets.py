"""Folders under the data root, uploaded dataset zips, and the synthetic demo data.

Everything the app writes goes under the data root (``ui.settings.data_root()``): the demo
images (``demo/images``) with their answer key (``demo/labels.csv``: the true class of each, so
Inspect can show it beside the prediction), the demo labelled dataset (``demo/dataset``, written by
``python -m sem_core synth``) and extracted dataset zips (``uploads/<name>``). A zip is
extracted member by member after checking every member as ``sem_core.data.archive`` does
(links, encrypted members, nested archives, size and count caps) and that none escapes the
target folder. No Streamlit here.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

from sem_core.classes import CLASSES
from sem_core.data.archive import ArchiveLimits, list_members
from sem_core.errors import ImageErrorKind, ImageLoadError
from ui import settings

MAX_EXTRACTED_BYTES = 8 << 30
MAX_DATASET_MEMBERS = 50_000
DATASET_ARCHIVE_LIMITS = ArchiveLimits(max_archive_bytes=MAX_EXTRACTED_BYTES,
                                       max_members=MAX_DATASET_MEMBERS)
"""Caps on an uploaded dataset zip; a bigger dataset belongs in a folder under the data root."""
MAX_FOLDER_DEPTH = 3
DEMO_IMAGES = Path("demo") / "images"
DEMO_LABELS = Path("demo") / "labels.csv"
"""The demo images' answer key: ``file`` (data-root path, POSIX) and ``label`` (true class)."""
DEMO_DATASET = Path("demo") / "dataset"
UPLOADS = Path("uploads")


def folder_choices(root: Path, max_depth: int = MAX_FOLDER_DEPTH) -> list[str]:
    """Sub-folders of ``root`` (relative, POSIX style, sorted) down to ``max_depth`` levels.

    Hidden folders are skipped and symbolic links are not followed, so nothing outside the
    root is listed.
    """
    if not root.is_dir():
        return []
    found = []
    for directory, subdirectories, _ in os.walk(root):
        relative = Path(directory).relative_to(root)
        subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))
        if len(relative.parts) >= max_depth:
            subdirectories[:] = []
        if relative.parts:
            found.append(relative.as_posix())
    return sorted(found)


def _unique_folder(parent: Path, stem: str) -> Path:
    safe = "".join(char if char.isalnum() or char in "-_." else "_" for char in stem).strip("._")
    candidate, counter = parent / (safe or "dataset"), 1
    while candidate.exists():
        counter += 1
        candidate = parent / f"{safe or 'dataset'}-{counter}"
    return candidate


def extract_dataset_zip(archive: Path, name: str, root: Path,
                        limits: ArchiveLimits = DATASET_ARCHIVE_LIMITS) -> Path:
    """Extract an uploaded dataset zip into a new folder ``root/uploads/<name>``.

    Every member is checked before anything is written (``sem_core.data.archive``: links,
    encrypted members, nested archives, per-member and per-archive size caps, member count;
    plus paths that leave the folder), then copied in chunks that stop at its declared size.

    Args:
        archive: The zip file (a temporary copy of the upload).
        name: The uploaded file name; its stem names the folder.
        root: The data root.
        limits: Caps on the archive. Default: ``DATASET_ARCHIVE_LIMITS``.

    Returns:
        The new folder.

    Raises:
        ValueError: When the file is not a zip, a member is refused, would land outside the
            folder, or its data is damaged; the message names the member, and nothing is left
            behind.
    """
    target = _unique_folder(root / UPLOADS, Path(name).stem)
    try:
        members = list_members(archive, limits)
    except ImageLoadError as error:
        raise ValueError(f"{name}: not a readable zip archive ({error.detail}).") from error
    if not members:
        raise ValueError(f"{name}: the archive holds no files (folders, hidden and __MACOSX "
                         "entries aside).")
    refused = [member for member in members
               if member.refusal is not None and member.refusal.kind is not ImageErrorKind.EMPTY]
    if refused:
        first = refused[0].refusal
        more = f" ({len(refused) - 1:,} more refused)" if len(refused) > 1 else ""
        raise ValueError(f"{name}: nothing was extracted: {first.source.split('/', 1)[-1]}: "
                         f"{first.detail} [{first.kind.value}]{more}.")
    try:
        destinations = [settings.resolve_inside(target, member.info.filename) for member in members]
    except settings.OutsideRootError as error:
        raise ValueError(f"{name}: a member path leaves the archive folder ({error}).") from error
    try:
        target.mkdir(parents=True)
        with zipfile.ZipFile(archive) as handle:
            for member, destination in zip(members, destinations):
                destination.parent.mkdir(parents=True, exist_ok=True)
                _copy_member(handle, member.info, destination)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as error:
        shutil.rmtree(target, ignore_errors=True)
        raise ValueError(f"{name}: a member's data is damaged or does not match its declared "
                         f"size ({error}); nothing was kept.") from error
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return _single_child(target)


def _copy_member(handle: zipfile.ZipFile, info: zipfile.ZipInfo, destination: Path) -> None:
    """Copy one member in 1 MiB chunks, never past its declared size."""
    written = 0
    with handle.open(info) as source, open(destination, "xb") as out:
        while chunk := source.read(1 << 20):
            written += len(chunk)
            if written > info.file_size:
                raise zipfile.BadZipFile(f"{info.filename} gives more than its declared "
                                         f"{info.file_size:,} bytes")
            out.write(chunk)


def _single_child(folder: Path) -> Path:
    """A zip of one top folder (``myset/Train/...``) is that folder, not its wrapper."""
    children = [child for child in folder.iterdir() if not child.name.startswith((".", "__MACOSX"))]
    if len(children) == 1 and children[0].is_dir():
        return children[0]
    return folder


def write_demo_images(root: Path, *, per_class: int = 1, size: int = 256, seed: int = 11) -> Path:
    """Write a few synthetic SEM images (every class) as PNGs into ``root/demo/images``.

    Args:
        root: The data root.
        per_class: Images per class. Default: 1.
        size: Image side in pixels. Default: 256.
        seed: Generator seed. Default: 11.

    Returns:
        The folder.

    Raises:
        RuntimeError: When the synthetic generator is not available in this installation.
    """
    from PIL import Image

    try:
        from sem_core.data.synth.config import SynthConfig
        from sem_core.data.synth.sample import generate_sample
    except ImportError as error:
        raise RuntimeError(f"The synthetic SEM generator is not available ({error}).") from error
    folder = root / DEMO_IMAGES
    folder.mkdir(parents=True, exist_ok=True)
    config = SynthConfig(size=size)
    key = []
    for index in range(per_class * len(CLASSES)):
        sample = generate_sample(config, seed, 2, index)
        label = sample.sidecar.label_true
        path = folder / f"demo_{index:03d}_{label}.png"
        Image.fromarray(sample.image).save(path)
        key.append((path.relative_to(root).as_posix(), label))
    # Beside the images, not among them: Inspect reads every file of the folder as an image.
    with (root / DEMO_LABELS).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label"])
        writer.writerows(key)
    return folder


def demo_truth(root: Path) -> dict[str, str]:
    """The demo images' true classes by data-root path (empty when there is no valid key)."""
    try:
        with (root / DEMO_LABELS).open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    return {row["file"]: row["label"] for row in rows
            if row.get("file") and row.get("label") in CLASSES}


def demo_dataset_command(root: Path, *, per_class: int = 20, size: int = 128,
                         seed: int = 5) -> list[str]:
    """The ``python -m sem_core synth`` command that writes the demo labelled dataset.

    Args:
        root: The data root; the dataset goes to ``root/demo/dataset``.
        per_class: Images per class over all splits (70/15/15). Default: 20.
        size: Image side in pixels. Default: 128 (the default bundle's input size).
        seed: Generator seed. Default: 5.
    """
    return [sys.executable, "-m", "sem_core", "synth", "--out", str(root / DEMO_DATASET),
            "--per-class", str(per_class), "--size", str(size), "--seed", str(seed), "--quiet"]


def write_demo_dataset(root: Path, **options: int) -> Path:
    """Run ``demo_dataset_command`` (a separate process, so the app stays responsive).

    Args:
        root: The data root.
        **options: ``per_class``, ``size``, ``seed`` of ``demo_dataset_command``.

    Returns:
        The dataset folder.

    Raises:
        RuntimeError: When the generator fails; the message carries its last output lines.
    """
    folder = root / DEMO_DATASET
    if folder.is_dir() and any(folder.iterdir()):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(demo_dataset_command(root, **options), cwd=settings.REPOSITORY,
                               capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-5:])
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"The synthetic generator failed (exit {completed.returncode}): {tail}")
    return folder
