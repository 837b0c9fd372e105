"""Flag dataset images for review from the Metrics or Inspect page, without changing their labels.

A flag is a ``review_request`` row in the dataset's label log; the review queue puts flagged
images first (``sem_core.review``). Images are matched to the dataset by sha256. An image is
not flagged again while an earlier flag still waits, nor when it is outside the splits the queue
covers (the held-out Test split stays untouched so old and new bundles are compared fairly),
nor when it is not in the dataset, nor when a person has already marked it "unknown / new
class". Each skipped image says why. No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from sem_core.data.manifest import Manifest, ManifestEntry
from sem_core.labels import UNKNOWN_CLASS, DecisionSource, LabelChange, LabelDecision, LabelStore
from sem_core.review import ReviewConfig

REVIEWED_SPLITS: tuple[str, ...] = ReviewConfig().splits
HELD_OUT_NOTE = ("These images are in the held-out Test split, which the review queue leaves "
                 "alone so old and new bundles are compared on the same images. Evaluate the "
                 "Train or Validation split to flag images for review.")


class SkipReason(str, Enum):
    """Why an image asked to be flagged was not."""

    ALREADY_FLAGGED = "already flagged"
    HELD_OUT = "held out"
    NOT_IN_DATASET = "not in the dataset"
    MARKED_UNKNOWN = "marked unknown"


@dataclass(frozen=True)
class SkippedImage:
    """An image that was not flagged.

    Attributes:
        name: Its path in the dataset, or the name the caller gave for an image not in it.
        reason: Why it was not flagged.
    """

    name: str
    reason: SkipReason


@dataclass(frozen=True)
class FlagResult:
    """What a flag request did.

    Attributes:
        dataset: Name of the dataset (its folder or CSV name).
        flagged: Paths of the images flagged now, in request order.
        skipped: The images not flagged, each with its reason.
    """

    dataset: str
    flagged: tuple[str, ...]
    skipped: tuple[SkippedImage, ...] = ()

    def skipped_for(self, reason: SkipReason) -> tuple[str, ...]:
        """Names of the images skipped for ``reason``."""
        return tuple(image.name for image in self.skipped if image.reason is reason)


def entries_by_sha256(manifest: Manifest) -> dict[str, ManifestEntry]:
    """The first entry of each sha256 (exact duplicates share one label-log identity)."""
    found: dict[str, ManifestEntry] = {}
    for entry in manifest.entries:
        if entry.sha256:
            found.setdefault(entry.sha256.lower(), entry)
    return found


def _skip_reason(entry: ManifestEntry | None,
                 decision: LabelDecision | None) -> SkipReason | None:
    if entry is None:
        return SkipReason.NOT_IN_DATASET
    if entry.split not in REVIEWED_SPLITS:
        return SkipReason.HELD_OUT
    if decision is not None and decision.source is DecisionSource.REVIEW_REQUEST:
        return SkipReason.ALREADY_FLAGGED
    if decision is not None and decision.new_label == UNKNOWN_CLASS:
        return SkipReason.MARKED_UNKNOWN
    return None


def plan_flags(manifest: Manifest, latest: Mapping[str, LabelDecision],
               requested: Iterable[tuple[str, str]], note: str = "",
               ) -> tuple[list[LabelChange], list[SkippedImage]]:
    """The review requests to write and the images to leave alone (pure; nothing is written).

    Args:
        manifest: The base dataset, every entry with its sha256.
        latest: The label store's latest decision per sha256 (``LabelStore.current()``).
        requested: (sha256, name) pairs; the name is used only for an image not in the dataset.
            A sha256 asked twice counts once.
        note: Saved with each request. Default: "".

    Returns:
        (changes, skipped): one ``LabelChange`` per image to flag, keeping its current label,
        and the skipped images with their reasons, both in request order.
    """
    entries = entries_by_sha256(manifest)
    changes, skipped, seen = [], [], set()
    for sha256, name in requested:
        key = sha256.strip().lower()
        if key in seen:
            continue
        seen.add(key)
        entry, decision = entries.get(key), latest.get(key)
        reason = _skip_reason(entry, decision)
        if reason is not None:
            skipped.append(SkippedImage(entry.path if entry else name, reason))
            continue
        label = decision.new_label if decision else entry.label
        changes.append(LabelChange(key, entry.path, label, entry.label, note,
                                   DecisionSource.REVIEW_REQUEST))
    return changes, skipped


def flag_images(store: LabelStore, manifest: Manifest, requested: Iterable[tuple[str, str]], *,
                dataset: str, who: str | None = None, note: str = "") -> FlagResult:
    """Flag images for review in one transaction (all of them are recorded, or none).

    Args:
        store: The dataset's label store.
        manifest: The base dataset, every entry with its sha256.
        requested: (sha256, name) pairs, see ``plan_flags``.
        dataset: The dataset's folder or CSV (its name goes into messages).
        who: The person asking. Default: None, the OS user.
        note: Saved with each request. Default: "".

    Returns:
        The ``FlagResult``.

    Raises:
        sem_core.labels.LabelStoreError: When the database refuses the write; nothing is stored.
    """
    changes, skipped = plan_flags(manifest, store.current(), requested, note)
    if changes:
        store.record(changes, who=who)
    return FlagResult(Path(dataset).name, tuple(change.path for change in changes),
                      tuple(skipped))


def _listing(names: tuple[str, ...], limit: int = 3) -> str:
    shown = ", ".join(Path(name).name for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _subject(names: tuple[str, ...]) -> str:
    if len(names) == 1:
        return f"{Path(names[0]).name} is"
    return f"{len(names)} images ({_listing(names)}) are"


def summary(result: FlagResult) -> str:
    """One sentence on how many images were flagged (empty when none was)."""
    count = len(result.flagged)
    if not count:
        return ""
    return (f"Flagged {count} image{'s' * (count != 1)} of {result.dataset} for review "
            f"({_listing(result.flagged)}); labels unchanged. Rebuild the review queue on the "
            f"Relabel page: flagged images come first.")


def explanations(result: FlagResult) -> list[str]:
    """One plain sentence per reason some images were not flagged."""
    texts = {
        SkipReason.ALREADY_FLAGGED: "{subject} already flagged and waiting for review; not "
                                    "flagged twice.",
        SkipReason.HELD_OUT: "{subject} in the held-out Test split, which the review queue "
                             "leaves alone so old and new bundles are compared on the same "
                             "images; not flagged. Evaluate the Train or Validation split to "
                             "flag images there.",
        SkipReason.NOT_IN_DATASET: "{subject} not in the current dataset " + result.dataset
                                   + " (no image there has the same bytes), so there is no "
                                   "label to review; not flagged.",
        SkipReason.MARKED_UNKNOWN: "{subject} already marked unknown / new class; not flagged.",
    }
    return [text.format(subject=_subject(names)) for reason, text in texts.items()
            if (names := result.skipped_for(reason))]
