"""Dataset check and the `dataset` CLI: bad files, duplicates, leakage, conflicts, exit codes."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from sem_core.data.check import check_dataset


def _save_texture(path: Path, seed: int, size: int = 40) -> Path:
    field = gaussian_filter(np.random.default_rng(seed).random((size, size)), 1.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(((field - field.min()) / (np.ptp(field) + 1e-9) * 255).astype(np.uint8)).save(
        path
    )
    return path


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sem_core", "dataset", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture()
def split_dataset(tmp_path) -> Path:
    """Two classes x three splits x two images, plus copies of one Train image elsewhere."""
    for split_index, split in enumerate(("train", "val", "test")):
        for class_index, label in enumerate(("Bridges", "Opens")):
            for index in range(2):
                _save_texture(
                    tmp_path / split / label / f"{label}_{split}_{index}.png",
                    seed=10 * split_index + 3 * class_index + index,
                )
    original = np.asarray(Image.open(tmp_path / "train" / "Bridges" / "Bridges_train_0.png"))
    Image.fromarray(np.fliplr(original)).save(tmp_path / "test" / "Bridges" / "flipped_copy.png")
    Image.fromarray(original).resize((64, 64), Image.Resampling.BILINEAR).save(
        tmp_path / "val" / "Bridges" / "resized_copy.png"
    )
    Image.fromarray(np.rot90(original)).save(
        tmp_path / "train" / "Opens" / "rotated_copy_as_opens.png"
    )
    return tmp_path


def test_check_reports_copies_across_splits_as_leakage_and_across_labels_as_conflicts(
    split_dataset,
):
    report = check_dataset(split_dataset)
    assert report.image_count == 15
    assert len(report.duplicate_groups) == 1
    [group] = report.leakage
    assert set(group.paths) == {
        "train/Bridges/Bridges_train_0.png",
        "test/Bridges/flipped_copy.png",
        "val/Bridges/resized_copy.png",
        "train/Opens/rotated_copy_as_opens.png",
    }
    assert set(group.splits) == {"Train", "Validation", "Test"} and not group.exact
    assert report.conflicts == (group,)
    assert report.class_counts.loc["Train", "Opens"] == 3
    # the split layout is reported, never changed
    assert {split for split in group.splits} == {"Train", "Validation", "Test"}


def test_exact_copies_are_grouped_even_with_near_duplicate_matching_off(split_dataset):
    source = split_dataset / "train" / "Opens" / "Opens_train_0.png"
    (split_dataset / "test" / "Opens" / "same_bytes.png").write_bytes(source.read_bytes())
    report = check_dataset(split_dataset, max_distance=-1)
    [group] = report.duplicate_groups
    assert group.exact and group.leaks
    assert set(group.paths) == {"train/Opens/Opens_train_0.png", "test/Opens/same_bytes.png"}


def test_report_json_and_text_carry_the_findings(split_dataset):
    report = check_dataset(split_dataset)
    data = json.loads(report.to_json())
    assert data["class_counts"]["Validation"]["Bridges"] == 3
    assert len(data["leakage"]) == len(data["conflicts"]) == 1
    text = report.to_text()
    assert "test/Bridges/flipped_copy.png  [Bridges, Test]" in text
    assert "Leakage: the same image in more than one split:\n" in text


@pytest.fixture()
def folder_with_bad_files(tmp_path) -> tuple[Path, dict[str, str]]:
    good = _save_texture(tmp_path / "Clean" / "good.png", seed=1)
    _save_texture(tmp_path / "Vias" / "via.png", seed=2)
    (tmp_path / "Clean" / "zero_bytes.png").write_bytes(b"")
    (tmp_path / "Clean" / "text_renamed.png").write_text("lot 42, wafer 7, die 3\n")
    (tmp_path / "Vias" / "truncated.png").write_bytes(good.read_bytes()[:200])
    (tmp_path / "Vias" / "only_header.tif").write_bytes(b"II*\x00")
    expected = {
        "Clean/zero_bytes.png": "empty",
        "Clean/text_renamed.png": "not an image",
        "Vias/truncated.png": "truncated",
        "Vias/only_header.tif": "corrupt",
    }
    return tmp_path, expected


def test_cli_check_exits_0_and_names_every_bad_file_with_its_reason(
    folder_with_bad_files, tmp_path_factory
):
    folder, expected = folder_with_bad_files
    json_path = tmp_path_factory.mktemp("out") / "report.json"
    result = _run_cli("check", str(folder), "--json", str(json_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for path, reason_word in expected.items():
        [line] = [line for line in lines if line.strip().startswith(f"{path}:")]
        reason = line.split(":", 1)[1].strip()
        assert len(reason) > 10 and reason_word in reason, line
    assert "2 usable images, 4 bad files" in result.stdout
    reported = {bad["path"]: bad for bad in json.loads(json_path.read_text())["bad_files"]}
    assert set(reported) == set(expected) and all(
        bad["reason"] and bad["kind"] for bad in reported.values()
    )


def test_cli_check_exits_2_when_the_folder_is_unusable(tmp_path):
    result = _run_cli("check", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "nowhere" in result.stderr


def test_cli_rejects_a_malformed_class_map(tmp_path):
    result = _run_cli("check", str(tmp_path), "--class-map", "cmp")
    assert result.returncode == 2 and "NAME=CLASS" in result.stderr


def test_cli_manifest_writes_a_csv_that_loads_back(folder_with_bad_files, tmp_path_factory):
    from sem_core.data.layouts import load_dataset

    folder, _ = folder_with_bad_files
    out = tmp_path_factory.mktemp("manifest") / "manifest.csv"
    result = _run_cli("manifest", str(folder), "--out", str(out), "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "4 bad files" in result.stdout
    from_csv, from_folder = load_dataset(out), load_dataset(folder, seed=3)
    assert from_csv.manifest.content_hash() == from_folder.manifest.content_hash()


@pytest.mark.parametrize("command", ["check", "manifest", "export"])
def test_every_dataset_subcommand_has_help(command, capsys):
    from sem_core.cli import build_parser

    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["dataset", command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert f"dataset {command}" in text and "--class-map" in text and "master_dataset" in text


def test_cli_near_duplicate_distance_defaults_to_the_library_default():
    from sem_core.cli import build_parser
    from sem_core.data.dedup import DEFAULT_MAX_DISTANCE

    args = build_parser().parse_args(["dataset", "check", "somewhere"])
    assert args.max_distance == DEFAULT_MAX_DISTANCE
