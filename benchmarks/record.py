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
