"""The label log: decisions append, the current label follows the latest, undo is a new row."""

import sqlite3

import pytest

from sem_core.labels import (UNKNOWN_CLASS, DecisionSource, LabelChange, LabelStore,
                             LabelStoreError)

SHA_A, SHA_B = "a" * 64, "b" * 64


@pytest.fixture
def store(tmp_path):
    return LabelStore(tmp_path / "labels" / "labels.db")


def test_first_decision_takes_the_base_label_as_previous_and_records_who_and_when(store):
    decision = store.set_label(SHA_A, "Train/Clean/a.png", "Cracks", base_label="Clean",
                               who="Ana", note="crack at the top")
    assert (decision.previous_label, decision.new_label) == ("Clean", "Cracks")
    assert decision.who == "Ana" and decision.note == "crack at the top"
    assert decision.source == DecisionSource.MANUAL
    assert decision.at.endswith("+00:00")
    assert store.history() == (decision,)


def test_current_label_is_the_latest_decision_and_previous_chains(store):
    store.set_label(SHA_A, "a.png", "Cracks", base_label="Clean", who="Ana")
    second = store.set_label(SHA_A, "a.png", "Scratches", base_label="Clean", who="Ben")
    store.set_label(SHA_B, "b.png", "Vias", base_label="Opens", who="Ana")
    current = store.current()
    assert current[SHA_A].new_label == "Scratches"
    assert second.previous_label == "Cracks"
    assert current[SHA_B].new_label == "Vias"
    assert [row.id for row in store.history(SHA_A)] == [1, 2]


def test_undo_appends_a_row_restoring_the_previous_label(store):
    first = store.set_label(SHA_A, "a.png", "Cracks", base_label="Clean")
    second = store.set_label(SHA_A, "a.png", "Opens", base_label="Clean")
    undo = store.undo(second.id, who="Ana")
    assert (undo.source, undo.undoes) == (DecisionSource.UNDO, second.id)
    assert (undo.previous_label, undo.new_label) == ("Opens", "Cracks")
    assert store.current()[SHA_A].new_label == "Cracks"
    assert store.count() == 3
    store.undo(first.id)
    assert store.current()[SHA_A].new_label == "Clean"


def test_undo_refuses_twice_and_out_of_order(store):
    first = store.set_label(SHA_A, "a.png", "Cracks", base_label="Clean")
    second = store.set_label(SHA_A, "a.png", "Opens", base_label="Clean")
    with pytest.raises(LabelStoreError, match="undo that one first"):
        store.undo(first.id)
    store.undo(second.id)
    with pytest.raises(LabelStoreError, match="already undone"):
        store.undo(second.id)
    with pytest.raises(LabelStoreError, match="no decision with id 99"):
        store.undo(99)


def test_undo_of_an_undo_is_a_redo(store):
    decision = store.set_label(SHA_A, "a.png", "Cracks", base_label="Clean")
    undo = store.undo(decision.id)
    store.undo(undo.id)
    assert store.current()[SHA_A].new_label == "Cracks"


def test_last_undoable_walks_back_through_a_user_s_decisions(store):
    store.set_label(SHA_A, "a.png", "Cracks", base_label="Clean", who="Ana")
    store.set_label(SHA_B, "b.png", "Vias", base_label="Clean", who="Ben")
    latest_by_ana = store.last_undoable(who="Ana")
    assert latest_by_ana.sha256 == SHA_A
    store.undo(latest_by_ana.id, who="Ana")
    assert store.last_undoable(who="Ana") is None
    assert store.last_undoable().sha256 == SHA_B


def test_batch_is_one_transaction_sharing_one_batch_id(store):
    rows = store.record([LabelChange(SHA_A, "a.png", "Cracks", "Clean"),
                         LabelChange(SHA_B, "b.png", "Opens", "Clean")], who="Ana")
    assert len({row.batch for row in rows}) == 1
    assert store.count() == 2


def test_a_failing_batch_stores_nothing(store, tmp_path):
    store.set_label(SHA_A, "a.png", "Cracks", base_label="Clean")
    with sqlite3.connect(store.path) as connection:  # simulate a constraint the batch breaks
        connection.execute("CREATE TRIGGER refuse_b BEFORE INSERT ON decisions WHEN "
                           f"NEW.sha256 = '{SHA_B}' BEGIN SELECT RAISE(ABORT, 'no'); END")
    with pytest.raises(LabelStoreError, match="nothing stored"):
        store.record([LabelChange(SHA_A, "a.png", "Opens", "Clean"),
                      LabelChange(SHA_B, "b.png", "Opens", "Clean")])
    assert store.count() == 1
    assert store.current()[SHA_A].new_label == "Cracks"


@pytest.mark.parametrize("statement", ["UPDATE decisions SET new_label = 'Vias'",
                                       "DELETE FROM decisions", "DELETE FROM meta"])
def test_rows_can_never_be_changed_or_deleted(store, statement):
    store.set_label(SHA_A, "a.png", "Cracks", base_label="Clean")
    with sqlite3.connect(store.path) as connection:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute(statement)
    assert store.current()[SHA_A].new_label == "Cracks"


def test_unknown_class_goes_with_the_flag_source_only(store):
    flagged = store.set_label(SHA_A, "a.png", UNKNOWN_CLASS, base_label="Other",
                              source=DecisionSource.FLAG, note="new residue look")
    assert store.current()[SHA_A].new_label == UNKNOWN_CLASS
    assert flagged.source == DecisionSource.FLAG
    with pytest.raises(LabelStoreError, match="goes with source 'flag'"):
        LabelChange(SHA_B, "b.png", UNKNOWN_CLASS, "Clean")
    with pytest.raises(LabelStoreError, match="goes with source 'flag'"):
        LabelChange(SHA_B, "b.png", "Vias", "Clean", source=DecisionSource.FLAG)


@pytest.mark.parametrize("sha, label, message", [
    ("xyz", "Cracks", "not 64 hex digits"),
    ("c" * 64, "Crack", "is not one of"),
])
def test_invalid_changes_are_refused_with_the_path(sha, label, message):
    with pytest.raises(LabelStoreError, match=message) as caught:
        LabelChange(sha, "Train/x.png", label, "Clean")
    assert "Train/x.png" in str(caught.value)


def test_reopening_keeps_every_decision(tmp_path):
    path = tmp_path / "labels.db"
    LabelStore(path).set_label(SHA_A, "a.png", "Cracks", base_label="Clean", who="Ana")
    reopened = LabelStore(path)
    assert reopened.current()[SHA_A].who == "Ana"
    assert reopened.meta()["schema_version"] == "1"


def test_a_file_that_is_not_a_database_is_named_in_the_error(tmp_path):
    bogus = tmp_path / "notes.db"
    bogus.write_text("just text, not SQLite" * 100)
    with pytest.raises(LabelStoreError, match="notes.db"):
        LabelStore(bogus)


def test_database_runs_in_wal_mode(store):
    store.set_label(SHA_A, "a.png", "Cracks", base_label="Clean")
    with sqlite3.connect(store.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
