"""The app's memory between sessions: the active bundle and the labelled datasets it knows.

One small JSON file (``ui.settings.state_file()``), written atomically. A missing or damaged file
reads as "nothing remembered", never as an error: the app must always start. No Streamlit here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class AppRecord:
    """What the app remembers.

    Attributes:
        active_bundle: Folder of the bundle chosen as active, or None (use the default rule).
        datasets: Labelled dataset folders (or manifest CSVs) the user added, oldest first.
    """

    active_bundle: str | None = None
    datasets: tuple[str, ...] = field(default_factory=tuple)


def read_record(path: Path) -> AppRecord:
    """Read the record; a missing or malformed file gives an empty record."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return AppRecord(active_bundle=data.get("active_bundle") or None,
                         datasets=tuple(str(item) for item in data.get("datasets", [])))
    except (FileNotFoundError, json.JSONDecodeError, AttributeError, TypeError):
        return AppRecord()


def write_record(path: Path, record: AppRecord) -> None:
    """Write the record atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    payload = {"active_bundle": record.active_bundle, "datasets": list(record.datasets)}
    temporary.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def remember_dataset(path: Path, dataset: str) -> AppRecord:
    """Add a dataset to the remembered list (once) and return the new record."""
    record = read_record(path)
    if dataset not in record.datasets:
        record = replace(record, datasets=record.datasets + (dataset,))
        write_record(path, record)
    return record


def forget_dataset(path: Path, dataset: str) -> AppRecord:
    """Drop a dataset from the remembered list (its files are left alone)."""
    record = read_record(path)
    record = replace(record, datasets=tuple(item for item in record.datasets if item != dataset))
    write_record(path, record)
    return record


def remember_active_bundle(path: Path, bundle: str) -> AppRecord:
    """Record the active bundle folder and return the new record."""
    record = replace(read_record(path), active_bundle=bundle)
    write_record(path, record)
    return record
