"""The body of a retrain job, run inside the job's own process.

``run_job`` reads the request from the job folder, takes over the lock, loads the base dataset,
pins its held-out split in the label store, applies the label log, trains a new bundle (written
atomically by ``sem_core.registry.save_bundle``; the base bundle is only read), compares old and
new on the held-out split, and records every step in ``state.json`` and ``events.jsonl``. SIGTERM
or a ``cancel.request`` file stops training after the current batch; nothing is written then.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import signal
import threading
import traceback
from dataclasses import replace
from pathlib import Path

from sem_core.jobs.events import EventLog
from sem_core.jobs.lock import JobLock, process_alive
from sem_core.jobs.state import (CANCEL_FILE, COMPARISON_FILE, CORRECTED_FILE, JobState,
                                 JobStatus, RetrainRequest, TrainingMode, read_request,
                                 read_state, updated, write_state)


def retrain_command(request: RetrainRequest) -> str:
    """The ``python -m sem_core retrain`` command line equivalent to ``request``."""
    parts = ["python", "-m", "sem_core", "retrain"]
    if request.base_bundle:
        parts += ["--bundle", request.base_bundle]
    parts += ["--data", request.data, "--out", request.out, "--seed", str(request.seed)]
    if request.labels:
        parts += ["--labels", request.labels]
    if request.mode == TrainingMode.SCRATCH:
        parts.append("--from-scratch")
    for flag, value in (("--epochs", request.epochs), ("--stage1-epochs", request.stage1_epochs),
                        ("--batch-size", request.batch_size), ("--image-size", request.image_size),
                        ("--backbone", request.backbone), ("--weights", request.weights),
                        ("--stage1-backbone", request.stage1_backbone), ("--recipe", request.recipe)):
        if value is not None:
            parts += [flag, str(value)]
    return shlex.join(parts)


def retrain_config(request: RetrainRequest):
    """The ``TrainConfig`` of a retrain: the base bundle's own, with the request's changes.

    Fine-tuning starts from the base bundle's weights; a base without a recorded training
    configuration (e.g. one made elsewhere) gets the defaults at its input size and backbone.
    A fine-tune gets half the base's epochs per stage (``continuation_epochs``) unless the
    request names them or the base was itself fine-tuned from a bundle. The base's wall-time
    budget (``max_minutes``) is not inherited. A first model (no base bundle) gets the training
    defaults with the request's input size, backbone and initial weights (random unless
    "imagenet" was asked for).
    """
    from sem_core.train.config import TrainConfig

    if not request.base_bundle:
        defaults = TrainConfig()
        base = replace(defaults, image_size=request.image_size or defaults.image_size,
                       backbone=request.backbone or defaults.backbone,
                       stage1_backbone=request.stage1_backbone or defaults.stage1_backbone,
                       recipe=request.recipe or defaults.recipe, weights=request.weights or "none")
    else:
        from sem_core.registry import read_bundle_info

        info = read_bundle_info(request.base_bundle)
        recorded = dict(info.training.get("config", {}) or {})
        base = (TrainConfig.from_dict(recorded) if recorded else
                TrainConfig(image_size=int(info.input_size), backbone=info.stage2.architecture))
    changes: dict[str, object] = {"seed": request.seed, "max_minutes": 0.0}
    if request.mode == TrainingMode.FINETUNE:
        changes["weights"] = str(Path(request.base_bundle).resolve())
        if not _continues_a_bundle(base):
            # The weights have already learned the task: a continuation needs part of the
            # schedule that took them there from ImageNet (or from scratch). A base that was
            # itself a continuation keeps its (already shortened) schedule.
            changes["epochs"] = continuation_epochs(base.epochs)
            changes["stage1_epochs"] = continuation_epochs(base.stage1_epochs)
    else:
        changes["weights"] = request.weights or "none"
    # The base's wall-time budget was sized for its own (longer) run; a retrain is bounded by the
    # epochs the user asked for and can be cancelled, so a silent cut-off would only surprise.
    for name in ("epochs", "stage1_epochs", "batch_size"):
        if getattr(request, name) is not None:
            changes[name] = getattr(request, name)
    return replace(base, **changes)


def continuation_epochs(base_epochs: int) -> int:
    """Epochs of a fine-tune that starts from a trained bundle: half its own, rounded up.

    Measured on the shipped default (``benchmarks/bench_retrain.py``, docs/default-model.md), a
    retrain on 1,000 corrected images: half the schedule 185 s and held-out macro-F1 0.896,
    three quarters 345 s and 0.893, the whole 351 s and 0.920 (the default itself 0.814). Half
    keeps the one-click loop within its 5-minute target; ask for more epochs when the last
    points matter more than the wait. Zero stays zero (a bundle whose stage 1 was not trained).
    """
    return math.ceil(base_epochs / 2)


def _continues_a_bundle(config) -> bool:
    """True when ``config`` is a retrain's continuation: its weights are a bundle's path (what a
    retrain job records). "default" (``train --weights default``: a schedule the user chose),
    "imagenet" and "none" are not."""
    return str(config.weights).strip().lower() not in ("none", "", "imagenet", "default")


def remove_stale_partials(folder: Path) -> list[Path]:
    """Delete hidden ``.<name>.partial-<pid>`` bundle staging folders of dead processes."""
    removed = []
    for staging in Path(folder).glob(".*.partial-*"):
        pid = staging.name.rsplit("-", 1)[-1]
        if staging.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)
            removed.append(staging)
    return removed


def run_job(folder: str | os.PathLike, lock: JobLock) -> JobState:
    """Run the job in ``folder`` in this process (see the module docstring).

    Args:
        folder: The job folder, holding ``request.json``.
        lock: The jobs root's lock, held for this job (this process takes it over).

    Returns:
        The final ``JobState`` (also in ``state.json``).
    """
    from sem_core.registry import utc_now

    folder = Path(folder)
    job_id = folder.name
    request = read_request(folder)
    state = read_state(folder) or JobState(job_id, JobStatus.STARTING, created=utc_now())
    lock.hand_over(job_id, os.getpid())
    cancel = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: cancel.set())

    def should_stop() -> bool:
        return cancel.is_set() or (folder / CANCEL_FILE).exists()

    Path(request.out).parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(Path(request.out).parent)
    with EventLog(folder) as log:  # opened before TensorFlow loads, so the heartbeat starts now
        state = write_state(folder, updated(state, status=JobStatus.RUNNING, pid=os.getpid(),
                                            message="loading TensorFlow"))
        log.activity(state.message)
        try:
            state = _train_and_compare(folder, request, state, log, should_stop)
        except Exception as error:  # the job must end with a recorded reason, whatever failed
            if _is_cancellation(error):
                state = write_state(folder, updated(state, status=JobStatus.CANCELLED, message=(
                    "cancelled on request; no bundle written")))
            else:
                log.emit("error", message=str(error), traceback=traceback.format_exc())
                state = write_state(folder, updated(state, status=JobStatus.FAILED,
                                                    message=f"{type(error).__name__}: {error}"))
        finally:
            remove_stale_partials(Path(request.out).parent)
            log.emit("status", status=state.status.value, message=state.message)
            lock.release(job_id)
    return state


def _is_cancellation(error: Exception) -> bool:
    from sem_core.train.callbacks import TrainingCancelled

    return isinstance(error, TrainingCancelled)


def _train_and_compare(folder: Path, request: RetrainRequest, state: JobState, log: EventLog,
                       should_stop) -> JobState:
    from sem_core.compare import compare_bundles
    from sem_core.train.callbacks import TrainingCancelled
    from sem_core.train.run import train_bundle

    log.activity(f"reading the dataset {request.data}")
    corrected, heldout = _corrected_dataset(request, log)
    corrected.manifest.write_csv(folder / CORRECTED_FILE)
    if should_stop():
        raise TrainingCancelled("cancelled before training")
    config = retrain_config(request)
    state = write_state(folder, updated(state, dataset_version=corrected.version, message=(
        f"training ({request.mode.value}) on {len(corrected.manifest)} images, "
        f"{len(corrected.relabelled)} relabelled")))
    log.activity(state.message)
    result = train_bundle(corrected.manifest, request.out, config,
                          command=retrain_command(request), listener=log.progress,
                          should_stop=should_stop)
    state = write_state(folder, updated(state, bundle=str(result.bundle),
                                        message=f"wrote {result.bundle}"))
    if request.compare:  # always False without a base bundle (RetrainRequest)
        log.activity("comparing the base and new bundles on the held-out split")
        comparison = compare_bundles(request.base_bundle, result.bundle, corrected.manifest,
                                     heldout=heldout, dataset_version=corrected.version)
        path = comparison.save(folder / COMPARISON_FILE)
        state = updated(state, comparison=str(path), message=(
            f"done: macro-F1 {comparison.old.macro_f1:.3f} -> {comparison.new.macro_f1:.3f} on "
            f"{comparison.new.n_images} held-out images; {len(comparison.changed)} predictions "
            "changed"))
    else:
        state = updated(state, message=f"done: wrote {result.bundle}")
    return write_state(folder, updated(state, status=JobStatus.SUCCEEDED))


def _corrected_dataset(request: RetrainRequest, log: EventLog):
    from sem_core.data.layouts import load_dataset
    from sem_core.labels import (LabelStore, apply_heldout, correct_manifest, ensure_sha256,
                                 pin_heldout)

    loaded = load_dataset(request.data)  # the default split seed: splits never follow the run seed
    for bad in loaded.bad_files:
        log.emit("message", message=f"skipped {bad.path}: {bad.reason}")
    base = ensure_sha256(loaded.manifest)
    if not request.labels:
        return correct_manifest(base, {}), None
    store = LabelStore(request.labels)
    heldout = pin_heldout(store, base)
    corrected = correct_manifest(apply_heldout(base, heldout), store)
    log.activity(f"label log applied: {len(corrected.relabelled)} images relabelled, "
                 f"{len(corrected.unknown)} flagged unknown (left out); held-out split "
                 f"{heldout.digest[:12]} ({len(heldout)} images)")
    return corrected, heldout
