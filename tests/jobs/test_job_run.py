"""Real retrain jobs in their own process on a tiny dataset: success, kill mid-epoch, cancel."""

import hashlib
import os
import shutil
import signal
import time

import pytest

from sem_core.jobs import (JobLock, JobStatus, RetrainBusyError, RetrainRequest, cancel_job,
                           job_state, read_events, start_retrain)
from sem_core.labels import LabelStore, ensure_sha256
from sem_core.registry import BundleRegistry, load_bundle

pytestmark = pytest.mark.slow
TIMEOUT_S = 300


def _digest(folder):
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def setup(tmp_path, job_dataset, base_bundle_source):
    """A registry holding only the base bundle (active), a label store with one correction."""
    from sem_core.data.layouts import load_dataset

    registry = BundleRegistry(tmp_path / "registry")
    shutil.copytree(base_bundle_source, registry.root / "base")
    registry.set_active("base")
    store = LabelStore(tmp_path / "labels.db")
    base = ensure_sha256(load_dataset(job_dataset).manifest)
    target = next(entry for entry in base.entries if entry.split == "Train")
    store.set_label(target.sha256, target.path, "Other", base_label=target.label, who="test")
    request = RetrainRequest(str(job_dataset), str(registry.root / "base"),
                             str(registry.root / "new"), labels=str(store.path), epochs=1,
                             stage1_epochs=1, batch_size=8, seed=1)
    return registry, request, tmp_path / "jobs"


def _wait(folder, until, timeout_s=TIMEOUT_S):
    """Poll the job's events until ``until(events)`` holds or the job ends; returns the events."""
    events, offset = [], 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new, offset = read_events(folder, offset)
        events += new
        if until(events) or job_state(folder).status.finished:
            return events
        time.sleep(0.1)
    raise AssertionError(f"job {folder.name} made no progress in {timeout_s} s")


def test_a_job_trains_a_new_bundle_compares_it_and_leaves_the_base_alone(setup):
    registry, request, jobs = setup
    before = _digest(registry.root / "base")
    handle = start_retrain(request, jobs)
    events = _wait(handle.folder, lambda _: False)
    state = job_state(handle.folder)
    assert state.status == JobStatus.SUCCEEDED, (handle.folder / "log.txt").read_text()[-3000:]
    kinds = {event["kind"] for event in events}
    # heartbeats need a 2-s silence, which a fast machine may never leave: tested in test_job_state
    assert {"message", "batch", "epoch", "status"} <= kinds
    assert load_bundle(state.bundle).info.input_size == 32
    assert "--labels" in load_bundle(state.bundle).info.command
    assert _digest(registry.root / "base") == before
    assert registry.active().path.name == "base"  # promotion is a separate, explicit step
    comparison = (handle.folder / "comparison.json")
    assert comparison.is_file() and state.comparison == str(comparison)
    assert (handle.folder / "corrected_manifest.csv").is_file()
    assert JobLock(jobs).owner() is None


def test_sigkill_mid_epoch_leaves_the_active_bundle_and_registry_intact(setup):
    registry, request, jobs = setup
    before = _digest(registry.root / "base")
    handle = start_retrain(request, jobs)
    _wait(handle.folder, lambda events: any(event["kind"] == "batch" for event in events))
    with pytest.raises(RetrainBusyError, match=handle.job_id):  # a second request meanwhile
        start_retrain(request, jobs)
    os.kill(handle.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while job_state(handle.folder).status == JobStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job_state(handle.folder).status == JobStatus.INTERRUPTED
    assert _digest(registry.root / "base") == before
    load_bundle(registry.root / "base")
    assert [item.path.name for item in registry.bundles()] == ["base"]
    assert not (registry.root / "new").exists()
    visible = sorted(path.name for path in registry.root.iterdir() if not path.name.startswith("."))
    assert visible == ["active.json", "base"]
    assert JobLock(jobs).live_owner() is None  # the next retrain may start


def test_cancel_stops_the_job_cleanly_without_a_bundle(setup):
    registry, request, jobs = setup
    handle = start_retrain(request, jobs)
    _wait(handle.folder, lambda events: any(event["kind"] == "batch" for event in events))
    state = cancel_job(handle.folder, grace_s=60)
    assert state.status == JobStatus.CANCELLED
    assert not (registry.root / "new").exists()
    assert not list(registry.root.glob(".new.partial-*"))
    assert JobLock(jobs).owner() is None
