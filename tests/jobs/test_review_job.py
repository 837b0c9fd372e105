"""Review-queue builds in their own process on a tiny dataset: success with progress, a second
build refused, a SIGKILL mid-embedding and a cancel that both leave the previous queue intact."""

import os
import signal
import time

import pytest

from sem_core.jobs import (JobStatus, ReviewBusyError, ReviewRequest, cancel_review,
                           read_events, review_progress, review_state, start_review)
from sem_core.jobs.review_job import ReviewLock
from sem_core.review import ReviewQueue

pytestmark = pytest.mark.slow
TIMEOUT_S = 300
POOL_IMAGES = 8 * (4 + 2)  # Train and Validation images of the tiny dataset


def _request(tmp_path, job_dataset, base_bundle_source, batch_size=32):
    return ReviewRequest(bundle=str(base_bundle_source), data=str(job_dataset),
                         out=str(tmp_path / "queues" / "tiny.queue.json"), folds=2,
                         batch_size=batch_size)


def _previous_queue(path):
    """A saved queue standing for the one a user reviews while a new one is built."""
    ReviewQueue(items=(), bundle="previous", dataset_version="v0", n_images=0,
                method="earlier build", created="2026-01-01T00:00:00Z").save(path)
    return path.read_bytes()


def _wait(folder, until, timeout_s=TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = review_state(folder)
        if until(state):
            return state
        time.sleep(0.02)
    raise AssertionError(f"{folder}: no such state in time; log:\n"
                         f"{(folder / 'log.txt').read_text(errors='replace')[-3000:]}")


def _embedding_started(folder):
    events, _ = read_events(folder)
    return any(event["kind"] == "batch" and 0 < event["batch"] < event["batches"]
               for event in events)


def test_build_writes_the_queue_reports_progress_and_refuses_a_second(tmp_path, job_dataset,
                                                                      base_bundle_source):
    request = _request(tmp_path, job_dataset, base_bundle_source)
    handle = start_review(request, tmp_path / "jobs")
    with pytest.raises(ReviewBusyError, match="already being built") as refusal:
        start_review(request, tmp_path / "jobs")
    assert handle.job_id in str(refusal.value)

    state = _wait(handle.folder, lambda state: state.status.finished)
    assert state.status is JobStatus.SUCCEEDED, state.message
    queue = ReviewQueue.load(request.out)
    assert queue.n_images == POOL_IMAGES and queue.bundle == "base"
    assert queue.dataset_version == state.dataset_version
    progress = review_progress(handle.folder)
    assert (progress.batch, progress.batches, progress.phase_fraction) == (
        POOL_IMAGES, POOL_IMAGES, 1.0)
    assert os.listdir(tmp_path / "queues") == ["tiny.queue.json"]  # no staging file left
    # the job writes its final state, then lets go of the lock as its process ends: the next
    # build may start moments later, not necessarily at the instant the state says SUCCEEDED
    assert _lock_released(tmp_path / "jobs", timeout_s=10.0)


def _lock_released(jobs, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ReviewLock(jobs).live_owner() is None:
            return True
        time.sleep(0.05)
    return False


def test_sigkill_mid_embedding_keeps_the_previous_queue(tmp_path, job_dataset,
                                                        base_bundle_source):
    request = _request(tmp_path, job_dataset, base_bundle_source, batch_size=1)
    previous = _previous_queue(tmp_path / "queues" / "tiny.queue.json")
    handle = start_review(request, tmp_path / "jobs")
    state = _wait(handle.folder, lambda state: state.status.finished or _embedding_started(
        handle.folder))
    assert state.status is JobStatus.RUNNING, state.message
    os.kill(state.pid, signal.SIGKILL)

    state = _wait(handle.folder, lambda state: state.status.finished)
    assert state.status is JobStatus.INTERRUPTED
    assert "saved queue was not changed" in state.message
    assert (tmp_path / "queues" / "tiny.queue.json").read_bytes() == previous
    visible = [name for name in os.listdir(tmp_path / "queues") if not name.startswith(".")]
    assert visible == ["tiny.queue.json"]
    assert ReviewQueue.load(request.out).bundle == "previous"
    assert ReviewLock(tmp_path / "jobs").live_owner() is None  # the next build may start


def test_cancel_stops_the_build_and_keeps_the_previous_queue(tmp_path, job_dataset,
                                                             base_bundle_source):
    request = _request(tmp_path, job_dataset, base_bundle_source, batch_size=1)
    previous = _previous_queue(tmp_path / "queues" / "tiny.queue.json")
    handle = start_review(request, tmp_path / "jobs")
    _wait(handle.folder, lambda state: state.status is JobStatus.RUNNING)

    state = cancel_review(handle.folder, grace_s=120)
    assert state.status is JobStatus.CANCELLED, state.message
    assert (tmp_path / "queues" / "tiny.queue.json").read_bytes() == previous
    assert ReviewLock(tmp_path / "jobs").live_owner() is None
