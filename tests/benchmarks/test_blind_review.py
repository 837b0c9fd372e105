"""The blind-review baseline scores guesses against a key it keeps off the sheets."""

import csv

import pytest

from benchmarks import blind_review
from sem_core.classes import CLASSES
from sem_core.data.synth.writer import write_dataset


@pytest.fixture(scope="module")
def sheets(tmp_path_factory):
    data = tmp_path_factory.mktemp("synth")
    write_dataset(data, per_class=2, size=32, seed=5, workers=1, progress=False)
    out = tmp_path_factory.mktemp("blind") / "review"
    count = blind_review.write_sheets(data, out, per_class=1, seed=0)
    return out, count


def _key(out):
    with (out / "key.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _write_guesses(path, numbers_and_guesses):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", "guess"])
        writer.writerows(numbers_and_guesses)


def test_sheets_hold_one_of_each_class_and_no_label(sheets):
    out, count = sheets
    key = _key(out)
    assert count == len(CLASSES) == len(key)
    assert sorted(row["label"] for row in key) == sorted(CLASSES)
    assert [path.name for path in sorted(out.glob("sheet-*.png"))] == ["sheet-01.png"]


def test_perfect_and_all_clean_guesses_score_as_expected(sheets, tmp_path):
    out, _ = sheets
    key = _key(out)
    perfect = tmp_path / "perfect.csv"
    _write_guesses(perfect, [(row["number"], row["label"]) for row in key])
    result = blind_review.score(out, perfect)
    assert result["accuracy"] == 1.0 and result["macro_f1"] == 1.0
    assert result["defect_recall"] == 1.0 and result["overkill"] == 0.0

    all_clean = tmp_path / "clean.csv"
    _write_guesses(all_clean, [(row["number"], "Clean") for row in key])
    result = blind_review.score(out, all_clean)
    assert result["accuracy"] == pytest.approx(1 / len(CLASSES))
    assert result["defect_recall"] == 0.0 and result["overkill"] == 0.0


def test_missing_or_unknown_guesses_are_refused(sheets, tmp_path):
    out, _ = sheets
    key = _key(out)
    short = tmp_path / "short.csv"
    _write_guesses(short, [(key[0]["number"], key[0]["label"])])
    with pytest.raises(SystemExit, match="no guess for numbers"):
        blind_review.score(out, short)
    unknown = tmp_path / "unknown.csv"
    _write_guesses(unknown, [(row["number"], "Particle") for row in key])
    with pytest.raises(SystemExit, match="unknown class names"):
        blind_review.score(out, unknown)


def test_sheets_never_overwrite_a_key(sheets):
    out, _ = sheets
    with pytest.raises(SystemExit, match="key.csv exists"):
        blind_review.write_sheets(out, out, per_class=1, seed=0)


def test_zoomed_sheets_keep_their_width_and_enlarge_each_image(sheets, tmp_path):
    from PIL import Image

    out, _ = sheets
    data = tmp_path / "synth"
    write_dataset(data, per_class=2, size=32, seed=5, workers=1, progress=False)
    zoomed = tmp_path / "zoomed"
    blind_review.write_sheets(data, zoomed, per_class=1, seed=0, zoom=2)
    plain = Image.open(out / "sheet-01.png")
    first = Image.open(zoomed / "sheet-01.png")
    assert first.width == plain.width
    # 2 x 2 images of twice the side per sheet: 8 images need two sheets
    assert len(list(zoomed.glob("sheet-*.png"))) == 2


def test_a_faint_tail_review_keeps_only_the_chosen_classes_below_the_c_half(tmp_path):
    import json

    data = tmp_path / "synth"
    write_dataset(data, per_class=4, size=32, seed=5, workers=1, progress=False)
    with (data / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    c_half = {row["path"]: json.loads((data / row["sidecar"]).read_text())["c_half"]
              for row in rows if row["label_true"] == "Other"}
    cut = sorted(c_half.values())[1] + 1e-9  # the two faintest Other images are below it
    out = tmp_path / "faint"
    count = blind_review.write_sheets(data, out, per_class=2, seed=0, classes=("Clean", "Other"),
                                      c_half=(0.0, cut))
    key = _key(out)
    assert count == 4 and sorted(row["label"] for row in key) == ["Clean"] * 2 + ["Other"] * 2
    assert all(c_half[row["path"]] < cut for row in key if row["label"] == "Other")
    with pytest.raises(SystemExit, match="only 2 images of Other"):
        blind_review.write_sheets(data, tmp_path / "more", per_class=3, seed=0,
                                  classes=("Other",), c_half=(0.0, cut))
