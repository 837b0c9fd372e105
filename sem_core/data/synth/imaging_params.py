"""Beam, scan, detector and tone-mapping parameters (spec B3 background, B4), ``imaging`` stream.

Lengths are in reference px (224-px field); the imaging code scales them to the output size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from sem_core.data.synth.config import Difficulty, NoiseModel
from sem_core.data.synth.defect_base import log_lerp
from sem_core.data.synth.presets import PRESETS, Preset
from sem_core.data.synth.scene_params import log_uniform
from sem_core.data.synth.tools import DEFAULT_TOOL, TOOLS, ToolProfile, resolve_tool, span


@dataclass(frozen=True)
class ImagingParams:
    """Every imaging decision of one image (the per-row arrays live in ``ScanRows``)."""

    psf_sigma: float
    psf_ratio: float
    psf_angle: float
    defocus: bool
    drift_pixels: float
    drift_angle: float
    line_dead_fraction: float
    vibration_cycles: tuple[float, ...]
    vibration_amplitudes: tuple[float, ...]
    vibration_angles: tuple[float, ...]
    vibration_phases: tuple[float, ...]
    jitter_sigma: float
    glitch: bool
    glitch_start: float
    glitch_rows: int
    glitch_shift: float
    row_gain_sigma: float
    row_offset_sigma: float
    lag_tau: float
    background_grid: int
    background_amplitude: float
    background_values: tuple[float, ...]
    gradient: float
    gradient_angle: float
    snr: float
    noise_model: NoiseModel
    excess_noise: float
    detector_sigma: float
    tone_low_percentile: float
    tone_out_low: float
    tone_out_high: float
    tone_gamma: float
    detector_asymmetry: float = 0.0
    detector_azimuth: float = 0.0

    def to_dict(self) -> dict:
        """JSON-able record for the sidecar."""
        record = asdict(self)
        record["noise_model"] = self.noise_model.value
        return record


@dataclass(frozen=True)
class ScanRows:
    """Per-row scan artefacts for the padded output rows (reference px for shifts)."""

    shift: np.ndarray
    gain: np.ndarray
    offset: np.ndarray


def sample_imaging(
    rng: np.random.Generator, padded_rows: int, preset: Preset | None = None,
    tool: ToolProfile | None = None,
) -> tuple[ImagingParams, ScanRows]:
    """Draw the imaging parameters and per-row scan artefacts of one image.

    Args:
        rng: The image's ``imaging`` stream.
        padded_rows: Output rows including the margins (per-row arrays have this length).
        preset: Difficulty preset (PSF and SNR ranges); the same draws are made in every
            preset. Default: ``hard`` (version 1).
        tool: A tool profile: its part of the preset's PSF and SNR ranges, detector, tone
            curve and charging. Default: None (the generator's own).

    Returns:
        (params, rows).
    """
    preset = preset or PRESETS[Difficulty.HARD]
    tool = resolve_tool(tool or TOOLS[DEFAULT_TOOL], preset)
    defocus = rng.random() < preset.defocus_rate
    sigma = (rng.uniform(*preset.defocus_sigma) if defocus
             else log_uniform(rng, *span(*preset.psf_sigma, tool.psf_span)))
    ratio, angle = rng.uniform(1.0, 1.6), rng.uniform(0.0, math.pi)
    drift, drift_angle = rng.uniform(0.0, 3.0), rng.uniform(0.0, 2 * math.pi)
    line_dead = rng.uniform(0.02, 0.3)
    components = int(rng.integers(3, 9))
    cycles = tuple(log_uniform(rng, 0.5, 40.0) for _ in range(components))
    max_amplitude = rng.uniform(0.0, 0.35)
    amplitudes = tuple(float(v) for v in rng.uniform(0.0, max_amplitude, components))
    angles = tuple(float(v) for v in rng.uniform(0.0, 2 * math.pi, components))
    phases = tuple(float(v) for v in rng.uniform(0.0, 2 * math.pi, components))
    jitter = rng.uniform(0.0, 0.3)
    glitch = rng.random() < 0.05
    glitch_start, glitch_rows = rng.uniform(0.0, 0.95), int(rng.integers(2, 11))
    glitch_shift = rng.uniform(1.0, 2.0) * (1 if rng.random() < 0.5 else -1)
    gain_sigma, offset_sigma = rng.uniform(0.0, 0.01), rng.uniform(0.0, 0.01)
    lag_tau = rng.uniform(0.0, 1.2)
    grid = int(rng.integers(3, 9))
    amplitude = rng.uniform(0.0, 0.08 * tool.charging)
    values = tuple(float(v) for v in rng.uniform(-amplitude, amplitude, grid * grid))
    gradient = rng.uniform(-0.1, 0.1) * tool.charging
    gradient_angle = rng.uniform(0.0, 2 * math.pi)
    snr = log_uniform(rng, *span(*preset.snr, tool.snr_span))
    model = NoiseModel.GAMMA if rng.random() < 0.5 else NoiseModel.POISSON
    excess, detector_sigma = rng.uniform(1.0, 3.0), rng.uniform(0.002, 0.02)
    low_percentile = rng.uniform(0.5, 2.0)
    out_low, out_high, gamma = (
        rng.uniform(0.0, 0.12),
        rng.uniform(0.85, 1.0),
        rng.uniform(*tool.tone_gamma),
    )
    # side detector (Everhart-Thornley): edges facing it bloom brighter; in-lens: symmetric
    asymmetry = rng.uniform(0.0, 0.6) if rng.random() < tool.side_detector_rate else 0.0
    azimuth = rng.uniform(0.0, 2 * math.pi)
    shifts = rng.normal(0.0, 1.0, padded_rows) * jitter
    gains = 1.0 + rng.normal(0.0, 1.0, padded_rows) * gain_sigma
    offsets = rng.normal(0.0, 1.0, padded_rows) * offset_sigma
    if glitch:
        first = int(glitch_start * padded_rows)
        shifts[first : first + glitch_rows] += glitch_shift
    params = ImagingParams(
        psf_sigma=sigma,
        psf_ratio=ratio,
        psf_angle=angle,
        defocus=bool(defocus),
        drift_pixels=drift,
        drift_angle=drift_angle,
        line_dead_fraction=line_dead,
        vibration_cycles=cycles,
        vibration_amplitudes=amplitudes,
        vibration_angles=angles,
        vibration_phases=phases,
        jitter_sigma=jitter,
        glitch=bool(glitch),
        glitch_start=glitch_start,
        glitch_rows=glitch_rows,
        glitch_shift=glitch_shift,
        row_gain_sigma=gain_sigma,
        row_offset_sigma=offset_sigma,
        lag_tau=lag_tau,
        background_grid=grid,
        background_amplitude=amplitude,
        background_values=values,
        gradient=gradient,
        gradient_angle=gradient_angle,
        snr=snr,
        noise_model=model,
        excess_noise=excess if model == NoiseModel.GAMMA else 1.0,
        detector_sigma=detector_sigma,
        tone_low_percentile=low_percentile,
        tone_out_low=out_low,
        tone_out_high=out_high,
        tone_gamma=gamma,
        detector_asymmetry=asymmetry,
        detector_azimuth=azimuth,
    )
    return params, ScanRows(shift=shifts, gain=gains, offset=offsets)


def eased_imaging(
    params: ImagingParams, ease: float, preset: Preset | None = None
) -> ImagingParams:
    """Move the SNR the fraction ``ease`` of the way to the top of the preset's range (log)."""
    if ease == 0.0:
        return params
    top = (preset or PRESETS[Difficulty.HARD]).snr[1]
    return replace(params, snr=log_lerp(params.snr, top, ease))
