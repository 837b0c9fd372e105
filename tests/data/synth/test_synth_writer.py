"""The dataset writer and the ``synth`` command: Kaggle layout, links, masks, manifest."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sem_core.classes import CLASSES
from sem_core.data.synth.writer import split_counts, write_dataset
from sem_core.errors import DatasetError


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "data"
    result = write_dataset(
        out, per_class=4, size=32, seed=6, workers=2, label_noise=0.3, progress=False
    )
    rows = list(csv.DictReader(result.manifest.open()))
    return out, result, rows


def test_split_counts_are_70_15_15():
    assert split_counts(20) == (14, 3, 3)
    assert sum(split_counts(7)) == 7


def test_manifest_lists_every_master_file_with_hash_and_extras(dataset):
    out, result, rows = dataset
    assert result.images == len(rows) == 32
    assert list(rows[0]) == [
        "path",
        "label",
        "split",
        "sha256",
        "source",
        "label_true",
        "hard",
        "sidecar",
        "mask",
    ]
    for row in rows:
        path = out / row["path"]
        assert path.is_file() and row["path"].startswith("master_dataset/")
        assert path.parent.name == row["label"] and path.parent.parent.name == row["split"]
        assert row["source"] == "synthetic" and len(row["sha256"]) == 64
        assert (out / row["sidecar"]).is_file() and (out / row["mask"]).is_file()


def test_stage_views_link_the_master_files(dataset):
    out, _, rows = dataset
    for row in rows:
        name, split, label = (out / row["path"]).name, row["split"], row["label"]
        stage1 = (
            out
            / "stage1_binary_dataset"
            / split
            / ("Clean" if label == "Clean" else "Defective")
            / name
        )
        assert stage1.read_bytes() == (out / row["path"]).read_bytes()
        stage2 = out / "stage2_multiclass_dataset" / split / label / name
        assert stage2.exists() == (label != "Clean")


def test_masks_and_sidecars_stay_outside_class_folders(dataset):
    out, _, rows = dataset
    for view in ("master_dataset", "stage1_binary_dataset", "stage2_multiclass_dataset"):
        names = [p.name for p in (out / view).rglob("*") if p.is_file()]
        assert not any(name.endswith((".json", "_mask.png")) for name in names)
    sidecar = json.loads((out / rows[1]["sidecar"]).read_text())
    mask = np.asarray(Image.open(out / rows[1]["mask"]))
    assert mask.shape == (32, 32) and set(np.unique(mask)) <= {0, 255}
    assert sidecar["label_observed"] == rows[1]["label"] and sidecar["file"] == rows[1]["path"]
    for key in ("bbox", "z", "v", "hard", "scene", "imaging", "defect", "presentation"):
        assert key in sidecar


def test_label_noise_only_on_the_training_split(dataset):
    _, _, rows = dataset
    flipped = [row for row in rows if row["label"] != row["label_true"]]
    assert flipped and all(row["split"] == "Train" for row in flipped)
    assert {row["label_true"] for row in rows} == set(CLASSES)


def test_refuses_a_non_empty_folder_unless_overwrite(tmp_path):
    (tmp_path / "keep.txt").write_text("user file")
    with pytest.raises(DatasetError, match="not empty"):
        write_dataset(tmp_path, per_class=1, size=32, workers=1, progress=False)
    write_dataset(tmp_path, per_class=1, size=32, workers=1, progress=False, overwrite=True)
    assert (tmp_path / "keep.txt").read_text() == "user file"
    assert (tmp_path / "manifest.csv").is_file()


def test_command_writes_dataset_and_contact_sheet(tmp_path):
    sheet = tmp_path / "sheet.png"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sem_core",
            "synth",
            "--out",
            str(tmp_path / "d"),
            "--per-class",
            "1",
            "--size",
            "32",
            "--seed",
            "1",
            "--workers",
            "1",
            "--sheet",
            str(sheet),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d" / "manifest.csv").is_file()
    assert Image.open(sheet).size[1] >= 8 * 32
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "sem_core",
            "synth",
            "--out",
            str(tmp_path / "d"),
            "--per-class",
            "1",
            "--size",
            "32",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 2 and "not empty" in again.stderr


def test_one_failing_image_does_not_stop_the_dataset(tmp_path, monkeypatch):
    from sem_core.data.synth import sample

    real = sample.generate_sample

    def flaky(config, seed, split_id, idx, timer=None):
        if (split_id, idx) == (0, 3):
            raise RuntimeError("boom")
        return real(config, seed, split_id, idx, timer)

    monkeypatch.setattr(sample, "generate_sample", flaky)
    result = write_dataset(tmp_path / "d", per_class=1, size=32, workers=1, progress=False)
    assert result.images == 7 and len(result.failures) == 1
    assert "idx 3" in result.failures[0] and "boom" in result.failures[0]


def test_clean_twins_pair_each_training_defect_with_its_scene_without_the_defect(tmp_path):
    from sem_core.data.image_io import load_image
    from sem_core.data.synth.writer import TWIN_SUFFIX

    plain = write_dataset(tmp_path / "plain", per_class=4, size=48, seed=13, workers=1,
                          progress=False)
    result = write_dataset(tmp_path / "twins", per_class=4, size=48, seed=13, workers=2,
                           progress=False, clean_twins=True)
    rows = list(csv.DictReader(result.manifest.open()))
    twins = [row for row in rows if row["path"].rsplit(".", 1)[0].endswith(TWIN_SUFFIX)]
    train_defects = [row for row in rows if row["split"] == "Train" and row["label"] != "Clean"]
    # drawn images are the same bytes as without twins; one twin per training defect image
    plain_rows = list(csv.DictReader(plain.manifest.open()))
    assert [r["sha256"] for r in plain_rows] == [r["sha256"] for r in rows if r not in twins]
    assert len(twins) == len(train_defects) == 7 * 3
    assert json.loads((result.out_dir / "dataset.json").read_text())["clean_twins"] == 21
    for twin in twins:
        assert twin["label"] == twin["label_true"] == "Clean" and twin["split"] == "Train"
        assert (result.out_dir / "stage1_binary_dataset/Train/Clean" /
                twin["path"].rsplit("/", 1)[1]).is_file()
        sidecar = json.loads((result.out_dir / twin["sidecar"]).read_text())
        partner = next(row for row in rows if row["path"] == sidecar["twin_of"])
        assert partner["label"] != "Clean"
        assert not np.asarray(Image.open(result.out_dir / twin["mask"])).any()
        # the same field: the pixels differ only near the partner's defect
        mask = np.asarray(Image.open(result.out_dir / partner["mask"])) > 0
        a = load_image(result.out_dir / twin["path"]).pixels.astype(float)
        b = load_image(result.out_dir / partner["path"]).pixels.astype(float)
        if a.shape == b.shape and mask.any():
            assert np.abs(a - b)[mask].mean() > np.abs(a - b)[~mask].mean()
