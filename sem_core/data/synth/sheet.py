"""Contact sheet: every class in a row, each example shown plain and with its defect outlined.

The caption under each pair names the scene and sub-type and gives the defect's d' (spec B7),
so a reviewer can check at a glance that every defect is visible and recognisable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from sem_core.classes import CLASSES
from sem_core.data.synth.config import Difficulty, SynthConfig
from sem_core.data.synth.sample import generate_sample

LABEL_WIDTH = 110
CAPTION = 14
GAP = 4
OUTLINE = (255, 64, 32)


def outlined(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGB copy of a grey image with the boundary of ``mask`` drawn over it."""
    rgb = np.repeat(image[..., np.newaxis], 3, axis=2)
    if mask.any():
        edge = ndimage.binary_dilation(mask, iterations=2) & ~ndimage.binary_erosion(mask)
        rgb[edge] = OUTLINE
    return rgb


def contact_sheet(
    path: str | Path,
    seed: int = 0,
    size: int = 224,
    per_class: int = 6,
    split_id: int = 0,
    presentation: bool = True,
    ease: float = 0.0,
    difficulty: Difficulty | str = Difficulty.STANDARD,
    tool: str = "mixed",
) -> Path:
    """Render ``per_class`` images of every class and save them as one labelled PNG.

    Args:
        path: Output PNG path (parent folders are created).
        seed: Master seed (the same images as the dataset of that seed). Default: 0.
        size: Image side in px. Default: 224.
        per_class: Examples per class; each takes two cells (plain, outlined). Default: 6.
        split_id: Split whose first images are shown. Default: 0 (train).
        presentation: Show images after the presentation layer. Default: True.
        ease: Hardness toward the easy end (``SynthConfig.ease``). Default: 0.
        difficulty: Difficulty preset (``SynthConfig.difficulty``). Default: standard.
        tool: Tool profile (``SynthConfig.tool``). Default: mixed.

    Returns:
        The written path.
    """
    config = SynthConfig(size=size, presentation=presentation, ease=ease, difficulty=difficulty,
                         tool=tool)
    font = ImageFont.load_default(size=12)
    cell = size + CAPTION
    pair = 2 * size + 3 * GAP
    sheet = Image.new(
        "RGB", (LABEL_WIDTH + per_class * pair, len(CLASSES) * (cell + GAP)), (32, 32, 32)
    )
    draw = ImageDraw.Draw(sheet)
    for row, name in enumerate(CLASSES):
        top = row * (cell + GAP)
        draw.text((6, top + size // 2), name, fill=(255, 255, 255),
                  font=ImageFont.load_default(size=16))
        for column in range(per_class):
            idx = row + len(CLASSES) * column
            sample = generate_sample(config, seed, split_id, idx)
            left = LABEL_WIDTH + column * pair
            sheet.paste(Image.fromarray(sample.image).convert("RGB"), (left, top))
            sheet.paste(Image.fromarray(outlined(sample.image, sample.mask)),
                        (left + size + GAP, top))
            draw.text((left + 2, top + size + 1), _caption(sample.sidecar.to_dict()),
                      fill=(210, 210, 210), font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _caption(record: dict) -> str:
    """Scene, look, sub-type and d' (or 'no contract' for Clean) of one image."""
    scene, defect = record["scene"], record["defect"]
    caption = f"{scene['family']} {scene['look']['look']} {defect['subtype']}"
    if record.get("d_prime") is not None:
        caption += f"  d'={record['d_prime']:.0f}"
        if not record.get("contract_met"):
            caption += " (not met)"
    if record["hard"]:
        caption += " HARD"
    return caption
