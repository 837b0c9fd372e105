"""The corrected dataset: the base manifest with the label log applied, versioned by content hash.

``correct_manifest`` replaces each image's label by its latest decision (matching on sha256, so
every copy of the same bytes follows one decision), keeps splits as they are, and leaves images
flagged "unknown / new class" out (they are listed apart). The result's ``version`` is the
manifest's content hash, which a bundle trained on it records as its ``manifest_hash``.
``export_corrected`` writes it as a manifest CSV or in the Kaggle folder layout, each with a
``corrected.json`` that says which base and which log position it came from.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path

from sem_core.data.manifest import Manifest, ManifestEntry
from sem_core.labels.records import UNKNOWN_CLASS, LabelDecision
from sem_core.labels.store import LabelStore

GIVEN_LABEL_EXTRA = "label_given"
CORRECTED_INFO_FILE = "corrected.json"
MANIFEST_FILE = "manifest.csv"


class ExportFormat(str, Enum):
    """How a corrected dataset is written."""

    CSV = "csv"        # manifest.csv pointing at the original files
    KAGGLE = "kaggle"  # master/stage1/stage2 class folders (hard links or copies) + manifest.csv


@dataclass(frozen=True)
class RelabelledImage:
    """An image whose corrected label differs from the base dataset's.

    Attributes:
        sha256: The image's identity.
        path: Its path in the base manifest.
        split: Its split.
        given_label: The base dataset's label.
        label: The corrected label.
        decision_id: The decision that set it.
    """

    sha256: str
    path: str
    split: str
    given_label: str
    label: str
    decision_id: int


@dataclass(frozen=True)
class CorrectedDataset:
    """The base dataset with the label log applied.

    Attributes:
        manifest: Training-ready entries (corrected labels; "unknown" images left out); a
            relabelled entry keeps its base label in the ``label_given`` extra.
        version: ``manifest.content_hash()``.
        base_version: The base manifest's content hash.
        last_decision_id: Highest log id applied (0 for an empty log).
        relabelled: Images whose label changed (including those now unknown).
        unknown: Base entries flagged "unknown / new class", left out of ``manifest``.
        orphans: Identities with decisions that the base manifest does not hold.
    """

    manifest: Manifest
    version: str
    base_version: str
    last_decision_id: int
    relabelled: tuple[RelabelledImage, ...]
    unknown: tuple[ManifestEntry, ...]
    orphans: tuple[str, ...]

    def summary(self) -> dict[str, object]:
        """Plain-JSON facts for ``corrected.json`` and logs."""
        return {"version": self.version, "base_version": self.base_version,
                "last_decision_id": self.last_decision_id, "images": len(self.manifest),
                "relabelled": len(self.relabelled), "unknown": len(self.unknown),
                "orphans": len(self.orphans)}


def file_sha256(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (default 1 MiB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_sha256(manifest: Manifest) -> Manifest:
    """Fill in missing sha256 values by hashing the files; unreadable files stay without one."""
    entries = []
    for entry in manifest.entries:
        if not entry.sha256:
            try:
                entry = replace(entry, sha256=file_sha256(manifest.resolve(entry)))
            except OSError:
                pass  # training and evaluation report the unreadable file by name
        entries.append(entry)
    return manifest.with_entries(entries)


def correct_manifest(base: Manifest,
                     decisions: LabelStore | Mapping[str, LabelDecision]) -> CorrectedDataset:
    """Apply the label log to a base manifest.

    Args:
        base: The base dataset with sha256 per entry (entries without one keep their label).
        decisions: A label store, or its ``current()`` mapping (sha256 -> latest decision).

    Returns:
        The ``CorrectedDataset``.
    """
    latest = decisions.current() if isinstance(decisions, LabelStore) else dict(decisions)
    kept, relabelled, unknown, seen = [], [], [], set()
    for entry in base.entries:
        decision = latest.get(entry.sha256) if entry.sha256 else None
        seen.add(entry.sha256)
        if decision is None or decision.new_label == entry.label:
            kept.append(entry)
            continue
        relabelled.append(RelabelledImage(entry.sha256, entry.path, entry.split, entry.label,
                                          decision.new_label, decision.id))
        if decision.new_label == UNKNOWN_CLASS:
            unknown.append(entry)
            continue
        extras = {**entry.extras, GIVEN_LABEL_EXTRA: entry.label}
        kept.append(replace(entry, label=decision.new_label, extras=extras))
    manifest = base.with_entries(kept)
    return CorrectedDataset(
        manifest=manifest, version=manifest.content_hash(), base_version=base.content_hash(),
        last_decision_id=max((row.id for row in latest.values()), default=0),
        relabelled=tuple(relabelled), unknown=tuple(unknown),
        orphans=tuple(sorted(set(latest) - seen)))


def export_corrected(corrected: CorrectedDataset, out_dir: str | os.PathLike,
                     fmt: ExportFormat | str = ExportFormat.CSV) -> Path:
    """Write a corrected dataset with its ``corrected.json``.

    Args:
        corrected: From ``correct_manifest``.
        out_dir: Output folder (created). For CSV it must not hold a ``manifest.csv`` already.
        fmt: ``"csv"`` (manifest.csv pointing at the original files) or ``"kaggle"`` (class
            folders, see ``sem_core.data.export.export_kaggle_layout``). Default: "csv".

    Returns:
        The output folder.

    Raises:
        ValueError: When ``fmt`` is not a known format.
        sem_core.errors.DatasetError: When the folder already holds another export.
    """
    from sem_core.data.export import export_kaggle_layout
    from sem_core.errors import DatasetError

    try:
        chosen = ExportFormat(fmt)
    except ValueError:
        raise ValueError(f"Expected fmt='csv' or 'kaggle', received `fmt={fmt!r}`.") from None
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if chosen == ExportFormat.KAGGLE:
        export_kaggle_layout(corrected.manifest, folder)
    else:
        target = folder / MANIFEST_FILE
        if target.exists():
            raise DatasetError(f"{target}: already exists; export into an empty folder.")
        corrected.manifest.write_csv(target)
    info = {**corrected.summary(), "format": chosen.value,
            "relabelled_images": [asdict(item) for item in corrected.relabelled],
            "unknown_images": [entry.path for entry in corrected.unknown]}
    (folder / CORRECTED_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return folder
