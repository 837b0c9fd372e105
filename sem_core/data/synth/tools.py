"""Tool profiles: the same generator seen through different inspection tools (issue 19).

A model trained on one fab's or one tool's images loses much of its accuracy on another's. The
differences are not in what a defect is but in everything around it: which pattern families and
materials the fab makes, how the tool images them (detector, tilt, beam, noise, charging), how
grey levels are mapped, and how images leave the tool (raw exports or annotated figure crops). A
``ToolProfile`` narrows the generator's scene and imaging draws to one such tool. The default,
``mixed``, leaves every choice to the difficulty preset: the whole variety of the specification
in ``hard``, review close-ups in ``standard`` (``presets.Preset``).

Profiles map the same uniforms into other ranges and rates (one draw per choice whatever its
weights), so the streams stay aligned within a profile and every class sees the same tool; the
difficulty preset's promises (SNR, PSF, the visibility contract) hold inside every profile, as
a profile picks a part of the preset's ranges instead of ranges of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

from sem_core.data.synth.config import Family, Look, Magnification, View

if TYPE_CHECKING:
    from sem_core.data.synth.config import SynthConfig
    from sem_core.data.synth.presets import Preset

DEFAULT_TOOL = "mixed"

# The generator's own scene rates (the specification's, version 1's): every tool and preset
# choice left open falls back to these.
VIEW_RATES: dict[View, float] = {View.TOP_DOWN: 0.70, View.CROSS_SECTION: 0.15, View.BLANKET: 0.15}
TILT_RATE = 0.20
MAGNIFICATION_RATES: dict[Magnification, float] = {
    Magnification.LOW: 0.15,
    Magnification.NORMAL: 0.70,
    Magnification.HIGH: 0.15,
}
# top-down family weights of the classes that fit any family, of the line classes and of Vias
FAMILY_WEIGHTS: dict[str, dict[Family, float]] = {
    "any": {Family.LINE_SPACE: 0.25, Family.VIA_ARRAY: 0.25, Family.LOGIC: 0.50},
    "lines": {Family.LINE_SPACE: 0.25, Family.LOGIC: 0.75},
    "vias": {Family.VIA_ARRAY: 0.25, Family.LOGIC: 0.75},
}
LOOK_RATES: dict[Look, float] = {look: 0.25 for look in Look}
# Share of images with inverted material contrast: the pattern darker than its surround (spec B2).
INVERTED_RATE = 0.2

# The generator's own imaging choices (version 1), where neither the tool nor the preset sets one.
GENERATOR_IMAGING = {
    "side_detector_rate": 0.6,
    "psf_span": (0.0, 1.0),
    "snr_span": (0.0, 1.0),
    "tone_gamma": (0.8, 1.25),
    "charging": 1.0,
    "presentation": True,
}


@dataclass(frozen=True)
class ToolProfile:
    """How one tool and fab narrow the scene and imaging draws.

    None leaves a choice to the difficulty preset's framing (``Preset``; ``standard`` frames
    review close-ups with a clean in-lens image), and where the preset has none either, to the
    generator's own rates (``hard``, version 1). ``resolve_tool`` fills them in.

    Attributes:
        name: The profile's name (``SynthConfig.tool``).
        description: One line for the docs and the CLI.
        view_rates: Share of top-down, cross-section and blanket views.
        family_weights: Top-down family weights of the classes that fit any family, of the
            line classes (Bridges, Opens, Shorts) and of Vias: keys "any", "lines", "vias".
        look_rates: Share of each material look.
        magnification_rates: Share of each magnification regime.
        tilt_rate: Share of tilted (top-down and blanket) images.
        side_detector_rate: Share of images taken with a side (Everhart-Thornley) detector,
            whose edges facing it bloom brighter; the rest are in-lens (symmetric).
        psf_span: The part (low, high) of the preset's log PSF-sigma range the tool's beam
            covers, as fractions 0..1 of that range.
        snr_span: The part (low, high) of the preset's log SNR range, as fractions.
        tone_gamma: The tool's tone-curve gamma range.
        charging: Factor on the background (charging) amplitude and gradient.
        presentation: False: raw tool exports only (no annotations, borders or format mix);
            True: the presentation layer whenever ``SynthConfig.presentation`` allows it.
        inverted_rate: Share of images with inverted material contrast, the pattern darker
            than the space around it (spec B2; the generator's own share is ``INVERTED_RATE``).
        line_landings: Share of line/space lines that carry a square via landing (and one in
            every scene), so that Vias can be drawn in line/space scenes; None: none (spec B1).
        landing_half: Half the side of a square landing in line widths; None: 0.4 (spec B1).
    """

    name: str
    description: str
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


TOOLS: dict[str, ToolProfile] = {
    DEFAULT_TOOL: ToolProfile(
        name=DEFAULT_TOOL,
        description="the difficulty preset's own framing and variety (default)",
    ),
    "full": ToolProfile(
        name="full",
        description=(
            "every pattern family, look, view, magnification, detector and presentation of the "
            "specification in both presets (what 'mixed' was before synth-sem 2.2)"
        ),
        view_rates=VIEW_RATES,
        family_weights=FAMILY_WEIGHTS,
        look_rates=LOOK_RATES,
        magnification_rates=MAGNIFICATION_RATES,
        tilt_rate=TILT_RATE,
        inverted_rate=INVERTED_RATE,
        **GENERATOR_IMAGING,
    ),
    "a": ToolProfile(
        name="a",
        description=(
            "tool A, a logic fab's in-lens CD-SEM: line/space and logic patterns in resist and "
            "etched looks, top-down at normal to high magnification, sharp beam, high SNR, "
            "raw exports"
        ),
        view_rates={View.TOP_DOWN: 0.9, View.CROSS_SECTION: 0.1, View.BLANKET: 0.0},
        family_weights={
            "any": {Family.LINE_SPACE: 0.5, Family.VIA_ARRAY: 0.0, Family.LOGIC: 0.5},
            "lines": {Family.LINE_SPACE: 0.5, Family.LOGIC: 0.5},
            "vias": {Family.VIA_ARRAY: 0.0, Family.LOGIC: 1.0},
        },
        look_rates={Look.RESIST_ADI: 0.5, Look.ETCHED_AEI: 0.5, Look.METAL_CMP: 0.0,
                    Look.VC_MODE: 0.0},
        magnification_rates={Magnification.LOW: 0.0, Magnification.NORMAL: 0.7,
                              Magnification.HIGH: 0.3},
        tilt_rate=0.0,
        side_detector_rate=0.0,
        psf_span=(0.0, 0.5),
        snr_span=(0.5, 1.0),
        tone_gamma=(0.9, 1.1),
        charging=0.5,
        presentation=False,
    ),
    "b": ToolProfile(
        name="b",
        description=(
            "tool B, a back-end fab's review SEM with a side detector: via arrays and logic in "
            "metal and voltage-contrast looks, defect close-ups (high magnification), often "
            "tilted, softer beam, middle of the SNR range, strong charging, annotated figure crops"
        ),
        view_rates={View.TOP_DOWN: 0.7, View.CROSS_SECTION: 0.1, View.BLANKET: 0.2},
        family_weights={
            "any": {Family.LINE_SPACE: 0.0, Family.VIA_ARRAY: 0.5, Family.LOGIC: 0.5},
            "lines": {Family.LINE_SPACE: 0.0, Family.LOGIC: 1.0},
            "vias": {Family.VIA_ARRAY: 0.5, Family.LOGIC: 0.5},
        },
        look_rates={Look.RESIST_ADI: 0.0, Look.ETCHED_AEI: 0.0, Look.METAL_CMP: 0.5,
                    Look.VC_MODE: 0.5},
        # A review SEM revisits defects at high magnification. Until synth-sem 2.4 tool B framed
        # 40 % of its images at low magnification in the lower SNR half, so hard to learn even
        # in-domain (B->B 0.447 against A->A 0.728) that it hid the shift inside B's own
        # difficulty (docs/synthetic-data.md, changelog).
        magnification_rates={Magnification.LOW: 0.0, Magnification.NORMAL: 0.0,
                             Magnification.HIGH: 1.0},
        tilt_rate=0.5,
        side_detector_rate=1.0,
        psf_span=(0.5, 1.0),
        snr_span=(0.25, 0.75),
        tone_gamma=(0.6, 0.8),
        charging=2.0,
        presentation=True,
    ),
}


def tool_profile(name: str) -> ToolProfile:
    """The profile called ``name``.

    Raises:
        ValueError: When no profile has that name (the message lists them).
    """
    try:
        return TOOLS[name]
    except KeyError:
        raise ValueError(
            f"Unknown tool profile {name!r}: choose one of {', '.join(TOOLS)}."
        ) from None


def resolve_tool(tool: ToolProfile, preset: Preset) -> ToolProfile:
    """``tool`` with every choice it leaves open taken from ``preset``'s framing.

    A tool's own value wins (a tool is defined by how it images); then the preset's; then the
    generator's imaging defaults. Scene rates left None after this (views, families, looks,
    magnifications, tilt and inverted tone under ``hard``) mean the generator's own rates.
    """
    filled = {}
    for field in fields(ToolProfile):
        if getattr(tool, field.name) is not None or not hasattr(preset, field.name):
            continue
        value = getattr(preset, field.name)
        if value is None:
            value = GENERATOR_IMAGING.get(field.name)
        if value is not None:
            filled[field.name] = value
    return replace(tool, **filled) if filled else tool


def presents(config: SynthConfig) -> bool:
    """Whether images of ``config`` get the figure-crop presentation layer.

    ``SynthConfig.presentation`` can switch it off; the tool's choice, else the preset's, says
    whether that tool's exports are figure crops at all.
    """
    from sem_core.data.synth.presets import preset_for

    if not config.presentation:
        return False
    return bool(resolve_tool(tool_profile(config.tool), preset_for(config.difficulty)).presentation)


def span(low: float, high: float, fractions: tuple[float, float]) -> tuple[float, float]:
    """The part ``fractions`` of the log range (low, high) (the full range for (0, 1))."""
    if fractions == (0.0, 1.0):
        return low, high
    ratio = high / low
    return low * ratio ** fractions[0], low * ratio ** fractions[1]
