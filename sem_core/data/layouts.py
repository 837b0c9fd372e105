"""Read any supported dataset layout into a ``Manifest``: ``load_dataset``.

Supported layouts (detected automatically):

* ``kaggle``: the original notebook's ``<root>/master_dataset|stage1_binary_dataset|
  stage2_multiclass_dataset/<split>/<class>/``. ``master_dataset`` (8 classes) is preferred;
  without it, ``stage2_multiclass_dataset`` gives the 7 defect classes and the ``Clean`` folder
  of ``stage1_binary_dataset`` (when present) adds the eighth. With only the stage-1 view, the
  labels are ``Clean``/``Defective``: a stage-1 image cannot be given a defect class.
* ``class_folders_split``: class folders below or above split folders (``train``, ``val``,
  ``validation``, ``test``, ... in any case); split folders are kept as they are.
* ``class_folders``: class folders without splits; a seeded, stratified 70/15/15 split is made
  that keeps near-duplicate groups together (``sem_core.data.splits``).
* ``csv``: a manifest CSV (``path``, ``label`` required; ``split``, ``sha256``, ``source`` and
  extra columns optional); rows without a split are split as above.

Folder names and CSV labels are matched with ``sem_core.classes.canonical_class`` (synonyms and
a user class map). Unknown folders are reported, never guessed; undecodable files are reported
as ``BadFile`` with the loader's reason and left out of the manifest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from sem_core.classes import (
    CLASSES,
    CLEAN,
    DEFECTIVE,
    STAGE1_CLASSES,
    STAGE2_CLASSES,
    canonical_class,
)
from sem_core.data.dedup import (
    DEFAULT_MAX_DISTANCE,
    BadFile,
    fingerprint_entries,
    group_near_duplicates,
)
from sem_core.data.image_io import list_image_files
from sem_core.data.manifest import Manifest, ManifestEntry
from sem_core.data.splits import assign_missing_splits, validate_fractions
from sem_core.data.vocabulary import DEFAULT_SPLIT_FRACTIONS, SPLIT_SYNONYMS, KaggleView
from sem_core.errors import DatasetError

_SKIPPED_FOLDERS = ("__MACOSX",)


class DatasetLayout(str, Enum):
    """How a dataset is organised on disk."""

    KAGGLE = "kaggle"
    CLASS_FOLDERS_SPLIT = "class_folders_split"
    CLASS_FOLDERS = "class_folders"
    CSV = "csv"


@dataclass(frozen=True)
class LoadedDataset:
    """A dataset read from disk.

    Attributes:
        manifest: The usable images, every one with a split.
        unknown_folders: Folders (relative to the root) whose name is not a known class, split
            or Kaggle view, and places holding images outside any class folder; for a CSV, the
            unknown label values. Their images are not in the manifest.
        bad_files: Files left out because they cannot be decoded or read.
        layout: The layout detected.
        groups: Near-duplicate group id per manifest entry (empty when images were not hashed).
        perceptual_hashes: Perceptual hash per manifest entry (empty when not hashed).
    """

    manifest: Manifest
    unknown_folders: tuple[str, ...]
    bad_files: tuple[BadFile, ...]
    layout: DatasetLayout
    groups: tuple[int, ...] = ()
    perceptual_hashes: tuple[int, ...] = ()


def _split_name(name: str) -> str | None:
    return SPLIT_SYNONYMS.get(name.strip().lower())


def _subfolders(folder: Path) -> list[Path]:
    return sorted(
        child
        for child in folder.iterdir()
        if child.is_dir() and not child.name.startswith(".") and child.name not in _SKIPPED_FOLDERS
    )


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _loose_images(folder: Path, root: Path) -> list[str]:
    """Report images lying directly in ``folder`` (outside any class folder)."""
    count = len(list_image_files(folder, recursive=False))
    return (
        [f"{_relative(folder, root)} ({count} image files outside class folders)"] if count else []
    )


def _class_folder_entries(folder: Path, root: Path, label: str, split: str) -> list[ManifestEntry]:
    """Entries for every image below a class folder; a split sub-folder sets the split."""
    entries = []
    for file_path in list_image_files(folder):
        parts = file_path.relative_to(folder).parts
        file_split = split or (_split_name(parts[0]) or "" if len(parts) > 1 else "")
        entries.append(
            ManifestEntry(
                path=_relative(file_path, root),
                label=label,
                split=file_split,
                source=_relative(folder, root),
            )
        )
    return entries


@dataclass
class _Scan:
    """What a folder walk found (private, filled in place)."""

    entries: list[ManifestEntry] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    class_folders: int = 0

    def add(self, other: _Scan, keep: Sequence[str] | None = None) -> None:
        self.entries += [entry for entry in other.entries if keep is None or entry.label in keep]
        self.unknown += other.unknown
        self.class_folders += other.class_folders


def _scan_class_tree(
    folder: Path, root: Path, allowed: Sequence[str], class_map: Mapping[str, str] | None
) -> _Scan:
    """Read ``split/class/``, ``class/split/`` or ``class/`` folders below ``folder``."""
    scan = _Scan(unknown=_loose_images(folder, root))
    for child in _subfolders(folder):
        split = _split_name(child.name)
        class_folders = _subfolders(child) if split else [child]
        if split:
            scan.unknown += _loose_images(child, root)
        for class_folder in class_folders:
            label = canonical_class(class_folder.name, class_map)
            if label is None or label not in allowed:
                scan.unknown.append(_relative(class_folder, root))
                continue
            scan.class_folders += 1
            scan.entries += _class_folder_entries(class_folder, root, label, split or "")
    return scan


def _find_views(root: Path) -> dict[KaggleView, Path]:
    names = {view.value.lower(): view for view in KaggleView}
    return {
        names[child.name.lower()]: child
        for child in _subfolders(root)
        if child.name.lower() in names
    }


def _scan_kaggle(root: Path, class_map: Mapping[str, str] | None) -> _Scan:
    """Read the preferred Kaggle views (see the module docstring)."""
    views = _find_views(root)
    scan = _Scan(
        unknown=[
            _relative(child, root) for child in _subfolders(root) if child not in views.values()
        ]
    )
    if KaggleView.MASTER in views:
        scan.add(_scan_class_tree(views[KaggleView.MASTER], root, CLASSES, class_map))
    elif KaggleView.STAGE2 in views:
        scan.add(_scan_class_tree(views[KaggleView.STAGE2], root, STAGE2_CLASSES, class_map))
        if KaggleView.STAGE1 in views:
            # Stage-1 Defective images repeat stage 2's; only its Clean folder adds a class.
            scan.add(
                _scan_class_tree(views[KaggleView.STAGE1], root, STAGE1_CLASSES, class_map),
                keep=(CLEAN,),
            )
    else:
        scan.add(_scan_class_tree(views[KaggleView.STAGE1], root, STAGE1_CLASSES, class_map))
    return scan


def detect_layout(path: str | os.PathLike) -> DatasetLayout:
    """Say which layout ``path`` holds, as far as its top level shows.

    Class folders with and without split folders both read as ``CLASS_FOLDERS`` here;
    ``load_dataset`` tells them apart after reading the folders.

    Raises:
        DatasetError: When ``path`` is neither a CSV file nor a folder.
    """
    location = Path(path)
    if location.is_file() and location.suffix.lower() == ".csv":
        return DatasetLayout.CSV
    if not location.is_dir():
        raise DatasetError(
            f"{location}: not a dataset folder or manifest CSV "
            "(it does not exist or is another kind of file)."
        )
    return DatasetLayout.KAGGLE if _find_views(location) else DatasetLayout.CLASS_FOLDERS


def _read_folders(
    location: Path, layout: DatasetLayout, class_map: Mapping[str, str] | None
) -> tuple[Manifest, list[str], DatasetLayout]:
    """Scan a Kaggle or class-folder dataset into an (unhashed) manifest sorted by path."""
    try:
        scan = (
            _scan_kaggle(location, class_map)
            if layout is DatasetLayout.KAGGLE
            else _scan_class_tree(location, location, (*CLASSES, DEFECTIVE), class_map)
        )
    except OSError as error:
        raise DatasetError(f"{location}: a folder cannot be read ({error}).") from error
    if scan.class_folders == 0:
        raise DatasetError(
            f"{location}: no class folder found "
            f"(found: {', '.join(scan.unknown) or 'nothing'}). Expected folders named after "
            f"classes ({', '.join(CLASSES)}), optionally inside or above train/validation/test "
            "folders, the Kaggle layout, or a manifest CSV; map other names with a class map "
            "such as cmp=Other."
        )
    if layout is DatasetLayout.CLASS_FOLDERS and any(entry.split for entry in scan.entries):
        layout = DatasetLayout.CLASS_FOLDERS_SPLIT
    entries = tuple(sorted(scan.entries, key=lambda entry: entry.path))
    return Manifest(entries=entries, root=str(location)), scan.unknown, layout


def load_dataset(
    path: str | os.PathLike,
    *,
    class_map: Mapping[str, str] | None = None,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS,
    hash_images: bool = True,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    progress: bool = False,
) -> LoadedDataset:
    """Read a dataset in any supported layout (see the module docstring).

    Args:
        path: A dataset folder or a manifest CSV.
        class_map: Extra folder-name or label mapping, e.g. ``{"cmp": "Other"}``. Default: None.
        seed: Seed of the split made for images without one. Default: 0.
        fractions: (train, validation, test) shares of that split. Default: (0.7, 0.15, 0.15).
        hash_images: Decode and hash every image (finds bad files, exact and near duplicates,
            and keeps duplicates in one split). False trusts the files: no bad-file check, no
            sha256 (a CSV's own stays) and each image splits on its own. Default: True.
        max_distance: Perceptual-hash distance up to which images count as near duplicates.
            Default: ``DEFAULT_MAX_DISTANCE``.
        progress: Show a progress bar on stderr while hashing 50 or more files. Default: False.

    Returns:
        The manifest (sorted by path; every entry has a split), unknown folders, bad files,
        the layout, and near-duplicate groups.

    Raises:
        DatasetError: When ``path`` is missing or holds no recognisable class folder.
        ValueError: When ``class_map`` maps to a non-class or ``fractions`` is invalid.
    """
    validate_fractions(fractions)
    for name in class_map or {}:
        canonical_class(name, class_map)  # raises ValueError naming a bad target
    location = Path(path)
    layout = detect_layout(location)
    if layout is DatasetLayout.CSV:
        table = Manifest.read_csv(location)  # its errors name the CSV already
        try:
            manifest, unknown_labels = table.canonicalised(class_map)
        except DatasetError as error:
            raise DatasetError(f"{location}: {error}") from error
        unknown = [f"label {name!r} ({count} rows)" for name, count in unknown_labels.items()]
    else:
        manifest, unknown, layout = _read_folders(location, layout, class_map)
    if hash_images:
        entries, hashes, bad = fingerprint_entries(manifest, progress=progress)
        groups = group_near_duplicates(
            hashes, max_distance, sha256s=[entry.sha256 for entry in entries]
        )
    else:
        entries, hashes, bad = list(manifest.entries), [], []
        groups = group_near_duplicates(
            [0] * len(entries), -1, sha256s=[entry.sha256 for entry in entries]
        )
    entries = assign_missing_splits(entries, groups, fractions=fractions, seed=seed)
    return LoadedDataset(
        manifest=manifest.with_entries(entries),
        unknown_folders=tuple(unknown),
        bad_files=tuple(bad),
        layout=layout,
        groups=tuple(groups) if hash_images else (),
        perceptual_hashes=tuple(hashes),
    )
