"""The dataset manifest: one row per image (path, label, split, sha256, source, extras).

A ``Manifest`` is the one form every dataset layout is read into and written from. Paths are
stored as found (relative to ``Manifest.root`` or absolute); ``resolve`` turns an entry into a
file path. Labels are the eight classes, or ``Clean``/``Defective`` for a stage-1-only dataset.
The CSV form uses ``MANIFEST_COLUMNS`` plus any extra columns, with paths relative to the CSV's
folder, so a dataset folder with its ``manifest.csv`` can be moved as a whole.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from sem_core.classes import (
    CLASSES,
    DEFECTIVE,
    STAGE1_CLASSES,
    STAGE2_CLASSES,
    canonical_class,
    stage1_label,
)
from sem_core.data.vocabulary import MANIFEST_COLUMNS, SPLIT_SYNONYMS, SPLITS
from sem_core.errors import DatasetError

_REQUIRED_COLUMNS: tuple[str, ...] = ("path", "label")


@dataclass(frozen=True)
class ManifestEntry:
    """One image of a dataset.

    Attributes:
        path: File path, relative to the manifest's root or absolute.
        label: One of ``CLASSES`` (or ``Clean``/``Defective`` for stage-1-only data).
        split: ``Train``, ``Validation``, ``Test``, or ``""`` when not yet assigned.
        sha256: Hex digest of the file's bytes, ``""`` when not computed.
        source: Where the entry came from (the original class folder, or an upstream path).
        extras: Further string columns (e.g. ``label_true`` of synthetic data), read-only.
            Extras take part in equality but not in the hash, so entries stay hashable.
    """

    path: str
    label: str
    split: str
    sha256: str = ""
    source: str = ""
    extras: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        frozen = MappingProxyType(
            {str(key): str(value) for key, value in dict(self.extras).items()}
        )
        object.__setattr__(self, "extras", frozen)

    def __reduce__(self):  # a mapping proxy cannot be pickled; rebuild from a plain dict
        return (
            type(self),
            (self.path, self.label, self.split, self.sha256, self.source, dict(self.extras)),
        )


def _label_order(labels: Iterable[str]) -> list[str]:
    """Columns for class counts: the smallest standard class list covering ``labels``."""
    present = set(labels)
    if not present:
        return list(CLASSES)
    for standard in (STAGE2_CLASSES, CLASSES, STAGE1_CLASSES):
        if present <= set(standard):
            return list(standard)
    known = [name for name in (*CLASSES, DEFECTIVE) if name in present]
    return known + sorted(present - set(known))


@dataclass(frozen=True)
class Manifest:
    """An ordered collection of ``ManifestEntry`` with the folder its relative paths start from.

    Attributes:
        entries: The images, in a stable order.
        root: Folder that relative entry paths resolve against; None means the working folder.
    """

    entries: tuple[ManifestEntry, ...]
    root: str | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def resolve(self, entry: ManifestEntry) -> Path:
        """Return the file path of ``entry`` (absolute paths as they are, others under ``root``)."""
        path = Path(entry.path)
        if path.is_absolute() or self.root is None:
            return path
        return Path(self.root) / path

    def with_entries(self, entries: Iterable[ManifestEntry]) -> Manifest:
        """A manifest with the same root and other entries."""
        return replace(self, entries=tuple(entries))

    def by_split(self, split: str) -> Manifest:
        """The entries of one split (e.g. ``"Train"``)."""
        return self.with_entries(entry for entry in self.entries if entry.split == split)

    def stage1(self) -> Manifest:
        """Stage-1 view: every image, labelled ``Clean`` or ``Defective``."""
        return self.with_entries(
            entry
            if entry.label in STAGE1_CLASSES
            else replace(entry, label=stage1_label(entry.label))
            for entry in self.entries
        )

    def stage2(self) -> Manifest:
        """Stage-2 view: only images of the seven defect classes (empty for stage-1-only data)."""
        return self.with_entries(entry for entry in self.entries if entry.label in STAGE2_CLASSES)

    def class_counts(self) -> pd.DataFrame:
        """Image counts with one row per split and one column per class.

        Rows are Train, Validation, Test (always) and any other split value present (``""``
        for unassigned); columns are the standard class list that covers the labels present,
        so a class with no images shows as 0.
        """
        extra_splits = sorted({entry.split for entry in self.entries} - set(SPLITS))
        rows = [*SPLITS, *extra_splits]
        columns = _label_order(entry.label for entry in self.entries)
        pairs = pd.DataFrame(
            [(entry.split, entry.label) for entry in self.entries],
            columns=["split", "label"],
            dtype=str,
        )
        counts = pairs.groupby(["split", "label"]).size().unstack(fill_value=0)
        counts = counts.reindex(index=rows, columns=columns, fill_value=0).astype("int64")
        counts.index.name, counts.columns.name = "split", None
        return counts

    def content_hash(self) -> str:
        """SHA-256 over the sorted (sha256, label, split) triples, independent of order and paths.

        Entries without a sha256 contribute their path instead.
        """
        triples = sorted(
            f"{entry.sha256 or entry.path}\t{entry.label}\t{entry.split}" for entry in self.entries
        )
        return hashlib.sha256("\n".join(triples).encode("utf-8")).hexdigest()

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with ``MANIFEST_COLUMNS`` then the extra columns in first-seen order."""
        extra_columns: dict[str, None] = {}
        for entry in self.entries:
            extra_columns.update(dict.fromkeys(entry.extras))
        records = [
            {
                "path": entry.path,
                "label": entry.label,
                "split": entry.split,
                "sha256": entry.sha256,
                "source": entry.source,
                **{key: entry.extras.get(key, "") for key in extra_columns},
            }
            for entry in self.entries
        ]
        return pd.DataFrame.from_records(
            records, columns=[*MANIFEST_COLUMNS, *extra_columns]
        ).astype(str)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, root: str | os.PathLike | None = None) -> Manifest:
        """Build a manifest from a DataFrame with at least ``path`` and ``label`` columns.

        Args:
            frame: One row per image; missing ``split``/``sha256``/``source`` read as ``""``;
                other columns become extras (an empty cell means "no such extra").
            root: Folder relative paths resolve against. Default: None.

        Returns:
            The manifest, rows in frame order.

        Raises:
            DatasetError: When a required column is missing or a path is empty.
        """
        missing = [name for name in _REQUIRED_COLUMNS if name not in frame.columns]
        if missing:
            raise DatasetError(
                f"Manifest table lacks column(s) {', '.join(missing)}; "
                f"it has {list(frame.columns)}."
            )
        table = frame.fillna("").astype(str)
        extra_columns = [name for name in table.columns if name not in MANIFEST_COLUMNS]
        entries = []
        for row_number, row in enumerate(table.to_dict("records"), start=1):
            if not row["path"].strip():
                raise DatasetError(f"Manifest row {row_number} has an empty path.")
            entries.append(
                ManifestEntry(
                    path=row["path"].strip(),
                    label=row["label"].strip(),
                    split=row.get("split", "").strip(),
                    sha256=row.get("sha256", "").strip(),
                    source=row.get("source", ""),
                    extras={name: row[name] for name in extra_columns if row[name] != ""},
                )
            )
        return cls(entries=tuple(entries), root=None if root is None else str(root))

    def write_csv(self, path: str | os.PathLike) -> Path:
        """Write the manifest as CSV; paths under the CSV's folder are stored relative to it.

        Args:
            path: Output file; its parent folder is created.

        Returns:
            The path written.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = target.parent.resolve()
        relocated = []
        for entry in self.entries:
            file_path = self.resolve(entry).resolve()
            stored = (
                file_path.relative_to(folder).as_posix()
                if file_path.is_relative_to(folder)
                else str(file_path)
            )
            relocated.append(replace(entry, path=stored))
        self.with_entries(relocated).to_frame().to_csv(target, index=False)
        return target

    @classmethod
    def read_csv(cls, path: str | os.PathLike) -> Manifest:
        """Read a manifest CSV written by ``write_csv`` (or by hand: ``path``, ``label`` required).

        Args:
            path: The CSV file; relative paths inside it resolve against its folder.

        Returns:
            The manifest, with ``root`` set to the CSV's folder.

        Raises:
            DatasetError: When the file cannot be read as CSV or lacks required columns.
        """
        source = Path(path)
        try:
            frame = pd.read_csv(source, dtype=str, keep_default_na=False)
        except (OSError, ValueError, pd.errors.ParserError) as error:
            raise DatasetError(f"{source}: cannot read manifest CSV ({error}).") from error
        try:
            return cls.from_frame(frame, root=source.parent)
        except DatasetError as error:
            raise DatasetError(f"{source}: {error}") from error

    def canonicalised(
        self, class_map: Mapping[str, str] | None = None
    ) -> tuple[Manifest, dict[str, int]]:
        """Map labels to canonical classes and split names to Train/Validation/Test.

        Args:
            class_map: Extra label mapping, e.g. ``{"cmp": "Other"}``. Default: None.

        Returns:
            The manifest without entries of unknown labels, and the count of each unknown label.

        Raises:
            DatasetError: When a split is not a known split name or empty; names the file.
        """
        entries, unknown = [], Counter()
        for entry in self.entries:
            label = canonical_class(entry.label, class_map)
            split = SPLIT_SYNONYMS.get(entry.split.strip().lower(), "") if entry.split else ""
            if entry.split and not split:
                raise DatasetError(
                    f"{entry.path}: split {entry.split!r} is not Train, Validation, Test or empty."
                )
            if label is None:
                unknown[entry.label] += 1
            else:
                entries.append(replace(entry, label=label, split=split))
        return self.with_entries(entries), dict(sorted(unknown.items()))
