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
from sem_core.data.synth.defect_base import Hardness, eased_hardness, sample_hardness
from sem_core.data.synth.defects import edit_scene, mask_change
from sem_core.data.synth.imaging_params import (
    ImagingParams,
    ScanRows,
    eased_imaging,
    sample_imaging,
)
from sem_core.data.synth.labels import observed_label
from sem_core.data.synth.render import bloom_reach, render_signal
from sem_core.data.synth.scene import add_sidewalls, build_scene
from sem_core.data.synth.scene_params import SceneParams, sample_scene
from sem_core.data.synth.sidecar import Sidecar, StageTimer, hard_reasons
from sem_core.data.synth.streams import Streams, class_for_index, make_streams
from sem_core.data.synth.tone import tone_map

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
    scene_params = sample_scene(streams.scene, true_class)
    imaging_params, rows = sample_imaging(streams.imaging, FieldGeometry(config.size).padded)
    imaging_params = eased_imaging(imaging_params, config.ease)
    hardness = eased_hardness(sample_hardness(streams.defect), config.ease)
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
        scene_params, imaging_params, rows = draw.scene, draw.imaging, draw.rows
        clean_maps, layout = build_scene(streams.scene, scene_params, geometry)
    with timer.stage("defect"):
        noise_sigma = abs(scene_params.look.contrast) / imaging_params.snr
        rendered, footprint, record = edit_scene(
            streams.defect, true_class, layout, clean_maps, hardness, noise_sigma
        )
        clean_final, footprint_final = (
            add_sidewalls(clean_maps, layout),
            add_sidewalls(footprint, layout),
        )
        changed, visible = mask_change(footprint_final, clean_final)
        maps = footprint_final if (apply_defect and rendered is footprint) else clean_final
    with timer.stage("render"):
        signal = render_signal(
            maps,
            scene_params.look,
            geometry,
            layout.textures,
            (imaging_params.detector_asymmetry, imaging_params.detector_azimuth),
        )
    with timer.stage("drift"):
        d_rows, d_cols = imaging.displacement(imaging_params, geometry)
        signal = imaging.warp(imaging.block_mean(signal, geometry.supersample), d_rows, d_cols)
    with timer.stage("psf"):
        signal = imaging.apply_psf(signal, imaging.psf_kernel(imaging_params, geometry))
    with timer.stage("masks"):
        move = (d_rows, d_cols)
        reach = max(bloom_reach(scene_params.look), record.params.get("reach", 0.0))
        radius = imaging.influence_radius(imaging_params, rows, geometry, reach)
        target_mask, changed_mask = _project_masks(visible, changed, move, rows, geometry)
        raw_mask = target_mask if true_class != CLEAN else np.zeros_like(target_mask)
        influence = _dilate(changed_mask, radius)
    with timer.stage("scan"):
        signal *= imaging.background(imaging_params, geometry.padded)
        signal = imaging.scan_artefacts(signal, rows, geometry.scale)
    with timer.stage("noise"):
        lag = imaging.lag_kernel(imaging_params.lag_tau * geometry.scale)
        uniform = streams.noise.random(signal.shape)
        normal = streams.noise.standard_normal(signal.shape)
        uniform = np.clip(uniform, 1e-15, 1.0 - 1e-15)
        margin = geometry.margin
        crop = (slice(margin, margin + config.size), slice(margin, margin + config.size))
        outside = ~influence[crop]
        mean_signal = float(signal[crop][outside].mean()) if outside.any() else float(signal.mean())
        dose, detector_sigma = noise.dose_for_snr(
            mean_signal,
            scene_params.look.contrast,
            imaging_params.snr,
            imaging_params.detector_sigma,
            imaging_params.excess_noise,
            noise.noise_gain_of(lag),
        )
        noisy = noise.add_noise(
            signal,
            uniform,
            normal,
            dose,
            imaging_params.noise_model,
            imaging_params.excess_noise,
            detector_sigma,
        )
        noisy = imaging.apply_lag(noisy, lag)[crop]
    with timer.stage("tone"):
        raw_image = tone_map(noisy, influence[crop], imaging_params)
        raw_mask, influence, target_mask = raw_mask[crop], influence[crop], target_mask[crop]
    with timer.stage("present"):
        label = draw.label_observed
        image, mask, presentation, bbox, raw_bbox = _present(
            config, draw.presentation, raw_image, raw_mask, target_mask
        )
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
        hard=hard_reasons(hardness, record, imaging_params, true_class),
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
    if not config.presentation:
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
