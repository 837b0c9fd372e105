"""Upload limits and the per-session folder that holds uploaded files while they are inspected.

An upload is refused as a whole, with a message saying which limit and what to do instead, when
it holds more than ``MAX_FILES_PER_UPLOAD`` files or ``MAX_BYTES_PER_UPLOAD`` bytes; the browser
itself refuses a single file over ``MAX_FILE_MB`` (Streamlit's ``server.maxUploadSize``, which
``.streamlit/config.toml`` sets to the same value). Accepted files are written to a folder of
their own under ``<app dir>/uploads/``, so zip members are read from disk with caps instead of
being held in memory; the folder is removed when the session's ``SessionUploads`` is dropped
(Streamlit drops a session's state when it ends) or cleared, and folders left by a crashed
server are swept once they are a day old. No Streamlit here.
"""

from __future__ import annotations

import shutil
import time
import uuid
import weakref
from pathlib import Path, PurePath

from sem_core.data.archive import ArchiveLimits

MAX_FILE_MB = 512
"""Largest single uploaded file, in MB (a zip of a few thousand review images)."""
MAX_FILES_PER_UPLOAD = 5_000
"""Files in one upload, and members read from one uploaded zip; bigger sets belong in a
data-root folder."""
MAX_BYTES_PER_UPLOAD = 1 << 30
"""Bytes in one upload, all files together."""
UPLOAD_ARCHIVE_LIMITS = ArchiveLimits(max_archive_bytes=4 << 30, max_members=MAX_FILES_PER_UPLOAD)
"""Caps on reading an uploaded zip: the decoder's pixel limit per member, 4 GiB per archive."""
STALE_AFTER_S = 24 * 3600
UPLOADS_FOLDER = "uploads"


class UploadRefused(ValueError):
    """An upload breaks a limit; the message says which and what to do instead."""


def check_upload(files: list[tuple[str, int]]) -> None:
    """Refuse an upload that holds too many files or bytes.

    Args:
        files: (name, size in bytes) of each uploaded file.

    Raises:
        UploadRefused: When a limit is broken.
    """
    if len(files) > MAX_FILES_PER_UPLOAD:
        raise UploadRefused(
            f"This upload holds {len(files):,} files; one upload may hold at most "
            f"{MAX_FILES_PER_UPLOAD:,}. Upload fewer at a time, or put the images in a folder "
            "under the data root and choose 'Folder under the data root'.")
    total = sum(size for _, size in files)
    if total > MAX_BYTES_PER_UPLOAD:
        raise UploadRefused(
            f"This upload holds {total / 2**20:,.0f} MB; one upload may hold at most "
            f"{MAX_BYTES_PER_UPLOAD / 2**20:,.0f} MB. Upload fewer files at a time, or put the "
            "images in a folder under the data root.")
    for name, size in files:
        if size > MAX_FILE_MB * 2**20:
            raise UploadRefused(f"{name}: {size / 2**20:,.0f} MB, over the {MAX_FILE_MB} MB limit "
                                "per file.")


def safe_file_name(name: str) -> str:
    """The last part of an uploaded name, reduced to characters safe in any file system."""
    last = PurePath(name.replace("\\", "/")).name
    cleaned = "".join(char if char.isalnum() or char in "-_. " else "_" for char in last)
    return cleaned.strip(" .") or "upload"


class SessionUploads:
    """A folder holding one session's uploaded files, removed when this object is dropped.

    Args:
        root: Parent of every session's folder (``<app dir>/uploads``).
    """

    def __init__(self, root: Path) -> None:
        sweep_stale(root)
        self.path = Path(root) / uuid.uuid4().hex
        self.path.mkdir(parents=True)
        self._count = 0
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)

    def store(self, name: str, data: bytes) -> Path:
        """Write one uploaded file into a sub-folder of its own and return its path."""
        self._count += 1
        folder = self.path / f"{self._count:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / safe_file_name(name)
        target.write_bytes(data)
        return target

    def discard(self, stored: Path) -> None:
        """Delete one stored upload (the sub-folder ``store`` made for it)."""
        folder = Path(stored).parent
        if folder.parent == self.path:
            shutil.rmtree(folder, ignore_errors=True)

    def clear(self) -> None:
        """Delete the files uploaded so far (the folder stays for later uploads)."""
        for child in list(self.path.iterdir()) if self.path.is_dir() else []:
            shutil.rmtree(child, ignore_errors=True)

    def remove(self) -> None:
        """Delete the folder now."""
        self._finalizer()


def sweep_stale(root: Path, max_age_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove session folders under ``root`` untouched for ``max_age_s`` seconds (left by a
    server that stopped without cleaning up); return what was removed."""
    removed = []
    if not Path(root).is_dir():
        return removed
    cutoff = time.time() - max_age_s
    for folder in Path(root).iterdir():
        try:
            if folder.is_dir() and not folder.is_symlink() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        except OSError:
            continue
    return removed
