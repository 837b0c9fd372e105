"""Export to the Kaggle layout: round trip, hard links, name collisions, no overwriting."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from sem_core.classes import CLASSES
from sem_core.data.export import export_kaggle_layout
from sem_core.data.layouts import DatasetLayout, load_dataset
from sem_core.data.manifest import Manifest
from sem_core.errors import DatasetError


def _save_texture(path: Path, seed: int, size: int = 40) -> Path:
    field = gaussian_filter(np.random.default_rng(seed).random((size, size)), 1.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(((field - field.min()) / (np.ptp(field) + 1e-9) * 255).astype(np.uint8)).save(
        path
    )
    return path


@pytest.fixture()
def class_folders(tmp_path) -> Path:
    """8 classes x 4 images, no split folders; two lots reuse the same file names."""
    root = tmp_path / "source"
    for class_index, label in enumerate(CLASSES):
        for index in range(4):
            lot = "lot1" if index < 2 else "lot2"
            _save_texture(
                root / label / lot / f"img_{index % 2}.png", seed=50 * class_index + index
            )
    return root


def test_export_then_reload_gives_the_original_manifest(class_folders, tmp_path):
    original = load_dataset(class_folders, seed=1)
    out = export_kaggle_layout(original.manifest, tmp_path / "kaggle")
    reloaded = load_dataset(out)
    assert reloaded.layout is DatasetLayout.KAGGLE
    assert reloaded.manifest.content_hash() == original.manifest.content_hash()
    from_csv = load_dataset(out / "manifest.csv")
    assert from_csv.manifest.content_hash() == original.manifest.content_hash()
    assert from_csv.bad_files == ()


def test_export_writes_all_three_views_with_hard_links(class_folders, tmp_path):
    manifest = load_dataset(class_folders, seed=1).manifest
    out = export_kaggle_layout(manifest, tmp_path / "kaggle")
    counts = {
        view: len(list((out / view).rglob("*.png")))
        for view in ("master_dataset", "stage1_binary_dataset", "stage2_multiclass_dataset")
    }
    assert counts == {
        "master_dataset": 32,
        "stage1_binary_dataset": 32,
        "stage2_multiclass_dataset": 28,
    }
    assert {folder.name for folder in (out / "stage1_binary_dataset").glob("*/*")} == {
        "Clean",
        "Defective",
    }
    entry = manifest.entries[0]
    linked = next((out / "master_dataset" / entry.split / entry.label).glob("*.png"))
    assert linked.stat().st_nlink >= 3  # the source, master and stage-1 copies share one inode


def test_same_file_names_from_two_lots_get_distinct_deterministic_names(class_folders, tmp_path):
    manifest = load_dataset(class_folders, seed=1).manifest
    first = export_kaggle_layout(manifest, tmp_path / "first", link="copy")
    second = export_kaggle_layout(manifest, tmp_path / "second", link="copy")
    names = sorted(p.relative_to(first).as_posix() for p in first.rglob("*.png"))
    assert names == sorted(p.relative_to(second).as_posix() for p in second.rglob("*.png"))
    assert any("__" in name for name in names)  # at least one collision was renamed
    assert not any((first / name).stat().st_nlink > 1 for name in names)  # copies, not links


def test_export_is_repeatable_but_never_overwrites_other_content(class_folders, tmp_path):
    manifest = load_dataset(class_folders, seed=1).manifest
    out = export_kaggle_layout(manifest, tmp_path / "kaggle")
    export_kaggle_layout(manifest, out)  # same content again: fine
    victim = sorted((out / "master_dataset").rglob("*.png"))[0]
    victim.unlink()
    victim.write_bytes(b"someone else's file")
    (out / "manifest.csv").unlink()
    with pytest.raises(DatasetError, match=str(victim)):
        export_kaggle_layout(manifest, out)
    assert victim.read_bytes() == b"someone else's file"
    assert not (out / "manifest.csv").exists()  # nothing written after the clash was found


def test_stage1_only_manifest_exports_only_the_stage1_view(class_folders, tmp_path):
    manifest = load_dataset(class_folders, seed=1).manifest.stage1()
    out = export_kaggle_layout(manifest, tmp_path / "kaggle")
    assert sorted(os.listdir(out)) == ["manifest.csv", "stage1_binary_dataset"]
    assert load_dataset(out).manifest.content_hash() == manifest.content_hash()


def test_export_refuses_entries_without_split_and_bad_link_modes(tmp_path):
    unsplit = Manifest.from_frame(
        pd.DataFrame({"path": ["a.png"], "label": ["Clean"]}), root=str(tmp_path)
    )
    with pytest.raises(DatasetError, match="no Train/Validation/Test split"):
        export_kaggle_layout(unsplit, tmp_path / "out")
    with pytest.raises(ValueError, match="link='symbolic'"):
        export_kaggle_layout(unsplit, tmp_path / "out", link="symbolic")


def test_cli_export_copies_and_reports_clashes(class_folders, tmp_path):
    command = [
        sys.executable,
        "-m",
        "sem_core",
        "dataset",
        "export",
        str(class_folders),
        "--out",
        str(tmp_path / "kaggle"),
        "--copy",
        "--seed",
        "1",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (
        load_dataset(tmp_path / "kaggle").manifest.content_hash()
        == load_dataset(class_folders, seed=1).manifest.content_hash()
    )
    clash = subprocess.run(
        [*command[:-2], "--seed", "2"], capture_output=True, text=True, timeout=120
    )
    assert clash.returncode == 1 and "already exists with other content" in clash.stderr
