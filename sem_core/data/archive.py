"""Bounded reads of zip archives: list members with their refusals, stream each with a cap.

``list_members`` reads a zip's directory once and says, for every file member, either that it
may be read or why not (a typed ``ImageLoadError``), without decompressing anything: links,
encrypted members, unknown compression methods, nested archives, empty members, members whose
declared size is over the per-member cap, and members past the per-archive total or count are
refused by name. ``OpenArchive.read`` then streams one member in chunks and stops at the cap
(the smaller of the declared size and the per-member limit), so a member that decompresses to
gigabytes never reaches memory; a member whose first bytes are no image signature is refused
after one chunk. One archive is opened once, however many members are read from it.
"""

from __future__ import annotations

import threading
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sem_core.data.image_formats import (
    PREFIX_LENGTH,
    SUPPORTED_FORMATS,
    max_encoded_bytes,
    not_an_image_error,
    sniff_format,
    too_large_file_error,
    unsupported_format_error,
)
from sem_core.data.image_io import DEFAULT_MAX_PIXELS
from sem_core.errors import ImageErrorKind, ImageLoadError

DEFAULT_MAX_ARCHIVE_BYTES = 8 << 30
DEFAULT_MAX_MEMBERS = 1_000_000
_CHUNK_BYTES = 1 << 20
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_ARCHIVE_SUFFIXES = (".zip", ".jar", ".7z", ".rar", ".tar", ".tgz", ".gz", ".bz2", ".xz")
_READABLE_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                               zipfile.ZIP_LZMA})
_SKIPPED_PREFIXES = ("__MACOSX/",)
_LINK_MODE = 0o120000


