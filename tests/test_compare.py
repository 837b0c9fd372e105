"""Old versus new bundle: deltas per class, escape/overkill, changed images, relabelled apart."""

import pandas as pd
import pytest

from sem_core.classes import CLASSES
from sem_core.compare import BundleComparison, compare_predictions


def _predictions(rows):
    """A per-image table as ``evaluate_bundle`` makes it, from (path, label, final) triples."""
    return pd.DataFrame([{
        "path": path, "sha256": path.ljust(64, "0"), "label": label, "split": "Test",
        "final_label": final, "confidence": 0.9, "error": None,
        "stage1_probability": 0.1 if final == "Clean" else 0.9,
        "stage1_decision": "Clean" if final == "Clean" else "Defective",
    } for path, label, final in rows])


TRUTH = [("a", "Clean"), ("b", "Clean"), ("c", "Cracks"), ("d", "Cracks"), ("e", "Vias")]


@pytest.fixture
def comparison():
    old = _predictions([(p, l, f) for (p, l), f in zip(TRUTH, ["Cracks", "Clean", "Clean",
                                                                 "Cracks", "Vias"])])
    new = _predictions([(p, l, f) for (p, l), f in zip(TRUTH, ["Clean", "Clean", "Cracks",
                                                                 "Cracks", "Cracks"])])
    return compare_predictions(old, new, old_threshold=0.5, new_threshold=0.5,
                               old_bundle="old", new_bundle="new", heldout_digest="h")


def test_headline_rates_of_both_bundles(comparison):
    assert comparison.old.escape_rate == pytest.approx(1 / 3)   # c called Clean
    assert comparison.new.escape_rate == 0.0
    assert comparison.old.overkill_rate == pytest.approx(1 / 2)  # a called defective
    assert comparison.new.overkill_rate == 0.0
    assert comparison.old.accuracy == pytest.approx(3 / 5)
    assert comparison.new.accuracy == pytest.approx(4 / 5)
    assert comparison.macro_f1_delta == pytest.approx(
        comparison.new.macro_f1 - comparison.old.macro_f1)


def test_per_class_deltas(comparison):
    deltas = comparison.class_deltas().set_index("class")
    assert deltas.loc["Vias", "recall_old"] == 1.0 and deltas.loc["Vias", "recall_new"] == 0.0
    assert deltas.loc["Vias", "recall_delta"] == -1.0
    assert deltas.loc["Cracks", "recall_new"] == 1.0
    assert list(deltas.index) == list(CLASSES)


def test_changed_images_fixed_first_with_before_and_after(comparison):
    assert [(item.path, item.verdict) for item in comparison.changed] == [
        ("a", "fixed"), ("c", "fixed"), ("e", "broken")]
    assert (comparison.changed[2].old_label, comparison.changed[2].new_label) == ("Vias", "Cracks")


def test_relabelled_held_out_images_are_scored_apart():
    old = _predictions([("a", "Cracks", "Clean"), ("b", "Clean", "Clean")])
    new = _predictions([("a", "Cracks", "Cracks"), ("b", "Clean", "Clean")])
    given = {"a".ljust(64, "0"): "Clean"}  # "a" was labelled Clean before correction
    result = compare_predictions(old, new, old_threshold=0.5, new_threshold=0.5,
                                 given_labels=given)
    assert result.old.n_images == 1 and result.new.n_images == 1
    assert [item.path for item in result.relabelled] == ["a"]
    assert result.relabelled_old.accuracy == 0.0 and result.relabelled_new.accuracy == 1.0


def test_tables_over_different_images_are_refused():
    with pytest.raises(ValueError, match="different images"):
        compare_predictions(_predictions([("a", "Clean", "Clean")]),
                            _predictions([("b", "Clean", "Clean")]), old_threshold=0.5,
                            new_threshold=0.5)


def test_json_round_trip(comparison, tmp_path):
    again = BundleComparison.load(comparison.save(tmp_path / "comparison.json"))
    assert again.to_dict() == comparison.to_dict()
    assert again.changed == comparison.changed
