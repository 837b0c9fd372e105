"""A tiny labelled dataset (32 px, 8 classes, all splits) and an untrained base bundle."""

import numpy as np
import pytest
from PIL import Image

from sem_core.classes import CLASSES

SIZE = 32
PER_CLASS = {"Train": 4, "Validation": 2, "Test": 2}


def _render(label: str, rng: np.random.Generator) -> np.ndarray:
    """Grey stripes; a defect class adds a bright mark whose shape depends on the class."""
    period = int(rng.integers(6, 10))
    stripes = 0.35 + 0.2 * (((np.arange(SIZE) + rng.integers(0, period)) // (period // 2)) % 2)
    image = np.tile(stripes, (SIZE, 1)) + rng.normal(0.0, 0.03, (SIZE, SIZE))
    index = CLASSES.index(label)
    if index:
        row, column = rng.integers(6, SIZE - 12, size=2)
        image[row:row + 2 + index % 4, column:column + 2 + (index * 3) % 7] = 0.95
    return (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def review_dataset(tmp_path_factory):
    """Split/Class folders of 32-px PNGs: 8 classes x (4 train, 2 validation, 2 test)."""
    root = tmp_path_factory.mktemp("review_data")
    rng = np.random.default_rng(5)
    for split, count in PER_CLASS.items():
        for label in CLASSES:
            folder = root / split / label
            folder.mkdir(parents=True)
            for number in range(count):
                Image.fromarray(_render(label, rng)).save(folder / f"{label}_{number}.png")
    return root


@pytest.fixture(scope="session")
def review_bundle(tmp_path_factory):
    """An untrained 32-px bundle, saved once; used read-only."""
    from bundle_fixtures import make_untrained_bundle

    return make_untrained_bundle(tmp_path_factory.mktemp("review_bundle") / "base")
