"""Names shared by every dataset layout: splits, the Kaggle folder views, manifest columns."""

from __future__ import annotations

from enum import Enum


class Split(str, Enum):
    """A dataset split; values are the folder names of the original Kaggle layout."""

    TRAIN = "Train"
    VALIDATION = "Validation"
    TEST = "Test"


SPLITS: tuple[str, ...] = tuple(member.value for member in Split)

# Folder synonyms for split folders (matched after lower-casing).
SPLIT_SYNONYMS: dict[str, str] = {
    "train": Split.TRAIN.value, "training": Split.TRAIN.value,
    "val": Split.VALIDATION.value, "valid": Split.VALIDATION.value,
    "validation": Split.VALIDATION.value, "dev": Split.VALIDATION.value,
    "test": Split.TEST.value, "testing": Split.TEST.value,
}


class KaggleView(str, Enum):
    """The three top folders of the original notebook's dataset layout."""

    MASTER = "master_dataset"            # 8 class folders
    STAGE1 = "stage1_binary_dataset"     # Clean / Defective
    STAGE2 = "stage2_multiclass_dataset"  # the 7 defect classes


# Columns of a manifest CSV. ``path`` is relative to the CSV's folder (or absolute);
# further columns (e.g. ``label_true`` from the synthetic generator) are kept as extras.
MANIFEST_COLUMNS: tuple[str, ...] = ("path", "label", "split", "sha256", "source")

DEFAULT_SPLIT_FRACTIONS: tuple[float, float, float] = (0.70, 0.15, 0.15)
