"""Difficulty presets (spec B6): the ranges that ``standard`` and ``hard`` change, in one table.

Every stream and the order of every draw are shared: a preset only maps the same uniforms into
different ranges (and switches the class rules marked ``standard`` in spec B5 through
``strict_rules``). Since generator 2.2 the presets also differ in framing: ``standard`` shows
review close-ups (high magnification) of line/space and logic patterns in resist and etched
looks, taken straight on with a sharp in-lens beam at good SNR and exported raw, because the
specification's whole variety at its magnification mix could not be learned from 150 images a
class (docs/attempts/learnability-2026-12-06.md); ``hard`` keeps version 1's whole mix. One seed
therefore no longer gives the same scene in both presets (a deviation from spec B6, listed in
docs/synthetic-data.md).

Crack darkening and scratch groove/lip depths are not here: the generator's own ranges (crack
interior x (1 - lerp(0.3, 0.85, v)), groove U(0.25, 0.6)v, lips U(0.1, 0.4)v) are already at or
above B6's ``standard`` column for every v >= 0.5, so both presets share them
(docs/synthetic-data.md lists this deviation).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sem_core.data.synth.config import Difficulty, Family, Look, Magnification, View
from sem_core.data.synth.tools import TOOLS, ToolProfile


@dataclass(frozen=True)
class Preset:
    """The ranges of one difficulty preset.

    The framing fields (``view_rates`` to ``inverted_rate``) are the preset's choice of what the
    image shows and how it was taken, for every tool profile that leaves that choice open
    (``tools.resolve_tool``; the default profile, ``mixed``, leaves all of them open). None: the
    generator's own (version 1).

    Attributes:
        difficulty: Which preset this is.
        visibility: (low, high) of v, or None for version 1's mixture (25 % U(0.15, 0.4) +
            75 % U(0.4, 1.0)).
        snr: (low, high) of the log-uniform target SNR (spec B4.5).
        psf_sigma: (low, high) of the log-uniform PSF sigma, px.
        defocus_rate: Share of defocused images.
        defocus_sigma: (low, high) of the defocused PSF sigma, px.
        min_step_fraction: Partial-height defects (bridges, residual films, partial-open vias)
            keep at least this fraction of the full step between defect and surround.
        crack_min_width: Smallest crack opening w0, px.
        residue_contrast: (low, high) of the residue contrast, times v.
        residue_min_alpha: Smallest residue opacity.
        faint_scratch_rate: Share of scratches drawn at noise level.
        strict_rules: Apply the B5 rules marked ``standard`` (no look-alikes by construction).
        min_d_prime: Visibility contract: smallest matched-filter detectability d'.
        min_c_half: Visibility contract: smallest mean of the upper half of the change, in noise
            sigmas.
        min_c_half_other: The same floor for Other's defects (particles, residue): compact
            blobs with no line or edge for the eye to follow, so they must stand further out of
            the noise to be seen (docs/synthetic-data.md, "The faint tail of Other").
        min_area: Visibility contract: smallest visible defect area, px of a 224-px field
            (scaled with the field's area at other sizes).
        central_field: Defects are placed in this central share of the field (review SEM
            images are centred on their defect, spec 5.4); None for version 1's mix (70 % in
            the central 70 %, 30 % anywhere).
        min_short_brightness: Smallest brightness factor of a short's material over the
            lines' (spec B5: U(1.05, 1.4)).
        view_rates: Share of top-down, cross-section and blanket views.
        family_weights: Top-down family weights, keyed "any", "lines", "vias" as in
            ``ToolProfile``.
        look_rates: Share of each material look.
        magnification_rates: Share of each magnification regime (``standard``: review
            close-ups, every image at high magnification, so a defect spans tens of pixels).
        tilt_rate: Share of tilted images.
        side_detector_rate: Share of images from a side (Everhart-Thornley) detector.
        psf_span: The part of ``psf_sigma``'s log range the beam covers, fractions 0..1.
        snr_span: The part of ``snr``'s log range, fractions 0..1.
        tone_gamma: The tone curve's gamma range.
        charging: Factor on the charging background's amplitude and gradient.
        presentation: Whether figure-crop presentation (annotations, borders, format mix) is
            applied when ``SynthConfig.presentation`` allows it.
        inverted_rate: Share of images whose pattern is darker than its surround (spec B2:
            0.2). ``standard``: none, because with the tone inverted a bridge between dark lines
            and a break in a bright line are the same picture (docs/synthetic-data.md).
        line_landings: Share of line/space lines that carry a via landing (``standard``: 0.3,
            and one in every scene), so Vias are drawn in line/space scenes as often as the
            other classes are: with Vias in logic scenes only, the family told the class.
        landing_half: Half the side of a square via landing in line widths (``standard``:
            0.3, so a rim of line shows on both sides; version 1's 0.4 landing nearly fills
            its line, and the blind review read such Clean landings as slipped ones).
        scene_tone: Dose and tone range come from the clean scene's noisy render, every pixel
            (synth-sem 2.7, ``standard``), so an image and its twin share them and no defect
            moves them; False: from the image's own pixels outside the dilated defect mask
            (spec B4.5, B4.6), which leaves out the designed features near the defect too.
    """

    difficulty: Difficulty
    visibility: tuple[float, float] | None
    snr: tuple[float, float]
    psf_sigma: tuple[float, float]
    defocus_rate: float
    defocus_sigma: tuple[float, float]
    min_step_fraction: float
    crack_min_width: float
    residue_contrast: tuple[float, float]
    residue_min_alpha: float
    faint_scratch_rate: float
    strict_rules: bool
    min_d_prime: float
    min_c_half: float
    min_c_half_other: float
    min_area: float
    central_field: float | None
    min_short_brightness: float
    view_rates: dict[View, float] | None = None
    family_weights: dict[str, dict[Family, float]] | None = None
    look_rates: dict[Look, float] | None = None
    magnification_rates: dict[Magnification, float] | None = None
    tilt_rate: float | None = None
    side_detector_rate: float | None = None
    psf_span: tuple[float, float] | None = None
    snr_span: tuple[float, float] | None = None
    tone_gamma: tuple[float, float] | None = None
    charging: float | None = None
    presentation: bool | None = None
    inverted_rate: float | None = None
    line_landings: float | None = None
    landing_half: float | None = None
    scene_tone: bool = False


SAME_FAMILIES = {group: {Family.LINE_SPACE: 0.5, Family.VIA_ARRAY: 0.0, Family.LOGIC: 0.5}
                 for group in ("any", "lines", "vias")}
"""``standard``'s top-down families, the same for every class (line/space scenes carry via
landings there, so Vias need not be drawn in logic scenes only)."""

CLOSE_UPS = {Magnification.LOW: 0.0, Magnification.NORMAL: 0.0, Magnification.HIGH: 1.0}


def framing_of(profile: ToolProfile, **changes: Any) -> dict[str, Any]:
    """A tool profile's framing as ``Preset`` keyword arguments, with ``changes`` applied."""
    framing = {field.name: getattr(profile, field.name) for field in fields(ToolProfile)
               if field.name not in ("name", "description")}
    unknown = set(changes) - set(framing)
    if unknown:
        raise ValueError(f"Not framing fields of a tool profile: {sorted(unknown)}")
    return {**framing, **changes}


