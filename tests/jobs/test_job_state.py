"""The job folder: request round trip, atomic state, progress lines read incrementally."""

import json
import subprocess
import sys

from sem_core.jobs import JobState, JobStatus, RetrainRequest, TrainingMode, job_state, read_events
from sem_core.jobs.state import EVENTS_FILE, read_state, write_state
from sem_core.jobs.worker import retrain_command


def test_request_round_trips_through_json():
    request = RetrainRequest("data", "base", "out", labels="labels.db", mode="scratch", epochs=3)
    again = RetrainRequest.from_dict(json.loads(json.dumps(request.to_dict())))
    assert again == request and again.mode == TrainingMode.SCRATCH


def test_retrain_command_repeats_the_request():
    request = RetrainRequest("my data", "base", "out", labels="l.db", mode="scratch", epochs=2)
    command = retrain_command(request)
    assert command.startswith("python -m sem_core retrain --bundle base --data 'my data'")
    assert "--from-scratch" in command and "--epochs 2" in command and "--labels l.db" in command


def test_read_events_returns_complete_lines_and_the_next_offset(tmp_path):
    path = tmp_path / EVENTS_FILE
    path.write_text('{"kind": "message", "message": "a"}\n{"kind": "batch", "ba')
    events, offset = read_events(tmp_path)
    assert [event["kind"] for event in events] == ["message"]
    with open(path, "a") as handle:
        handle.write('tch": 1}\n{"kind": "epoch"}\n')
    more, offset = read_events(tmp_path, offset)
    assert [event["kind"] for event in more] == ["batch", "epoch"]
    assert read_events(tmp_path, offset) == ([], offset)


def test_state_is_replaced_whole(tmp_path):
    write_state(tmp_path, JobState("job", JobStatus.RUNNING, pid=12, message="training"))
    assert read_state(tmp_path).status == JobStatus.RUNNING
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_a_running_job_whose_process_died_reads_as_interrupted(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "request.json").write_text(json.dumps(RetrainRequest("d", "b", "o").to_dict()))
    write_state(folder, JobState("job", JobStatus.RUNNING, pid=int(finished.stdout)))
    state = job_state(folder)
    assert state.status == JobStatus.INTERRUPTED
    assert "untouched" in state.message
    assert read_state(folder).status == JobStatus.INTERRUPTED


def test_progress_summary_follows_the_latest_batch_and_keeps_epoch_curves():
    from sem_core.jobs import summarise_events

    events = [
        {"kind": "message", "elapsed": 0.1, "message": "reading the dataset"},
        {"kind": "heartbeat", "elapsed": 2.1, "activity": "reading the dataset"},
        {"kind": "phase_start", "elapsed": 3.0, "stage": "stage1", "phase": "train", "epoch": 0,
         "epochs": 2, "batch": 0, "batches": 4},
        {"kind": "batch", "elapsed": 3.5, "stage": "stage1", "phase": "train", "epoch": 1,
         "epochs": 2, "batch": 4, "batches": 4, "metrics": {"loss": 0.9}},
        {"kind": "epoch", "elapsed": 4.0, "stage": "stage1", "phase": "train", "epoch": 1,
         "epochs": 2, "batches": 4, "metrics": {"loss": 0.8, "val_loss": 0.7}},
        {"kind": "batch", "elapsed": 4.5, "stage": "stage1", "phase": "train", "epoch": 2,
         "epochs": 2, "batch": 1, "batches": 4, "metrics": {"loss": 0.6}},
    ]
    progress = summarise_events(events)
    assert (progress.stage, progress.epoch, progress.batch) == ("stage1", 2, 1)
    assert progress.phase_fraction == 5 / 8
    assert progress.activity == "reading the dataset" and progress.elapsed_s == 4.5
    curves = progress.curves()
    assert curves.loc[0, "loss"] == 0.8 and curves.loc[0, "val_loss"] == 0.7
    assert len(curves) == 1


def test_cli_status_lists_jobs_newest_first(tmp_path, capsys):
    from sem_core.cli import main

    for name, status in (("retrain-20260101-000000-aaaaaa", JobStatus.SUCCEEDED),
                         ("retrain-20260102-000000-bbbbbb", JobStatus.FAILED)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "request.json").write_text(json.dumps(RetrainRequest("d", "b", "o").to_dict()))
        write_state(folder, JobState(name, status, message=f"{status.value} message"))
    assert main(["retrain", "--status", "--jobs", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("retrain-20260102") and "failed" in lines[0]
    assert lines[1].startswith("retrain-20260101") and "succeeded" in lines[1]


def test_the_event_log_beats_during_silence_and_names_the_activity(tmp_path):
    import time

    from sem_core.jobs.events import EventLog

    with EventLog(tmp_path, heartbeat_s=0.2) as log:
        log.activity("loading TensorFlow")
        time.sleep(0.7)
        log.emit("status", status="done")
    events, _ = read_events(tmp_path, 0)
    beats = [event for event in events if event["kind"] == "heartbeat"]
    assert beats and all(beat["activity"] == "loading TensorFlow" for beat in beats)
    assert events[0]["kind"] == "message" and events[-1]["kind"] == "status"
