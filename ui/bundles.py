"""The bundles the app can use, from two registry roots, and which one is active.

Composes ``sem_core.registry.BundleRegistry`` over the shipped root (read-only, holds
``models/default``) and the user root (``runs/models``). The active bundle is, in order: the one
the app remembers in its state file, the user registry's active bundle, the shipped default,
the newest bundle found. Activating a user bundle also records it in the user registry's
``active.json`` so the command line agrees. Deleting is allowed only for user bundles that are
not active, and only when the caller passes the bundle's name back as confirmation.
No Streamlit here.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import pandas as pd

from sem_core.classes import STAGE2_CLASSES
from sem_core.registry import MODEL_CARD_FILE, BundleInfo, BundleRegistry
from ui import app_store, settings


class BundleOrigin(str, Enum):
    """Which registry root a bundle lives in."""

    SHIPPED = "shipped"
    USER = "user"


@dataclass(frozen=True)
class CatalogEntry:
    """One usable bundle.

    Attributes:
        path: The bundle folder, absolute.
        info: Its bundle.json.
        origin: Shipped (read-only) or user.
    """

    path: Path
    info: BundleInfo
    origin: BundleOrigin

    @property
    def name(self) -> str:
        """The folder name, which is how registries address a bundle."""
        return self.path.name

    @property
    def label(self) -> str:
        """Name and origin, for pickers."""
        return f"{self.name} ({self.origin.value})"


def list_bundles() -> list[CatalogEntry]:
    """Every readable bundle: shipped ones first, then user ones, each oldest first."""
    entries: list[CatalogEntry] = []
    seen: set[Path] = set()
    roots = ((settings.shipped_models_dir(), BundleOrigin.SHIPPED),
             (settings.user_models_dir(), BundleOrigin.USER))
    for root, origin in roots:
        for found in BundleRegistry(root).bundles():
            folder = found.path.resolve()
            if folder not in seen:
                seen.add(folder)
                entries.append(CatalogEntry(folder, found.info, origin))
    return entries


@dataclass(frozen=True)
class BrokenEntry:
    """A folder in a registry root that cannot be used as a bundle, and why."""

    path: Path
    origin: BundleOrigin
    reason: str


def list_broken() -> list[BrokenEntry]:
    """Folders under either root that look like bundles but fail the checks, with the reason."""
    roots = ((settings.shipped_models_dir(), BundleOrigin.SHIPPED),
             (settings.user_models_dir(), BundleOrigin.USER))
    return [BrokenEntry(found.path, origin, found.reason)
            for root, origin in roots for found in BundleRegistry(root).broken()]


def find(entries: Sequence[CatalogEntry], path: str | Path | None) -> CatalogEntry | None:
    """The entry whose folder is ``path``, or None."""
    if not path:
        return None
    wanted = Path(path).resolve()
    return next((entry for entry in entries if entry.path == wanted), None)


def resolve_active(entries: Sequence[CatalogEntry]) -> CatalogEntry | None:
    """The active bundle by the rule in the module docstring, or None when there is no bundle."""
    remembered = find(entries, app_store.read_record(settings.state_file()).active_bundle)
    if remembered is not None:
        return remembered
    user_active = BundleRegistry(settings.user_models_dir()).active()
    if user_active is not None and (entry := find(entries, user_active.path)) is not None:
        return entry
    default = find(entries, settings.shipped_default_bundle())
    if default is not None:
        return default
    return max(entries, key=lambda entry: entry.info.created, default=None)


def activate(entry: CatalogEntry) -> None:
    """Make ``entry`` the active bundle, remembered across sessions."""
    if entry.origin is BundleOrigin.USER:
        BundleRegistry(settings.user_models_dir()).set_active(entry.name)
    app_store.remember_active_bundle(settings.state_file(), str(entry.path))


def delete_bundle(entry: CatalogEntry, confirmation: str, active: CatalogEntry | None) -> None:
    """Delete a user bundle folder after the user typed its name.

    Args:
        entry: The bundle to delete.
        confirmation: What the user typed; must equal ``entry.name``.
        active: The active bundle (it cannot be deleted).

    Raises:
        ValueError: When the bundle is shipped, active, outside the user root, or the
            confirmation does not match; nothing is deleted then.
    """
    if entry.origin is not BundleOrigin.USER:
        raise ValueError(f"{entry.path}: shipped bundles are read-only and cannot be deleted here.")
    if active is not None and active.path == entry.path:
        raise ValueError(f"{entry.name} is the active bundle; activate another one first.")
    if confirmation.strip() != entry.name:
        raise ValueError(f"Type the bundle name {entry.name!r} exactly to confirm the deletion.")
    settings.resolve_inside(settings.user_models_dir(), entry.path)
    shutil.rmtree(entry.path)


def model_card(entry: CatalogEntry) -> str:
    """The bundle's MODEL_CARD.md text, or a note that it has none."""
    card = entry.path / MODEL_CARD_FILE
    try:
        return card.read_text(encoding="utf-8")
    except OSError:
        return f"_{card}: no model card in this bundle._"


def catalog_frame(entries: Sequence[CatalogEntry], active: CatalogEntry | None) -> pd.DataFrame:
    """One row per bundle with what a user compares first (validation figures from training)."""
    rows = []
    for entry in entries:
        metrics = entry.info.metrics
        rows.append({
            "active": active is not None and entry.path == active.path,
            "bundle": entry.name, "origin": entry.origin.value, "created": entry.info.created,
            "input px": entry.info.input_size, "stage 2": entry.info.stage2.architecture,
            "stage-1 threshold": entry.info.stage1_threshold,
            "stage-1 recall": metrics.get("stage1_recall"),
            "stage-1 overkill": metrics.get("stage1_overkill_rate"),
            "stage-2 macro-F1": metrics.get("stage2_macro_f1"),
            "cascade macro-F1": metrics.get("cascade_macro_f1"),
        })
    return pd.DataFrame(rows)


def validation_recall_frame(first: CatalogEntry, second: CatalogEntry) -> pd.DataFrame:
    """Stage-2 validation recall per defect class of two bundles side by side (from training)."""
    rows = [{"class": name,
             first.name: first.info.metrics.get(f"stage2_recall_{name}"),
             second.name: second.info.metrics.get(f"stage2_recall_{name}")}
            for name in STAGE2_CLASSES]
    return pd.DataFrame(rows)
