"""One retrain at a time: the lock refuses a second job, and a dead holder's lock is taken over."""

import os
import subprocess
import sys

import pytest

from sem_core.cli import main
from sem_core.jobs import JobLock, RetrainBusyError, RetrainRequest, start_retrain
from sem_core.jobs.lock import process_alive, process_start_marker


def _dead_pid() -> int:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    return int(finished.stdout)


def test_second_acquire_while_the_holder_lives_is_refused_naming_the_job(tmp_path):
    lock = JobLock(tmp_path)
    lock.acquire("job-one")
    with pytest.raises(RetrainBusyError, match="already running") as refused:
        lock.acquire("job-two")
    assert "job-one" in str(refused.value) and str(os.getpid()) in str(refused.value)
    assert lock.owner().job_id == "job-one"


def test_release_only_by_the_holder(tmp_path):
    lock = JobLock(tmp_path)
    lock.acquire("job-one")
    assert not lock.release("job-two")
    assert lock.release("job-one")
    assert lock.owner() is None
    lock.acquire("job-two")


def test_a_lock_whose_process_died_is_stale_and_taken_over(tmp_path):
    lock = JobLock(tmp_path)
    lock.acquire("crashed-job", pid=_dead_pid())
    assert lock.live_owner() is None
    owner = lock.acquire("next-job")
    assert owner.job_id == "next-job" and owner.pid == os.getpid()


def test_a_recycled_pid_does_not_count_as_the_holder():
    marker = process_start_marker(os.getpid())
    if not marker:
        pytest.skip("no /proc on this system")
    assert process_alive(os.getpid(), marker)
    assert not process_alive(os.getpid(), str(int(marker) + 1))


def test_start_retrain_is_refused_while_a_job_runs_and_writes_nothing(tmp_path):
    jobs = tmp_path / "jobs"
    JobLock(jobs).acquire("running-job")  # held by this live process
    request = RetrainRequest(data=str(tmp_path / "data"), base_bundle=str(tmp_path / "base"),
                             out=str(tmp_path / "new"))
    with pytest.raises(RetrainBusyError, match="running-job"):
        start_retrain(request, jobs)
    assert [path.name for path in jobs.iterdir() if not path.name.startswith(".")] == \
        ["retrain.lock"]


def test_cli_refuses_a_second_retrain_with_a_clear_message(tmp_path, capsys):
    jobs = tmp_path / "jobs"
    JobLock(jobs).acquire("running-job")
    code = main(["retrain", "--bundle", str(tmp_path / "base"), "--data", str(tmp_path),
                 "--out", str(tmp_path / "new"), "--jobs", str(jobs)])
    assert code == 3
    message = capsys.readouterr().err
    assert "refused: A retrain is already running (job running-job" in message
    assert "only one runs at a time" in message
