"""The registry of model bundles: the bundle folders under one root, and which one is active.

``BundleRegistry.scan`` checks every folder that looks like a bundle with
``sem_core.registry.check_bundle`` (no TensorFlow) and returns the usable ones and the broken
ones with the reason, so a listing never fails because one folder is damaged or unsafe. The
active bundle is recorded in ``active.json`` with the history of earlier activations.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sem_core.registry import (
    ACTIVE_FILE,
    BUNDLE_FILE,
    BundleError,
    BundleInfo,
    check_bundle,
    utc_now,
)


@dataclass(frozen=True)
class RegisteredBundle:
    """A bundle found under a registry root."""

    path: Path
    info: BundleInfo


@dataclass(frozen=True)
class BrokenBundle:
    """A folder under a registry root that looks like a bundle but cannot be used.

    Attributes:
        path: The folder.
        reason: What is wrong, naming the file.
    """

    path: Path
    reason: str


class BundleRegistry:
    """The bundles under one root folder, and which of them is active.

    Args:
        root: Folder holding one sub-folder per bundle and ``active.json``.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def scan(self) -> tuple[list[RegisteredBundle], list[BrokenBundle]]:
        """Usable bundles (oldest first) and broken ones (by name), each checked with
        ``check_bundle``. A folder counts as a bundle when it holds bundle.json or a .keras file."""
        usable, broken = [], []
        if self.root.is_dir():
            for folder in sorted(self.root.iterdir()):
                if not folder.is_dir() or folder.name.startswith("."):
                    continue
                if not (folder / BUNDLE_FILE).is_file() and not any(folder.glob("*.keras")):
                    continue
                try:
                    usable.append(RegisteredBundle(folder, check_bundle(folder)))
                except BundleError as error:
                    broken.append(BrokenBundle(folder, str(error)))
        usable.sort(key=lambda item: (item.info.created, item.path.name))
        return usable, broken

    def bundles(self) -> list[RegisteredBundle]:
        """Every usable bundle under the root, oldest first (see ``broken`` for the others)."""
        return self.scan()[0]

    def broken(self) -> list[BrokenBundle]:
        """Folders that look like bundles but fail ``check_bundle``, with the reason."""
        return self.scan()[1]

    def get(self, name: str) -> RegisteredBundle:
        """The bundle called ``name``.

        Raises:
            BundleError: When there is none; the message lists the names that exist.
        """
        for item in self.bundles():
            if item.path.name == name:
                return item
        names = ", ".join(item.path.name for item in self.bundles()) or "none"
        raise BundleError(f"{self.root / name}: no such bundle; available: {names}.")

    def active(self) -> RegisteredBundle | None:
        """The active bundle, or None when none is marked (or it has disappeared)."""
        record = self._read_active()
        name = record.get("active")
        if not name:
            return None
        try:
            return self.get(str(name))
        except BundleError:
            return None

    def set_active(self, name: str) -> RegisteredBundle:
        """Mark bundle ``name`` active; earlier activations stay listed in active.json.

        Raises:
            BundleError: When the bundle does not exist.
        """
        bundle = self.get(name)
        record = self._read_active()
        history = list(record.get("history", []))
        history.append({"bundle": name, "activated": utc_now()})
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.root / f".{ACTIVE_FILE}.tmp-{os.getpid()}"
        temporary.write_text(json.dumps({"active": name, "history": history}, indent=2) + "\n",
                             encoding="utf-8")
        os.replace(temporary, self.root / ACTIVE_FILE)
        return bundle

    def new_bundle_dir(self, stem: str = "bundle") -> Path:
        """A fresh, not yet existing folder name under the root: ``{stem}-{UTC time}[-n]``."""
        base = f"{stem}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"
        candidate, counter = self.root / base, 1
        while candidate.exists():
            counter += 1
            candidate = self.root / f"{base}-{counter}"
        return candidate

    def _read_active(self) -> dict[str, object]:
        try:
            return json.loads((self.root / ACTIVE_FILE).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
