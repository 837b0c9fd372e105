"""Run an exported model: ONNX Runtime or LiteRT behind the cascade's predictor interface.

``load_predictor(path, threads)`` opens a ``.onnx`` file with ONNX Runtime or a ``.tflite``
file with the LiteRT interpreter (XNNPACK on CPU) and returns a callable mapping an (N, S, S, 1)
float32 batch to the model's probabilities, as ``sem_core.inference.model_predictor`` does for a
Keras model, so ``sem_core.cascade.Cascade`` runs any of them unchanged.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from sem_core.deploy.options import ExportFormat


def default_threads() -> int:
    """Threads a runtime uses when not told: every core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class OnnxPredictor:
    """An ONNX model in an ONNX Runtime CPU session.

    Args:
        path: The ``.onnx`` file.
        threads: Intra-op threads. Default: ``default_threads()``.
    """

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        # ONNX Runtime's workers spin-wait after each run by default, holding a core that the
        # other stage's session, the image decoding or another Ray actor needs (two cores here).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(path), options,
                                                    providers=["CPUExecutionProvider"])
        self._input = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input: np.asarray(batch, dtype=np.float32)})[0]


class LiteRTPredictor:
    """A LiteRT (TFLite) model in the LiteRT interpreter, resized to each batch size met.

    The interpreter is not safe to call from two threads at once, so calls are serialised.

    Args:
        path: The ``.tflite`` file.
        threads: Interpreter threads. Default: ``default_threads()``.
    """

    def __init__(self, path: Path, threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=threads or default_threads())
        self._input = self.interpreter.get_input_details()[0]["index"]
        self._output = self.interpreter.get_output_details()[0]["index"]
        self._batch_size: int | None = None
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            if self._batch_size != len(batch):
                self.interpreter.resize_tensor_input(self._input, batch.shape)
                self.interpreter.allocate_tensors()
                self._batch_size = len(batch)
            self.interpreter.set_tensor(self._input, batch)
            self.interpreter.invoke()
            # The output buffer is reused by the next call, so the caller gets a copy.
            return self.interpreter.get_tensor(self._output).copy()


def load_predictor(path: Path, threads: int | None = None):
    """A batch -> probabilities callable for an exported model file, by its suffix.

    Args:
        path: A ``.onnx`` or ``.tflite`` file.
        threads: Threads the runtime may use. Default: ``default_threads()``.

    Raises:
        ValueError: When the suffix is neither.
    """
    path = Path(path)
    if path.suffix == ExportFormat.ONNX.suffix:
        return OnnxPredictor(path, threads)
    if path.suffix == ExportFormat.LITERT.suffix:
        return LiteRTPredictor(path, threads)
    raise ValueError(f"{path}: not an exported model (expected .onnx or .tflite).")
