"""Records of the label log: decision sources, a change to record, a stored decision.

``LabelChange`` is what a caller asks for (validated on construction); ``LabelDecision`` is a
row as stored, with the previous label, who, when and the batch it was written in.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum

from sem_core.classes import CLASSES
from sem_core.errors import SemCoreError

UNKNOWN_CLASS = "Unknown"
"""Label of an image flagged "unknown / new class": left out of training until it gets a class."""

LABELS: tuple[str, ...] = (*CLASSES, UNKNOWN_CLASS)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class LabelStoreError(SemCoreError):
    """The label database cannot be opened, or a decision is not valid; names the file."""


class DecisionSource(str, Enum):
    """Where a decision came from."""

    MANUAL = "manual"                            # a class chosen (or confirmed) by a person
    ACCEPTED_SUGGESTION = "accepted_suggestion"  # the review queue's suggestion, accepted
    UNDO = "undo"                                # restores the label before an earlier decision
    FLAG = "flag"                                # "unknown / new class": label becomes Unknown
    REVIEW_REQUEST = "review_request"            # asks for review (from Inspect); label unchanged


HUMAN_SOURCES = frozenset({DecisionSource.MANUAL, DecisionSource.ACCEPTED_SUGGESTION,
                           DecisionSource.FLAG})
"""Sources that mean a person has looked at the image and decided its label."""


@dataclass(frozen=True)
class LabelChange:
    """A decision to record (the store fills in the previous label, who and when).

    Attributes:
        sha256: Hex SHA-256 of the image file's bytes (the image's identity).
        path: The image's path as the dataset lists it (for people; identity is the hash).
        new_label: One of ``CLASSES`` or ``UNKNOWN_CLASS``.
        base_label: The image's label in the base dataset; the previous label of the first
            decision about the image.
        note: Free text, e.g. why. Default: "".
        source: Where the decision came from. Default: manual.
    """

    sha256: str
    path: str
    new_label: str
    base_label: str
    note: str = ""
    source: DecisionSource = DecisionSource.MANUAL

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", DecisionSource(self.source))
        object.__setattr__(self, "sha256", self.sha256.strip().lower())
        if not _SHA256.match(self.sha256):
            raise LabelStoreError(f"{self.path}: sha256 {self.sha256!r} is not 64 hex digits.")
        if self.new_label not in LABELS:
            raise LabelStoreError(f"{self.path}: label {self.new_label!r} is not one of "
                                  f"{', '.join(LABELS)}.")
        if (self.new_label == UNKNOWN_CLASS) != (self.source == DecisionSource.FLAG):
            raise LabelStoreError(f"{self.path}: the {UNKNOWN_CLASS!r} label goes with source "
                                  f"'flag' and only with it; received {self.source.value!r}.")
        if self.source == DecisionSource.UNDO:
            raise LabelStoreError(f"{self.path}: record undos with LabelStore.undo().")


@dataclass(frozen=True)
class LabelDecision:
    """One stored row of the log.

    Attributes:
        id: Position in the log (increasing, never reused).
        sha256: The image's identity.
        path: The image's path when the decision was made.
        previous_label: Its current label just before this decision.
        new_label: Its label from this decision on.
        who: The person (a typed name or the OS user).
        at: UTC time, ISO 8601 with microseconds.
        note: Free text.
        source: Where the decision came from.
        batch: Identifier shared by the decisions written in one transaction.
        undoes: Id of the decision this one undoes, or None.
    """

    id: int
    sha256: str
    path: str
    previous_label: str
    new_label: str
    who: str
    at: str
    note: str
    source: DecisionSource
    batch: str
    undoes: int | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON view (``source`` as its string value)."""
        return {**{name: getattr(self, name) for name in COLUMNS}, "source": self.source.value}


COLUMNS = ("id", "sha256", "path", "previous_label", "new_label", "who", "at", "note", "source",
            "batch", "undoes")


def default_user() -> str:
    """The OS user name, or "unknown" where the system cannot tell."""
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return "unknown"


def utc_timestamp() -> str:
    """Current UTC time, ISO 8601 with microseconds (sorts as text)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")
