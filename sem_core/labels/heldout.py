"""The held-out split, pinned in the label store before any relabelling.

Old and new bundles must be judged on the same images, and no retrain may learn from them. The
first time a dataset meets a label store (building the review queue, the first decision, the
first retrain), the images of its Test split are written to the store's ``heldout`` table, once;
later calls return that pin. ``apply_heldout`` puts every pinned image back into the Test split of
a manifest, so a retrain never trains on one even if a dataset's own split has moved.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace

from sem_core.data.manifest import Manifest
from sem_core.data.vocabulary import Split
from sem_core.labels.records import LabelStoreError, utc_timestamp
from sem_core.labels.store import LabelStore


@dataclass(frozen=True)
class HeldOutSplit:
    """The pinned test images.

    Attributes:
        sha256s: Identities of the held-out images.
        digest: SHA-256 over the sorted identities (names the split in comparisons and logs).
        pinned_at: UTC time of the pin.
    """

    sha256s: frozenset[str]
    digest: str
    pinned_at: str

    def __len__(self) -> int:
        return len(self.sha256s)

    def __contains__(self, sha256: object) -> bool:
        return sha256 in self.sha256s


def heldout_digest(sha256s: Iterable[str]) -> str:
    """SHA-256 over the sorted, newline-joined image identities."""
    return hashlib.sha256("\n".join(sorted(set(sha256s))).encode("ascii")).hexdigest()


def pinned_heldout(store: LabelStore) -> HeldOutSplit | None:
    """The store's pinned held-out split, or None before the first pin."""
    meta = store.meta()
    if "heldout_digest" not in meta:
        return None
    with store.connect() as connection:
        sha256s = frozenset(row[0] for row in connection.execute("SELECT sha256 FROM heldout"))
    return HeldOutSplit(sha256s, meta["heldout_digest"], meta["heldout_pinned_at"])


def pin_heldout(store: LabelStore, manifest: Manifest,
                split: str = Split.TEST.value) -> HeldOutSplit:
    """Pin the images of ``split`` as the held-out set, unless a pin exists already.

    Args:
        store: The label store.
        manifest: The base dataset, every entry with its sha256 (see ``ensure_sha256``).
        split: The split to hold out. Default: "Test".

    Returns:
        The pinned split (the earlier one when the store already had a pin).

    Raises:
        LabelStoreError: When a held-out entry has no sha256.
    """
    existing = pinned_heldout(store)
    if existing is not None:
        return existing
    entries = [entry for entry in manifest.entries if entry.split == split]
    unhashed = [entry.path for entry in entries if not entry.sha256]
    if unhashed:
        raise LabelStoreError(f"{unhashed[0]}: held-out images need their sha256 "
                              f"({len(unhashed)} lack it); load the dataset with hashing on.")
    digest, at = heldout_digest(entry.sha256 for entry in entries), utc_timestamp()
    with store.write(uuid.uuid4().hex) as connection:
        if connection.execute("SELECT 1 FROM meta WHERE key = 'heldout_digest'").fetchone():
            pinned = None  # another process pinned first; theirs stands
        else:
            connection.executemany("INSERT OR IGNORE INTO heldout(sha256, path) VALUES (?, ?)",
                                   [(entry.sha256, entry.path) for entry in entries])
            connection.executemany("INSERT INTO meta(key, value) VALUES (?, ?)",
                                   [("heldout_digest", digest), ("heldout_pinned_at", at),
                                    ("heldout_split", split)])
            pinned = HeldOutSplit(frozenset(entry.sha256 for entry in entries), digest, at)
    return pinned or pinned_heldout(store)  # type: ignore[return-value]


def apply_heldout(manifest: Manifest, heldout: HeldOutSplit) -> Manifest:
    """Move every pinned image into the Test split (other entries keep theirs)."""
    test = Split.TEST.value
    return manifest.with_entries(
        replace(entry, split=test) if entry.sha256 in heldout and entry.split != test else entry
        for entry in manifest.entries)
