"""A tiny labelled SEM-like dataset (32 px, every class, every split), made once per session."""

import numpy as np
import pytest
from PIL import Image

from sem_core.classes import CLASSES

SIZE = 32
PER_CLASS = {"Train": 6, "Validation": 3, "Test": 1}


def render(label: str, rng: np.random.Generator) -> np.ndarray:
    """Grey line/space stripes; defect classes add a bright mark whose shape depends on the class."""
    columns = np.arange(SIZE)
    period = int(rng.integers(6, 10))
    stripes = 0.35 + 0.2 * (((columns + rng.integers(0, period)) // (period // 2)) % 2)
    image = np.tile(stripes, (SIZE, 1)) + rng.normal(0.0, 0.03, (SIZE, SIZE))
    index = CLASSES.index(label)
    if index:
        row, column = rng.integers(6, SIZE - 12, size=2)
        height, width = 2 + index % 4, 2 + (index * 3) % 7
        image[row:row + height, column:column + width] = 0.95
    return np.clip(image, 0.0, 1.0)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """Class folders under Train/Validation/Test folders: 8 classes x 10 PNGs of 32 px."""
    root = tmp_path_factory.mktemp("tiny_sem")
    rng = np.random.default_rng(7)
    for split, count in PER_CLASS.items():
        for label in CLASSES:
            folder = root / split / label
            folder.mkdir(parents=True)
            for number in range(count):
                pixels = (render(label, rng) * 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{label}_{number}.png")
    return root
