"""Each format and precision converts a stage model that then runs close to Keras."""

import numpy as np
import pytest

from sem_core.deploy.convert import convert_model
from sem_core.deploy.options import ExportFormat, Precision
from sem_core.deploy.runtimes import load_predictor

# Largest probability difference from Keras each precision may show on the tiny model.
TOLERANCE = {Precision.FLOAT32: 1e-5, Precision.FLOAT16: 5e-3, Precision.INT8: 5e-2}


@pytest.fixture(scope="module")
def stage2_and_images():
    import keras
    from deploy_helpers import build_small_stage2

    keras.utils.set_random_seed(5)
    images = np.random.default_rng(5).random((24, 32, 32, 1), dtype=np.float32)
    return build_small_stage2(32), images


@pytest.mark.parametrize("export_format", list(ExportFormat))
@pytest.mark.parametrize("precision", list(Precision))
def test_converted_model_runs_any_batch_size_close_to_keras(stage2_and_images, tmp_path,
                                                            export_format, precision):
    model, images = stage2_and_images
    path = tmp_path / f"stage2{export_format.suffix}"
    convert_model(model, path, export_format, precision, calibration=images[:16])
    predictor = load_predictor(path, threads=1)
    reference = model.predict_on_batch(images)
    difference = max(float(np.abs(predictor(images[:n]) - reference[:n]).max()) for n in (1, 7, 24))
    assert difference <= TOLERANCE[precision]
    if precision is not Precision.FLOAT32:  # the weights really were narrowed
        assert difference > 1e-7


def test_int8_without_calibration_images_is_refused(stage2_and_images, tmp_path):
    model, _ = stage2_and_images
    with pytest.raises(ValueError, match="int8 export needs calibration images"):
        convert_model(model, tmp_path / "stage2.onnx", ExportFormat.ONNX, Precision.INT8)
