"""Build an untrained tiny bundle (random seeded weights) for plumbing tests that need no skill."""

from pathlib import Path

from sem_core.classes import CLASSES, STAGE1_CLASSES, STAGE2_CLASSES
from sem_core.registry import BundleInfo, StageInfo, save_bundle

TINY_SIZE = 32


def make_untrained_bundle(folder: Path, size: int = TINY_SIZE, threshold: float = 0.5) -> Path:
    """Save a bundle of a 2-block stage 1 and a MobileNetV3Small stage 2 with random weights."""
    import keras

    from sem_core.models import build_stage1, build_stage2, get_backbone, stage1_gradcam_layer

    keras.utils.set_random_seed(3)
    stage1 = build_stage1(size, width=4, blocks=2)
    stage2 = build_stage2(size, backbone="mobilenetv3small", dense_units=16)
    info = BundleInfo(
        name=folder.name, classes=CLASSES, input_size=size, preprocessing="grayscale [0, 1]",
        stage1=StageInfo("stage1.keras", "stage1_cnn", STAGE1_CLASSES, stage1_gradcam_layer(2)),
        stage2=StageInfo("stage2.keras", "mobilenetv3small", STAGE2_CLASSES,
                         get_backbone("mobilenetv3small").gradcam_layer),
        stage1_threshold=threshold, command="tests/bundle_fixtures.py (untrained)",
    )
    return save_bundle(folder, info, stage1, stage2)
