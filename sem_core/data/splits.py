"""Seeded, stratified train/validation/test splits that keep near-duplicate groups together.

Every group of near-duplicate images goes whole into one split, so a resized or flipped copy
of a training image can never turn up in validation or test. Within each class the groups are
shuffled with a seeded ``numpy.random.Generator`` and dealt largest first to the split furthest
below its target share; a class with at least three groups gets at least one in every split.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from sem_core.data.manifest import ManifestEntry
from sem_core.data.vocabulary import DEFAULT_SPLIT_FRACTIONS, SPLITS

_EPSILON = 1e-9


def validate_fractions(fractions: Sequence[float]) -> np.ndarray:
    """Check and normalise (train, validation, test) fractions so they sum to 1.

    Raises:
        ValueError: Unless there are three non-negative fractions with a positive sum.
    """
    values = np.asarray(fractions, dtype=np.float64)
    if (
        values.shape != (3,)
        or np.any(values < 0)
        or not np.isfinite(values).all()
        or values.sum() <= _EPSILON
    ):
        raise ValueError(
            "Expected three non-negative split fractions (train, validation, test) with a "
            f"positive sum, received `fractions={tuple(fractions)}`."
        )
    return values / values.sum()


def _group_labels(labels: Sequence[str], groups: Sequence[int]) -> dict[int, tuple[str, int]]:
    """Each group's majority label (ties: alphabetical) and its size, in group-id order."""
    members: dict[int, Counter] = defaultdict(Counter)
    for label, group in zip(labels, groups, strict=True):
        members[group][label] += 1
    return {
        group: (min(counter, key=lambda name: (-counter[name], name)), sum(counter.values()))
        for group, counter in sorted(members.items())
    }


def _deal_class(sizes: list[int], shares: np.ndarray, rng: np.random.Generator) -> list[int]:
    """Assign groups of one class (given their sizes) to split indices."""
    order = rng.permutation(len(sizes))
    order = sorted(order, key=lambda index: -sizes[index])  # stable: random among equal sizes
    targets = shares * sum(sizes)
    filled = np.zeros(len(shares))
    assignment = [0] * len(sizes)
    open_splits = [index for index in np.argsort(-shares, kind="stable") if shares[index] > 0]
    if len(order) >= len(open_splits):
        # Largest group to the largest split, the smallest ones to the others.
        reserved = [order[0], *order[len(order) - len(open_splits) + 1 :][::-1]]
        for group, split in zip(reserved, open_splits, strict=True):
            assignment[group] = split
            filled[split] += sizes[group]
        order = [group for group in order if group not in reserved]
    for group in order:
        deficits = np.where(shares > 0, targets - filled, -np.inf)
        split = int(np.argmax(deficits))
        assignment[group] = split
        filled[split] += sizes[group]
    return assignment


def stratified_group_split(
    labels: Sequence[str],
    groups: Sequence[int],
    *,
    fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS,
    seed: int | np.random.Generator = 0,
) -> list[str]:
    """Split items into Train/Validation/Test per class, keeping each group in one split.

    A group's class is its majority label. The result depends on the order of group ids (not
    of items), so callers wanting layout-independent splits number groups canonically.

    Args:
        labels: Class label of each item.
        groups: Group id of each item (e.g. from ``group_near_duplicates``).
        fractions: Target (train, validation, test) shares per class. Default: (0.7, 0.15, 0.15).
        seed: Seed or ``numpy.random.Generator``. Default: 0.

    Returns:
        The split name of each item.

    Raises:
        ValueError: When lengths differ or ``fractions`` is invalid.
    """
    if len(labels) != len(groups):
        raise ValueError(f"Received {len(labels)} labels for {len(groups)} group ids.")
    shares = validate_fractions(fractions)
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for group, (label, size) in _group_labels(labels, groups).items():
        by_class[label].append((group, size))
    group_split: dict[int, str] = {}
    for label in sorted(by_class):
        class_groups = by_class[label]
        dealt = _deal_class([size for _, size in class_groups], shares, rng)
        group_split.update(
            {group: SPLITS[split] for (group, _), split in zip(class_groups, dealt, strict=True)}
        )
    return [group_split[group] for group in groups]


def assign_missing_splits(
    entries: Sequence[ManifestEntry],
    groups: Sequence[int],
    *,
    fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS,
    seed: int = 0,
) -> list[ManifestEntry]:
    """Give a split to every entry whose ``split`` is empty; entries with a split keep it.

    An unsplit entry whose group already has a split member joins that split (so a copy never
    leaks); the rest are split with ``stratified_group_split``. Groups are numbered by their
    smallest (sha256, path), so the result depends on image content, not on folder order.

    Args:
        entries: Manifest entries, some possibly with ``split == ""``.
        groups: Near-duplicate group id of each entry.
        fractions: Target (train, validation, test) shares. Default: (0.7, 0.15, 0.15).
        seed: Seed of the split. Default: 0.

    Returns:
        The entries in the same order, each with a split.

    Raises:
        ValueError: When lengths differ or ``fractions`` is invalid.
    """
    if len(entries) != len(groups):
        raise ValueError(f"Received {len(entries)} entries for {len(groups)} group ids.")
    fixed: dict[int, str] = {}
    for entry, group in zip(entries, groups, strict=True):
        if entry.split:
            fixed.setdefault(group, entry.split)
    pending = sorted(
        (
            index
            for index, entry in enumerate(entries)
            if not entry.split and groups[index] not in fixed
        ),
        key=lambda index: (entries[index].sha256, entries[index].path),
    )
    canonical: dict[int, int] = {}
    for index in pending:
        canonical.setdefault(groups[index], len(canonical))
    dealt = stratified_group_split(
        [entries[index].label for index in pending],
        [canonical[groups[index]] for index in pending],
        fractions=fractions,
        seed=seed,
    )
    new_split = dict(zip(pending, dealt, strict=True))
    return [
        entry if entry.split else replace(entry, split=new_split.get(index) or fixed[groups[index]])
        for index, entry in enumerate(entries)
    ]
