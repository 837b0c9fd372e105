"""Flag dataset images for review from the Metrics or Inspect page, without changing their labels.

A flag is a ``review_request`` row in the dataset's label log; the review queue puts flagged
images first (``sem_core.review``). Images are matched to the dataset by sha256. An image is
not flagged again while an earlier flag still waits, nor when it is not in the dataset, nor
when a person has already marked it "unknown / new class". Each skipped image says why.
Held-out Test images can be flagged too: the held-out split is pinned before the first flag,
a flagged or relabelled held-out image keeps its place there (a retrain never learns from it),
and the bundle comparison reports relabelled held-out images apart from its headline figures;
the confirmation says so. No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from sem_core.data.manifest import Manifest, ManifestEntry
from sem_core.data.vocabulary import Split
from sem_core.labels import (UNKNOWN_CLASS, DecisionSource, LabelChange, LabelDecision, LabelStore,
                             pin_heldout)

HELD_OUT_SPLIT = Split.TEST.value
HELD_OUT_NOTE = ("Test images flagged here keep their place in the held-out split: a relabel "
                 "never moves them into training, and the bundle comparison reports relabelled "
                 "held-out images separately, so old and new bundles are still compared fairly "
                 "on the same images.")


class SkipReason(str, Enum):
    """Why an image asked to be flagged was not."""

    ALREADY_FLAGGED = "already flagged"
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
        held_out: Those of ``flagged`` in the pinned held-out split, in request order.
    """

    dataset: str
    flagged: tuple[str, ...]
    skipped: tuple[SkippedImage, ...] = ()
    held_out: tuple[str, ...] = ()

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

    The held-out split is pinned first (once per store), so a flagged Test image is held out
    for good before anyone relabels it.

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
        sem_core.labels.LabelStoreError: When the database refuses the write, or a Test image
            has no sha256 to pin it by; no flag is stored.
    """
    heldout = pin_heldout(store, manifest, HELD_OUT_SPLIT)
    changes, skipped = plan_flags(manifest, store.current(), requested, note)
    if changes:
        store.record(changes, who=who)
    return FlagResult(Path(dataset).name, tuple(change.path for change in changes),
                      tuple(skipped), _held_out(changes, heldout.sha256s))


def _held_out(changes: list[LabelChange], heldout: Collection[str]) -> tuple[str, ...]:
    return tuple(change.path for change in changes if change.sha256 in heldout)


def _listing(names: tuple[str, ...], limit: int = 3) -> str:
    shown = ", ".join(Path(name).name for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _subject(names: tuple[str, ...]) -> str:
    if len(names) == 1:
        return f"{Path(names[0]).name} is"
    return f"{len(names)} images ({_listing(names)}) are"


def summary(result: FlagResult) -> str:
    """How many images were flagged, and what that means for held-out ones (empty when none
    was flagged)."""
    count = len(result.flagged)
    if not count:
        return ""
    text = (f"Flagged {count} image{'s' * (count != 1)} of {result.dataset} for review "
            f"({_listing(result.flagged)}); labels unchanged. Rebuild the review queue on the "
            f"Relabel page: flagged images come first.")
    if result.held_out:
        one = len(result.held_out) == 1
        text += (f" {_subject(result.held_out)} in the held-out Test split: "
                 f"{'it keeps its' if one else 'they keep their'} place there (a relabel never "
                 f"moves {'it' if one else 'them'} into training), and the bundle comparison "
                 f"reports relabelled held-out images separately from its headline figures, so "
                 f"old and new bundles are still compared fairly.")
    return text


def explanations(result: FlagResult) -> list[str]:
    """One plain sentence per reason some images were not flagged."""
    texts = {
        SkipReason.ALREADY_FLAGGED: "{subject} already flagged and waiting for review; not "
                                    "flagged twice.",
        SkipReason.NOT_IN_DATASET: "{subject} not in the current dataset " + result.dataset
                                   + " (no image there has the same bytes), so there is no "
                                   "label to review; not flagged.",
        SkipReason.MARKED_UNKNOWN: "{subject} already marked unknown / new class; not flagged.",
    }
    return [text.format(subject=_subject(names)) for reason, text in texts.items()
            if (names := result.skipped_for(reason))]
