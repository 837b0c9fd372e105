"""Training of the two-stage cascade: input pipelines, augmentation, fitting, operating point.

Start with ``sem_core.train.run.train_bundle(manifest, out, TrainConfig(...))`` or the CLI
``python -m sem_core train``. Submodules import TensorFlow; this package file does not.
"""

from sem_core.train.config import TrainConfig

__all__ = ["TrainConfig"]
