"""The job side of a review-queue build, inside ``python -m sem_core review --job-dir FOLDER``.

``ReviewJobRun`` takes over the queue's lock from the launcher (``review_job.start_review``),
records the job's state, writes progress lines (images embedded / total, as ``batch`` events that
``summarise_events`` folds, plus the ``EventLog`` heartbeat) and turns SIGTERM or a
``cancel.request`` file into ``ReviewCancelled`` between batches.
"""

from __future__ import annotations

import os
import signal
import threading
import traceback
from pathlib import Path

from sem_core.jobs.events import EventLog
from sem_core.jobs.review_job import ReviewCancelled, ReviewLock
from sem_core.jobs.state import CANCEL_FILE, JobState, JobStatus, read_state, updated, write_state

EMBEDDING_PHASE = "embedding"


class ReviewJobRun:
    """The job side, inside ``python -m sem_core review --job-dir FOLDER``.

    On entry it takes over the lock, records ``running`` and opens the event log; ``progress``
    is the ``build_review_queue`` callback (raising ``ReviewCancelled`` once asked to stop);
    ``succeed`` records the outcome. On exit an exception is recorded as ``cancelled`` or
    ``failed`` (with its message) and the lock is released.

    Args:
        folder: The job folder written by ``start_review``.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder).resolve()
        self.lock = ReviewLock(self.folder.parent)
        self._cancel = threading.Event()
        self._log = EventLog(self.folder)
        self._state = read_state(self.folder) or JobState(self.folder.name, JobStatus.STARTING)

    def __enter__(self) -> ReviewJobRun:
        self.lock.hand_over(self.folder.name, os.getpid())
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: self._cancel.set())
        self._log.__enter__()
        self._record(status=JobStatus.RUNNING, pid=os.getpid(), message="loading the bundle")
        self._log.activity(self._state.message)
        return self

    def __exit__(self, kind, error, trace) -> None:
        try:
            if isinstance(error, ReviewCancelled):
                self._record(status=JobStatus.CANCELLED,
                             message="cancelled on request; the saved queue was not changed")
            elif error is not None:
                self._log.emit("error", message=str(error), traceback="".join(
                    traceback.format_exception(kind, error, trace)))
                self._record(status=JobStatus.FAILED, message=f"{kind.__name__}: {error}")
            elif not self._state.status.finished:
                self._record(status=JobStatus.FAILED, message="ended without a queue")
            self._log.emit("status", status=self._state.status.value,
                           message=self._state.message)
        finally:
            self._log.__exit__(kind, error, trace)
            self.lock.release(self.folder.name)

    def should_stop(self) -> bool:
        """True once SIGTERM/SIGINT arrived or a ``cancel.request`` file exists."""
        return self._cancel.is_set() or (self.folder / CANCEL_FILE).exists()

    def activity(self, text: str) -> None:
        """Say what the build does now (in the state and the event log)."""
        self._record(message=text)
        self._log.activity(text)

    def progress(self, done: int, total: int) -> None:
        """``build_review_queue``'s callback: log images embedded / total.

        Raises:
            ReviewCancelled: When asked to stop (between batches).
        """
        # One image counts as one "batch" of one epoch, so JobProgress.phase_fraction is done/total.
        self._log.emit("batch", stage="review", phase=EMBEDDING_PHASE, epoch=1, epochs=1,
                       batch=int(done), batches=int(total), metrics={},
                       message=f"embedded {done} of {total} images")
        if self.should_stop():
            raise ReviewCancelled(f"{self.folder.name}: cancelled after {done} of {total} images")

    def succeed(self, message: str, dataset_version: str = "") -> None:
        """Record that the queue is written and complete."""
        self._record(status=JobStatus.SUCCEEDED, message=message, dataset_version=dataset_version)

    def _record(self, **changes: object) -> None:
        self._state = write_state(self.folder, updated(self._state, **changes))
