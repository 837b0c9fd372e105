"""The held-out split is pinned once, before relabelling, and wins over a dataset's own split."""

from dataclasses import replace

from sem_core.data.manifest import Manifest, ManifestEntry
from sem_core.labels import LabelStore, apply_heldout, pin_heldout, pinned_heldout


def _manifest(splits):
    return Manifest(tuple(ManifestEntry(f"{index}.png", "Clean", split, f"{index:064x}")
                          for index, split in enumerate(splits)))


def test_first_pin_records_the_test_split_and_later_pins_return_it(tmp_path):
    store = LabelStore(tmp_path / "labels.db")
    assert pinned_heldout(store) is None
    first = pin_heldout(store, _manifest(["Train", "Test", "Test", "Validation"]))
    assert first.sha256s == {f"{1:064x}", f"{2:064x}"}
    again = pin_heldout(store, _manifest(["Test", "Train", "Train", "Test"]))
    assert again == first
    assert pinned_heldout(LabelStore(store.path)) == first


def test_apply_heldout_moves_pinned_images_back_to_test(tmp_path):
    store = LabelStore(tmp_path / "labels.db")
    pinned = pin_heldout(store, _manifest(["Train", "Test"]))
    moved = _manifest(["Train", "Train"])
    moved = moved.with_entries([moved.entries[0], replace(moved.entries[1], split="Train")])
    assert [entry.split for entry in apply_heldout(moved, pinned)] == ["Train", "Test"]
