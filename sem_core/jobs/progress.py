"""Read a job's progress lines into one summary: where training is, what it does, its curves.

``summarise_events`` folds the events of ``events.jsonl`` (see ``sem_core.jobs.events``) into a
``JobProgress`` that a page or a terminal can show: the current stage, phase, epoch and batch,
the share of the phase done, the latest activity, and one row of metrics per finished epoch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

_CURVE_COLUMNS = ("stage", "phase", "epoch", "loss", "val_loss", "accuracy", "val_accuracy")


@dataclass(frozen=True)
class JobProgress:
    """Where a job is, from its events.

    Attributes:
        activity: What it does now (the latest message or heartbeat activity).
        stage: Stage being trained ("stage1", "stage2" or "").
        phase: Phase of that stage ("train", "frozen", "finetune" or "").
        epoch: Current epoch (1-based; 0 before training).
        epochs: Most epochs of the phase.
        batch: Last finished batch of the epoch.
        batches: Batches per epoch.
        elapsed_s: Seconds since the job process started, at the latest event.
        events: Number of events read.
        epochs_done: Metrics of each finished epoch, oldest first (stage, phase, epoch, ...).
        error: The error message if the job failed, else "".
    """

    activity: str = ""
    stage: str = ""
    phase: str = ""
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    elapsed_s: float = 0.0
    events: int = 0
    epochs_done: tuple[Mapping[str, object], ...] = field(default_factory=tuple)
    error: str = ""

    @property
    def phase_fraction(self) -> float:
        """Share of the current phase's batches done, in [0, 1]."""
        total = self.epochs * self.batches
        done = max(self.epoch - 1, 0) * self.batches + self.batch
        return min(done / total, 1.0) if total > 0 else 0.0

    def curves(self) -> pd.DataFrame:
        """One row per finished epoch: stage, phase, epoch and the loss/accuracy metrics."""
        frame = pd.DataFrame(list(self.epochs_done))
        for column in _CURVE_COLUMNS:
            if column not in frame:
                frame[column] = pd.Series(dtype=float)
        return frame[list(_CURVE_COLUMNS)]


def summarise_events(events: Sequence[Mapping[str, object]]) -> JobProgress:
    """Fold progress events, oldest first, into a ``JobProgress``."""
    values: dict[str, object] = {"epochs_done": []}
    for event in events:
        kind = event.get("kind")
        values["elapsed_s"] = float(event.get("elapsed", values.get("elapsed_s", 0.0)))
        if kind in ("message", "error") and event.get("message"):
            values["activity"] = str(event["message"])
        elif kind == "heartbeat":
            values["activity"] = str(event.get("activity", values.get("activity", "")))
        if kind == "error":
            values["error"] = str(event.get("message", ""))
        if kind in ("phase_start", "batch", "epoch"):
            for name in ("stage", "phase", "epoch", "epochs", "batches"):
                values[name] = event.get(name, values.get(name))
            values["batch"] = int(event.get("batch", 0)) if kind == "batch" else (
                int(event.get("batches", 0)) if kind == "epoch" else 0)
        if kind == "epoch":
            values["epochs_done"].append({"stage": event.get("stage", ""),
                                          "phase": event.get("phase", ""),
                                          "epoch": event.get("epoch", 0),
                                          **dict(event.get("metrics", {}) or {})})
    values["epochs_done"] = tuple(values["epochs_done"])
    values["events"] = len(events)
    return JobProgress(**values)
