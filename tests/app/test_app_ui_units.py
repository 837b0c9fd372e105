"""The Streamlit-free parts of ui/: path safety, zips, filters, matrix cells, bundle choice."""

import io
import json
import os
import zipfile

import numpy as np
import pandas as pd
import pytest
from bundle_fixtures import write_config_only_models

from sem_core.classes import CLASSES
from sem_core.metrics import evaluate_predictions
from ui import app_store, bundles, datasets, figures, inspection, settings
from ui.evaluation import CellRef, MatrixView, cell_from_selection, cell_members, matrix_of


def test_resolve_inside_refuses_parent_paths_and_links_out(tmp_path):
    root = tmp_path / "data"
    (root / "lots" / "a").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    os.symlink(tmp_path / "secret", root / "escape")
    assert settings.resolve_inside(root, "lots/a") == (root / "lots" / "a").resolve()
    for bad in ("../secret", "lots/../../secret", "escape", str(tmp_path / "secret"), "/etc"):
        with pytest.raises(settings.OutsideRootError, match="outside"):
            settings.resolve_inside(root, bad)


def test_folder_choices_list_subfolders_but_not_hidden_or_linked_ones(tmp_path):
    (tmp_path / "lot1" / "Train").mkdir(parents=True)
    (tmp_path / ".cache").mkdir()
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "lot1" / "link")
    assert datasets.folder_choices(tmp_path) == ["lot1", "lot1/Train", "outside"]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as handle:
        for name, payload in members.items():
            handle.writestr(name, payload)
    return buffer.getvalue()


def test_dataset_zip_is_extracted_under_uploads_and_unwrapped(tmp_path):
    archive = tmp_path / "upload.zip"
    archive.write_bytes(_zip({"myset/Train/Clean/a.png": b"x", "myset/Test/Vias/b.png": b"y"}))
    folder = datasets.extract_dataset_zip(archive, "myset.zip", tmp_path / "data")
    assert folder == tmp_path / "data" / "uploads" / "myset" / "myset"
    assert (folder / "Test" / "Vias" / "b.png").read_bytes() == b"y"
    again = datasets.extract_dataset_zip(archive, "myset.zip", tmp_path / "data")
    assert again.parent.name == "myset-2"  # never written over an earlier upload


@pytest.mark.parametrize("member", ["../evil.png", "/abs/evil.png", "a/../../evil.png"])
def test_dataset_zip_with_escaping_member_is_refused_and_leaves_nothing(tmp_path, member):
    archive = tmp_path / "upload.zip"
    archive.write_bytes(_zip({"ok/Clean/a.png": b"x", member: b"evil"}))
    with pytest.raises(ValueError, match="leaves the archive folder"):
        datasets.extract_dataset_zip(archive, "bad.zip", tmp_path / "data")
    assert not (tmp_path / "data" / "uploads" / "bad").exists()
    assert not (tmp_path / "evil.png").exists()


def test_not_a_zip_is_refused_with_its_name(tmp_path):
    archive = tmp_path / "upload.zip"
    archive.write_bytes(b"plain text")
    with pytest.raises(ValueError, match="notes.zip: not a readable zip"):
        datasets.extract_dataset_zip(archive, "notes.zip", tmp_path / "data")


def _results() -> pd.DataFrame:
    return pd.DataFrame({
        "source": ["a.png", "b.png", "c.png", "bad.png"],
        "final_label": ["Clean", "Vias", "Clean", None],
        "confidence": [0.9, 0.55, 0.7, None],
        "stage1_probability": [0.1, 0.8, 0.3, None],
        "needs_review": [False, True, False, False],
        "error": [None, None, None, "the file is empty (0 bytes)"],
    })


def test_filter_results_by_label_status_confidence_and_sort():
    frame = _results()
    Filter = inspection.ResultFilter
    assert inspection.filter_results(frame, Filter(labels=("Clean",)))["source"].tolist() == [
        "a.png", "c.png"]
    assert inspection.filter_results(frame, Filter(status=inspection.Status.ERRORS))[
        "source"].tolist() == ["bad.png"]
    assert inspection.filter_results(frame, Filter(status=inspection.Status.REVIEW))[
        "source"].tolist() == ["b.png"]
    # A confidence floor hides weak scored rows but never hides an unreadable file.
    assert inspection.filter_results(frame, Filter(min_confidence=0.6))["source"].tolist() == [
        "a.png", "c.png", "bad.png"]
    ordered = inspection.filter_results(frame, Filter(sort_by=inspection.SortKey.CONFIDENCE,
                                                      descending=True))
    assert ordered["source"].tolist() == ["a.png", "c.png", "b.png", "bad.png"]
    groups = inspection.group_by_label(frame, CLASSES)
    assert list(groups) == ["Clean", "Vias", inspection.UNREADABLE]