@dataclass(frozen=True)
class ArchiveLimits:
    """How much one zip archive may make a reader decompress.

    Attributes:
        max_pixels: The decoder's pixel limit; the per-member byte cap follows from it
            (``max_encoded_bytes``). Default: 200,000,000.
        max_archive_bytes: Total declared decompressed bytes read from one archive; later
            members are refused. Default: 8 GiB.
        max_members: File members listed from one archive; the rest are refused as one row.
            Default: 1,000,000.
    """

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS

    def __post_init__(self) -> None:
        for name in ("max_pixels", "max_archive_bytes", "max_members"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1. Received `{name}={getattr(self, name)}`")

    @property
    def max_member_bytes(self) -> int:
        """The per-member cap on decompressed bytes."""
        return max_encoded_bytes(self.max_pixels)


DEFAULT_LIMITS = ArchiveLimits()


@dataclass(frozen=True)
class ArchiveMember:
    """One file member of an archive: readable (``refusal`` None) or refused with the reason.

    The refusal is rebuilt from the directory entry when asked for, so listing an archive of
    100,000 refused members holds no 100,000 exception objects.

    Attributes:
        name: ``archive.zip/member`` as a user sees it.
        info: The member's directory entry (None for the row standing for members over the
            count limit).
        limits: The caps it was judged by.
        declared_before: Declared bytes of the readable members listed before it.
        fixed_refusal: A refusal that does not follow from the entry (the count limit).
    """

    name: str
    info: zipfile.ZipInfo | None
    limits: ArchiveLimits
    declared_before: int = 0
    fixed_refusal: ImageLoadError | None = None

    @property
    def refusal(self) -> ImageLoadError | None:
        """Why the member is not read, or None."""
        if self.fixed_refusal is not None or self.info is None:
            return self.fixed_refusal
        return _refusal(self.name, self.info, self.limits, self.declared_before)


def _is_link(info: zipfile.ZipInfo) -> bool:
    return (info.external_attr >> 16) & 0o170000 == _LINK_MODE


def _skipped(member: str) -> bool:
    """macOS resource forks and hidden files are metadata, not images a user put there."""
    return member.startswith(_SKIPPED_PREFIXES) or PurePosixPath(member).name.startswith(".")


def _refusal(label: str, info: zipfile.ZipInfo, limits: ArchiveLimits,
             declared_before: int) -> ImageLoadError | None:
    """Why ``info`` must not be read, judged from the directory entry alone."""
    if _is_link(info):
        return ImageLoadError(label, ImageErrorKind.LINK,
                              "the member is a symbolic link; links in archives are not followed")
    if info.flag_bits & 0x1:
        return ImageLoadError(label, ImageErrorKind.ENCRYPTED,
                              "the member is encrypted (password-protected); extract it with its "
                              "password and give the image directly")
    if info.compress_type not in _READABLE_METHODS:
        return ImageLoadError(label, ImageErrorKind.UNSUPPORTED,
                              f"the member uses zip compression method {info.compress_type}, "
                              "which cannot be read; re-create the archive with deflate")
    if info.filename.lower().endswith(_ARCHIVE_SUFFIXES):
        return _nested_error(label)
    if info.file_size == 0:
        return ImageLoadError(label, ImageErrorKind.EMPTY, "the member is empty (0 bytes)")
    if info.file_size > limits.max_member_bytes:
        return too_large_file_error(label, info.file_size, limits.max_pixels,
                                    "the member's declared decompressed size")
    if declared_before + info.file_size > limits.max_archive_bytes:
        return ImageLoadError(
            label, ImageErrorKind.ARCHIVE_LIMIT,
            f"the archive's members up to this one declare {declared_before + info.file_size:,} "
            f"decompressed bytes, over the per-archive limit of {limits.max_archive_bytes:,}; "
            "split the archive")
    return None


def _nested_error(label: str) -> ImageLoadError:
    return ImageLoadError(label, ImageErrorKind.NESTED_ARCHIVE,
                          "the member is itself an archive; archives inside archives are not "
                          "expanded (extract it and give its images directly)")


def list_members(archive: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> list[ArchiveMember]:
    """Every file member of ``archive`` in name order, each readable or refused.

    Directories, ``__MACOSX/`` entries and hidden names are left out. Only the zip directory
    is read; nothing is decompressed.

    Args:
        archive: The zip file.
        limits: Caps to apply. Default: ``ArchiveLimits()``.

    Returns:
        Members in sorted name order, at most ``limits.max_members`` of them plus one refused
        row standing for the rest.

    Raises:
        ImageLoadError: CORRUPT when the archive cannot be opened, NOT_FOUND when it cannot be
            read at all.
    """
    with _open_zip(archive) as handle:
        return _members_of(handle, archive, limits)


def _open_zip(archive: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except FileNotFoundError as error:
        raise ImageLoadError(str(archive), ImageErrorKind.NOT_FOUND,
                             "the zip archive does not exist") from error
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise ImageLoadError(str(archive), ImageErrorKind.CORRUPT,
                             f"the zip archive cannot be opened ({error}).") from error


def _members_of(handle: zipfile.ZipFile, archive: Path,
                limits: ArchiveLimits) -> list[ArchiveMember]:
    infos = [info for info in handle.infolist()
             if not info.is_dir() and not _skipped(info.filename)]
    infos.sort(key=lambda info: info.filename)
    members, declared = [], 0
    for info in infos[:limits.max_members]:
        member = ArchiveMember(f"{archive.name}/{info.filename}", info, limits, declared)
        if _refusal(member.name, info, limits, declared) is None:
            declared += info.file_size
        members.append(member)
    if len(infos) > limits.max_members:
        rest = len(infos) - limits.max_members
        label = f"{archive.name}/({rest:,} more members)"
        members.append(ArchiveMember(label, None, limits, declared, ImageLoadError(
            label, ImageErrorKind.ARCHIVE_LIMIT,
            f"the archive holds {len(infos):,} files, over the per-archive limit of "
            f"{limits.max_members:,}; the {rest:,} after {infos[limits.max_members - 1].filename} "
            "were not read (split the archive)")))
    return members


class OpenArchive:
    """A zip archive opened once, for reading many members with caps (thread-safe).

    The file stays open while any reader holds this object and closes with it, so a folder of
    archives never holds more open files than the archives whose members are in flight.

    Args:
        path: The zip file.
        limits: Caps to apply.
    """

    def __init__(self, path: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> None:
        self.path = Path(path)
        self.limits = limits
        self._handle: zipfile.ZipFile | None = None
        self._lock = threading.Lock()

    def members(self) -> list[ArchiveMember]:
        """The archive's members as ``list_members`` gives them, from the handle reads use (so
        their directory entries are held once).

        Raises:
            ImageLoadError: When the archive cannot be opened.
        """
        with self._lock:
            if self._handle is None:
                self._handle = _open_zip(self.path)
            return _members_of(self._handle, self.path, self.limits)

    def read(self, member: ArchiveMember) -> bytes:
        """The member's bytes, streamed and capped.

        Raises:
            ImageLoadError: The member's refusal; NOT_AN_IMAGE / UNSUPPORTED / NESTED_ARCHIVE
                from its first bytes; TOO_LARGE when it gives more bytes than allowed; CORRUPT
                when its data is damaged or does not match its declared size and checksum;
                NOT_FOUND when the archive has gone.
        """
        refusal = member.refusal
        if refusal is not None:
            raise refusal
        label, info = member.name, member.info
        cap = min(info.file_size, self.limits.max_member_bytes)
        with self._lock:
            try:
                if self._handle is None:
                    self._handle = zipfile.ZipFile(self.path)
                with self._handle.open(info) as stream:
                    return _capped_read(label, stream, cap, self.limits.max_pixels)
            except ImageLoadError:
                raise
            except RuntimeError as error:  # zipfile's "password required" and kin
                raise ImageLoadError(label, ImageErrorKind.ENCRYPTED, f"the member cannot be "
                                     f"read without a password ({error})") from error
            except NotImplementedError as error:
                raise ImageLoadError(label, ImageErrorKind.UNSUPPORTED,
                                     f"the member cannot be decompressed ({error})") from error
            except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as error:
                raise ImageLoadError(
                    label, ImageErrorKind.CORRUPT,
                    f"the member's data is damaged or does not match its declared size and "
                    f"checksum ({error}); it was not read further") from error
            except OSError as error:
                raise ImageLoadError(label, ImageErrorKind.NOT_FOUND,
                                     f"the archive cannot be read ({error})") from error

    def close(self) -> None:
        """Close the file now (it reopens on the next read)."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


def _capped_read(label: str, stream, cap: int, max_pixels: int) -> bytes:
    """Read ``stream`` up to ``cap`` bytes, judging the first bytes before reading the rest."""
    prefix = stream.read(PREFIX_LENGTH)
    if prefix.startswith(_ZIP_SIGNATURES):
        raise _nested_error(label)
    sniffed = sniff_format(prefix)
    if sniffed is None:
        raise not_an_image_error(label, prefix)
    if sniffed not in SUPPORTED_FORMATS:
        raise unsupported_format_error(label, sniffed)
    chunks, total = [prefix], len(prefix)
    while True:
        chunk = stream.read(min(_CHUNK_BYTES, cap + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > cap:
            raise ImageLoadError(
                label, ImageErrorKind.TOO_LARGE,
                f"the member decompresses to more than {cap:,} bytes (its declared size, or the "
                f"limit for {max_pixels:,} pixels); reading stopped there")
        chunks.append(chunk)
