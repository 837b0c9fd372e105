"""Deployment: export a bundle to ONNX or LiteRT behind a parity gate, serve it, scale it out.

* ``options``: the choices as string enums (``ExportFormat``, ``Precision``, ``Runtime``) and
  the gate's ``ParityLimits``.
* ``convert``: one Keras stage model to an ONNX or LiteRT file at a precision.
* ``runtimes``: ONNX Runtime and LiteRT behind the cascade's batch -> probabilities interface.
* ``parity``: the gate's figures and verdict, pure NumPy.
* ``gate_data``: the labelled images an export is judged and calibrated on.
* ``export``: ``export_bundle``, writing ``BUNDLE/exports/<format>-<precision>/`` only when the
  gate passed.
* ``serving``: which exports are usable, and the predictors a ``Runtime`` stands for.
* ``ray_engine``: the same cascade as Ray Data ``map_batches`` over an actor pool.
* ``cli``: the ``export`` command.

Importing this package loads neither TensorFlow nor a runtime; each loads when first used.
"""

from sem_core.deploy.gate_data import ExportError
from sem_core.deploy.options import ExportFormat, ParityLimits, Precision, Runtime

__all__ = ["ExportError", "ExportFormat", "ParityLimits", "Precision", "Runtime"]
