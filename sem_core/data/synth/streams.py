"""Per-image random streams: one ``SeedSequence([master_seed, split_id, idx])`` spawned six ways.

The six streams (scene, imaging, defect, noise, label, presentation) are consumed in a fixed
order by their own stage, so an image depends only on its three seed integers: never on the
worker that renders it, the order of rendering, or on the global numpy / Python RNG.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sem_core.classes import CLASSES

STREAM_NAMES: tuple[str, ...] = ("scene", "imaging", "defect", "noise", "label", "presentation")


@dataclass(frozen=True)
class Streams:
    """The six independent generators of one image (spec C5 plus ``presentation``)."""

    scene: np.random.Generator
    imaging: np.random.Generator
    defect: np.random.Generator
    noise: np.random.Generator
    label: np.random.Generator
    presentation: np.random.Generator


def make_streams(master_seed: int, split_id: int, idx: int) -> Streams:
    """Spawn the six generators of image ``idx`` of split ``split_id``.

    Args:
        master_seed: The dataset seed (non-negative).
        split_id: 0 train, 1 validation, 2 test (any non-negative integer works).
        idx: Image index inside the split (non-negative).

    Returns:
        Fresh generators; calling twice with the same integers gives identical streams.

    Raises:
        ValueError: When an integer is negative.
    """
    for name, value in (("master_seed", master_seed), ("split_id", split_id), ("idx", idx)):
        if int(value) < 0:
            raise ValueError(f"make_streams: {name} must be >= 0. Received `{name}={value}`.")
    children = np.random.SeedSequence([int(master_seed), int(split_id), int(idx)]).spawn(6)
    return Streams(*(np.random.default_rng(child) for child in children))


def class_for_index(idx: int) -> str:
    """Return the true class of image ``idx``: classes cycle, so every 8 images are balanced."""
    return CLASSES[int(idx) % len(CLASSES)]
