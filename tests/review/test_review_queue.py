"""The review queue end to end with a (tiny, untrained) bundle: what is in it, in what order,
and that it survives a save and load."""

import pytest

from sem_core.data.layouts import load_dataset
from sem_core.labels import DecisionSource, LabelStore, ensure_sha256, pinned_heldout
from sem_core.registry import load_bundle
from sem_core.review import ReviewConfig, ReviewQueue, ReviewReason, build_review_queue


@pytest.fixture(scope="module")
def loaded(review_bundle):
    return load_bundle(review_bundle)


@pytest.fixture(scope="module")
def base(review_dataset):
    return ensure_sha256(load_dataset(review_dataset).manifest)


@pytest.fixture(scope="module")
def built(loaded, base, tmp_path_factory):
    """A queue over every Train and Validation image, built once with a fresh store."""
    store = LabelStore(tmp_path_factory.mktemp("review_queue") / "labels.db")
    return store, build_review_queue(loaded, base, store, ReviewConfig(include_reviewed=True))


def test_queue_covers_train_and_validation_and_pins_the_held_out_split(built, base):
    store, queue = built
    assert queue.n_images == sum(entry.split != "Test" for entry in base.entries)
    assert {item.split for item in queue.items} <= {"Train", "Validation"}
    assert len(queue) > 0 and all(item.reasons for item in queue.items)
    assert all(0.0 <= item.score <= 1.0 for item in queue.items)
    pinned = pinned_heldout(store)
    assert pinned.sha256s == {entry.sha256 for entry in base.entries if entry.split == "Test"}


def test_flagged_first_and_decided_images_left_out(loaded, base, tmp_path):
    store = LabelStore(tmp_path / "labels.db")
    train = [entry for entry in base.entries if entry.split == "Train"]
    flagged, decided = train[0], train[1]
    store.set_label(flagged.sha256, flagged.path, flagged.label, base_label=flagged.label,
                    source=DecisionSource.REVIEW_REQUEST, note="odd look in Inspect")
    store.set_label(decided.sha256, decided.path, "Other", base_label=decided.label)
    queue = build_review_queue(loaded, base, store)
    assert queue.items[0].sha256 == flagged.sha256
    assert ReviewReason.FLAGGED in queue.items[0].reasons
    assert decided.sha256 not in {item.sha256 for item in queue.items}
    with_decided = build_review_queue(loaded, base, store, ReviewConfig(include_reviewed=True))
    again = next(item for item in with_decided.items if item.sha256 == decided.sha256)
    assert again.given_label == "Other"  # the queue judges today's label, not the base one


def test_queue_round_trips_through_json(built, tmp_path):
    queue = built[1]
    path = queue.save(tmp_path / "queue.json")
    again = ReviewQueue.load(path)
    assert again == queue
    assert list(again.to_frame().columns)[:4] == ["sha256", "path", "split", "given_label"]


def test_loading_something_else_names_the_file(tmp_path):
    bogus = tmp_path / "queue.json"
    bogus.write_text("[]")
    with pytest.raises(ValueError, match="queue.json: not a saved review queue"):
        ReviewQueue.load(bogus)


def test_review_command_writes_the_queue_and_prints_the_top(review_bundle, review_dataset,
                                                            tmp_path, capsys):
    from sem_core.cli import main

    out, table = tmp_path / "queue.json", tmp_path / "queue.csv"
    assert main(["review", "--bundle", str(review_bundle), "--data", str(review_dataset),
                 "--labels", str(tmp_path / "labels.db"), "--out", str(out), "--csv", str(table),
                 "--top", "3"]) == 0
    queue = ReviewQueue.load(out)
    printed = capsys.readouterr().out
    assert f"{len(queue)} of {queue.n_images} images up for review" in printed
    assert table.read_text().count("\n") == len(queue) + 1


def test_stage1_only_labels_are_refused_naming_the_file(loaded, base):
    from dataclasses import replace as replaced

    first = base.entries[0]
    odd = base.with_entries([replaced(first, label="Defective", split="Train"),
                             *base.entries[1:]])
    with pytest.raises(ValueError, match=f"{first.path}: label 'Defective' is not one of"):
        build_review_queue(loaded, odd)


def _flag(store, entry, note="spotted in a confusion-matrix cell"):
    store.set_label(entry.sha256, entry.path, entry.label, base_label=entry.label,
                    source=DecisionSource.REVIEW_REQUEST, note=note)


def _pool_view(queue):
    return [(item.sha256, item.suggested_label, item.reasons)
            for item in queue.items if item.split != "Test"]


def _pool_scores(queue):
    return [item.score for item in queue.items if item.split != "Test"]


def test_a_flagged_test_image_joins_the_queue_without_touching_the_pool(built, loaded, base,
                                                                         tmp_path):
    unflagged = built[1]
    store = LabelStore(tmp_path / "labels.db")
    held = next(entry for entry in base.entries if entry.split == "Test")
    _flag(store, held)
    queue = build_review_queue(loaded, base, store, ReviewConfig(include_reviewed=True))
    (item,) = [item for item in queue.items if item.split == "Test"]
    assert (item.sha256, item.given_label) == (held.sha256, held.label)
    assert item is queue.items[0] and item.reasons[0] == ReviewReason.FLAGGED
    assert ReviewReason.LABEL_ISSUE not in item.reasons  # cleanlab never saw it
    assert 0.0 < item.suggested_probability <= 1.0 and 0.0 <= item.score <= 1.0
    assert queue.n_images == unflagged.n_images + 1
    # The cross-validated model and cleanlab's ranking of the pool are exactly as without it.
    assert _pool_view(queue) == _pool_view(unflagged)
    # (a batch of other shape may move the embeddings by float rounding, nothing more)
    assert _pool_scores(queue) == pytest.approx(_pool_scores(unflagged), abs=1e-4)
    assert "outside Train/Validation" in queue.method


def test_a_flagged_test_image_is_predicted_without_its_own_label(loaded, base, tmp_path):
    from dataclasses import replace as replaced

    held = next(entry for entry in base.entries if entry.split == "Test")
    figures = []
    for label in (held.label, "Other" if held.label != "Other" else "Clean"):
        relabelled = base.with_entries(replaced(entry, label=label) if entry is held else entry
                                       for entry in base.entries)
        store = LabelStore(tmp_path / f"{label}.db")
        _flag(store, replaced(held, label=label))
        (item,) = [item for item in build_review_queue(loaded, relabelled, store).items
                   if item.sha256 == held.sha256]
        figures.append(item)
    same, other = figures
    assert other.given_label != same.given_label
    assert (other.suggested_label, other.suggested_probability) == (
        same.suggested_label, same.suggested_probability)


def test_a_decided_test_image_leaves_the_queue_and_unflagged_ones_never_enter(loaded, base,
                                                                              tmp_path):
    store = LabelStore(tmp_path / "labels.db")
    first, second = [entry for entry in base.entries if entry.split == "Test"][:2]
    _flag(store, first)
    store.set_label(first.sha256, first.path, "Other", base_label=first.label)
    queue = build_review_queue(loaded, base, store, ReviewConfig(include_reviewed=True))
    assert {item.split for item in queue.items} <= {"Train", "Validation"}
    assert {first.sha256, second.sha256}.isdisjoint(item.sha256 for item in queue.items)
