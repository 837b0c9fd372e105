"""Dataset health check: class counts per split, bad files, duplicates, leakage, label conflicts.

``check_dataset`` reads a dataset in any supported layout and returns a ``DatasetReport``:
images per class and split, every bad file with its reason, groups of exact or near-duplicate
images, the groups that span more than one split (leakage: a copy of a training image in
validation or test), the groups filed under more than one label (conflicts), and folders that
were not recognised. The report renders as text for a terminal and as JSON for tools.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sem_core.data.layouts import BadFile, DatasetLayout, LoadedDataset, load_dataset

_TEXT_LIMIT_GROUPS = 50  # text output lists at most this many groups per section; JSON has all


@dataclass(frozen=True)
class DuplicateGroup:
    """Images that are the same picture: equal bytes, or a resized/flipped/rotated copy.

    Attributes:
        paths: The files, relative to the dataset root.
        labels: Label of each file.
        splits: Split of each file.
        exact: True when all files have the same SHA-256.
    """

    paths: tuple[str, ...]
    labels: tuple[str, ...]
    splits: tuple[str, ...]
    exact: bool

    @property
    def leaks(self) -> bool:
        """True when the group spans more than one split."""
        return len(set(self.splits)) > 1

    @property
    def conflicts(self) -> bool:
        """True when the group is filed under more than one label."""
        return len(set(self.labels)) > 1

    def describe(self) -> str:
        """One line per file: ``path  [label, split]``."""
        kind = "identical files" if self.exact else "near duplicates"
        lines = [f"  {len(self.paths)} {kind}:"]
        lines += [
            f"    {path}  [{label}, {split}]"
            for path, label, split in zip(self.paths, self.labels, self.splits, strict=True)
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class DatasetReport:
    """The result of ``check_dataset``.

    Attributes:
        location: The dataset folder or CSV checked.
        layout: The layout detected.
        image_count: Usable images.
        class_counts: Images per split (rows) and class (columns).
        bad_files: Every file left out, with its reason.
        unknown_folders: Folders (or CSV labels) not recognised; their images are left out.
        duplicate_groups: Every group of two or more identical or near-duplicate images.
    """

    location: str
    layout: DatasetLayout
    image_count: int
    class_counts: pd.DataFrame = field(compare=False)
    bad_files: tuple[BadFile, ...]
    unknown_folders: tuple[str, ...]
    duplicate_groups: tuple[DuplicateGroup, ...]

    @property
    def leakage(self) -> tuple[DuplicateGroup, ...]:
        """Duplicate groups spanning more than one split."""
        return tuple(group for group in self.duplicate_groups if group.leaks)

    @property
    def conflicts(self) -> tuple[DuplicateGroup, ...]:
        """Duplicate groups filed under more than one label."""
        return tuple(group for group in self.duplicate_groups if group.conflicts)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: counts as {split: {class: n}}, groups as lists of files."""

        def group_rows(groups: tuple[DuplicateGroup, ...]) -> list[dict[str, Any]]:
            return [
                {
                    "exact": group.exact,
                    "files": [
                        {"path": path, "label": label, "split": split}
                        for path, label, split in zip(
                            group.paths, group.labels, group.splits, strict=True
                        )
                    ],
                }
                for group in groups
            ]

        return {
            "location": self.location,
            "layout": self.layout.value,
            "image_count": self.image_count,
            "class_counts": {
                split: {label: int(count) for label, count in row.items()}
                for split, row in self.class_counts.iterrows()
            },
            "bad_files": [
                {"path": bad.path, "kind": bad.kind, "reason": bad.reason} for bad in self.bad_files
            ],
            "unknown_folders": list(self.unknown_folders),
            "duplicate_groups": group_rows(self.duplicate_groups),
            "leakage": group_rows(self.leakage),
            "conflicts": group_rows(self.conflicts),
        }

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_text(self) -> str:
        """The report as text for a terminal; every bad file is listed with its reason."""
        counts = self.class_counts.copy()
        counts["Total"] = counts.sum(axis=1)
        counts.loc["Total"] = counts.sum(axis=0)
        sections = [
            f"Dataset {self.location} ({self.layout.value} layout): "
            f"{self.image_count} usable images, {len(self.bad_files)} bad files, "
            f"{len(self.duplicate_groups)} duplicate groups, {len(self.leakage)} leaking across "
            f"splits, {len(self.conflicts)} with conflicting labels.",
            "Images per split and class:\n" + counts.to_string(),
            _listing(
                "Bad files (left out)", [f"  {bad.path}: {bad.reason}" for bad in self.bad_files]
            ),
            _listing(
                "Unknown folders (left out; map them with --class-map)",
                [f"  {name}" for name in self.unknown_folders],
            ),
            _listing("Leakage: the same image in more than one split", _described(self.leakage)),
            _listing(
                "Conflicts: the same image under more than one label", _described(self.conflicts)
            ),
            _listing(
                "Duplicate groups within one split",
                _described(tuple(group for group in self.duplicate_groups if not group.leaks)),
            ),
        ]
        return "\n\n".join(sections) + "\n"


def _described(groups: tuple[DuplicateGroup, ...]) -> list[str]:
    lines = [group.describe() for group in groups[:_TEXT_LIMIT_GROUPS]]
    if len(groups) > _TEXT_LIMIT_GROUPS:
        lines.append(
            f"  ... and {len(groups) - _TEXT_LIMIT_GROUPS} more groups (see --json for all)."
        )
    return lines


def _listing(title: str, lines: list[str]) -> str:
    return f"{title}: none" if not lines else f"{title}:\n" + "\n".join(lines)


def duplicate_groups(loaded: LoadedDataset) -> tuple[DuplicateGroup, ...]:
    """Groups of two or more images from a loaded dataset's near-duplicate grouping."""
    members: dict[int, list[int]] = defaultdict(list)
    for index, group in enumerate(loaded.groups):
        members[group].append(index)
    groups = []
    for indices in members.values():
        if len(indices) < 2:
            continue
        entries = [loaded.manifest.entries[index] for index in indices]
        groups.append(
            DuplicateGroup(
                paths=tuple(entry.path for entry in entries),
                labels=tuple(entry.label for entry in entries),
                splits=tuple(entry.split for entry in entries),
                exact=len({entry.sha256 for entry in entries}) == 1,
            )
        )
    return tuple(sorted(groups, key=lambda group: group.paths))


def report_for(loaded: LoadedDataset, location: str | os.PathLike) -> DatasetReport:
    """Build the report of an already loaded dataset."""
    return DatasetReport(
        location=str(location),
        layout=loaded.layout,
        image_count=len(loaded.manifest),
        class_counts=loaded.manifest.class_counts(),
        bad_files=loaded.bad_files,
        unknown_folders=loaded.unknown_folders,
        duplicate_groups=duplicate_groups(loaded),
    )


def check_dataset(path: str | os.PathLike, **load_kwargs: Any) -> DatasetReport:
    """Read a dataset and report its health (counts, bad files, duplicates, leakage, conflicts).

    Args:
        path: A dataset folder or manifest CSV, in any layout ``load_dataset`` reads.
        **load_kwargs: Passed to ``load_dataset`` (``class_map``, ``seed``, ``fractions``,
            ``max_distance``, ``progress``); images are always hashed.

    Returns:
        The report.

    Raises:
        DatasetError: When ``path`` is missing or holds no recognisable class folder.
        ValueError: When ``class_map`` maps to a non-class.
    """
    load_kwargs["hash_images"] = True
    return report_for(load_dataset(path, **load_kwargs), path)
