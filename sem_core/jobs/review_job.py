"""Background review-queue builds: one per queue at a time, in their own process, watched through
a folder.

``start_review`` takes the queue's lock (``ReviewLock``, refusing a second build with
``ReviewBusyError``), writes a job folder (``request.json``, ``state.json``; see
``sem_core.jobs.state``) and starts ``python -m sem_core review ... --job-dir FOLDER`` in its own
session, so it survives page reloads and browser disconnects; inside that process
``sem_core.jobs.review_run.ReviewJobRun`` records state, progress and cancellation. The queue
itself is written by the command to a hidden sibling and renamed into place only when complete,
so a killed build leaves the previous queue as it was. Importing this module does not load
TensorFlow.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from sem_core.errors import SemCoreError
from sem_core.jobs.launcher import JobHandle, interrupt_if_gone
from sem_core.jobs.children import reap, signal_quietly, spawn
from sem_core.jobs.lock import JobLock, LockOwner, process_alive
from sem_core.jobs.progress import JobProgress, summarise_events
from sem_core.jobs.state import (CANCEL_FILE, LOG_FILE, REQUEST_FILE, JobState, JobStatus,
                                 atomic_write_json, read_events, read_state, updated, write_state)

REVIEW_LOCK_FILE = "review.lock"


class ReviewBusyError(SemCoreError):
    """A build of the same review queue is running; the message says which and what to do."""


class ReviewCancelled(SemCoreError):
    """The queue build was asked to stop (SIGTERM or a cancel request); nothing was written."""


@dataclass(frozen=True)
class ReviewRequest:
    """What to rank, with which bundle, and where the queue goes.

    Attributes:
        bundle: Bundle folder whose embeddings are used (usually the active one).
        data: Base dataset folder or manifest CSV.
        out: The queue's JSON file (replaced only by a complete queue).
        labels: Label database (decisions and flags), or None. Default: None.
        folds: Cross-validation folds. Default: 5.
        batch_size: Images per model call. Default: 32.
        seed: Seed of the cross-validation. Default: 0.
        who: Who asked (recorded). Default: "".
    """

    bundle: str
    data: str
    out: str
    labels: str | None = None
    folds: int = 5
    batch_size: int = 32
    seed: int = 0
    who: str = ""

    def arguments(self) -> list[str]:
        """The ``python -m sem_core review`` arguments equivalent to this request."""
        parts = ["--bundle", self.bundle, "--data", self.data, "--out", self.out,
                 "--folds", str(self.folds), "--batch-size", str(self.batch_size),
                 "--seed", str(self.seed)]
        return parts + (["--labels", self.labels] if self.labels else [])


class ReviewLock(JobLock):
    """``JobLock`` on ``review.lock`` in one queue's jobs folder, refusing with
    ``ReviewBusyError``.

    Args:
        folder: The queue's jobs folder; created when missing.
    """

    file_name = REVIEW_LOCK_FILE

    def refusal(self, owner: LockOwner) -> ReviewBusyError:
        """The refusal naming the running build."""
        return ReviewBusyError(
            f"The review queue is already being built (job {owner.job_id}, process "
            f"{owner.pid}, since {owner.since}); one build per dataset runs at a time. Wait "
            f"for it to finish or cancel it. Lock: {self.path}")


def start_review(request: ReviewRequest, jobs_root: str | os.PathLike, *,
                 python: str = sys.executable) -> JobHandle:
    """Start a review-queue build in the background.

    Args:
        request: What to rank and where the queue goes.
        jobs_root: This queue's jobs folder (its lock and job folders); one build runs per folder.
        python: Interpreter to run the job with. Default: this one.

    Returns:
        The ``JobHandle``.

    Raises:
        ReviewBusyError: When a build in ``jobs_root`` is running (its job and process named).
    """
    from sem_core.registry import utc_now

    root = Path(jobs_root).resolve()
    lock = ReviewLock(root)
    job_id = f"review-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    lock.acquire(job_id)
    folder = root / job_id
    try:
        folder.mkdir(parents=True)
        atomic_write_json(folder / REQUEST_FILE, asdict(request))
        write_state(folder, JobState(job_id, JobStatus.STARTING, 0, utc_now(), utc_now(),
                                     "starting the queue build"))
        child = spawn(["review", *request.arguments(), "--job-dir", str(folder)],
                      folder / LOG_FILE, python)
    except BaseException:
        if (folder / REQUEST_FILE).exists():
            write_state(folder, JobState(job_id, JobStatus.FAILED, 0, utc_now(), utc_now(),
                                         "the queue build process could not be started"))
        lock.release(job_id)
        raise
    lock.hand_over(job_id, child.pid)
    return JobHandle(job_id, folder, child.pid)


def review_state(folder: str | os.PathLike) -> JobState | None:
    """The build's state; one whose process is gone unfinished is recorded as ``interrupted``."""
    folder = Path(folder)
    state = read_state(folder)
    if state is None or state.status.finished:
        return state
    pid = _job_pid(folder, state)
    state, interrupted = interrupt_if_gone(folder, state, pid, (
        f"the queue build (process {pid}) ended without finishing (killed or crashed); the saved "
        "queue was not changed"))
    if interrupted:
        ReviewLock(folder.parent).release(folder.name)
    return state


def latest_review(jobs_root: str | os.PathLike) -> JobState | None:
    """The newest build in ``jobs_root`` (running or not), or None when there is none."""
    root = Path(jobs_root)
    folders = sorted((item for item in root.iterdir() if (item / REQUEST_FILE).is_file()),
                     reverse=True) if root.is_dir() else []
    return review_state(folders[0]) if folders else None


def review_progress(folder: str | os.PathLike) -> JobProgress:
    """Where the build is: ``batch``/``batches`` are images embedded / total."""
    return summarise_events(read_events(folder)[0])


def cancel_review(folder: str | os.PathLike, *, grace_s: float = 30.0) -> JobState | None:
    """Ask a build to stop; kill it if it has not stopped after ``grace_s`` seconds.

    Args:
        folder: The job folder.
        grace_s: Seconds to wait for a clean stop before SIGKILL. Default: 30.

    Returns:
        The build's state afterwards (the saved queue is unchanged either way).
    """
    folder = Path(folder)
    state = review_state(folder)
    if state is None or state.status.finished:
        return state
    (folder / CANCEL_FILE).write_text("cancel requested\n", encoding="utf-8")
    pid = _job_pid(folder, state)
    deadline = time.monotonic() + grace_s
    for number in (signal.SIGTERM, signal.SIGKILL):
        if process_alive(pid):
            signal_quietly(pid, number)
        while time.monotonic() < deadline and process_alive(pid):
            reap(pid)
            time.sleep(0.1)
        deadline = time.monotonic() + 5.0
    state = read_state(folder) or state
    if not state.status.finished:
        state = write_state(folder, updated(state, status=JobStatus.CANCELLED, message=(
            "cancelled on request; the saved queue was not changed")))
        ReviewLock(folder.parent).release(folder.name)
    return state


def _job_pid(folder: Path, state: JobState) -> int:
    """The build's process: from the state once running, else from the lock (0 when gone)."""
    if state.status is JobStatus.RUNNING:
        return state.pid
    owner = ReviewLock(folder.parent).owner()
    return owner.pid if owner is not None and owner.job_id == folder.name else 0


