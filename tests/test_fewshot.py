"""The few-shot record reader names the file and the problem for anything but a record."""

import json

import pytest

from sem_core.fewshot import read_fewshot_curves


def test_curves_come_sorted_per_start_with_their_figures(tmp_path):
    path = tmp_path / "fewshot.json"
    path.write_text(json.dumps({"curves": {
        "source": [{"labels_per_class": 10, "cascade_macro_f1": 0.4, "retrain_seconds": 9.0},
                   {"labels_per_class": 0, "cascade_macro_f1": 0.3}],
        "coral": [{"labels_per_class": 0, "cascade_macro_f1": 0.35}]}}))
    curves = read_fewshot_curves(path)
    assert curves[["start", "labels_per_class", "cascade_macro_f1"]].values.tolist() == [
        ["coral", 0, 0.35], ["source", 0, 0.3], ["source", 10, 0.4]]
    assert curves["retrain_seconds"].iloc[2] == 9.0


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not a JSON few-shot record"),
    (json.dumps({"curves": {}}), "has no 'curves'"),
    (json.dumps([1, 2]), "has no 'curves'"),
    (json.dumps({"curves": {"source": [{"labels_per_class": 5}]}}), "curve 'source' lacks"),
    (json.dumps({"curves": {"source": 3}}), "curve 'source' lacks"),
])
def test_anything_else_is_refused_with_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "odd.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=problem) as error:
        read_fewshot_curves(path)
    assert str(path) in str(error.value)


def test_the_committed_benchmark_record_reads():
    from pathlib import Path

    curves = read_fewshot_curves(Path(__file__).resolve().parents[1] / "benchmarks" / "results"
                                 / "fewshot.json")
    assert set(curves["start"]) == {"source", "coral"}
    assert sorted(set(curves["labels_per_class"])) == [0, 5, 10, 20]
