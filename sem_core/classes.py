"""The eight SEM defect classes, their two stage views, and folder-name matching.

Stage 1 screens every image as Clean or Defective; stage 2 names the defect among the seven
defect classes. Folder names found in user datasets are matched case-insensitively against
common synonyms, and a user class map handles everything else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum


class DefectClass(str, Enum):
    """One of the eight classes; the value is the display name used everywhere."""

    CLEAN = "Clean"
    BRIDGES = "Bridges"
    CRACKS = "Cracks"
    OPENS = "Opens"
    SHORTS = "Shorts"
    SCRATCHES = "Scratches"
    VIAS = "Vias"
    OTHER = "Other"


CLASSES: tuple[str, ...] = tuple(member.value for member in DefectClass)
STAGE2_CLASSES: tuple[str, ...] = CLASSES[1:]
STAGE1_CLASSES: tuple[str, ...] = ("Clean", "Defective")
CLEAN = DefectClass.CLEAN.value
DEFECTIVE = "Defective"

_SYNONYMS: dict[str, str] = {
    "clean": CLEAN, "good": CLEAN, "none": CLEAN, "ok": CLEAN, "normal": CLEAN,
    "no_defect": CLEAN, "nodefect": CLEAN, "pass": CLEAN,
    "bridge": "Bridges", "bridges": "Bridges", "bridging": "Bridges",
    "crack": "Cracks", "cracks": "Cracks",
    "open": "Opens", "opens": "Opens",
    "short": "Shorts", "shorts": "Shorts",
    "scratch": "Scratches", "scratches": "Scratches",
    "via": "Vias", "vias": "Vias", "malformed_via": "Vias", "malformed_vias": "Vias",
    "other": "Other", "others": "Other",
    "defective": DEFECTIVE, "defect": DEFECTIVE, "defects": DEFECTIVE, "ng": DEFECTIVE,
}


def normalise_name(name: str) -> str:
    """Lower-case a folder or label name and fold spaces and dashes into underscores."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def canonical_class(name: str, class_map: Mapping[str, str] | None = None) -> str | None:
    """Return the canonical class for a folder or label name, or None when it is unknown.

    Args:
        name: A folder name or label as found in a dataset (any case).
        class_map: Optional user mapping from names to classes, e.g. ``{"cmp": "Other"}``;
            it is consulted first and its keys are matched case-insensitively. Default: None.

    Returns:
        One of ``CLASSES`` or ``"Defective"`` (stage-1 folders), or None for an unknown name.

    Raises:
        ValueError: When ``class_map`` maps a name to something that is not a class.
    """
    key = normalise_name(name)
    if class_map:
        for raw_key, target in class_map.items():
            if normalise_name(raw_key) == key:
                resolved = _SYNONYMS.get(normalise_name(target))
                if resolved is None:
                    raise ValueError(
                        f"Class map sends {raw_key!r} to {target!r}, which is not a class; "
                        f"expected one of {', '.join(CLASSES)}."
                    )
                return resolved
    return _SYNONYMS.get(key)


def stage1_label(label: str) -> str:
    """Map an 8-class label to its stage-1 view ("Clean" or "Defective")."""
    if label not in CLASSES:
        raise ValueError(f"Unknown class {label!r}; expected one of {', '.join(CLASSES)}.")
    return CLEAN if label == CLEAN else DEFECTIVE
