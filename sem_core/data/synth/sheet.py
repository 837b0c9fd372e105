"""Contact sheet: every class in a row, several labelled examples each, as one PNG."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from sem_core.classes import CLASSES
from sem_core.data.synth.config import SynthConfig
from sem_core.data.synth.sample import generate_sample

LABEL_WIDTH = 110
CAPTION = 14


def contact_sheet(
    path: str | Path,
    seed: int = 0,
    size: int = 224,
    per_class: int = 6,
    split_id: int = 0,
    presentation: bool = True,
    ease: float = 0.0,
) -> Path:
    """Render ``per_class`` images of every class and save them as one labelled PNG.

    Args:
        path: Output PNG path (parent folders are created).
        seed: Master seed (the same images as the dataset of that seed). Default: 0.
        size: Image side in px. Default: 224.
        per_class: Examples per class. Default: 6.
        split_id: Split whose first images are shown. Default: 0 (train).
        presentation: Show images after the presentation layer. Default: True.
        ease: Hardness toward the easy end (``SynthConfig.ease``). Default: 0.

    Returns:
        The written path.
    """
    config = SynthConfig(size=size, presentation=presentation, ease=ease)
    font = ImageFont.load_default(size=12)
    cell = size + CAPTION
    sheet = Image.new("L", (LABEL_WIDTH + per_class * (size + 4), len(CLASSES) * (cell + 4)), 32)
    draw = ImageDraw.Draw(sheet)
    for row, name in enumerate(CLASSES):
        top = row * (cell + 4)
        draw.text((6, top + size // 2), name, fill=255, font=ImageFont.load_default(size=16))
        for column in range(per_class):
            idx = row + len(CLASSES) * column
            sample = generate_sample(config, seed, split_id, idx)
            left = LABEL_WIDTH + column * (size + 4)
            sheet.paste(Image.fromarray(sample.image), (left, top))
            scene, defect = sample.sidecar.scene, sample.sidecar.defect
            caption = f"{scene['family']} {scene['look']['look']} {defect['subtype']}"
            if sample.sidecar.hard:
                caption += " HARD"
            draw.text((left + 2, top + size + 1), caption[:40], fill=200, font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
