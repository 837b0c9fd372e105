"""Typed errors of sem_core. Every message names the file (or input) and what is wrong."""

from __future__ import annotations

from enum import Enum


class SemCoreError(Exception):
    """Base class of the errors sem_core raises on purpose."""


class ImageErrorKind(str, Enum):
    """Why an image could not be used."""

    NOT_FOUND = "not_found"
    EMPTY = "empty"
    NOT_AN_IMAGE = "not_an_image"
    UNSUPPORTED = "unsupported"
    CORRUPT = "corrupt"
    TOO_SMALL = "too_small"
    TOO_LARGE = "too_large"
    NESTED_ARCHIVE = "nested_archive"
    ENCRYPTED = "encrypted"
    LINK = "link"
    ARCHIVE_LIMIT = "archive_limit"


ARCHIVE_ONLY_KINDS: frozenset[ImageErrorKind] = frozenset({
    ImageErrorKind.NESTED_ARCHIVE, ImageErrorKind.ENCRYPTED, ImageErrorKind.LINK,
    ImageErrorKind.ARCHIVE_LIMIT})
"""Kinds only a member of a zip archive can have."""


class ImageLoadError(SemCoreError):
    """An input could not be decoded as a usable SEM image.

    Attributes:
        source: The file path or name the bytes came from.
        kind: An ``ImageErrorKind`` saying why.
        detail: A sentence a user can act on.
    """

    def __init__(self, source: str, kind: ImageErrorKind, detail: str) -> None:
        self.source = str(source)
        self.kind = ImageErrorKind(kind)
        self.detail = detail
        super().__init__(f"{self.source}: {detail}")

    def __reduce__(self):  # keeps the error picklable across worker processes
        return (type(self), (self.source, self.kind, self.detail))


class DatasetError(SemCoreError):
    """A dataset folder or manifest cannot be read as a whole."""
