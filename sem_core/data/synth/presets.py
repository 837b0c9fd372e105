"""Difficulty presets (spec B6): the ranges that ``standard`` and ``hard`` change, in one table.

Every other range, every stream and the order of every draw are shared, so one seed gives the
same scene in both presets; a preset only maps the same uniforms into different ranges (and
switches the class rules marked ``standard`` in spec B5 through ``strict_rules``).

Crack darkening and scratch groove/lip depths are not here: the generator's own ranges (crack
interior x (1 - lerp(0.3, 0.85, v)), groove U(0.25, 0.6)v, lips U(0.1, 0.4)v) are already at or
above B6's ``standard`` column for every v >= 0.5, so both presets share them
(docs/synthetic-data.md lists this deviation).
"""

from __future__ import annotations

from dataclasses import dataclass

from sem_core.data.synth.config import Difficulty


@dataclass(frozen=True)
class Preset:
    """The ranges of one difficulty preset.

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
        min_area: Visibility contract: smallest visible defect area, px of a 224-px field
            (scaled with the field's area at other sizes).
        central_field: Defects are placed in this central share of the field (review SEM
            images are centred on their defect, spec 5.4); None for version 1's mix (70 % in
            the central 70 %, 30 % anywhere).
        min_short_brightness: Smallest brightness factor of a short's material over the
            lines' (spec B5: U(1.05, 1.4)).
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
    min_area: float
    central_field: float | None
    min_short_brightness: float


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
        min_area=200.0,
        central_field=0.6,
        min_short_brightness=1.25,
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
        min_area=0.0,
        central_field=None,
        min_short_brightness=1.0,
    ),
}


def preset_for(difficulty: Difficulty | str) -> Preset:
    """The preset of ``difficulty`` (a ``Difficulty`` or its value)."""
    return PRESETS[Difficulty(difficulty)]
