"""The control set's masks cover exactly the marks that make its classes."""

import csv

import numpy as np
from PIL import Image

from benchmarks.control_set import write_control_set
from sem_core.classes import CLASSES, CLEAN


def test_masks_cover_the_marks_and_clean_images_have_none(tmp_path):
    manifest = write_control_set(tmp_path / "control", per_class=4, size=48, noise=0.0, seed=3)
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 * len(CLASSES)
    assert {row["label_true"] for row in rows} == set(CLASSES)
    for row in rows:
        image = np.asarray(Image.open(manifest.parent / row["path"]))
        if row["label_true"] == CLEAN:
            assert row["mask"] == ""
            continue
        mask = np.asarray(Image.open(manifest.parent / row["mask"])) > 0
        assert mask.any()
        # a mark is painted at one level (0.05 or 0.95 of full scale) over the whole mask
        assert len(np.unique(image[mask])) == 1
        assert image[mask][0] in (int(0.05 * 255), int(0.95 * 255))


def test_the_same_seed_writes_the_same_images(tmp_path):
    first = write_control_set(tmp_path / "a", per_class=2, size=32, noise=0.5, seed=9)
    second = write_control_set(tmp_path / "b", per_class=2, size=32, noise=0.5, seed=9)
    with first.open() as one, second.open() as two:
        assert one.read() == two.read()
    for path in sorted((tmp_path / "a").rglob("*.png")):
        twin = tmp_path / "b" / path.relative_to(tmp_path / "a")
        assert path.read_bytes() == twin.read_bytes()
