"""Scene parameters (spec B1, B2, section 4), drawn from the ``scene`` stream.

The view (top-down, cross-section, blanket film), tilt, magnification and look are drawn
identically for every class. Only the top-down pattern family depends on the class, because a
bridge needs lines and a via defect needs vias; the weights put most images in the logic family,
which hosts every class, so that a perfect family detector gains little (see
docs/synthetic-data.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from sem_core.data.synth.config import Family, Look, Magnification, View
from sem_core.data.synth.tools import (
    DEFAULT_TOOL,
    FAMILY_WEIGHTS,
    INVERTED_RATE,
    LOOK_RATES,
    MAGNIFICATION_RATES,
    TILT_RATE,
    TOOLS,
    VIEW_RATES,
    ToolProfile,
)

LANDING_HALF = 0.4
"""Half the side of a square via landing, in line widths (spec B1 logic; version 1)."""

PITCH_RANGES: dict[Magnification, tuple[float, float]] = {
    Magnification.LOW: (6.0, 10.0),
    Magnification.NORMAL: (10.0, 48.0),
    Magnification.HIGH: (48.0, 96.0),
}
NM_PER_PX_FACTOR: dict[Magnification, tuple[float, float]] = {
    Magnification.LOW: (2.0, 3.0),
    Magnification.NORMAL: (1.0, 1.0),
    Magnification.HIGH: (0.3, 0.5),
}

TOP_DOWN_FAMILY_WEIGHTS: dict[str, dict[Family, float]] = {
    true_class: FAMILY_WEIGHTS[group]
    for true_class, group in {
        "Clean": "any", "Cracks": "any", "Scratches": "any", "Other": "any",
        "Bridges": "lines", "Opens": "lines", "Shorts": "lines", "Vias": "vias",
    }.items()
}


@dataclass(frozen=True)
class LookParams:
    """Material grey levels and SE edge parameters (spec B2, B3).

    Levels are on the 0-1 signal scale; ``contrast`` is the signed step top - substrate.
    """

    look: Look
    substrate: float
    top: float
    hole: float
    plug: float
    bloom_in: float
    bloom_in_length: float
    bloom_out: float
    bloom_out_length: float
    texture_strength: float
    texture_length: float
    floating_factor: float
    floating_fraction: float

    @property
    def contrast(self) -> float:
        """Signed pattern step (top - substrate)."""
        return self.top - self.substrate

    @property
    def holes_are_dark(self) -> bool:
        """Resist and etched looks show vias as dark holes; metal looks as bright plugs."""
        return self.look in (Look.RESIST_ADI, Look.ETCHED_AEI)


@dataclass(frozen=True)
class SceneParams:
    """Everything the scene stream decides before the geometry is built."""

    view: View
    family: Family
    magnification: Magnification
    pitch: float
    duty: float
    theta_deg: float
    tilt_deg: float
    keystone: float
    nm_per_px: float
    ler_sigma: float
    ler_correlation: float
    ler_hurst: float
    ler_rho: float
    hex_lattice: bool
    look: LookParams
    line_landings: float = 0.0
    landing_half: float = LANDING_HALF

    @property
    def width(self) -> float:
        """Nominal CD (reference px)."""
        return self.duty * self.pitch

    def to_dict(self) -> dict:
        """JSON-able record for the sidecar."""
        record = asdict(self)
        record["view"], record["family"] = self.view.value, self.family.value
        record["magnification"] = self.magnification.value
        record["look"]["look"] = self.look.look.value
        return record


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """One draw uniform in log space between ``low`` and ``high``."""
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def choose(rng: np.random.Generator, weights: dict) -> object:
    """Pick a key with the given weights using exactly one uniform draw."""
    draw, cumulative = rng.random(), 0.0
    keys = list(weights)
    for key in keys:
        cumulative += weights[key]
        if draw < cumulative:
            return key
    return keys[-1]


def sample_look(rng: np.random.Generator, rates: dict[Look, float] | None = None,
                inverted_rate: float | None = None) -> LookParams:
    """Draw a look (equally likely, or with a tool's ``rates``) and its grey levels (a fixed
    number of draws whatever the look); ``inverted_rate`` is the share of inverted material
    contrast (default: the generator's, ``INVERTED_RATE``)."""
    look = choose(rng, rates or LOOK_RATES)
    low = rng.uniform(0.12, 0.35)
    step = rng.uniform(0.08, 0.35)
    inverted = rng.random() < (INVERTED_RATE if inverted_rate is None else inverted_rate)
    hole_factor = rng.uniform(0.2, 0.6)
    bloom_in, bloom_in_length = rng.uniform(0.10, 0.45), rng.uniform(0.6, 3.0)
    bloom_out, bloom_out_length = rng.uniform(-0.08, 0.15), rng.uniform(0.5, 2.0)
    strength, length = rng.uniform(0.01, 0.06), rng.uniform(1.0, 6.0)
    floating_factor, floating_fraction = rng.uniform(0.55, 0.85), rng.uniform(0.35, 0.65)
    if look in (Look.METAL_CMP, Look.VC_MODE):
        bloom_in, bloom_out = 0.3 * bloom_in, 0.3 * bloom_out
    if look == Look.ETCHED_AEI:
        strength, length = 1.6 * strength, 0.6 * length
    substrate, top = (low + step, low) if inverted else (low, low + step)
    return LookParams(
        look=look,
        substrate=substrate,
        top=top,
        hole=low * hole_factor,
        plug=max(substrate, top),
        bloom_in=bloom_in,
        bloom_in_length=bloom_in_length,
        bloom_out=bloom_out,
        bloom_out_length=bloom_out_length,
        texture_strength=strength,
        texture_length=length,
        floating_factor=floating_factor if look == Look.VC_MODE else 1.0,
        floating_fraction=floating_fraction if look == Look.VC_MODE else 0.0,
    )


def family_weights(true_class: str, tool: ToolProfile | None = None) -> dict[Family, float]:
    """The top-down family weights of ``true_class``, the generator's or a tool's."""
    if tool is None or tool.family_weights is None:
        return TOP_DOWN_FAMILY_WEIGHTS[true_class]
    group = {"Bridges": "lines", "Opens": "lines", "Shorts": "lines", "Vias": "vias"}
    return tool.family_weights[group.get(true_class, "any")]


def sample_scene(rng: np.random.Generator, true_class: str,
                 tool: ToolProfile | None = None) -> SceneParams:
    """Draw the scene parameters of one image (spec B1, B2, section 4).

    Args:
        rng: The image's ``scene`` stream.
        true_class: The true class; it only shifts the top-down family weights (spec C2).
        tool: A tool profile narrowing views, families, magnifications, tilt and looks.
            Default: None (the generator's own rates).

    Returns:
        The frozen scene parameters.
    """
    tool = tool or TOOLS[DEFAULT_TOOL]
    view = choose(rng, tool.view_rates or VIEW_RATES)
    family_draw = choose(rng, family_weights(true_class, tool))
    family = {
        View.TOP_DOWN: family_draw,
        View.CROSS_SECTION: Family.STACK,
        View.BLANKET: Family.FILM,
    }[view]
    magnification = choose(rng, tool.magnification_rates or MAGNIFICATION_RATES)
    pitch = log_uniform(rng, *PITCH_RANGES[magnification])
    duty = rng.uniform(0.35, 0.65)
    orientation_draw = rng.random()
    theta = (
        0.0
        if orientation_draw < 0.425
        else 90.0
        if orientation_draw < 0.85
        else rng.uniform(0, 180)
    )
    theta += rng.normal(0.0, 1.5)
    tilt_rate = TILT_RATE if tool.tilt_rate is None else tool.tilt_rate
    tilted = rng.random() < tilt_rate and view != View.CROSS_SECTION
    tilt, keystone = rng.uniform(15.0, 55.0), rng.uniform(0.0, 1.5e-3)
    nm_per_px = log_uniform(rng, 1.0, 4.0) * rng.uniform(*NM_PER_PX_FACTOR[magnification])
    ler_sigma = rng.uniform(0.5, 2.0) / nm_per_px
    ler_correlation = rng.uniform(10.0, 40.0) / nm_per_px
    hurst, rho = rng.uniform(0.5, 1.0), rng.uniform(-0.2, 0.5)
    hex_lattice = rng.random() < 0.5
    look = sample_look(rng, tool.look_rates, tool.inverted_rate)
    if look.look == Look.ETCHED_AEI:
        ler_sigma *= 1.3
    return SceneParams(
        view=view,
        family=family,
        magnification=magnification,
        pitch=pitch,
        duty=duty,
        theta_deg=theta if view != View.CROSS_SECTION else 0.0,
        tilt_deg=tilt if tilted else 0.0,
        keystone=keystone if tilted else 0.0,
        nm_per_px=nm_per_px,
        ler_sigma=min(ler_sigma, 0.12 * duty * pitch),
        ler_correlation=ler_correlation,
        ler_hurst=hurst,
        ler_rho=rho,
        hex_lattice=hex_lattice,
        look=look,
        line_landings=tool.line_landings or 0.0,
        landing_half=tool.landing_half or LANDING_HALF,
    )
