"""The corrected dataset: base manifest + log, versioned, exported as CSV or Kaggle layout."""

import json

import numpy as np
import pytest
from PIL import Image

from sem_core.data.manifest import Manifest, ManifestEntry
from sem_core.labels import (UNKNOWN_CLASS, DecisionSource, ExportFormat, LabelStore,
                             correct_manifest, ensure_sha256, export_corrected, file_sha256)


@pytest.fixture
def base(tmp_path):
    """Six distinct 32-px PNGs, two per split, labelled Clean or Cracks."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    entries = []
    for index, (split, label) in enumerate([("Train", "Clean"), ("Train", "Cracks"),
                                            ("Validation", "Clean"), ("Validation", "Cracks"),
                                            ("Test", "Clean"), ("Test", "Cracks")]):
        path = folder / f"image_{index}.png"
        Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(path)
        entries.append(ManifestEntry(f"image_{index}.png", label, split))
    return ensure_sha256(Manifest(tuple(entries), root=str(folder)))


def test_ensure_sha256_hashes_the_file_bytes(base):
    entry = base.entries[0]
    assert entry.sha256 == file_sha256(base.resolve(entry))
    assert len({entry.sha256 for entry in base.entries}) == len(base)


def test_empty_log_gives_the_base_dataset_back(base, tmp_path):
    corrected = correct_manifest(base, LabelStore(tmp_path / "labels.db"))
    assert corrected.version == base.content_hash() == corrected.base_version
    assert corrected.relabelled == () and corrected.last_decision_id == 0


def test_decisions_change_labels_keep_splits_and_change_the_version(base, tmp_path):
    store = LabelStore(tmp_path / "labels.db")
    target = base.entries[0]
    decision = store.set_label(target.sha256, target.path, "Vias", base_label=target.label)
    corrected = correct_manifest(base, store)
    changed = next(entry for entry in corrected.manifest if entry.sha256 == target.sha256)
    assert (changed.label, changed.split) == ("Vias", "Train")
    assert changed.extras["label_given"] == "Clean"
    assert corrected.version != corrected.base_version
    assert corrected.relabelled[0].decision_id == decision.id
    store.undo(decision.id)
    assert correct_manifest(base, store).version == base.content_hash()


def test_unknown_class_images_leave_the_training_manifest(base, tmp_path):
    store = LabelStore(tmp_path / "labels.db")
    target = base.entries[1]
    store.set_label(target.sha256, target.path, UNKNOWN_CLASS, base_label=target.label,
                    source=DecisionSource.FLAG)
    corrected = correct_manifest(base, store)
    assert len(corrected.manifest) == len(base) - 1
    assert corrected.unknown == (target,)


def test_decisions_about_images_outside_the_base_are_orphans(base, tmp_path):
    store = LabelStore(tmp_path / "labels.db")
    store.set_label("f" * 64, "elsewhere.png", "Vias", base_label="Clean")
    assert correct_manifest(base, store).orphans == ("f" * 64,)


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_export_round_trips_labels_and_records_the_version(base, tmp_path, fmt):
    store = LabelStore(tmp_path / "labels.db")
    target = base.entries[0]
    store.set_label(target.sha256, target.path, "Vias", base_label=target.label)
    corrected = correct_manifest(base, store)
    out = export_corrected(corrected, tmp_path / f"export_{fmt.value}", fmt)
    info = json.loads((out / "corrected.json").read_text())
    assert info["version"] == corrected.version and info["relabelled"] == 1
    reread = ensure_sha256(Manifest.read_csv(out / "manifest.csv"))
    labels = {entry.sha256: entry.label for entry in reread}
    assert labels[target.sha256] == "Vias"
    assert reread.content_hash() == corrected.version


def test_export_refuses_an_unknown_format(base, tmp_path):
    corrected = correct_manifest(base, {})
    with pytest.raises(ValueError, match="fmt='zip'"):
        export_corrected(corrected, tmp_path / "out", "zip")
