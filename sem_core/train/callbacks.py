"""Progress reporting and cancellation for training, independent of who is listening.

Training emits ``ProgressEvent`` records to a listener, any callable taking one event: the CLI
turns them into a tqdm bar, the app into a live chart, a background job into a log file. A
``should_stop`` callable, polled after every batch, lets a user cancel a run cleanly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

import keras


class EventKind(str, Enum):
    """What a progress event reports."""

    MESSAGE = "message"        # a line for the log (e.g. "training all layers from scratch")
    PHASE_START = "phase_start"
    BATCH = "batch"
    EPOCH = "epoch"
    PHASE_END = "phase_end"


@dataclass(frozen=True)
class ProgressEvent:
    """One step of progress.

    Attributes:
        kind: What happened.
        stage: "stage1", "stage2" or "" for run-level messages.
        phase: "train" (single phase), "frozen" or "finetune" (stage-2 fine-tuning), or "".
        epoch: 1-based epoch within the stage (0 before the first).
        epochs: Most epochs of the phase's stage.
        batch: 1-based batch within the epoch (0 outside batches).
        batches: Batches per epoch.
        metrics: Latest metric values (loss, accuracy, val_loss, ...).
        message: Free text for MESSAGE events.
    """

    kind: EventKind
    stage: str = ""
    phase: str = ""
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    metrics: Mapping[str, float] = field(default_factory=dict)
    message: str = ""

    def __post_init__(self) -> None:
        frozen = MappingProxyType({str(k): float(v) for k, v in dict(self.metrics).items()})
        object.__setattr__(self, "metrics", frozen)


ProgressListener = Callable[[ProgressEvent], None]


class TrainingCancelled(Exception):
    """Raised after a run stopped because ``should_stop`` returned True."""


def ignore_progress(event: ProgressEvent) -> None:
    """A listener that drops every event."""


class ProgressBridge(keras.callbacks.Callback):
    """Forward Keras batch and epoch callbacks to a ``ProgressListener``; stop on request.

    Args:
        listener: Receives the events.
        stage: Stage name put on every event.
        phase: Phase name put on every event.
        epochs: Total epochs of the stage (for the "epoch i of n" display).
        batches: Batches per epoch.
        should_stop: Polled after each batch; True stops training after that batch.
    """

    def __init__(self, listener: ProgressListener, stage: str, phase: str, epochs: int,
                 batches: int, should_stop: Callable[[], bool] | None = None) -> None:
        super().__init__()
        self.listener = listener
        self.stage = stage
        self.phase = phase
        self.epochs = epochs
        self.batches = batches
        self.should_stop = should_stop
        self.cancelled = False
        self._epoch = 0

    def _event(self, kind: EventKind, logs: Mapping[str, float] | None, batch: int = 0) -> ProgressEvent:
        numeric = {key: float(value) for key, value in (logs or {}).items() if _is_number(value)}
        return ProgressEvent(kind, self.stage, self.phase, self._epoch, self.epochs, batch,
                             self.batches, numeric)

    def on_train_begin(self, logs=None) -> None:
        self.listener(self._event(EventKind.PHASE_START, logs))

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self.listener(self._event(EventKind.BATCH, logs, batch=batch + 1))
        if self.should_stop is not None and self.should_stop():
            self.cancelled = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = dict(logs or {})
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.listener(self._event(EventKind.EPOCH, logs))

    def on_train_end(self, logs=None) -> None:
        self.listener(self._event(EventKind.PHASE_END, logs))


class DeadlineStop(keras.callbacks.Callback):
    """Stop at an epoch boundary when one more epoch (as long as the last) would pass a deadline.

    Args:
        deadline: ``time.monotonic()`` value training should end by.
        listener: Told (MESSAGE event) when the budget stops training.
        stage: Stage name for that message.
    """

    def __init__(self, deadline: float, listener: ProgressListener, stage: str) -> None:
        super().__init__()
        self.deadline = deadline
        self.listener = listener
        self.stage = stage
        self.stopped = False
        self._epoch_started = 0.0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch_started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        now = time.monotonic()
        if now + (now - self._epoch_started) > self.deadline:
            self.stopped = True
            self.model.stop_training = True
            self.listener(ProgressEvent(EventKind.MESSAGE, self.stage, message=(
                f"{self.stage}: time budget reached after epoch {epoch + 1}; keeping the best weights")))


def _is_number(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True
