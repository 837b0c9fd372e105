"""Flagging images for review (``ui.review_flags``) and the Relabel order of flagged items, without
Streamlit pages: a hand-made manifest and a real label store in a temporary folder."""

import pytest

from sem_core.data.manifest import Manifest, ManifestEntry
from sem_core.labels import UNKNOWN_CLASS, DecisionSource, LabelStore, pinned_heldout
from sem_core.review import ReviewItem, ReviewQueue
from sem_core.review.ranking import ReviewReason
from ui import review_flags
from ui.review_flags import FlagResult, SkipReason, SkippedImage


def _sha(number: int) -> str:
    return f"{number:064x}"


@pytest.fixture
def manifest() -> Manifest:
    """Train images 1-3, a Validation image 4, a Test image 5."""
    rows = [(1, "Train", "Bridges"), (2, "Train", "Clean"), (3, "Train", "Opens"),
            (4, "Validation", "Vias"), (5, "Test", "Cracks")]
    return Manifest(tuple(ManifestEntry(f"{split}/{label}/img_{number}.png", label, split,
                                        _sha(number)) for number, split, label in rows))


@pytest.fixture
def store(tmp_path) -> LabelStore:
    return LabelStore(tmp_path / "labels.db")


def _flag(store, manifest, numbers, **options):
    requested = [(_sha(number), f"upload_{number}.png") for number in numbers]
    return review_flags.flag_images(store, manifest, requested, dataset="/data/lot7", **options)


def test_flags_keep_labels_in_one_transaction_with_who_and_note(store, manifest):
    result = _flag(store, manifest, [1, 4], who="ana", note="odd mark")
    assert result == FlagResult("lot7", ("Train/Bridges/img_1.png", "Validation/Vias/img_4.png"))
    rows = store.history()
    assert [(row.sha256, row.previous_label, row.new_label) for row in rows] == [
        (_sha(1), "Bridges", "Bridges"), (_sha(4), "Vias", "Vias")]
    assert {(row.source, row.who, row.note) for row in rows} == {
        (DecisionSource.REVIEW_REQUEST, "ana", "odd mark")}
    assert len({row.batch for row in rows}) == 1


def test_flagging_twice_writes_nothing_new_and_says_so(store, manifest):
    _flag(store, manifest, [1, 2])
    again = _flag(store, manifest, [2, 3, 3])
    assert again.flagged == ("Train/Opens/img_3.png",)
    assert again.skipped == (SkippedImage("Train/Clean/img_2.png", SkipReason.ALREADY_FLAGGED),)
    assert store.count() == 3
    assert review_flags.explanations(again) == [
        "img_2.png is already flagged and waiting for review; not flagged twice."]


def test_unknown_and_foreign_images_are_refused_with_reasons(store, manifest):
    store.set_label(_sha(3), "Train/Opens/img_3.png", UNKNOWN_CLASS, base_label="Opens",
                    source=DecisionSource.FLAG)
    result = _flag(store, manifest, [3, 9])
    assert result.flagged == ()
    assert result.skipped_for(SkipReason.MARKED_UNKNOWN) == ("Train/Opens/img_3.png",)
    assert result.skipped_for(SkipReason.NOT_IN_DATASET) == ("upload_9.png",)
    assert store.count() == 1
    assert review_flags.summary(result) == ""
    assert "upload_9.png is not in the current dataset lot7 (no image there has the same bytes), "\
           "so there is no label to review; not flagged." in review_flags.explanations(result)


def test_a_held_out_test_image_is_flagged_pinned_and_the_confirmation_says_it_stays(store,
                                                                                     manifest):
    result = _flag(store, manifest, [5, 1], who="ana")
    assert result.flagged == ("Test/Cracks/img_5.png", "Train/Bridges/img_1.png")
    assert result.held_out == ("Test/Cracks/img_5.png",)
    latest = store.current()[_sha(5)]
    assert (latest.source, latest.new_label, latest.who) == (
        DecisionSource.REVIEW_REQUEST, "Cracks", "ana")
    assert pinned_heldout(store).sha256s == {_sha(5)}  # pinned before anyone relabels it
    assert review_flags.summary(result).endswith(
        "labels unchanged. Rebuild the review queue on the Relabel page: flagged images come "
        "first. img_5.png is in the held-out Test split: it keeps its place there (a relabel "
        "never moves it into training), and the bundle comparison reports relabelled held-out "
        "images separately from its headline figures, so old and new bundles are still "
        "compared fairly.")
    assert review_flags.explanations(result) == []
    assert "held-out" not in review_flags.summary(_flag(store, manifest, [2]))


def test_the_pin_made_before_a_flag_stands_when_splits_move_later(store, manifest):
    from dataclasses import replace

    _flag(store, manifest, [1])
    moved = manifest.with_entries(replace(entry, split="Test") if entry.sha256 == _sha(2)
                                  else replace(entry, split="Train") for entry in manifest.entries)
    result = _flag(store, moved, [5, 2])
    assert result.held_out == ("Test/Cracks/img_5.png",)  # img_5 is held out for good


def test_a_relabelled_image_is_flagged_with_its_current_label_and_opens_again(store, manifest):
    store.set_label(_sha(1), "Train/Bridges/img_1.png", "Shorts", base_label="Bridges",
                    source=DecisionSource.MANUAL)
    _flag(store, manifest, [1])
    latest = store.current()[_sha(1)]
    assert (latest.source, latest.previous_label, latest.new_label) == (
        DecisionSource.REVIEW_REQUEST, "Shorts", "Shorts")


def test_summary_counts_and_names_the_flagged_images(store, manifest):
    result = _flag(store, manifest, [1, 2, 3, 4])
    assert review_flags.summary(result).startswith(
        "Flagged 4 images of lot7 for review (img_1.png, img_2.png, img_3.png and 1 more); "
        "labels unchanged.")
    assert review_flags.summary(_flag(store, manifest, [])) == ""


def test_relabel_shows_images_flagged_after_the_queue_was_built_first(store, manifest):
    from ui import relabel

    items = tuple(ReviewItem(_sha(number), f"img_{number}.png", "Train", "Clean", "Clean",
                             0.5, (ReviewReason.LOW_CONFIDENCE,)) for number in (1, 2, 3))
    queue = ReviewQueue(items, "bundle", "version", 3, "method")
    _flag(store, manifest, [3, 2])
    assert [item.sha256 for item in relabel.open_items(queue, store.current())] == [
        _sha(2), _sha(3), _sha(1)]


def test_flag_for_review_of_a_waiting_image_returns_its_request(tmp_path, monkeypatch):
    from ui import relabel

    monkeypatch.setenv("SEM_APP_DIR", str(tmp_path / "app"))
    dataset = str(tmp_path / "lot7")
    first = relabel.flag_for_review(dataset, _sha(1), "Train/Bridges/img_1.png", "Bridges")
    again = relabel.flag_for_review(dataset, _sha(1), "Train/Bridges/img_1.png", "Bridges")
    assert again == first and first.source is DecisionSource.REVIEW_REQUEST
    assert relabel.store(dataset).count() == 1