def test_results_table_keeps_unreadable_files_as_rows_in_the_csv():
    from sem_core.cascade import CascadeResult

    items = [inspection.InspectItem("a.png", "aa"), inspection.InspectItem("bad.png", "bb")]
    results = [CascadeResult("a.png", 0.2, "Clean", None, "Clean", 0.8, False),
               CascadeResult("bad.png", error="the file is empty (0 bytes)", error_kind="empty")]
    csv_text = inspection.results_table(items, results).to_csv(index=False)
    assert "bad.png" in csv_text and "the file is empty (0 bytes)" in csv_text


def test_known_classes_join_the_results_and_score_only_scored_files():
    frame = _results()
    truth = {"a.png": "Clean", "b.png": "Bridges", "bad.png": "Opens"}  # c.png: not known
    joined = inspection.with_truth(frame, truth)
    assert joined["true_label"].tolist() == ["Clean", "Bridges", None, "Opens"]
    score = inspection.truth_score(joined)
    assert (score.known, score.correct, score.unreadable) == (2, 1, 1)
    assert score.accuracy == 0.5
    # Files none of which is known: no column, no score (a user's own images).
    assert "true_label" not in inspection.with_truth(frame, {"other.png": "Clean"})
    assert inspection.truth_score(frame) is None


def test_demo_answer_key_reads_back_and_a_damaged_key_reads_as_none(tmp_path):
    folder = datasets.write_demo_images(tmp_path, per_class=1, size=48)
    truth = datasets.demo_truth(tmp_path)
    images = sorted(path.name for path in folder.iterdir())
    assert len(images) == len(CLASSES)  # the key lies beside the images, not among them
    assert truth == {f"demo/images/{name}": name.split("_")[2].removesuffix(".png")
                     for name in images}
    (tmp_path / datasets.DEMO_LABELS).write_bytes(b"\xff\xfe not a csv \x00")
    assert datasets.demo_truth(tmp_path) == {}
    (tmp_path / datasets.DEMO_LABELS).write_text("file,label\ndemo/images/x.png,Nonsense\n")
    assert datasets.demo_truth(tmp_path) == {}


def _predictions(rng: np.random.Generator, count: int = 60) -> tuple[pd.DataFrame, object]:
    labels = rng.choice(CLASSES, size=count)
    scores = rng.random(count)
    final = np.where(scores >= 0.5, rng.choice(CLASSES[1:], size=count), "Clean")
    frame = pd.DataFrame({"path": [f"{index}.png" for index in range(count)], "label": labels,
                          "stage1_probability": scores,
                          "stage1_decision": np.where(scores >= 0.5, "Defective", "Clean"),
                          "final_label": final, "error": None})
    report = evaluate_predictions(labels, scores, 0.5, final, stage2_labels=[
        name if score >= 0.5 else None for name, score in zip(final, scores)])
    return frame, report


@pytest.mark.parametrize("view", list(MatrixView))
def test_every_cell_holds_exactly_the_images_its_count_says(view):
    frame, report = _predictions(np.random.default_rng(3))
    matrix = matrix_of(report, view)
    for row, true_label in enumerate(matrix.labels):
        for column, predicted in enumerate(matrix.labels):
            members = cell_members(frame, CellRef(view, true_label, predicted))
            assert len(members) == matrix.matrix[row, column], (true_label, predicted)


def test_a_click_on_the_figure_selects_the_cell_under_it():
    figure = figures.confusion_figure(["Clean", "Defective"], np.array([[5, 1], [0, 4]]))
    points = figure.data[1]
    assert list(zip(points.y, points.x)) == [("Clean", "Clean"), ("Clean", "Defective"),
                                             ("Defective", "Clean"), ("Defective", "Defective")]
    selection = {"points": [{"x": "Defective", "y": "Clean", "point_index": 1}]}
    assert cell_from_selection(MatrixView.STAGE1, selection) == CellRef(
        MatrixView.STAGE1, "Clean", "Defective")
    assert cell_from_selection(MatrixView.STAGE1, {"points": []}) is None


