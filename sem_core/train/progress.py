"""A terminal progress listener: one tqdm bar per epoch, one summary line per epoch."""

from __future__ import annotations

import sys

from tqdm import tqdm

from sem_core.train.callbacks import EventKind, ProgressEvent

_SHOWN = ("loss", "accuracy", "auc", "val_loss", "val_accuracy", "val_auc", "learning_rate")


class TqdmProgress:
    """Render ``ProgressEvent`` records on stderr; use as a context manager so bars close."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.bar: tqdm | None = None

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, *exc_info) -> None:
        self._close()

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == EventKind.MESSAGE:
            tqdm.write(event.message, file=self.stream)
        elif event.kind == EventKind.BATCH:
            if self.bar is None:
                self.bar = tqdm(total=event.batches, file=self.stream, leave=False, unit="batch",
                                desc=f"{event.stage} {event.phase} epoch {event.epoch}/{event.epochs}")
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{event.metrics.get('loss', float('nan')):.4f}", refresh=False)
        elif event.kind == EventKind.EPOCH:
            self._close()
            shown = ", ".join(f"{key} {event.metrics[key]:.4g}" for key in _SHOWN if key in event.metrics)
            tqdm.write(f"{event.stage} {event.phase} epoch {event.epoch}/{event.epochs}: {shown}",
                       file=self.stream)
        elif event.kind == EventKind.PHASE_END:
            self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
