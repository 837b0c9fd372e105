"""Builders of the deploy tests: a tiny bundle whose two stages both respond to their input.

The untrained MobileNetV3Small of ``bundle_fixtures`` outputs the same stage-2 probabilities for
every 32-px image (its features vanish at that size), which would let a converter that ignores
the image pass a parity test. Here stage 2 is a small flat CNN with random weights, whose
probabilities differ from image to image, and stage 1's threshold sits at the median of its
scores on the dataset, so both decisions go both ways.
"""

from pathlib import Path

import numpy as np
from bundle_fixtures import TINY_SIZE


def build_small_stage2(size: int = TINY_SIZE):
    """Input ``image`` -> two named conv blocks -> pooled -> ``class_probabilities`` (7)."""
    import keras

    inputs = keras.Input((size, size, 1), name="image")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="rescale")(inputs)
    for block in (1, 2):
        x = keras.layers.Conv2D(8 * block, 3, padding="same", name=f"block{block}_conv")(x)
        x = keras.layers.ReLU(name=f"block{block}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    outputs = keras.layers.Dense(7, activation="softmax", name="class_probabilities")(x)
    return keras.Model(inputs, outputs, name="stage2_small_cnn")


def make_responsive_bundle(folder: Path, dataset: Path, size: int = TINY_SIZE,
                           stage2=None) -> Path:
    """Save the bundle; bundle.json names ``dataset`` as its training data. ``stage2``: a model
    to use instead of ``build_small_stage2``'s (same input and output names)."""
    import keras

    from sem_core.classes import CLASSES, STAGE1_CLASSES, STAGE2_CLASSES
    from sem_core.data.image_io import load_image
    from sem_core.models import build_stage1, prepare_batch, stage1_gradcam_layer
    from sem_core.registry import BundleInfo, StageInfo, save_bundle

    keras.utils.set_random_seed(11)
    stage1 = build_stage1(size, width=4, blocks=2)
    stage2 = build_small_stage2(size) if stage2 is None else stage2
    images = prepare_batch([load_image(path).pixels for path in sorted(dataset.rglob("*.png"))], size)
    threshold = float(np.median(stage1.predict_on_batch(images)))
    info = BundleInfo(
        name=folder.name, classes=CLASSES, input_size=size, preprocessing="grayscale [0, 1]",
        stage1=StageInfo("stage1.keras", "stage1_cnn", STAGE1_CLASSES, stage1_gradcam_layer(2)),
        stage2=StageInfo("stage2.keras", "small_cnn", STAGE2_CLASSES, "block2_relu"),
        stage1_threshold=threshold, data={"root": str(dataset)},
        command="tests/deploy/conftest.py (untrained, responsive)")
    return save_bundle(folder, info, stage1, stage2)
