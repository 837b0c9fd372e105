"""One synthetic SEM image: ``generate_sample`` and ``generate_clean_twin``.

The pipeline (spec B0-B5, C5, section 4): scene -> defect edit of the geometry -> SE signal on
the supersampled canvas -> pixel integration -> drift and vibration -> PSF -> background and scan
artefacts -> inverse-CDF noise on pre-drawn fields -> detector lag -> crop -> tone map (outside
the dilated defect mask) -> presentation (annotations, borders, resolution and format mix).
Every step draws only from its own stream, so an image is a pure function of
(config, master_seed, split_id, idx).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from sem_core.classes import CLEAN
from sem_core.data.synth import imaging, noise
from sem_core.data.synth.canvas import FieldGeometry
from sem_core.data.synth.config import SynthConfig
from sem_core.data.synth.contract import (
    MAX_TRIES,
    ContractResult,
    measure,
    passes,
    reference_area,
)
from sem_core.data.synth.defect_base import (
    Hardness,
    eased_hardness,
    raised_hardness,
    sample_hardness,
)
from sem_core.data.synth.defects import edit_scene, mask_change
from sem_core.data.synth.imaging_params import (
    ImagingParams,
    ScanRows,
    eased_imaging,
    sample_imaging,
)
from sem_core.data.synth.labels import observed_label
from sem_core.data.synth.presets import preset_for
from sem_core.data.synth.render import bloom_reach, render_patch, render_signal
from sem_core.data.synth.scene import add_sidewalls, build_scene
from sem_core.data.synth.scene_params import SceneParams, sample_scene
from sem_core.data.synth.sidecar import Sidecar, StageTimer, hard_reasons
from sem_core.data.synth.streams import Streams, class_for_index, make_streams
from sem_core.data.synth.tone import apply_tone, tone_map, tone_range
from sem_core.data.synth.tools import presents, resolve_tool, tool_profile

TRAIN_SPLIT_ID = 0


@dataclass(frozen=True)
class SynthSample:
    """A finished image with its defect mask and sidecar.

    Attributes:
        image: uint8 (H, W), after presentation.
        mask: bool (H, W) defect mask, moved the way presentation moved the pixels.
        sidecar: Every sampled parameter and the labels (``sidecar.to_dict()`` is JSON-able).
        raw_image: uint8 (H, W) before presentation.
        raw_mask: bool (H, W) defect mask before presentation.
        influence: bool (H, W) dilated defect mask before presentation: every pixel a defect
            could have changed (the clean twin equals ``raw_image`` outside it).
        presentation: The presentation decisions (``formats.encode_image`` needs them).
    """

    image: np.ndarray
    mask: np.ndarray
    sidecar: Sidecar
    raw_image: np.ndarray
    raw_mask: np.ndarray
    influence: np.ndarray
    presentation: object


def generate_sample(
    config: SynthConfig, master_seed: int, split_id: int, idx: int, timer: StageTimer | None = None
) -> SynthSample:
    """Render image ``idx`` of split ``split_id`` of the dataset seeded ``master_seed``.

    Args:
        config: Size, supersampling, label noise and presentation switches.
        master_seed: Dataset seed (>= 0).
        split_id: 0 train, 1 validation, 2 test (label noise only on 0).
        idx: Image index; its class is ``CLASSES[idx % 8]``.
        timer: Optional per-stage timer (benchmarks). Default: None.

    Returns:
        The sample.
    """
    return _render(config, master_seed, split_id, idx, apply_defect=True, timer=timer)


def generate_clean_twin(
    config: SynthConfig, master_seed: int, split_id: int, idx: int
) -> SynthSample:
    """Render the same image with the defect step skipped (same seeds, same everything else).

    The twin uses the defect image's mask for tone mapping and presentation, so outside the
    dilated mask (``SynthSample.influence``) its raw pixels equal those of the defect image.
    """
    return _render(config, master_seed, split_id, idx, apply_defect=False, timer=None)


@dataclass(frozen=True)
class ParameterDraw:
    """The cheap, geometry-free part of an image: every parameter the label-independent streams
    decide, plus the class and hardness. ``_render`` starts from exactly this draw, so tests of
    nuisance rates can sample thousands of images without rendering them."""

    true_class: str
    label_observed: str
    scene: SceneParams
    imaging: ImagingParams
    rows: ScanRows
    hardness: Hardness
    presentation: object
    streams: Streams


def sample_parameters(
    config: SynthConfig, master_seed: int, split_id: int, idx: int
) -> ParameterDraw:
    """Draw the parameters of image ``idx`` without building or rendering anything.

    Args:
        config: Generator configuration.
        master_seed: Dataset seed.
        split_id: Split id (label noise only on 0).
        idx: Image index.

    Returns:
        The parameter draw; its ``streams`` continue where the draws stopped.
    """
    from sem_core.data.synth import formats

    streams = make_streams(master_seed, split_id, idx)
    true_class = class_for_index(idx)
    preset = preset_for(config.difficulty)
    tool = resolve_tool(tool_profile(config.tool), preset)
    scene_params = sample_scene(streams.scene, true_class, tool)
    imaging_params, rows = sample_imaging(
        streams.imaging, FieldGeometry(config.size).padded, preset, tool
    )
    imaging_params = eased_imaging(imaging_params, config.ease, preset)
    hardness = eased_hardness(sample_hardness(streams.defect, preset), config.ease)
    label = observed_label(
        streams.label,
        true_class,
        config.label_noise_rate,
        config.label_noise_mode,
        split_id == TRAIN_SPLIT_ID,
    )
    presentation = formats.sample_presentation(streams.presentation, config.size)
    return ParameterDraw(
        true_class, label, scene_params, imaging_params, rows, hardness, presentation, streams
    )


def _render(
    config: SynthConfig,
    master_seed: int,
    split_id: int,
    idx: int,
    apply_defect: bool,
    timer: StageTimer | None,
) -> SynthSample:
    timer = timer or StageTimer(enabled=False)
    geometry = FieldGeometry(config.size, config.supersample)
    with timer.stage("scene"):
        draw = sample_parameters(config, master_seed, split_id, idx)
        streams, true_class, hardness = draw.streams, draw.true_class, draw.hardness
        scene_params, imaging_params = draw.scene, draw.imaging
        clean_maps, layout = build_scene(streams.scene, scene_params, geometry)
        clean_final = add_sidewalls(clean_maps, layout)
    # Noise fields are drawn once, before anything is known of the defect, and reused by every
    # contract try: redraws come from the defect stream only (spec B7.4).
    uniform = np.clip(streams.noise.random((geometry.padded, geometry.padded)), 1e-15, 1.0 - 1e-15)
    normal = streams.noise.standard_normal((geometry.padded, geometry.padded))
    chain = _ImagingChain(config, geometry, draw, layout)
    clean_canvas = chain.canvas(clean_final, timer)
    clean_signal = None  # the twin's noise-free signal, made once when first needed
    scene_tone = hardness.preset.scene_tone
    scene_noise = None  # ``scene_tone``: the clean scene's (noisy, dose, detector sigma, mean)
    scene_range = None  # ``scene_tone``: the clean scene's tone range, set with ``scene_noise``
    for tries in range(1, MAX_TRIES + 1):
        with timer.stage("defect"):
            noise_sigma = chain.step / imaging_params.snr
            rendered, footprint, record = edit_scene(
                streams.defect, true_class, layout, clean_maps, hardness, noise_sigma
            )
            footprint_final = add_sidewalls(footprint, layout)
            changed, visible = mask_change(footprint_final, clean_final)
            edited = rendered is footprint
        canvas = (
            chain.canvas(footprint_final, timer, clean_canvas, changed) if edited else clean_canvas
        )
        signal = chain.signal(canvas, timer)
        with timer.stage("masks"):
            reach = max(bloom_reach(scene_params.look), record.params.get("reach", 0.0))
            target_mask, influence, radius = chain.masks(visible, changed, reach)
        with timer.stage("noise"):
            if scene_tone:
                # dose and grey scale are the clean scene's, shared by the image and its twin
                if scene_noise is None:
                    if clean_signal is None:
                        clean_signal = chain.signal(clean_canvas, None) if edited else signal
                    scene_noise = chain.noisy(clean_signal, uniform, normal, None)
                    scene_range = tone_range(scene_noise[0], None, imaging_params)
                noisy, dose, detector_sigma, mean_signal = (
                    chain.noisy(signal, uniform, normal, None, scene_noise[3])
                    if edited else scene_noise
                )
            else:
                noisy, dose, detector_sigma, mean_signal = chain.noisy(
                    signal, uniform, normal, influence
                )
        with timer.stage("tone"):
            crop = chain.crop
            tone = scene_range if scene_tone else tone_range(noisy, influence[crop], imaging_params)
        contract = ContractResult()
        if not edited:  # Clean: the decoy is drawn and ignored, no contract
            break
        with timer.stage("contract"):
            if clean_signal is None:
                clean_signal = chain.signal(clean_canvas, None)
            d_prime, c_half, sigma = measure(
                chain.lagged(signal),
                chain.lagged(clean_signal),
                noisy,
                ~influence[crop],
                target_mask[crop],
                tone,
                imaging_params,
            )
            area = reference_area(int(target_mask[crop].sum()), config.size)
            met = passes(d_prime, c_half, area, hardness.preset, true_class)
            contract = ContractResult(d_prime, c_half, sigma, tries, met)
        if met or tries == MAX_TRIES:
            break
        hardness = raised_hardness(hardness)
    if not apply_defect and edited:
        with timer.stage("noise"):
            if scene_tone:
                noisy, dose, detector_sigma, mean_signal = scene_noise
            else:
                signal = (clean_signal if clean_signal is not None
                          else chain.signal(clean_canvas, None))
                noisy, dose, detector_sigma, mean_signal = chain.noisy(
                    signal, uniform, normal, influence
                )
    with timer.stage("tone"):
        raw_image = (apply_tone(noisy, tone, imaging_params) if scene_tone
                     else tone_map(noisy, influence[crop], imaging_params))
        raw_mask = target_mask[crop] if true_class != CLEAN else np.zeros_like(target_mask[crop])
        influence, target_mask = influence[crop], target_mask[crop]
    with timer.stage("present"):
        label = draw.label_observed
        image, mask, presentation, bbox, raw_bbox = _present(
            config, draw.presentation, raw_image, raw_mask, target_mask
        )
    hard = hard_reasons(hardness, record, imaging_params, true_class)
    if contract.met is False:
        hard = (*hard, "contract_not_met")
    sidecar = Sidecar.build(
        config=config,
        seeds=(master_seed, split_id, idx),
        label_true=true_class,
        label_observed=label,
        hardness=hardness,
        scene=scene_params,
        layout_tags=layout.tags,
        imaging=imaging_params,
        defect=record,
        presentation=presentation,
        bbox=bbox,
        raw_bbox=raw_bbox,
        render={
            "dose": dose,
            "detector_sigma_used": detector_sigma,
            "mean_signal": mean_signal,
            "influence_radius_px": radius,
            "mask_pixels": int(raw_mask.sum()),
            "saturated_fraction": float(np.mean(raw_image == 255)),
            "defect_applied": bool(apply_defect),
        },
        hard=hard,
        contract=contract,
    )
    if not apply_defect:
        mask = np.zeros_like(mask)
    return SynthSample(
        image=image,
        mask=mask,
        sidecar=sidecar,
        raw_image=raw_image,
        raw_mask=raw_mask,
        influence=influence,
        presentation=presentation,
    )


EPSILON_STEP = 1e-3


def pattern_step(layout, preset) -> float:
    """The grey-level step the target SNR refers to (spec B4.5: pattern step / noise sigma).

    ``hard`` (version 1) always uses the line step |top - substrate|. In a via array the
    pattern is the vias, and a metal look's plugs may stand only 0.3 of that step above the
    dielectric, so at a low SNR the whole lattice, and every via defect in it, drowns in the
    noise; ``standard`` refers the SNR to the vias' own median step there.
    """
    step = abs(layout.params.look.contrast)
    if preset.strict_rules and layout.vias and not layout.lines:
        vias = np.median([abs(host.level - host.surround_level) for host in layout.vias])
        step = float(max(vias, EPSILON_STEP))
    return step


class _ImagingChain:
    """The image-forming steps after the scene, fixed per image (spec B3-B4.5).

    Everything here depends only on the label-independent streams' draws, so the defect image,
    every contract try and the clean twin go through exactly the same operators.
    """

    def __init__(self, config: SynthConfig, geometry: FieldGeometry, draw, layout) -> None:
        self.geometry, self.draw, self.layout = geometry, draw, layout
        self.step = pattern_step(layout, draw.hardness.preset)
        self.move = imaging.displacement(draw.imaging, geometry)
        self.kernel = imaging.psf_kernel(draw.imaging, geometry)
        self.lag = imaging.lag_kernel(draw.imaging.lag_tau * geometry.scale)
        margin = geometry.margin
        self.crop = (slice(margin, margin + config.size), slice(margin, margin + config.size))

    def canvas(self, maps, timer: StageTimer | None, base=None, changed=None) -> np.ndarray:
        """SE signal on the canvas; with ``base`` (the unedited scene's), re-rendered only
        around ``changed``."""
        timer = timer or StageTimer(enabled=False)
        look, params = self.draw.scene.look, self.draw.imaging
        detector = (params.detector_asymmetry, params.detector_azimuth)
        with timer.stage("render"):
            if base is None:
                return render_signal(maps, look, self.geometry, self.layout.textures, detector)
            return render_patch(
                maps, base, changed, look, self.geometry, self.layout.textures, detector
            )

    def signal(self, canvas: np.ndarray, timer: StageTimer | None) -> np.ndarray:
        """Noise-free signal on the padded output grid, after scan artefacts."""
        timer = timer or StageTimer(enabled=False)
        params = self.draw.imaging
        with timer.stage("drift"):
            signal = imaging.warp(
                imaging.block_mean(canvas, self.geometry.supersample), *self.move
            )
        with timer.stage("psf"):
            signal = imaging.apply_psf(signal, self.kernel)
        with timer.stage("scan"):
            signal *= imaging.background(params, self.geometry.padded)
            return imaging.scan_artefacts(signal, self.draw.rows, self.geometry.scale)

    def masks(self, visible: np.ndarray, changed: np.ndarray, reach: float):
        """(visible mask, dilated influence mask, influence radius) on the padded grid."""
        radius = imaging.influence_radius(self.draw.imaging, self.draw.rows, self.geometry, reach)
        target, changed_mask = _project_masks(visible, changed, self.move, self.draw.rows,
                                              self.geometry)
        return target, _dilate(changed_mask, radius), radius

    def noisy(self, signal, uniform, normal, influence, mean_signal=None):
        """(cropped noisy signal after lag, dose, detector sigma, mean signal) (spec B4.5).

        The dose follows the mean signal outside ``influence`` (every pixel when it is None),
        or ``mean_signal`` when given (``standard``: the clean scene's).
        """
        params, crop = self.draw.imaging, self.crop
        if mean_signal is None:
            pool = signal[crop] if influence is None else signal[crop][~influence[crop]]
            mean_signal = float(pool.mean()) if pool.size else float(signal.mean())
        dose, detector_sigma = noise.dose_for_snr(
            mean_signal,
            self.step,
            params.snr,
            params.detector_sigma,
            params.excess_noise,
            noise.noise_gain_of(self.lag),
        )
        counts = noise.add_noise(
            signal, uniform, normal, dose, params.noise_model, params.excess_noise, detector_sigma
        )
        return imaging.apply_lag(counts, self.lag)[crop], dose, detector_sigma, mean_signal

    def lagged(self, signal: np.ndarray) -> np.ndarray:
        """The noise-free signal through the detector lag, cropped (counts = lambda)."""
        return imaging.apply_lag(signal, self.lag)[self.crop]


def _project_masks(
    visible: np.ndarray,
    changed: np.ndarray,
    move: tuple[np.ndarray, np.ndarray],
    rows,
    geometry: FieldGeometry,
) -> tuple[np.ndarray, np.ndarray]:
    """Carry the two canvas masks to the padded output grid through drift and row shifts."""
    s = geometry.supersample
    coded = imaging.block_any(visible, s).astype(np.uint8) | (
        imaging.block_any(changed, s).astype(np.uint8) << 1
    )
    if not coded.any():
        empty = np.zeros(coded.shape, bool)
        return empty, empty
    moved = imaging.warp_mask(coded, move[0], move[1])
    moved = imaging.shift_rows(moved.astype(np.float64), rows.shift * geometry.scale)
    moved = np.rint(moved).astype(np.uint8) | np.ceil(moved).astype(np.uint8)
    return (moved & 1) > 0, (moved & 2) > 0


def _dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within ``radius`` px of the mask (distance transform on its bounding box only)."""
    if not mask.any():
        return mask
    r0, c0, r1, c1 = bounding_box(mask)
    pad = int(np.ceil(radius)) + 1
    window = (
        slice(max(r0 - pad, 0), min(r1 + pad, mask.shape[0])),
        slice(max(c0 - pad, 0), min(c1 + pad, mask.shape[1])),
    )
    out = np.zeros_like(mask)
    out[window] = ndimage.distance_transform_edt(~mask[window]) <= radius
    return out


def _present(
    config: SynthConfig,
    params,
    raw_image: np.ndarray,
    raw_mask: np.ndarray,
    target_mask: np.ndarray,
):
    """Apply the presentation layer; returns (image, mask, params, bbox, raw bbox).

    ``target_mask`` is the defect mask, or for Clean images the mask of a decoy defect drawn
    (and not applied) by the same code, so arrows and outlines find targets alike in every class.
    """
    from sem_core.data.synth import formats

    raw_bbox = bounding_box(target_mask) if target_mask.any() else decoy_box(config.size)
    if not presents(config):
        return raw_image, raw_mask, params, raw_bbox, raw_bbox
    image = formats.apply_presentation(raw_image, raw_bbox, params)
    mask = formats.present_mask(raw_mask, params)
    bbox = formats.present_bbox(raw_bbox, raw_image.shape, params)
    return image, mask, params, tuple(int(v) for v in bbox), raw_bbox


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(row0, col0, row1, col1), half-open, of the True pixels."""
    rows, cols = np.nonzero(np.any(mask, axis=1))[0], np.nonzero(np.any(mask, axis=0))[0]
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def decoy_box(size: int) -> tuple[int, int, int, int]:
    """A central box used when no defect footprint exists at all."""
    quarter = size // 4
    return quarter, quarter, size - quarter, size - quarter
