"""Write a manifest back out in the original Kaggle notebook's folder layout.

``export_kaggle_layout`` fills ``master_dataset`` (8 classes), ``stage1_binary_dataset``
(Clean/Defective) and ``stage2_multiclass_dataset`` (the 7 defect classes), each
``Train|Validation|Test/<Class>/<file>``, with hard links where the file system allows and
copies otherwise, and writes ``manifest.csv`` (master view) beside them. A stage-1-only manifest
(labels Clean/Defective) fills only ``stage1_binary_dataset``. Nothing is overwritten: an existing
file with other content stops the export before anything is written. Two source files with the
same name in one target folder get distinct names deterministically (``name__<sha256 prefix>``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from sem_core.classes import DEFECTIVE, STAGE2_CLASSES, stage1_label
from sem_core.data.image_io import sha256_file
from sem_core.data.manifest import Manifest, ManifestEntry
from sem_core.data.vocabulary import SPLITS, KaggleView
from sem_core.errors import DatasetError

MANIFEST_NAME = "manifest.csv"


class LinkMode(str, Enum):
    """How exported files are created."""

    HARD = "hard"  # hard link, falling back to a copy where linking fails (other drive, FAT)
    COPY = "copy"


@dataclass(frozen=True)
class _Placement:
    """One file to create: ``target`` (under the output folder) from ``source``."""

    source: Path
    target: Path
    entry: ManifestEntry


def _target_name(entry: ManifestEntry, source: Path, taken: dict[Path, Path], folder: Path) -> Path:
    """A file name in ``folder`` not yet used by another source (deterministic)."""
    candidate = folder / source.name
    suffix_source = entry.sha256[:12] or f"{len(taken)}"
    if taken.setdefault(candidate, source) != source:
        candidate = folder / f"{source.stem}__{suffix_source}{source.suffix}"
        counter = 1
        while taken.setdefault(candidate, source) != source:
            counter += 1
            candidate = folder / f"{source.stem}__{suffix_source}_{counter}{source.suffix}"
    return candidate


def _plan(manifest: Manifest, out_dir: Path) -> list[_Placement]:
    """Where every entry goes in every view, in a deterministic order."""
    unsplit = [entry.path for entry in manifest.entries if entry.split not in SPLITS]
    if unsplit:
        raise DatasetError(
            f"{len(unsplit)} manifest entries have no Train/Validation/Test split "
            f"(first: {unsplit[0]}); load the dataset with load_dataset to assign splits "
            "before exporting."
        )
    stage1_only = any(entry.label == DEFECTIVE for entry in manifest.entries)
    ordered = sorted(manifest.entries, key=lambda entry: (entry.split, entry.label, entry.path))
    placements: list[_Placement] = []
    taken: dict[Path, Path] = {}
    for entry in ordered:
        source = manifest.resolve(entry)
        views = [(KaggleView.STAGE1, entry.label if stage1_only else stage1_label(entry.label))]
        if not stage1_only:
            views.insert(0, (KaggleView.MASTER, entry.label))
            if entry.label in STAGE2_CLASSES:
                views.append((KaggleView.STAGE2, entry.label))
        for view, folder_label in views:
            folder = out_dir / view.value / entry.split / folder_label
            placements.append(_Placement(source, _target_name(entry, source, taken, folder), entry))
    return placements


def _same_content(first: Path, second: Path) -> bool:
    try:
        if os.path.samefile(first, second):
            return True
        return first.stat().st_size == second.stat().st_size and sha256_file(first) == sha256_file(
            second
        )
    except OSError:
        return False


def _place(placement: _Placement, link: LinkMode) -> None:
    placement.target.parent.mkdir(parents=True, exist_ok=True)
    if placement.target.exists():
        return  # checked beforehand to hold the same content
    if link is LinkMode.HARD:
        try:
            os.link(placement.source, placement.target)
            return
        except OSError:
            pass  # other file system, or links not supported: copy instead
    shutil.copy2(placement.source, placement.target)


def _exported_manifest(manifest: Manifest, placements: list[_Placement], out_dir: Path) -> Manifest:
    """The manifest of the exported master view (or stage-1 view for stage-1-only data)."""
    main_view = out_dir / (
        KaggleView.STAGE1.value
        if any(entry.label == DEFECTIVE for entry in manifest.entries)
        else KaggleView.MASTER.value
    )
    entries = [
        replace(
            placement.entry,
            path=placement.target.relative_to(out_dir).as_posix(),
            source=placement.entry.source or str(placement.source),
        )
        for placement in placements
        if placement.target.is_relative_to(main_view)
    ]
    return Manifest(entries=tuple(sorted(entries, key=lambda entry: entry.path)), root=str(out_dir))


def export_kaggle_layout(
    manifest: Manifest, out_dir: str | os.PathLike, *, link: LinkMode | str = LinkMode.HARD
) -> Path:
    """Write ``manifest`` as the Kaggle folder layout with a ``manifest.csv``.

    Args:
        manifest: Entries with a split each (``load_dataset`` output is ready).
        out_dir: Output folder; created if missing, may already hold an earlier export.
        link: ``"hard"`` (hard links, copying where that fails) or ``"copy"``. Default: "hard".

    Returns:
        ``out_dir`` as a Path.

    Raises:
        DatasetError: When an entry lacks a split, a source file is missing, or a target file
            (or ``manifest.csv``) already exists with other content; nothing is written then.
        ValueError: When ``link`` is not "hard" or "copy".
    """
    try:
        mode = LinkMode(link)
    except ValueError:
        raise ValueError(f"Expected link='hard' or 'copy', received `link={link!r}`.") from None
    out_path = Path(out_dir)
    placements = _plan(manifest, out_path)
    missing = sorted(
        {str(placement.source) for placement in placements if not placement.source.is_file()}
    )
    if missing:
        raise DatasetError(
            f"{len(missing)} source files are missing (first: {missing[0]}); nothing was exported."
        )
    clashes = [
        str(placement.target)
        for placement in placements
        if placement.target.exists() and not _same_content(placement.source, placement.target)
    ]
    if clashes:
        raise DatasetError(
            f"{clashes[0]} already exists with other content ({len(clashes)} such files); "
            "nothing was exported. Choose an empty output folder or remove those files."
        )
    exported = _exported_manifest(manifest, placements, out_path)
    manifest_path = out_path / MANIFEST_NAME
    new_text = exported.to_frame().to_csv(index=False)
    if manifest_path.exists() and manifest_path.read_text(encoding="utf-8") != new_text:
        raise DatasetError(
            f"{manifest_path} already exists with other content; nothing was exported."
        )
    for placement in placements:
        _place(placement, mode)
    manifest_path.write_text(new_text, encoding="utf-8")
    return out_path
