"""One retrain at a time: a lock file naming the process that holds it, with stale detection.

The lock is a small JSON file (``retrain.lock``) created atomically with its full content (written
to a temporary file, then hard-linked into place, which fails if a lock exists), so no reader ever
sees half a lock. It names the job and the process (PID plus the kernel's start time of that
process, so a recycled PID is not mistaken for the holder). A lock whose process is gone (killed,
crashed, a zombie) is stale and is taken over by the next request. A guard file locked with
``flock`` serialises acquire and release between processes on POSIX systems.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from sem_core.errors import SemCoreError
from sem_core.registry import utc_now

LOCK_FILE = "retrain.lock"


class RetrainBusyError(SemCoreError):
    """Another retrain job holds the lock; the message says which and how to proceed."""


@dataclass(frozen=True)
class LockOwner:
    """Who holds the lock.

    Attributes:
        job_id: The job's identifier (its folder name).
        pid: The process running it.
        process_start: The kernel's start time of that process ("" where unknown).
        host: Machine name.
        since: UTC time the lock was taken.
    """

    job_id: str
    pid: int
    process_start: str
    host: str
    since: str


def process_start_marker(pid: int) -> str:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or "" if unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return text.rsplit(")", 1)[-1].split()[19]  # field 22; the name before ")" may hold spaces


def process_alive(pid: int, process_start: str = "") -> bool:
    """True when ``pid`` runs (not a zombie) and, if given, started at ``process_start``."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return True  # no /proc: trust the signal check
    if fields[0] in ("Z", "X"):
        return False
    return not process_start or fields[19] == process_start


class JobLock:
    """The retrain lock in one folder.

    Args:
        folder: Folder holding ``retrain.lock`` (the jobs root); created when missing.
    """

    # Subclasses guard other kinds of job with their own file and refusal (see ``refusal``).
    file_name: str = LOCK_FILE

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / self.file_name

    def refusal(self, owner: LockOwner) -> SemCoreError:
        """The error raised when ``owner``, alive, holds the lock: ``RetrainBusyError`` here."""
        return RetrainBusyError(busy_message(owner, self.path))

    def owner(self) -> LockOwner | None:
        """The holder recorded in the lock file, or None when there is no (readable) lock."""
        try:
            return LockOwner(**json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError, TypeError):
            return None

    def live_owner(self) -> LockOwner | None:
        """The holder if its process still runs; None when unlocked or the lock is stale."""
        owner = self.owner()
        if owner is None or not process_alive(owner.pid, owner.process_start):
            return None
        return owner

    def acquire(self, job_id: str, pid: int | None = None) -> LockOwner:
        """Take the lock for ``job_id``, replacing a stale one.

        Args:
            job_id: The job taking the lock.
            pid: The process that will run it. Default: None, this process.

        Returns:
            The new owner record.

        Raises:
            RetrainBusyError: When a live process holds the lock.
        """
        owner = _owner(job_id, os.getpid() if pid is None else pid)
        with self._guard():
            current = self.owner()
            if current is not None and process_alive(current.pid, current.process_start):
                raise self.refusal(current)
            if self.path.exists():
                self.path.unlink()  # stale: its process is gone
            self._write(owner, exclusive=True)
        return owner

    def hand_over(self, job_id: str, pid: int) -> LockOwner:
        """Record that ``pid`` now runs ``job_id`` (the launcher hands the lock to its worker).

        Raises:
            RetrainBusyError: When the lock is held for another job.
        """
        owner = _owner(job_id, pid)
        with self._guard():
            current = self.owner()
            if current is not None and current.job_id != job_id and process_alive(
                    current.pid, current.process_start):
                raise self.refusal(current)
            self._write(owner, exclusive=False)
        return owner

    def release(self, job_id: str) -> bool:
        """Remove the lock if ``job_id`` holds it; returns whether it was removed."""
        with self._guard():
            current = self.owner()
            if current is None or current.job_id != job_id:
                return False
            self.path.unlink(missing_ok=True)
            return True

    def _write(self, owner: LockOwner, exclusive: bool) -> None:
        temporary = self.folder / f".{LOCK_FILE}.{owner.job_id}.{os.getpid()}"
        temporary.write_text(json.dumps(asdict(owner)) + "\n", encoding="utf-8")
        try:
            if exclusive:
                os.link(temporary, self.path)  # fails if a lock appeared meanwhile
            else:
                os.replace(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # not POSIX: the atomic link alone guards creation
            yield
            return
        with open(self.folder / f".{LOCK_FILE}.guard", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def busy_message(owner: LockOwner, path: Path) -> str:
    """The refusal a user sees when a retrain is already running."""
    return (f"A retrain is already running (job {owner.job_id}, process {owner.pid} on "
            f"{owner.host}, since {owner.since}); only one runs at a time. Wait for it to finish "
            f"or cancel it (`python -m sem_core retrain --cancel {owner.job_id}`). Lock: {path}")


def _owner(job_id: str, pid: int) -> LockOwner:
    return LockOwner(job_id, int(pid), process_start_marker(pid), socket.gethostname(), utc_now())
