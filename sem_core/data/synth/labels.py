"""Optional label noise on the training split (spec C4), from the ``label`` stream.

Two uniforms are always drawn, so the stream stays aligned whatever the split or rate.
Symmetric noise flips to a uniformly chosen other class; structured noise follows the pairs
that real annotators confuse: Bridges-Shorts, Cracks-Scratches, and Clean with Opens (tiny
gaps), Other (faint residue) and Vias.
"""

from __future__ import annotations

import numpy as np

from sem_core.classes import CLASSES
from sem_core.data.synth.config import LabelNoiseMode

CONFUSIONS: dict[str, tuple[str, ...]] = {
    "Bridges": ("Shorts",),
    "Shorts": ("Bridges",),
    "Cracks": ("Scratches",),
    "Scratches": ("Cracks",),
    "Opens": ("Clean",),
    "Other": ("Clean",),
    "Vias": ("Clean",),
    "Clean": ("Opens", "Other", "Vias"),
}


def observed_label(
    rng: np.random.Generator, true_label: str, rate: float, mode: LabelNoiseMode, train_split: bool
) -> str:
    """Return the label an annotator would have written.

    Args:
        rng: The image's ``label`` stream.
        true_label: The true class.
        rate: Flip probability (0 disables label noise).
        mode: Symmetric or structured.
        train_split: Only training images receive label noise.

    Returns:
        The observed label (equal to ``true_label`` unless flipped).
    """
    flip, choice = rng.random(2)
    if not train_split or flip >= rate:
        return true_label
    targets = (
        CONFUSIONS[true_label]
        if LabelNoiseMode(mode) == LabelNoiseMode.STRUCTURED
        else tuple(name for name in CLASSES if name != true_label)
    )
    return targets[min(int(choice * len(targets)), len(targets) - 1)]
