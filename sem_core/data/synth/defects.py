"""Defect dispatch: which editor draws each class in each view, the Clean decoy, and masks.

The defect stream is consumed only here. Clean images draw a decoy defect of a random class
with the same code (never applied) so that their tone mapping, dose and presentation targets
are computed exactly like those of defect images.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sem_core.classes import CLEAN, STAGE2_CLASSES
from sem_core.data.synth import (
    defects_lines,
    defects_marks,
    defects_opens,
    defects_other,
    defects_section,
    defects_vias,
)
from sem_core.data.synth.canvas import MAP_NAMES, SceneMaps
from sem_core.data.synth.config import View
from sem_core.data.synth.defect_base import DefectRecord, Hardness
from sem_core.data.synth.layout import SceneLayout

VISIBLE_CHANGE = 0.01
"""A signal change above this (0-1 scale), or above 30 % of the defect's largest change, enters
the saved mask; smaller ones (halo tails) still count for the twin test."""

def _repeated(editor):
    """A section editor that, after failed ``standard`` contract tries, draws its defect at
    several sites: section elements (a plug, a line end-on) bound the size of one defect, so
    more of them is the way to make the class visible (``Hardness.boost``)."""

    def edit(rng, layout, maps, hardness, noise_sigma):
        record = editor(rng, layout, maps, hardness, noise_sigma)
        if record is None or not hardness.preset.strict_rules or hardness.boost < 1:
            return record
        count = 1
        for _ in range(2 * hardness.boost):
            count += editor(rng, layout, maps, hardness, noise_sigma) is not None
        return replace(record, params={**record.params, "sites": count})

    return edit


TOP_DOWN_EDITORS = {
    "Bridges": defects_lines.bridge,
    "Opens": defects_opens.open_line,
    "Shorts": defects_lines.short,
    "Vias": defects_vias.via_defect,
    "Cracks": defects_marks.crack,
    "Scratches": defects_marks.scratch,
    "Other": defects_other.foreign,
}
SECTION_EDITORS = {
    **TOP_DOWN_EDITORS,
    "Bridges": _repeated(defects_section.bridge),
    "Opens": _repeated(defects_section.open_cut),
    "Shorts": _repeated(defects_section.short),
    "Vias": _repeated(defects_section.via_void),
    "Scratches": defects_section.surface_notch,
}


def _apply(
    rng: np.random.Generator,
    kind: str,
    layout: SceneLayout,
    clean: SceneMaps,
    hardness: Hardness,
    noise_sigma: float,
) -> tuple[SceneMaps, DefectRecord | None]:
    editors = SECTION_EDITORS if layout.params.view == View.CROSS_SECTION else TOP_DOWN_EDITORS
    maps = clean.copy()
    return maps, editors[kind](rng, layout, maps, hardness, noise_sigma)


def edit_scene(
    rng: np.random.Generator,
    true_class: str,
    layout: SceneLayout,
    clean: SceneMaps,
    hardness: Hardness,
    noise_sigma: float,
) -> tuple[SceneMaps, SceneMaps, DefectRecord]:
    """Edit the defect of ``true_class`` into a copy of the clean scene.

    Args:
        rng: The image's ``defect`` stream (after the hardness draws).
        true_class: The true class.
        layout: Scene layout (hosts, coordinates).
        clean: Clean scene maps (not modified).
        hardness: Size and visibility controls.
        noise_sigma: Per-pixel noise sigma on the signal scale (faint scratches use it).

    Returns:
        (maps to render, maps whose difference to ``clean`` is the defect footprint, record).
        For Clean the first is ``clean`` itself and the second holds a decoy defect.
    """
    if true_class == CLEAN:
        decoy = STAGE2_CLASSES[int(rng.integers(len(STAGE2_CLASSES)))]
        footprint, record = _apply(rng, decoy, layout, clean, hardness, noise_sigma)
        if record is None:  # the decoy class has no host in this scene family
            decoy = "Other"
            footprint, record = _apply(rng, decoy, layout, clean, hardness, noise_sigma)
        return (
            clean,
            footprint,
            DefectRecord(
                CLEAN, "none", record.x, record.y, {"decoy": decoy, "decoy_subtype": record.subtype}
            ),
        )
    edited, record = _apply(rng, true_class, layout, clean, hardness, noise_sigma)
    if record is None:
        raise RuntimeError(
            f"No host for a {true_class} defect in a {layout.params.view.value}/"
            f"{layout.params.family.value} scene; the scene builder must provide one."
        )
    return edited, edited, record


def mask_change(edited: SceneMaps, clean: SceneMaps) -> tuple[np.ndarray, np.ndarray]:
    """(changed, visible) canvas masks: any difference, and a difference worth annotating.

    Only the window the editors touched is compared (the whole canvas when unknown).
    """
    changed = edited.difference(clean)
    visible = np.zeros_like(changed)
    window = edited.edited_window() or (slice(None), slice(None))
    if not changed[window].any():
        return changed, visible
    new, old = (
        SceneMaps(*(getattr(m, name)[window] for name in MAP_NAMES)) for m in (edited, clean)
    )
    part = (new.topo != old.topo) | (new.material != old.material)
    part |= np.abs(new.height - old.height) > 0.05
    for name in ("intensity", "extra"):
        delta = np.abs(getattr(new, name) - getattr(old, name))
        peak = float(delta.max())
        if peak > 0:
            part |= delta > min(VISIBLE_CHANGE, 0.3 * peak)
    visible[window] = part
    return changed, visible
