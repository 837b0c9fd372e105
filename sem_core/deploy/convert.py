"""Convert one Keras stage model to ONNX or LiteRT at a chosen precision.

Which converter, and why (measured on this project's graphs, Keras 3.15 / TF 2.21):

* ONNX: ``tf2onnx.convert.from_keras``. Keras' own ``model.export(format="onnx")`` calls
  ``tf2onnx.convert.from_function``, which turns the captured constants of a ``Normalization``
  layer (DenseNet121's ``backbone_preprocess``) into extra graph inputs, so the file cannot be
  run with the image alone; ``from_keras`` leaves captures out of the inputs and folds them.
  float16 halves the weights with ONNX Runtime's ``convert_float_to_float16`` (float inputs and
  outputs kept); int8 is ONNX Runtime's static QDQ quantisation, per channel, calibrated, of the
  convolutions, dense layers, ReLUs and pooling only (``ONNX_INT8_OPS``): quantising also the
  element-wise Mul/Add that DenseNet's pre-activation batch norm becomes (it cannot fold into a
  convolution) and the Concats flipped the stage-2 top class of 5.4 % of the control bundle's
  validation images (max probability difference 0.71); with them in float, none (0.026).
* LiteRT: Keras' ``model.export(format="litert")`` (SavedModel, then the TFLite converter); it
  converts DenseNet121, EfficientNet-Lite, MobileNetV3 and the stage-1 CNN exactly (float32).
  float16 stores float16 weights; int8 quantises weights and activations from a representative
  dataset, keeping float inputs and outputs.

Every model takes (N, S, S, 1) float32 pixels in [0, 1] named ``image`` and returns the stage's
probabilities, exactly as the Keras model does. ``converter_versions`` says what made a file.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from sem_core.deploy.options import ExportFormat, Precision

INPUT_NAME = "image"
ONNX_INT8_OPS = ("Conv", "MatMul", "Gemm", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool")
# Images per calibration step; ONNX Runtime and the TFLite converter both take one at a time.
_CALIBRATION_BATCH = 1

Converter = Callable[[object, Path, ExportFormat, Precision, "np.ndarray | None"], None]


def convert_model(model, path: Path, export_format: ExportFormat, precision: Precision,
                  calibration: np.ndarray | None = None) -> None:
    """Write ``model`` to ``path`` in ``export_format`` at ``precision``.

    Args:
        model: A Keras stage model (input (N, S, S, 1) in [0, 1]); it is not modified.
        path: The file to write (``.onnx`` or ``.tflite``).
        export_format: ONNX or LiteRT.
        precision: float32, float16 or int8.
        calibration: (N, S, S, 1) float32 images for int8 activation ranges; required for int8,
            unused otherwise. Default: None.

    Raises:
        ValueError: When int8 is asked for without calibration images.
    """
    if precision is Precision.INT8 and (calibration is None or len(calibration) == 0):
        raise ValueError("int8 export needs calibration images (N, S, S, 1); received none.")
    with _quiet_converters():
        if export_format is ExportFormat.ONNX:
            _to_onnx(model, Path(path), precision, calibration)
        else:
            _to_litert(model, Path(path), precision, calibration)


def converter_versions(export_format: ExportFormat) -> dict[str, str]:
    """Versions of the packages that convert to (and run) ``export_format``."""
    import keras
    import tensorflow as tf

    versions = {"keras": keras.__version__, "tensorflow": tf.__version__}
    if export_format is ExportFormat.ONNX:
        import onnx
        import onnxruntime
        import tf2onnx

        versions.update(tf2onnx=tf2onnx.__version__, onnx=onnx.__version__,
                        onnxruntime=onnxruntime.__version__)
    else:
        from importlib.metadata import version

        versions["ai-edge-litert"] = version("ai-edge-litert")
    return versions


def _to_onnx(model, path: Path, precision: Precision, calibration: np.ndarray | None) -> None:
    import tensorflow as tf
    import tf2onnx

    size = tuple(model.input_shape[1:])
    signature = (tf.TensorSpec((None, *size), tf.float32, name=INPUT_NAME),)
    if precision is Precision.FLOAT32:
        tf2onnx.convert.from_keras(model, input_signature=signature, output_path=str(path))
        return
    with tempfile.TemporaryDirectory() as scratch:
        exact = Path(scratch) / "float32.onnx"
        tf2onnx.convert.from_keras(model, input_signature=signature, output_path=str(exact))
        if precision is Precision.FLOAT16:
            _onnx_float16(exact, path)
        else:
            _onnx_int8(exact, path, calibration, Path(scratch))


def _onnx_float16(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx.save(convert_float_to_float16(onnx.load(str(source)), keep_io_types=True), str(target))


def _onnx_int8(source: Path, target: Path, calibration: np.ndarray, scratch: Path) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = ({INPUT_NAME: batch} for batch in _calibration_batches(calibration))

        def get_next(self):
            return next(self._batches, None)

    prepared = scratch / "prepared.onnx"
    # Symbolic shape inference would need sympy; the graphs have static shapes but the batch.
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    quantize_static(str(prepared), str(target), Reader(), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=list(ONNX_INT8_OPS), per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def _to_litert(model, path: Path, precision: Precision, calibration: np.ndarray | None) -> None:
    import tensorflow as tf

    options: dict[str, object] = {}
    if precision is not Precision.FLOAT32:
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if precision is Precision.FLOAT16:
        options["target_spec"] = {"supported_types": [tf.float16]}
    elif precision is Precision.INT8:
        options["representative_dataset"] = lambda: ([batch] for batch in
                                                     _calibration_batches(calibration))
    model.export(str(path), format="litert", verbose=False, **options)


def _calibration_batches(images: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(images), _CALIBRATION_BATCH):
        yield np.ascontiguousarray(images[start:start + _CALIBRATION_BATCH], dtype=np.float32)


@contextlib.contextmanager
def _quiet_converters() -> Iterator[None]:
    """Silence the converters' Python loggers while converting: tf2onnx reports every optimiser
    pass and logs a traceback when its transpose optimiser skips a node it cannot rewrite (the
    hard-swish of MobileNetV3), which changes nothing in the result (the parity gate checks it)."""
    loggers = [logging.getLogger(name) for name in ("tf2onnx", "onnxruntime", "absl")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
