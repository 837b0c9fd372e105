"""A retrain job on disk: its request, its state and its progress log, in one folder.

``<jobs root>/<job id>/`` holds ``request.json`` (a ``RetrainRequest``), ``state.json`` (a
``JobState``, replaced atomically on every change), ``events.jsonl`` (one JSON object per line:
training progress, messages and a heartbeat every few seconds), ``log.txt`` (the process's own
output), and when it ends ``corrected_manifest.csv`` and ``comparison.json``. Any page or command
can poll the folder, after reloads or from another machine sharing the disk.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from enum import Enum
from pathlib import Path

REQUEST_FILE = "request.json"
STATE_FILE = "state.json"
EVENTS_FILE = "events.jsonl"
LOG_FILE = "log.txt"
CANCEL_FILE = "cancel.request"
COMPARISON_FILE = "comparison.json"
CORRECTED_FILE = "corrected_manifest.csv"
JOBS_DIR_ENV = "SEM_JOBS_DIR"


class TrainingMode(str, Enum):
    """Where the new bundle's weights start."""

    FINETUNE = "finetune"  # from the base bundle's weights
    SCRATCH = "scratch"    # random initialisation


class JobStatus(str, Enum):
    """Where a job is in its life."""

    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # its process died without saying why (killed, crashed)

    @property
    def finished(self) -> bool:
        """True once the job will not change any more."""
        return self not in (JobStatus.STARTING, JobStatus.RUNNING)


# Initial weights a first model may start from: random, or ImageNet (transfer learning).
FIRST_MODEL_WEIGHTS: tuple[str, ...] = ("none", "imagenet")


@dataclass(frozen=True)
class RetrainRequest:
    """What to retrain.

    Attributes:
        data: Base dataset folder or manifest CSV.
        base_bundle: The bundle to start from and compare against (the active one); "" for a
            first model, trained from scratch and compared with nothing.
        out: Folder of the new bundle (must not exist).
        labels: Label database whose decisions correct the dataset, or None. Default: None.
        mode: Fine-tune from ``base_bundle`` or train from scratch. Default: fine-tune.
        epochs: Most stage-2 epochs; None: half the base bundle's for a fine-tune (its own when
            the base was itself fine-tuned from a bundle), the base's own from scratch.
            Default: None.
        stage1_epochs: Most stage-1 epochs; None: chosen as ``epochs`` is. Default: None.
        batch_size: Images per step; None keeps the base bundle's. Default: None.
        seed: Seed of the run. Default: 0.
        compare: Compare old and new on the held-out split when training ends (never without a
            base bundle). Default: True.
        who: Who asked (recorded). Default: "".
        image_size: Input size of a first model (no base bundle); None: the training default.
        backbone: Stage-2 backbone of a first model; None: the training default.
        weights: Initial weights of a first model: "none" (random) or "imagenet" (offline for
            EfficientNet-Lite; the Keras cache or a network otherwise); None: random. Default: None.
        stage1_backbone: Stage 1 of a first model: "cnn" or a backbone starting from
            ``weights``; None: the training default (the CNN). Default: None.
        recipe: "standard" or "probe" for a first model; None: standard. Default: None.
    """

    data: str
    base_bundle: str
    out: str
    labels: str | None = None
    mode: TrainingMode = TrainingMode.FINETUNE
    epochs: int | None = None
    stage1_epochs: int | None = None
    batch_size: int | None = None
    seed: int = 0
    compare: bool = True
    who: str = ""
    image_size: int | None = None
    backbone: str | None = None
    weights: str | None = None
    stage1_backbone: str | None = None
    recipe: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", TrainingMode(self.mode))
        first_model_only = (self.image_size, self.backbone, self.weights, self.stage1_backbone, self.recipe)
        if self.base_bundle and any(value is not None for value in first_model_only):
            raise ValueError("RetrainRequest: image_size, backbone, weights, stage1_backbone and "
                             "recipe come from the base bundle; give them only for a first model "
                             "(no base_bundle).")
        if self.weights not in FIRST_MODEL_WEIGHTS + (None,):
            raise ValueError(f"RetrainRequest: a first model starts from one of "
                             f"{', '.join(FIRST_MODEL_WEIGHTS)}. Received `weights={self.weights!r}`.")
        if self.recipe == "probe" and self.weights != "imagenet":
            raise ValueError("RetrainRequest: the probe recipe fits heads on pretrained features; "
                             "a first model needs weights 'imagenet' for it.")
        if not self.base_bundle:
            if self.mode != TrainingMode.SCRATCH:
                raise ValueError("RetrainRequest: without a base bundle there is nothing to "
                                 "fine-tune; use mode 'scratch' for a first model.")
            object.__setattr__(self, "compare", False)
        for name in ("epochs", "stage1_epochs", "batch_size"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "stage1_epochs" else 1):
                raise ValueError(f"RetrainRequest: {name} must be positive. "
                                 f"Received `{name}={value}`.")

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON view."""
        return {**asdict(self), "mode": self.mode.value}

    @classmethod
    def from_dict(cls, data: dict) -> RetrainRequest:
        """Inverse of ``to_dict`` (unknown keys are ignored)."""
        known = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass(frozen=True)
class JobState:
    """A job's state as ``state.json`` records it.

    Attributes:
        job_id: The job's identifier (its folder name).
        status: Where it is.
        pid: The process running it (0 before it starts).
        created: UTC time the job was requested.
        updated: UTC time of this record.
        message: A sentence for the user (what it does now, why it failed).
        bundle: Folder of the new bundle once written, else None.
        comparison: Path of ``comparison.json`` once written, else None.
        dataset_version: Content hash of the corrected dataset trained on ("" before).
    """

    job_id: str
    status: JobStatus
    pid: int = 0
    created: str = ""
    updated: str = ""
    message: str = ""
    bundle: str | None = None
    comparison: str | None = None
    dataset_version: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", JobStatus(self.status))

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON view."""
        return {**asdict(self), "status": self.status.value}


