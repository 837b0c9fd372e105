"""A first model's recipe and stage-1 backbone travel from the request to the training config."""

import pytest

from sem_core.jobs import RetrainRequest, TrainingMode
from sem_core.jobs.worker import retrain_command, retrain_config


def test_a_first_probe_on_lite0_reaches_the_config_and_the_command():
    request = RetrainRequest(data="/data", base_bundle="", out="/out", mode=TrainingMode.SCRATCH,
                             backbone="efficientnet_lite0", weights="imagenet", recipe="probe",
                             stage1_backbone="efficientnet_lite0")
    config = retrain_config(request)
    assert (config.backbone, config.weights, config.recipe, config.stage1_backbone) == (
        "efficientnet_lite0", "imagenet", "probe", "efficientnet_lite0")
    command = retrain_command(request)
    assert "--recipe probe" in command and "--stage1-backbone efficientnet_lite0" in command


def test_a_probe_from_random_weights_is_refused_before_any_job():
    with pytest.raises(ValueError, match="probe recipe"):
        RetrainRequest(data="/data", base_bundle="", out="/out", mode=TrainingMode.SCRATCH,
                       backbone="efficientnet_lite0", weights="none", recipe="probe")


def test_recipe_and_stage1_backbone_come_from_the_base_bundle_when_there_is_one():
    with pytest.raises(ValueError, match="come from the base bundle"):
        RetrainRequest(data="/data", base_bundle="/bundle", out="/out", recipe="probe")
