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


def write_config_only_models(folder: Path, files=("stage1.keras", "stage2.keras")) -> None:
    """Model archives holding only a Keras config: enough for the registry, which checks model
    files without loading them, to list a bundle (for tests that never load a model)."""
    import json
    import zipfile

    for file in files:
        with zipfile.ZipFile(folder / file, "w") as archive:
            archive.writestr("config.json", json.dumps(
                {"module": "keras.src.models.functional", "class_name": "Functional"}))


def render_marked_stripes(label: str, rng, size: int = TINY_SIZE):
    """Grey line/space stripes; a defect class adds a bright mark whose shape depends on the class.

    A learnable stand-in for SEM images in plumbing tests: each class has its own mark shape.
    Returns uint8 (size, size).
    """
    import numpy as np

    from sem_core.classes import CLASSES

    period = int(rng.integers(6, 10))
    stripes = 0.35 + 0.2 * (((np.arange(size) + rng.integers(0, period)) // (period // 2)) % 2)
    image = np.tile(stripes, (size, 1)) + rng.normal(0.0, 0.03, (size, size))
    index = CLASSES.index(label)
    if index:
        row, column = rng.integers(6, size - 12, size=2)
        image[row:row + 2 + index % 4, column:column + 2 + (index * 3) % 7] = 0.95
    return (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


def write_tiny_dataset(root: Path, per_split: dict[str, int], seed: int, size: int = TINY_SIZE) -> Path:
    """Write Split/Class folders of ``render_marked_stripes`` PNGs (8 classes) under ``root``."""
    import numpy as np
    from PIL import Image

    from sem_core.classes import CLASSES

    rng = np.random.default_rng(seed)
    for split, count in per_split.items():
        for label in CLASSES:
            folder = root / split / label
            folder.mkdir(parents=True)
            for number in range(count):
                Image.fromarray(render_marked_stripes(label, rng, size)).save(folder / f"{label}_{number}.png")
    return root


def copy_with_bundle_json(source: Path, folder: Path, edit) -> Path:
    """A copy of a bundle whose bundle.json went through ``edit(dict)`` (bundles are immutable;
    a test makes a variant instead of changing one)."""
    import json
    import shutil

    shutil.copytree(source, folder)
    file = folder / "bundle.json"
    data = json.loads(file.read_text())
    edit(data)
    file.write_text(json.dumps(data))
    return folder


def as_schema1(data: dict) -> None:
    """Make a bundle.json what sem_core wrote before calibration: no scaling at all, version 1."""
    for key in ("stage1_temperature", "stage2_temperature", "stage1_bias", "calibration"):
        data.pop(key, None)
    data["schema_version"] = 1
