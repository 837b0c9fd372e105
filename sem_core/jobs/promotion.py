"""Promote a new bundle or roll back to an earlier one, each step logged with its evidence.

``promote`` makes a bundle of a registry active after a comparison says what changes;
``rollback`` makes an earlier active bundle active again. Both append a ``PromotionRecord`` to
``promotions.jsonl`` in the registry root first (who, when, from which bundle to which, why, and
the comparison's headline figures and file), then switch ``active.json``. The log is
append-only JSON lines, flushed to disk per record; a torn last line (a crash mid-write) is
skipped when reading.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

from sem_core.errors import SemCoreError
from sem_core.labels.store import default_user
from sem_core.registry import BundleRegistry, utc_now

PROMOTIONS_FILE = "promotions.jsonl"


class PromotionError(SemCoreError):
    """A promotion or rollback was refused; the message says why and what to do."""


class PromotionAction(str, Enum):
    """What a log record did."""

    PROMOTE = "promote"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class PromotionRecord:
    """One line of the promotion log.

    Attributes:
        action: Promote or rollback.
        bundle: Folder of the bundle made active.
        previous: Folder of the bundle active before, or None.
        who: The person.
        at: UTC time.
        note: Why, in their words.
        evidence: Headline figures of the comparison and its file (empty for a rollback
            without one).
    """

    action: PromotionAction
    bundle: str
    previous: str | None
    who: str
    at: str
    note: str = ""
    evidence: Mapping[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON view."""
        return {**asdict(self), "action": self.action.value, "evidence": dict(self.evidence)}


def evidence_of(comparison, path: str | os.PathLike | None = None) -> dict[str, object]:
    """The headline figures of a ``BundleComparison`` (and its file) for the log."""
    return {"comparison_file": None if path is None else str(path),
            "old_bundle": comparison.old_bundle, "new_bundle": comparison.new_bundle,
            "heldout_digest": comparison.heldout_digest,
            "dataset_version": comparison.dataset_version,
            "heldout_images": comparison.new.n_images,
            "old_macro_f1": comparison.old.macro_f1, "new_macro_f1": comparison.new.macro_f1,
            "old_escape_rate": comparison.old.escape_rate,
            "new_escape_rate": comparison.new.escape_rate,
            "old_overkill_rate": comparison.old.overkill_rate,
            "new_overkill_rate": comparison.new.overkill_rate,
            "predictions_changed": len(comparison.changed),
            "relabelled_heldout_images": len(comparison.relabelled)}


def append_record(root: str | os.PathLike, record: PromotionRecord) -> PromotionRecord:
    """Append ``record`` to ``root/promotions.jsonl`` and flush it to disk."""
    path = Path(root) / PROMOTIONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record.to_dict(), allow_nan=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return record


def read_log(root: str | os.PathLike) -> list[PromotionRecord]:
    """Every readable record of ``root/promotions.jsonl``, oldest first."""
    path = Path(root) / PROMOTIONS_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            data = json.loads(line)
            records.append(PromotionRecord(**{**data, "action": PromotionAction(data["action"])}))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a torn line from a crash mid-write
    return records


def promote(registry: BundleRegistry, name: str, *, comparison=None,
            comparison_path: str | os.PathLike | None = None, who: str | None = None,
            note: str = "", previous: str | None = None,
            require_evidence: bool = True) -> PromotionRecord:
    """Make bundle ``name`` of ``registry`` active and log it with its evidence.

    Args:
        registry: The registry holding the bundle.
        name: The bundle's folder name.
        comparison: The ``BundleComparison`` that justifies it. Default: None.
        comparison_path: Where that comparison is saved (recorded). Default: None.
        who: The person. Default: None, the OS user.
        note: Why. Default: "".
        previous: The bundle active before, when the caller tracks it elsewhere (the app's
            shipped default). Default: None, the registry's active bundle.
        require_evidence: Refuse without a comparison. Default: True.

    Returns:
        The logged ``PromotionRecord``.

    Raises:
        PromotionError: Without a comparison (when required), or when the comparison is about
            another bundle.
        sem_core.registry.BundleError: When the registry has no bundle ``name``.
    """
    bundle = registry.get(name)
    if comparison is None and require_evidence:
        raise PromotionError(f"{bundle.path}: promotion needs a comparison with the active bundle "
                             "(run `python -m sem_core compare` first) or an explicit override.")
    if comparison is not None and Path(comparison.new_bundle).resolve() != bundle.path.resolve():
        raise PromotionError(f"The comparison is about {comparison.new_bundle}, not {bundle.path}; "
                             "compare this bundle before promoting it.")
    current = registry.active()
    record = PromotionRecord(
        PromotionAction.PROMOTE, str(bundle.path),
        previous if previous is not None else (None if current is None else str(current.path)),
        (who or "").strip() or default_user(), utc_now(), note,
        {} if comparison is None else evidence_of(comparison, comparison_path))
    append_record(registry.root, record)
    registry.set_active(name)
    return record


def rollback(registry: BundleRegistry, name: str, *, who: str | None = None, note: str = "",
             previous: str | None = None) -> PromotionRecord:
    """Make an earlier active bundle active again, and log it.

    Args:
        registry: The registry holding the bundle.
        name: The earlier bundle's folder name.
        who: The person. Default: None, the OS user.
        note: Why. Default: "".
        previous: The bundle active now, when the caller tracks it elsewhere. Default: None,
            the registry's active bundle.

    Returns:
        The logged ``PromotionRecord``.

    Raises:
        PromotionError: When ``name`` was never active (promote it instead).
        sem_core.registry.BundleError: When the registry has no bundle ``name``.
    """
    bundle = registry.get(name)
    earlier = {Path(item).name for item in earlier_active(registry)}
    if name not in earlier:
        raise PromotionError(f"{bundle.path}: was never active, so there is nothing to roll back "
                             f"to; earlier active bundles: {', '.join(sorted(earlier)) or 'none'}.")
    current = registry.active()
    record = PromotionRecord(
        PromotionAction.ROLLBACK, str(bundle.path),
        previous if previous is not None else (None if current is None else str(current.path)),
        (who or "").strip() or default_user(), utc_now(), note)
    append_record(registry.root, record)
    registry.set_active(name)
    return record


def earlier_active(registry: BundleRegistry) -> list[str]:
    """Folders of bundles that were active at some time, per active.json and the log."""
    try:
        history = json.loads((registry.root / "active.json").read_text(encoding="utf-8"))
        names = [str(registry.root / item["bundle"]) for item in history.get("history", [])]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        names = []
    for record in read_log(registry.root):
        names += [record.bundle] + ([record.previous] if record.previous else [])
    return list(dict.fromkeys(names))
