"""The job's progress log: JSON lines appended to ``events.jsonl``, never silent for long.

Training progress events (``sem_core.train.callbacks.ProgressEvent``) are written as they come;
steps without their own progress (reading the dataset, building models, saving, evaluating) are
covered by a heartbeat line every ``heartbeat_s`` seconds naming the current activity, so a page
polling the file always sees the job breathe. Each line is flushed as soon as it is written.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from sem_core.jobs.state import EVENTS_FILE


class EventLog:
    """Append-only progress log of one job, with a heartbeat thread while open.

    Args:
        folder: The job folder.
        heartbeat_s: Longest silence before a heartbeat line. Default: 2.0.
    """

    def __init__(self, folder: str | Path, heartbeat_s: float = 2.0) -> None:
        self.path = Path(folder) / EVENTS_FILE
        self.heartbeat_s = heartbeat_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._last = self._started
        self._activity = "starting"
        self._handle = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> EventLog:
        self._handle = open(self.path, "a", encoding="utf-8")
        self._thread = threading.Thread(target=self._beat, name="job-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat_s + 1.0)
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def emit(self, kind: str, **fields: object) -> None:
        """Append one event line (``kind``, elapsed seconds, wall time and ``fields``)."""
        now = time.monotonic()
        record = {"kind": kind, "elapsed": round(now - self._started, 2),
                  "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **fields}
        line = json.dumps(record, allow_nan=False, default=str) + "\n"
        with self._lock:
            if self._handle is None:
                return
            self._handle.write(line)
            self._handle.flush()
            self._last = now

    def activity(self, text: str) -> None:
        """Say what the job does now (a message line; later heartbeats repeat it)."""
        self._activity = text
        self.emit("message", message=text)

    def progress(self, event) -> None:
        """A training ``ProgressEvent`` listener: write the event as a line."""
        if event.kind.value == "message":
            self._activity = event.message
        metrics = {key: value for key, value in event.metrics.items() if value == value}  # no NaN
        self.emit(event.kind.value, stage=event.stage, phase=event.phase, epoch=event.epoch,
                  epochs=event.epochs, batch=event.batch, batches=event.batches, metrics=metrics,
                  message=event.message)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s / 4):
            if time.monotonic() - self._last >= self.heartbeat_s:
                self.emit("heartbeat", activity=self._activity)