def test_row_normalised_rows_sum_to_one_and_empty_rows_stay_zero():
    shares = figures.row_normalised(np.array([[3, 1], [0, 0]]))
    assert shares.tolist() == [[0.75, 0.25], [0.0, 0.0]]


def _bundle(root, name, created):
    folder = root / name
    folder.mkdir(parents=True)
    stage = {"file": "stage1.keras", "architecture": "cnn", "classes": ["Clean", "Defective"],
             "gradcam_layer": "x"}
    info = {"name": name, "classes": list(CLASSES), "input_size": 32, "preprocessing": "",
            "stage1": stage, "stage2": {**stage, "file": "stage2.keras"},
            "stage1_threshold": 0.5, "created": created}
    (folder / "bundle.json").write_text(json.dumps(info))
    write_config_only_models(folder)
    return folder


def test_active_bundle_rule_remembered_then_user_registry_then_shipped_default(tmp_path,
                                                                               monkeypatch):
    shipped = _bundle(tmp_path / "shipped", "default", "2020-01-01")
    _bundle(tmp_path / "user", "newer", "2031-01-01")
    monkeypatch.setenv("SEM_DEFAULT_BUNDLE", str(shipped))
    monkeypatch.setenv("SEM_MODELS_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("SEM_APP_DIR", str(tmp_path / "app"))
    entries = bundles.list_bundles()
    assert [entry.label for entry in entries] == ["default (shipped)", "newer (user)"]
    assert bundles.resolve_active(entries).name == "default"
    bundles.activate(entries[1])
    assert bundles.resolve_active(entries).name == "newer"
    app_store.write_record(settings.state_file(), app_store.AppRecord())  # app forgets its choice
    assert bundles.resolve_active(entries).name == "newer"  # the user registry still says so
    with pytest.raises(ValueError, match="read-only"):
        bundles.delete_bundle(entries[0], "default", None)
    with pytest.raises(ValueError, match="active bundle"):
        bundles.delete_bundle(entries[1], "newer", entries[1])
    with pytest.raises(ValueError, match="Type the bundle name"):
        bundles.delete_bundle(entries[1], "new", entries[0])
    assert entries[1].path.is_dir()


def test_damaged_state_file_reads_as_nothing_remembered(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("{not json")
    assert app_store.read_record(state) == app_store.AppRecord()
    app_store.remember_dataset(state, "/data/a")
    app_store.remember_dataset(state, "/data/a")
    assert app_store.read_record(state).datasets == ("/data/a",)


def test_detail_caption_says_when_the_threshold_overrides_the_longest_bar():
    from ui.detail_view import threshold_note

    # Stage 1 scored 0.46, above a 0.4587 threshold: Defective, so Bridges although Clean = 0.54.
    final = [0.54] + [0.46 / 7] * 7
    assert "here the label is Bridges although Clean is the longest bar" in threshold_note(
        {"final_label": "Bridges"}, final)
    assert "although" not in threshold_note({"final_label": "Clean"}, final)


def _side(macro_f1, escape, overkill, recalls):
    from sem_core.compare import SideScores
    from sem_core.metrics.confusion import ClassScore

    return SideScores(16, 0.5, macro_f1, escape, overkill,
                      {name: ClassScore(0.5, recall, 0.5, 2, 2) for name, recall in recalls.items()})


def test_promotion_concerns_name_each_figure_that_got_worse_and_nothing_else():
    from sem_core.compare import BundleComparison
    from ui.retrain import promotion_concerns

    old = _side(0.60, 0.05, 0.10, {"Bridges": 1.0, "Cracks": 0.5})
    worse = _side(0.40, 0.10, 0.20, {"Bridges": 0.5, "Cracks": 0.5})
    better = _side(0.70, 0.05, 0.05, {"Bridges": 1.0, "Cracks": 0.52})
    concerns = promotion_concerns(BundleComparison("old", "new", old, worse, ()))
    assert len(concerns) == 4
    assert concerns[0] == "macro-F1 falls from 0.600 to 0.400"
    assert any("escape rate 0.050 -> 0.100" in text for text in concerns)
    assert any("overkill rate 0.100 -> 0.200" in text for text in concerns)
    assert any(text.startswith("Bridges recall falls from 1.00 to 0.50") for text in concerns)
    assert promotion_concerns(BundleComparison("old", "new", old, better, ())) == []
