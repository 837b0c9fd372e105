"""The worker's pure parts: the retrain configuration and the clean-up of dead staging folders."""

import json
import os
import subprocess
import sys

from sem_core.classes import CLASSES, STAGE1_CLASSES, STAGE2_CLASSES
from sem_core.jobs import RetrainRequest
from sem_core.jobs.worker import remove_stale_partials, retrain_config
from sem_core.registry import BundleInfo, StageInfo


def _bundle(folder, training):
    info = BundleInfo("base", CLASSES, 96, "gray",
                      StageInfo("stage1.keras", "stage1_cnn", STAGE1_CLASSES, "x"),
                      StageInfo("stage2.keras", "mobilenetv3small", STAGE2_CLASSES, "y"), 0.4,
                      training=training)
    folder.mkdir()
    (folder / "bundle.json").write_text(json.dumps(info.to_dict()))
    return folder


def test_fine_tuning_keeps_the_base_recipe_and_starts_from_its_weights(tmp_path):
    base = _bundle(tmp_path / "base", {"config": {"image_size": 96, "backbone": "mobilenetv3small",
                                                  "epochs": 30, "stage1_epochs": 9,
                                                  "stage1_width": 8, "weights": "none",
                                                  "max_minutes": 14}})
    config = retrain_config(RetrainRequest("data", str(base), "out", epochs=4, seed=7))
    assert (config.image_size, config.stage1_width) == (96, 8)
    assert config.stage1_epochs == 5  # half the base's 9, rounded up: the weights know the task
    assert config.max_minutes == 0.0  # the base's own time budget would cut the retrain short
    assert (config.epochs, config.seed) == (4, 7)  # what the request names wins
    assert config.weights == str(base.resolve())
    assert retrain_config(RetrainRequest("data", str(base), "out")).epochs == 15


def test_a_retrain_of_a_retrained_bundle_keeps_its_shortened_schedule(tmp_path):
    # A base that was itself fine-tuned from a bundle already has the continuation's schedule;
    # halving it again at every round of the loop would shrink it to one epoch.
    base = _bundle(tmp_path / "base", {"config": {"image_size": 96, "backbone": "mobilenetv3small",
                                                  "epochs": 4, "stage1_epochs": 2,
                                                  "weights": str(tmp_path / "older")}})
    config = retrain_config(RetrainRequest("data", str(base), "out"))
    assert (config.epochs, config.stage1_epochs) == (4, 2)
    scratch = retrain_config(RetrainRequest("data", str(base), "out", mode="scratch"))
    # from scratch: the recorded schedule, as it is
    assert (scratch.epochs, scratch.stage1_epochs) == (4, 2)


def test_from_scratch_uses_no_weights_and_a_base_without_recipe_gets_defaults(tmp_path):
    base = _bundle(tmp_path / "base", {})
    config = retrain_config(RetrainRequest("data", str(base), "out", mode="scratch"))
    assert config.weights == "none"
    assert (config.image_size, config.backbone) == (96, "mobilenetv3small")


def test_staging_folders_of_dead_processes_are_removed(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead = tmp_path / f".new.partial-{int(finished.stdout)}"
    alive = tmp_path / f".other.partial-{os.getpid()}"
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "stage1.keras").write_bytes(b"half")
    assert remove_stale_partials(tmp_path) == [dead]
    assert not dead.exists() and alive.exists()


def test_a_first_model_has_no_base_and_takes_its_size_and_backbone_from_the_request():
    import pytest

    from sem_core.jobs.worker import retrain_command

    request = RetrainRequest("data", "", "out", mode="scratch", image_size=64,
                             backbone="mobilenetv3small", epochs=3)
    assert request.compare is False  # nothing to compare with
    config = retrain_config(request)
    assert (config.image_size, config.backbone, config.weights, config.epochs) == (
        64, "mobilenetv3small", "none", 3)
    command = retrain_command(request)
    assert "--bundle" not in command and "--image-size 64" in command
    assert "--backbone mobilenetv3small" in command and "--from-scratch" in command
    with pytest.raises(ValueError, match="nothing to fine-tune"):
        RetrainRequest("data", "", "out")
    with pytest.raises(ValueError, match="come from the base bundle"):
        RetrainRequest("data", "base", "out", image_size=64)


def test_a_first_model_may_start_from_imagenet_weights_and_nothing_else():
    import pytest

    from sem_core.jobs.worker import retrain_command

    request = RetrainRequest("data", "", "out", mode="scratch", weights="imagenet")
    assert retrain_config(request).weights == "imagenet"
    assert "--weights imagenet" in retrain_command(request)
    with pytest.raises(ValueError, match="come from the base bundle"):
        RetrainRequest("data", "base", "out", weights="imagenet")
    with pytest.raises(ValueError, match="none, imagenet"):
        RetrainRequest("data", "", "out", mode="scratch", weights="default")


def test_the_command_line_refuses_imagenet_offline_before_starting_a_job(tmp_path, offline):
    from sem_core.cli import main

    code = main(["retrain", "--from-scratch", "--weights", "imagenet", "--data", str(tmp_path),
                 "--out", str(tmp_path / "new"), "--jobs", str(tmp_path / "jobs")])
    assert code == 1
    assert not (tmp_path / "jobs").exists() or not any((tmp_path / "jobs").iterdir())


def test_the_command_line_asks_for_a_bundle_unless_training_from_scratch(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sem_core", "retrain", "--data", str(tmp_path), "--out",
         str(tmp_path / "new"), "--jobs", str(tmp_path / "jobs")],
        capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "--bundle" in result.stderr and "--from-scratch" in result.stderr
