"""The stage-1 benchmarks' own arithmetic: the faint-tail tally and the flipped-view scores."""

import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks import bench_faint_tail, bench_stage_recipe
from sem_core.classes import CLEAN
from sem_core.data.synth.writer import write_dataset


class _FirstPixel:
    """A stand-in model whose score is the sigmoid of its input's top-left pixel."""

    def predict(self, pixels, batch_size=32, verbose=0):
        return 1.0 / (1.0 + np.exp(-pixels[:, :1, 0, 0]))


def test_flipped_views_average_the_log_odds_of_each_turn():
    pixels = np.zeros((1, 4, 4, 1), dtype=np.uint8)
    pixels[0, 0, 0], pixels[0, 0, 3], pixels[0, 3, 3], pixels[0, 3, 0] = 255, 0, 51, 102
    images = SimpleNamespace(pixels=pixels)
    one = bench_stage_recipe._dihedral_scores(_FirstPixel(), images, 1)
    assert one[0] == pytest.approx(1.0 / (1.0 + np.exp(-1.0)))
    four = bench_stage_recipe._dihedral_scores(_FirstPixel(), images, 4)
    # the four quarter turns bring each corner to the top left once
    assert four[0] == pytest.approx(1.0 / (1.0 + np.exp(-(1.0 + 0.0 + 0.2 + 0.4) / 4)))


def test_the_faint_tail_tally_counts_each_defect_once_by_class_and_c_half(tmp_path, monkeypatch):
    data = tmp_path / "synth"
    write_dataset(data, per_class=2, size=32, seed=5, workers=1, progress=False)
    with (data / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    c_half = {str(data / row["path"]): json.loads((data / row["sidecar"]).read_text())["c_half"]
              for row in rows}
    defects = [path for path, value in c_half.items() if value is not None]
    faintest = min(defects, key=lambda path: c_half[path])

    def predict(bundle, paths):  # the faintest defect and one Clean image go the wrong way
        clean = [path for path in paths if c_half[path] is None]
        missed, flagged = {faintest}, {clean[0]}
        return [SimpleNamespace(ok=True, source=path, stage1_probability=0.5,
                                stage1_decision=CLEAN if (c_half[path] is None) != (
                                    path in missed or path in flagged) else "Defective")
                for path in paths]

    monkeypatch.setattr("sem_core.inference.predict", predict)
    row = bench_faint_tail.run(tmp_path / "bundle", [data])
    assert row["defects"] == {"images": len(defects), "passed": len(defects) - 1,
                              "recall": round((len(defects) - 1) / len(defects), 4)}
    assert sum(cell["images"] for cell in row["by_class"].values()) == len(defects)
    assert sum(cell["images"] for cell in row["by_c_half"].values()) == sum(
        c_half[path] >= bench_faint_tail.C_HALF_BINS[0] for path in defects)
    assert [m["path"] for m in row["missed"]] == [faintest]
    clean_count = len(rows) - len(defects)
    assert row["clean_images"] == clean_count and row["overkill"] == round(1 / clean_count, 4)


def test_a_run_is_added_under_its_tag_and_the_others_are_kept(tmp_path):
    from benchmarks.record import append_run

    path = tmp_path / "record.json"
    append_run(path, "first", {"auc": 0.9})
    append_run(path, "second", {"auc": 0.8})
    append_run(path, "first", {"auc": 0.95})
    record = json.loads(path.read_text())
    assert record["runs"] == {"first": {"auc": 0.95}, "second": {"auc": 0.8}}
    assert record["machine"]["cpus"] >= 1 and record["recorded"]
