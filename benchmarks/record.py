"""Shared tail of the benchmark scripts: machine facts and writing the JSON record."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path


def machine_facts() -> dict[str, object]:
    """CPU count, platform and load average (the machine is shared: load explains noise)."""
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average": os.getloadavg()}


def utc_stamp() -> str:
    """Now, UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_record(path: Path, record: dict) -> None:
    """Write ``record`` as indented JSON, creating the folder, and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")


def append_run(path: Path, tag: str, row: dict) -> None:
    """Add ``row`` to the record at ``path`` under ``runs[tag]`` (replacing a run of that tag,
    keeping every other), with the machine facts and time of this run."""
    record = json.loads(path.read_text()) if path.is_file() else {"runs": {}}
    record["runs"][tag] = row
    record.update(machine=machine_facts(), recorded=utc_stamp())
    write_record(path, record)
