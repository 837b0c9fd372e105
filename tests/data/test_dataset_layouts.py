"""load_dataset: every layout gives the same manifest, and near duplicates never straddle splits."""

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from sem_core.classes import CLASSES
from sem_core.data.layouts import DatasetLayout, load_dataset
from sem_core.errors import DatasetError

SPLIT_OF_INDEX = ("Train", "Train", "Train", "Train", "Validation", "Test")  # 6 images per class
FOLDER_NAMES = {
    "Clean": "good",
    "Bridges": "bridge",
    "Cracks": "CRACK",
    "Opens": "open",
    "Shorts": "Shorts",
    "Scratches": "scratch",
    "Vias": "malformed_vias",
    "Other": "cmp",
}
SPLIT_FOLDERS = {"Train": "train", "Validation": "VAL", "Test": "Test"}


def _texture(seed: int, size: int = 40) -> np.ndarray:
    field = gaussian_filter(np.random.default_rng(seed).random((size, size)), 1.5)
    return ((field - field.min()) / (np.ptp(field) + 1e-9) * 255).astype(np.uint8)


def _save(pixels: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[tuple[Path, str, str]]:
    """48 distinct PNGs (8 classes x 6) with their intended label and split."""
    folder = tmp_path_factory.mktemp("pool")
    rows = []
    for class_index, label in enumerate(CLASSES):
        for index, split in enumerate(SPLIT_OF_INDEX):
            path = _save(
                _texture(100 * class_index + index), folder / f"{label.lower()}_{index}.png"
            )
            rows.append((path, label, split))
    return rows


def _expected(rows, with_split=True) -> set:
    from sem_core.data.image_io import sha256_file

    return {
        (sha256_file(path), label, split) if with_split else (sha256_file(path), label)
        for path, label, split in rows
    }


def _content(loaded, with_split=True) -> set:
    return {
        (e.sha256, e.label, e.split) if with_split else (e.sha256, e.label) for e in loaded.manifest
    }


def _copy(path: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, folder / path.name)


def test_every_layout_gives_the_same_manifest(images, tmp_path):
    expected = _expected(images)
    kaggle, split_above, split_below, csv_root = (
        tmp_path / name for name in ("kaggle", "above", "below", "csv")
    )
    rows = []
    for path, label, split in images:
        _copy(path, kaggle / "master_dataset" / split / label)
        _copy(path, split_above / SPLIT_FOLDERS[split] / FOLDER_NAMES[label])
        _copy(path, split_below / FOLDER_NAMES[label] / SPLIT_FOLDERS[split])
        _copy(path, csv_root / "images")
        rows.append(
            {
                "path": f"images/{path.name}",
                "label": FOLDER_NAMES[label],
                "split": SPLIT_FOLDERS[split],
            }
        )
    pd.DataFrame(rows).to_csv(csv_root / "dataset.csv", index=False)
    class_map = {"cmp": "Other"}

    loaded = {
        DatasetLayout.KAGGLE: load_dataset(kaggle),
        DatasetLayout.CLASS_FOLDERS_SPLIT: load_dataset(split_above, class_map=class_map),
        "split below class": load_dataset(split_below, class_map=class_map),
        DatasetLayout.CSV: load_dataset(csv_root / "dataset.csv", class_map=class_map),
    }
    for layout, dataset in loaded.items():
        assert _content(dataset) == expected, layout
        assert dataset.bad_files == () and dataset.unknown_folders == (), layout
    assert [dataset.layout for dataset in loaded.values()] == [
        DatasetLayout.KAGGLE,
        DatasetLayout.CLASS_FOLDERS_SPLIT,
        DatasetLayout.CLASS_FOLDERS_SPLIT,
        DatasetLayout.CSV,
    ]
    assert len({dataset.manifest.content_hash() for dataset in loaded.values()}) == 1


def test_class_folders_without_splits_get_a_stratified_split(images, tmp_path):
    for path, label, _ in images:
        _copy(path, tmp_path / FOLDER_NAMES[label])
    loaded = load_dataset(tmp_path, class_map={"cmp": "Other"}, seed=4)
    assert loaded.layout is DatasetLayout.CLASS_FOLDERS
    assert _content(loaded, with_split=False) == _expected(images, with_split=False)
    counts = loaded.manifest.class_counts()
    for label in CLASSES:  # 6 images: 4 / 1 / 1 is the nearest to 70/15/15 with every split used
        assert list(counts[label]) == [4, 1, 1]
    assert load_dataset(tmp_path, class_map={"cmp": "Other"}, seed=4).manifest == loaded.manifest


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_resized_flipped_and_rotated_copies_land_in_the_original_split(images, tmp_path, seed):
    for path, label, _ in images:
        _copy(path, tmp_path / label)
    original = images[9][0]  # a Bridges image
    pixels = np.asarray(Image.open(original))
    copies = {
        "resized.png": np.asarray(
            Image.fromarray(pixels).resize((88, 88), Image.Resampling.BILINEAR)
        ),
        "flipped.png": np.fliplr(pixels),
        "rotated.png": np.rot90(pixels),
        "flipped_resized.png": np.asarray(
            Image.fromarray(np.flipud(pixels)).resize((31, 31), Image.Resampling.BOX)
        ),
    }
    for name, copy in copies.items():
        _save(np.ascontiguousarray(copy), tmp_path / "Bridges" / name)
    loaded = load_dataset(tmp_path, seed=seed)
    by_name = {Path(entry.path).name: entry for entry in loaded.manifest}
    assert {by_name[name].split for name in (original.name, *copies)} == {
        by_name[original.name].split
    }
    assert len(set(loaded.groups)) == len(
        images
    )  # the 4 copies joined their original, nothing else merged


def test_kaggle_prefers_master_and_falls_back_to_stage2_plus_stage1_clean(images, tmp_path):
    for path, label, split in images:
        stage1 = "Clean" if label == "Clean" else "Defective"
        _copy(path, tmp_path / "stage1_binary_dataset" / split / stage1)
        if label != "Clean":
            _copy(path, tmp_path / "stage2_multiclass_dataset" / split / label)
    assert _content(load_dataset(tmp_path)) == _expected(images)  # 8 classes without master

    shutil.rmtree(tmp_path / "stage1_binary_dataset")
    stage2_only = load_dataset(tmp_path)
    assert set(stage2_only.manifest.class_counts().columns) == set(CLASSES[1:])
    assert _content(stage2_only) == {row for row in _expected(images) if row[1] != "Clean"}


def test_stage1_only_kaggle_uses_clean_and_defective_labels(images, tmp_path):
    for path, label, split in images:
        _copy(
            path,
            tmp_path
            / "stage1_binary_dataset"
            / split
            / ("Clean" if label == "Clean" else "Defective"),
        )
    loaded = load_dataset(tmp_path)
    assert Counter(entry.label for entry in loaded.manifest) == {"Clean": 6, "Defective": 42}
    assert len(loaded.manifest.stage2()) == 0


def test_unknown_folders_are_reported_and_their_images_left_out(images, tmp_path):
    for path, label, split in images[:12]:
        _copy(path, tmp_path / split / FOLDER_NAMES[label])
    _copy(images[20][0], tmp_path / "Train" / "particle")
    _copy(images[21][0], tmp_path / "Train")  # an image outside any class folder
    loaded = load_dataset(tmp_path)
    assert "Train/particle" in loaded.unknown_folders
    assert any(name.startswith("Train (1 image") for name in loaded.unknown_folders)
    assert len(loaded.manifest) == 12
    mapped = load_dataset(tmp_path, class_map={"particle": "Other"})
    assert "Train/particle" not in mapped.unknown_folders
    assert [entry.source for entry in mapped.manifest if entry.label == "Other"] == [
        "Train/particle"
    ]


def test_bad_files_are_listed_with_reasons_not_included(images, tmp_path):
    _copy(images[0][0], tmp_path / "Clean")
    (tmp_path / "Clean" / "empty.png").write_bytes(b"")
    (tmp_path / "Clean" / "notes.png").write_text("not an image")
    loaded = load_dataset(tmp_path)
    assert [entry.path for entry in loaded.manifest] == [f"Clean/{images[0][0].name}"]
    reasons = {bad.path: (bad.kind, bad.reason) for bad in loaded.bad_files}
    assert reasons["Clean/empty.png"][0] == "empty" and "0 bytes" in reasons["Clean/empty.png"][1]
    assert reasons["Clean/notes.png"][0] == "not_an_image"


def test_csv_rows_with_unknown_labels_or_changed_files_are_reported(images, tmp_path):
    _copy(images[0][0], tmp_path)
    _copy(images[1][0], tmp_path)
    pd.DataFrame(
        [
            {"path": images[0][0].name, "label": "clean", "split": "train", "sha256": "0" * 64},
            {"path": images[1][0].name, "label": "mystery", "split": "train", "sha256": ""},
        ]
    ).to_csv(tmp_path / "m.csv", index=False)
    loaded = load_dataset(tmp_path / "m.csv")
    assert loaded.unknown_folders == ("label 'mystery' (1 rows)",)
    assert [bad.kind for bad in loaded.bad_files] == ["sha256_mismatch"]


def test_unusable_paths_raise_dataset_error_naming_them(tmp_path):
    with pytest.raises(DatasetError, match="missing"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "holiday_photos").mkdir()
    with pytest.raises(DatasetError, match="no class folder.*holiday_photos"):
        load_dataset(tmp_path)
