"""Start, watch and cancel retrain jobs from any process (the app, the CLI, a test).

``start_retrain`` takes the lock (refusing a second job with ``RetrainBusyError``), writes the
job folder and starts ``python -m sem_core retrain --run-job FOLDER`` as a separate process in
its own session, so it survives page reloads, browser disconnects and a restart of the server.
``job_state`` reads ``state.json`` and notices a job whose process died (``interrupted``);
``cancel_job`` asks the process to stop (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from sem_core.jobs.children import reap, signal_quietly, spawn
from sem_core.jobs.lock import JobLock, process_alive
from sem_core.jobs.state import (CANCEL_FILE, LOG_FILE, REQUEST_FILE, JobState, JobStatus,
                                 RetrainRequest, atomic_write_json, read_state, updated,
                                 write_state)
from sem_core.jobs.worker import remove_stale_partials, retrain_config



@dataclass(frozen=True)
class JobHandle:
    """A started job.

    Attributes:
        job_id: Its identifier.
        folder: Its folder (request, state, events, log).
        pid: Its process.
    """

    job_id: str
    folder: Path
    pid: int


def new_job_id() -> str:
    """A sortable, unique job identifier: ``retrain-<UTC time>-<random>``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"retrain-{stamp}-{uuid.uuid4().hex[:6]}"


def prepare_job(request: RetrainRequest, jobs_root: str | os.PathLike) -> tuple[Path, JobLock]:
    """Take the lock and write a new job folder with its request (state ``starting``).

    Raises:
        RetrainBusyError: When another job runs.
        sem_core.registry.BundleError: When ``request.out`` already exists.
    """
    from sem_core.registry import BundleError, utc_now

    request = replace(request, data=_absolute(request.data), out=_absolute(request.out),
                      base_bundle=_absolute(request.base_bundle) if request.base_bundle else "",
                      labels=_absolute(request.labels) if request.labels else None)
    out = Path(request.out)
    if out.exists():
        raise BundleError(f"{out}: already exists; bundles are never overwritten. Choose a new "
                          "folder.")
    root = Path(jobs_root)
    lock = JobLock(root)
    job_id = new_job_id()
    lock.acquire(job_id)
    try:
        folder = root / job_id
        folder.mkdir(parents=True)
        atomic_write_json(folder / REQUEST_FILE, request.to_dict())
        write_state(folder, JobState(job_id, JobStatus.STARTING, os.getpid(), utc_now(), utc_now(),
                                     "starting the job process"))
    except BaseException:
        lock.release(job_id)
        raise
    return folder, lock


def start_retrain(request: RetrainRequest, jobs_root: str | os.PathLike, *,
                  python: str = sys.executable) -> JobHandle:
    """Start a retrain job in the background.

    Args:
        request: What to retrain.
        jobs_root: Folder of the job folders and the lock.
        python: Interpreter to run the job with. Default: this one.

    Returns:
        The ``JobHandle``.

    Raises:
        RetrainBusyError: When another job runs (its id, process and start time are named).
        sem_core.registry.BundleError: When ``request.out`` already exists.
        sem_core.models.weights.WeightsUnavailableError: When a first model should start from
            ImageNet weights that are neither cached nor downloadable (no job is created).
    """
    if request.weights == "imagenet":  # fail here, not seconds later in the job's process
        from sem_core.models.weights import ensure_imagenet_available  # loads Keras

        config = retrain_config(request)
        for backbone in dict.fromkeys((config.backbone, config.stage1_backbone)):
            if backbone != "cnn":
                ensure_imagenet_available(backbone, advice="Copy the file there, connect this "
                                          "machine to the internet, or start from random weights.")
    folder, lock = prepare_job(request, jobs_root)
    try:
        child = spawn(["retrain", "--run-job", str(folder.resolve())], folder / LOG_FILE, python)
    except BaseException:
        write_state(folder, updated(read_state(folder), status=JobStatus.FAILED,
                                    message="the job process could not be started"))
        lock.release(folder.name)
        raise
    lock.hand_over(folder.name, child.pid)
    return JobHandle(folder.name, folder, child.pid)


def job_state(folder: str | os.PathLike) -> JobState | None:
    """The job's state; a running job whose process is gone is recorded as ``interrupted``."""
    folder = Path(folder)
    state = read_state(folder)
    if state is None or state.status.finished or not state.pid:
        return state
    state, interrupted = interrupt_if_gone(folder, state, state.pid, (
        f"the job process {state.pid} ended without finishing (killed or crashed); no bundle "
        "was added and the active bundle is untouched"))
    if interrupted:
        JobLock(folder.parent).release(folder.name)
        _cleanup_partials(folder)
    return state


def interrupt_if_gone(folder: Path, state: JobState, pid: int,
                      message: str) -> tuple[JobState, bool]:
    """Record an unfinished job whose process ``pid`` is gone as ``interrupted`` with
    ``message``; returns the state and whether it was recorded just now (the caller then frees
    what the job held)."""
    reap(pid)
    if process_alive(pid):
        return state, False
    time.sleep(0.2)  # the process may have written its final state just now
    state = read_state(folder) or state
    if state.status.finished:
        return state, False
    return write_state(folder, updated(state, status=JobStatus.INTERRUPTED, message=message)), True


def cancel_job(folder: str | os.PathLike, *, grace_s: float = 30.0) -> JobState | None:
    """Ask a job to stop; kill it if it has not stopped after ``grace_s`` seconds.

    Args:
        folder: The job folder.
        grace_s: Seconds to wait for a clean stop before SIGKILL. Default: 30.

    Returns:
        The job's state afterwards.
    """
    folder = Path(folder)
    state = job_state(folder)
    if state is None or state.status.finished:
        return state
    (folder / CANCEL_FILE).write_text("cancel requested\n", encoding="utf-8")
    signal_quietly(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and process_alive(state.pid):
        reap(state.pid)
        time.sleep(0.2)
    if process_alive(state.pid):
        signal_quietly(state.pid, signal.SIGKILL)
        for _ in range(50):
            reap(state.pid)
            if not process_alive(state.pid):
                break
            time.sleep(0.1)
    state = read_state(folder) or state
    if not state.status.finished:
        state = write_state(folder, updated(state, status=JobStatus.CANCELLED,
                                            message="cancelled on request; no bundle written"))
        JobLock(folder.parent).release(folder.name)
        _cleanup_partials(folder)
    return state


def list_jobs(jobs_root: str | os.PathLike) -> list[JobState]:
    """Every job under ``jobs_root``, newest first."""
    root = Path(jobs_root)
    if not root.is_dir():
        return []
    states = [job_state(folder) for folder in sorted(root.iterdir(), reverse=True)
              if folder.is_dir() and (folder / REQUEST_FILE).is_file()]
    return [state for state in states if state is not None]


def running_job(jobs_root: str | os.PathLike) -> JobState | None:
    """The job holding the lock if its process runs, else None."""
    owner = JobLock(jobs_root).live_owner()
    return None if owner is None else job_state(Path(jobs_root) / owner.job_id)



def _absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve())



def _cleanup_partials(folder: Path) -> None:
    from sem_core.jobs.state import read_request

    try:
        remove_stale_partials(Path(read_request(folder).out).parent)
    except (OSError, ValueError):
        pass
