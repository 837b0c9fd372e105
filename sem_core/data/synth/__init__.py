"""Synthetic SEM defect images: the embedded default data of the workbench.

``generate_sample`` renders one image (with its defect mask and JSON sidecar) from three
integers; ``write_dataset`` writes a whole dataset in the Kaggle layout with a manifest;
``python -m sem_core synth`` drives both. See docs/synthetic-data.md and the specification in
shared/docs/synthetic-sem.md.
"""

from sem_core.data.synth.config import (
    GENERATOR_VERSION,
    Family,
    LabelNoiseMode,
    Look,
    Magnification,
    SynthConfig,
    View,
)
from sem_core.data.synth.sample import SynthSample, generate_clean_twin, generate_sample
from sem_core.data.synth.sidecar import Sidecar

__all__ = [
    "GENERATOR_VERSION",
    "Family",
    "LabelNoiseMode",
    "Look",
    "Magnification",
    "Sidecar",
    "SynthConfig",
    "SynthSample",
    "View",
    "generate_clean_twin",
    "generate_sample",
]
