"""Stratified group split: seeded, per-class shares, groups never cut, every split populated."""

from collections import Counter

import pytest

from sem_core.data.manifest import ManifestEntry
from sem_core.data.splits import assign_missing_splits, stratified_group_split


@pytest.mark.parametrize("seed", [0, 1, 7, 123])
def test_each_class_gets_about_70_15_15_and_every_split(seed):
    labels = ["Bridges"] * 40 + ["Vias"] * 20 + ["Other"] * 3
    splits = stratified_group_split(labels, list(range(len(labels))), seed=seed)
    counts = Counter(zip(labels, splits, strict=True))
    assert (
        counts["Bridges", "Train"],
        counts["Bridges", "Validation"],
        counts["Bridges", "Test"],
    ) == (28, 6, 6)
    assert (counts["Vias", "Train"], counts["Vias", "Validation"], counts["Vias", "Test"]) == (
        14,
        3,
        3,
    )
    assert all(counts["Other", split] == 1 for split in ("Train", "Validation", "Test"))


@pytest.mark.parametrize("seed", [0, 5, 99])
def test_groups_are_never_cut(seed):
    labels = ["Cracks"] * 30
    groups = [index // 3 for index in range(30)]  # ten groups of three
    splits = stratified_group_split(labels, groups, seed=seed)
    for group in set(groups):
        assert len({split for split, g in zip(splits, groups, strict=True) if g == group}) == 1


def test_same_seed_same_split_other_seed_other_split():
    labels = ["Opens"] * 50
    groups = list(range(50))
    assert stratified_group_split(labels, groups, seed=4) == stratified_group_split(
        labels, groups, seed=4
    )
    assert stratified_group_split(labels, groups, seed=4) != stratified_group_split(
        labels, groups, seed=5
    )


def test_zero_fraction_split_stays_empty():
    splits = stratified_group_split(["Clean"] * 10, list(range(10)), fractions=(0.8, 0.2, 0.0))
    assert Counter(splits) == {"Train": 8, "Validation": 2}


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.7, -0.1, 0.4), (0, 0, 0)])
def test_invalid_fractions_are_refused_with_the_value(fractions):
    with pytest.raises(ValueError, match="fractions="):
        stratified_group_split(["Clean"], [0], fractions=fractions)


def test_assign_missing_splits_keeps_existing_and_follows_split_group_members():
    entries = [
        ManifestEntry("a.png", "Clean", "Test", "a"),
        ManifestEntry("a_copy.png", "Clean", "", "b"),  # same group as a.png
        *(ManifestEntry(f"{i}.png", "Clean", "", f"h{i}") for i in range(6)),
    ]
    groups = [0, 0, *range(1, 7)]
    result = assign_missing_splits(entries, groups, seed=3)
    assert result[0].split == "Test" and result[1].split == "Test"
    assert all(entry.split for entry in result)


def test_assign_missing_splits_depends_on_content_not_order():
    entries = [ManifestEntry(f"{i}.png", "Shorts", "", f"{i:03d}") for i in range(20)]
    forward = assign_missing_splits(entries, list(range(20)), seed=2)
    backward = assign_missing_splits(entries[::-1], list(range(20)), seed=2)
    assert {(e.sha256, e.split) for e in forward} == {(e.sha256, e.split) for e in backward}