PRESETS: dict[Difficulty, Preset] = {
    Difficulty.STANDARD: Preset(
        difficulty=Difficulty.STANDARD,
        visibility=(0.5, 1.0),
        snr=(4.0, 20.0),
        psf_sigma=(0.4, 1.2),
        defocus_rate=0.05,
        defocus_sigma=(1.2, 1.8),
        min_step_fraction=0.5,
        crack_min_width=1.0,
        residue_contrast=(0.1, 0.25),
        residue_min_alpha=0.5,
        faint_scratch_rate=0.0,
        strict_rules=True,
        min_d_prime=20.0,
        min_c_half=2.0,
        min_c_half_other=4.0,
        min_area=200.0,
        central_field=0.6,
        min_short_brightness=1.25,
        # Tool A's framing (a logic fab's in-lens CD-SEM), every image a review close-up.
        **framing_of(TOOLS["a"], magnification_rates=CLOSE_UPS, inverted_rate=0.0,
                     family_weights=SAME_FAMILIES, line_landings=0.3, landing_half=0.3),
        scene_tone=True,
    ),
    Difficulty.HARD: Preset(
        difficulty=Difficulty.HARD,
        visibility=None,
        snr=(1.5, 15.0),
        psf_sigma=(0.4, 1.8),
        defocus_rate=0.10,
        defocus_sigma=(1.8, 2.5),
        min_step_fraction=0.0,
        crack_min_width=0.0,
        residue_contrast=(0.05, 0.2),
        residue_min_alpha=0.3,
        faint_scratch_rate=0.3,
        strict_rules=False,
        min_d_prime=6.0,
        min_c_half=0.75,
        min_c_half_other=0.75,
        min_area=0.0,
        central_field=None,
        min_short_brightness=1.0,
    ),
}


def preset_for(difficulty: Difficulty | str) -> Preset:
    """The preset of ``difficulty`` (a ``Difficulty`` or its value)."""
    return PRESETS[Difficulty(difficulty)]
