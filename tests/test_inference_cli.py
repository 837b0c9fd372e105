"""predict / evaluate / explain commands end to end on an untrained tiny bundle."""

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bundle_fixtures import make_untrained_bundle
from sem_core.classes import CLASSES
from sem_core.cli import main


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    return make_untrained_bundle(tmp_path_factory.mktemp("cli_bundles") / "tiny")


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(1)
    for index in range(5):
        Image.fromarray(rng.integers(0, 255, (48, 60), dtype=np.uint8)).save(folder / f"img_{index}.png")
    (folder / "empty.png").write_bytes(b"")
    (folder / "report.pdf").write_bytes(b"%PDF-1.4 not an image")
    (folder / "cut.png").write_bytes((folder / "img_0.png").read_bytes()[:60])
    with zipfile.ZipFile(folder / "more.zip", "w") as archive:
        archive.write(folder / "img_1.png", "inner/img_1.png")
    return folder


def test_predict_folder_with_bad_files_writes_a_row_per_file_and_exits_0(bundle_dir, mixed_folder,
                                                                         tmp_path, capsys):
    out = tmp_path / "results.csv"
    cams = tmp_path / "cams"
    code = main(["predict", "--bundle", str(bundle_dir), "--input", str(mixed_folder),
                 "--out", str(out), "--cam-dir", str(cams), "--batch-size", "3"])
    assert code == 0
    frame = pd.read_csv(out)
    assert len(frame) == 9  # 5 images, 3 bad files, 1 zip member
    errors = frame.set_index(frame["source"].str.split("/").str[-1])["error"]
    assert errors[["empty.png", "report.pdf", "cut.png"]].notna().all()
    assert errors[[f"img_{i}.png" for i in range(5)] + ["img_1.png"]].isna().all()
    assert len(list(cams.glob("*.png"))) == 6
    assert "6 classified, 3 could not be read" in capsys.readouterr().out
    # Results are never overwritten.
    assert main(["predict", "--bundle", str(bundle_dir), "--input", str(mixed_folder),
                 "--out", str(out)]) == 2


def test_predict_writes_parquet(bundle_dir, mixed_folder, tmp_path):
    out = tmp_path / "results.parquet"
    assert main(["predict", "--bundle", str(bundle_dir), "--input", str(mixed_folder / "img_2.png"),
                 "--out", str(out)]) == 0
    frame = pd.read_parquet(out)
    assert frame["final_label"].iloc[0] in CLASSES


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predict_table_matches_the_in_memory_results(bundle_dir, mixed_folder, tmp_path, suffix):
    from sem_core.inference import predict, results_frame
    from sem_core.registry import load_bundle
    from sem_core.results_writer import RESULT_COLUMNS

    out = tmp_path / f"results{suffix}"
    # Threshold 0 sends every image to stage 2, so its columns are compared too.
    assert main(["predict", "--bundle", str(bundle_dir), "--input", str(mixed_folder),
                 "--out", str(out), "--batch-size", "3", "--stage1-threshold", "0"]) == 0
    assert [path.name for path in tmp_path.iterdir()] == [out.name]  # no *.partial left
    new = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    old = results_frame(predict(load_bundle(bundle_dir), mixed_folder, batch_size=3,
                                stage1_threshold=0.0))
    old = pd.read_csv(io.StringIO(old.to_csv(index=False))) if suffix == ".csv" else old
    assert list(new.columns) == list(RESULT_COLUMNS)
    same = [name for name in old.columns if not name.endswith("_ms")]  # timings differ per run
    assert new["p_Bridges"].notna().sum() == 6
    pd.testing.assert_frame_equal(new[same], old[same], rtol=1e-5)


def test_predict_to_file_streams_and_summarises(bundle_dir, mixed_folder, tmp_path):
    from sem_core.inference import predict_to_file
    from sem_core.registry import load_bundle

    out = tmp_path / "library.parquet"
    summary = predict_to_file(load_bundle(bundle_dir), mixed_folder, out, batch_size=4)
    frame = pd.read_parquet(out)
    assert (summary.files, summary.errors) == (9, 3)
    assert (len(frame), int(frame["error"].notna().sum())) == (9, 3)
    assert sum(summary.label_counts.values()) == 6
    with pytest.raises(FileExistsError, match="library.parquet"):
        predict_to_file(load_bundle(bundle_dir), mixed_folder, out)


def test_evaluate_writes_report_predictions_and_confusion_html(bundle_dir, tmp_path):
    data = tmp_path / "data"
    rng = np.random.default_rng(2)
    for label in CLASSES:
        (data / label).mkdir(parents=True)
        for index in range(3):
            Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(
                data / label / f"{label}_{index}.png")
    out = tmp_path / "eval" / "report.json"
    assert main(["evaluate", "--bundle", str(bundle_dir), "--data", str(data), "--split", "all",
                 "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["n_images"] == 24
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix", "stage1"} <= set(report)
    assert set(report["stage1"]) >= {"threshold", "escape_rate", "overkill_rate", "recall", "specificity"}
    rows = np.array(report["confusion_matrix"]["matrix"]).sum(axis=1)
    assert rows.tolist() == [report["per_class"][c]["support"] for c in report["confusion_matrix"]["labels"]]
    assert (tmp_path / "eval" / "report_predictions.csv").is_file()
    assert (tmp_path / "eval" / "report_confusion_end_to_end.html").is_file()


@pytest.mark.parametrize("method", ["gradcam", "gradcampp", "scorecam", "layercam"])
def test_explain_writes_overlay_at_original_size(bundle_dir, mixed_folder, tmp_path, method, capsys):
    out = tmp_path / f"{method}.png"
    assert main(["explain", "--bundle", str(bundle_dir), "--image", str(mixed_folder / "img_3.png"),
                 "--method", method, "--stage", "2", "--out", str(out)]) == 0
    with Image.open(out) as overlay:
        assert overlay.size == (60, 48) and overlay.mode == "RGB"
    assert json.loads(capsys.readouterr().out)["method"] == method


def test_explain_bad_image_is_a_clear_error(bundle_dir, mixed_folder, tmp_path, capsys):
    assert main(["explain", "--bundle", str(bundle_dir), "--image", str(mixed_folder / "report.pdf"),
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "report.pdf" in capsys.readouterr().err