def default_jobs_root() -> Path:
    """``$SEM_JOBS_DIR`` or ``runs/jobs`` under the working folder."""
    return Path(os.environ.get(JOBS_DIR_ENV) or Path("runs") / "jobs")


def atomic_write_json(path: Path, data: object) -> None:
    """Write JSON to a temporary sibling, flush it to disk, then rename it into place."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(data, indent=1) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_state(folder: Path, state: JobState) -> JobState:
    """Record ``state`` in ``folder/state.json`` (atomically) and return it."""
    atomic_write_json(Path(folder) / STATE_FILE, state.to_dict())
    return state


def read_state(folder: str | os.PathLike) -> JobState | None:
    """The recorded state, or None when the folder holds no (readable) state."""
    try:
        data = json.loads((Path(folder) / STATE_FILE).read_text(encoding="utf-8"))
        return JobState(**{key: value for key, value in data.items()
                           if key in {item.name for item in fields(JobState)}})
    except (OSError, json.JSONDecodeError, TypeError, ValueError):
        return None


def read_request(folder: str | os.PathLike) -> RetrainRequest:
    """The job's request.

    Raises:
        ValueError: When ``request.json`` is missing or malformed (the message names it).
    """
    path = Path(folder) / REQUEST_FILE
    try:
        return RetrainRequest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: not a retrain request ({error}).") from error


def updated(state: JobState, **changes: object) -> JobState:
    """``state`` with ``changes`` and a fresh ``updated`` time."""
    from sem_core.registry import utc_now

    return replace(state, updated=utc_now(), **changes)


def read_events(folder: str | os.PathLike, offset: int = 0) -> tuple[list[dict], int]:
    """Progress events appended since byte ``offset``.

    Only complete lines are returned (a line being written is left for the next call), so a
    poller can call this repeatedly with the offset it got back.

    Args:
        folder: The job folder.
        offset: Byte position to read from. Default: 0.

    Returns:
        (events, new offset).
    """
    path = Path(folder) / EVENTS_FILE
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except FileNotFoundError:
        return [], offset
    complete = chunk[:chunk.rfind(b"\n") + 1]
    events = []
    for line in complete.splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn line from a killed writer; the next line starts clean
    return events, offset + len(complete)
