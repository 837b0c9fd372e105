"""Manifest: CSV round trip, order-independent content hash, class counts and stage views."""

import pickle

import pandas as pd
import pytest

from sem_core.data.manifest import Manifest, ManifestEntry
from sem_core.errors import DatasetError


def _manifest(root=None) -> Manifest:
    return Manifest(
        entries=(
            ManifestEntry(
                "Bridges/a.png", "Bridges", "Train", "aa", "Bridges", {"label_true": "Bridges"}
            ),
            ManifestEntry("Clean/b.png", "Clean", "Test", "bb"),
            ManifestEntry("Vias/c.png", "Vias", "Validation", "cc"),
        ),
        root=root,
    )


def test_csv_round_trip_keeps_entries_extras_and_relative_paths(tmp_path):
    manifest = _manifest(root=str(tmp_path))
    written = manifest.write_csv(tmp_path / "manifest.csv")
    text = written.read_text()
    assert text.splitlines()[0] == "path,label,split,sha256,source,label_true"
    assert "Bridges/a.png" in text and str(tmp_path) not in text  # stored relative to the CSV
    reread = Manifest.read_csv(written)
    assert reread.entries == manifest.entries
    assert reread.resolve(reread.entries[0]) == tmp_path / "Bridges" / "a.png"


def test_csv_written_elsewhere_keeps_files_reachable(tmp_path):
    manifest = _manifest(root=str(tmp_path / "data"))
    reread = Manifest.read_csv(manifest.write_csv(tmp_path / "elsewhere" / "m.csv"))
    assert [reread.resolve(e) for e in reread] == [
        (tmp_path / "data" / e.path).resolve() for e in manifest
    ]


def test_content_hash_ignores_order_and_paths_but_not_labels_or_splits():
    manifest = _manifest()
    reordered = manifest.with_entries(reversed(manifest.entries))
    moved = manifest.with_entries(
        ManifestEntry("x/" + e.path, e.label, e.split, e.sha256) for e in manifest
    )
    relabelled = manifest.with_entries(
        [ManifestEntry("Bridges/a.png", "Opens", "Train", "aa"), *manifest.entries[1:]]
    )
    resplit = manifest.with_entries(
        [ManifestEntry("Bridges/a.png", "Bridges", "Test", "aa"), *manifest.entries[1:]]
    )
    assert manifest.content_hash() == reordered.content_hash() == moved.content_hash()
    assert manifest.content_hash() not in {relabelled.content_hash(), resplit.content_hash()}


def test_class_counts_show_every_class_and_split_including_zeros():
    counts = _manifest().class_counts()
    assert list(counts.index) == ["Train", "Validation", "Test"]
    assert list(counts.columns) == [
        "Clean",
        "Bridges",
        "Cracks",
        "Opens",
        "Shorts",
        "Scratches",
        "Vias",
        "Other",
    ]
    assert counts.loc["Train", "Bridges"] == 1 and counts.loc["Test", "Clean"] == 1
    assert counts.to_numpy().sum() == 3


def test_stage_views():
    manifest = _manifest()
    assert [e.label for e in manifest.stage1()] == ["Defective", "Clean", "Defective"]
    assert list(manifest.stage1().class_counts().columns) == ["Clean", "Defective"]
    assert [e.label for e in manifest.stage2()] == ["Bridges", "Vias"]
    assert len(manifest.by_split("Train")) == 1


def test_entries_are_hashable_immutable_and_picklable():
    entry = _manifest().entries[0]
    assert pickle.loads(pickle.dumps(entry)) == entry
    assert len({entry, pickle.loads(pickle.dumps(entry))}) == 1
    with pytest.raises(TypeError):
        entry.extras["label_true"] = "Opens"


def test_from_frame_names_missing_columns_and_defaults_optional_ones():
    with pytest.raises(DatasetError, match="label"):
        Manifest.from_frame(pd.DataFrame({"path": ["a.png"]}))
    manifest = Manifest.from_frame(
        pd.DataFrame({"path": ["a.png"], "label": ["Clean"]}), root="/data"
    )
    assert manifest.entries[0] == ManifestEntry("a.png", "Clean", "")


def test_read_csv_names_the_file_when_unreadable(tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text("file,class\nx.png,Clean\n")
    with pytest.raises(DatasetError, match="broken.csv.*path"):
        Manifest.read_csv(broken)


def test_canonicalised_maps_synonyms_and_counts_unknown_labels():
    manifest = Manifest(
        entries=(
            ManifestEntry("a.png", "bridge", "train"),
            ManifestEntry("b.png", "CMP", "VAL"),
            ManifestEntry("c.png", "mystery", "test"),
            ManifestEntry("d.png", "mystery", ""),
        )
    )
    canonical, unknown = manifest.canonicalised({"cmp": "Other"})
    assert [(e.label, e.split) for e in canonical] == [
        ("Bridges", "Train"),
        ("Other", "Validation"),
    ]
    assert unknown == {"mystery": 2}


def test_canonicalised_refuses_an_unknown_split_naming_the_file():
    manifest = Manifest(entries=(ManifestEntry("lot7/a.png", "Clean", "holdout"),))
    with pytest.raises(DatasetError, match="lot7/a.png.*'holdout'"):
        manifest.canonicalised()
