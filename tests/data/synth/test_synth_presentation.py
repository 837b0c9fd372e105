"""Presentation layer of the synthetic generator: determinism, rates, target box, file modes."""

from __future__ import annotations

import dataclasses
import inspect
import io
import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from sem_core.data.synth import formats, overlays
from sem_core.data.synth.formats import (FileFormat, PresentationParams, Resolution,
                                         apply_presentation, encode_image, present_bbox,
                                         present_mask, sample_presentation)

SIZE = 96


def _stripes(seed: int, shape: tuple[int, int] = (SIZE, SIZE)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    columns = np.where(np.arange(shape[1]) % 12 < 5, 170.0, 70.0)
    return np.clip(columns[None, :] + rng.normal(0, 12, shape), 0, 255).astype(np.uint8)


def _all_annotations(params: PresentationParams) -> PresentationParams:
    """Every annotation on, every pixel-moving step off (so the target box keeps its place)."""
    notes = params.annotations
    notes = dataclasses.replace(
        notes, **{item.name: dataclasses.replace(getattr(notes, item.name), enabled=True)
                  for item in dataclasses.fields(notes)
                  if dataclasses.is_dataclass(getattr(notes, item.name))})
    return dataclasses.replace(params, annotations=notes, resolution=formats.ResolutionParams(),
                               data_bar=formats.DataBarParams(), border=formats.BorderParams(),
                               crop=formats.CropParams(), jpeg=formats.JpegParams())


def test_sampling_takes_no_label():
    assert list(inspect.signature(sample_presentation).parameters) == ["rng", "size"]


@pytest.mark.parametrize("seed", range(8))
def test_same_seed_gives_same_params_pixels_and_bytes(seed):
    first = sample_presentation(np.random.default_rng(seed), SIZE)
    second = sample_presentation(np.random.default_rng(seed), SIZE)
    assert first == second
    assert json.dumps(first.to_dict()) == json.dumps(second.to_dict())
    image, box = _stripes(seed), (30, 40, 50, 60)
    pixels = apply_presentation(image, box, first)
    assert np.array_equal(pixels, apply_presentation(image, box, second))
    assert encode_image(pixels, first) == encode_image(pixels, second)


def test_sampling_consumes_a_fixed_number_of_draws():
    count = overlays.ANNOTATION_DRAWS + formats.PRESENTATION_DRAWS
    for seed in range(20):
        sampled = np.random.default_rng(seed)
        sample_presentation(sampled, SIZE)
        reference = np.random.default_rng(seed)
        reference.random(count)
        assert sampled.random() == reference.random()


def test_different_seeds_give_different_params():
    dicts = {json.dumps(sample_presentation(np.random.default_rng(seed), SIZE).to_dict())
             for seed in range(20)}
    assert len(dicts) == 20


@pytest.mark.parametrize("shape", [(SIZE, SIZE), (64, 80)])
def test_shape_and_dtype_are_kept(shape):
    image = _stripes(0, shape)
    for seed in range(60):
        params = sample_presentation(np.random.default_rng(seed), shape[0])
        out = apply_presentation(image, (10, 10, 30, 30), params)
        assert out.shape == shape and out.dtype == np.uint8


@pytest.mark.parametrize("box", [(40, 40, 56, 60), (0, 0, 20, 30), (70, 10, 96, 96),
                                 (5, 5, 91, 91)])
def test_annotations_never_touch_the_target_box(box):
    image = _stripes(1)
    changed_outside = 0
    for seed in range(30):
        params = _all_annotations(sample_presentation(np.random.default_rng(seed), SIZE))
        out = apply_presentation(image, box, params)
        region = np.s_[box[0]:box[2], box[1]:box[3]]
        assert np.array_equal(out[region], image[region])
        changed_outside += int(not np.array_equal(out, image))
    leaves_room = (box[2] - box[0]) * (box[3] - box[1]) < 0.5 * SIZE * SIZE
    assert changed_outside >= (25 if leaves_room else 0)


def test_annotations_keep_clear_of_the_box_under_a_data_bar():
    image, box = _stripes(2), (20, 30, 60, 50)
    for seed in range(20):
        params = _all_annotations(sample_presentation(np.random.default_rng(seed), SIZE))
        params = dataclasses.replace(params, data_bar=dataclasses.replace(
            sample_presentation(np.random.default_rng(seed), SIZE).data_bar, enabled=True))
        bare = dataclasses.replace(params, annotations=overlays.AnnotationParams())
        moved = present_bbox(box, image.shape, params)
        region = np.s_[moved[0]:moved[2], moved[1]:moved[3]]
        assert np.array_equal(apply_presentation(image, box, params)[region],
                              apply_presentation(image, box, bare)[region])


@pytest.mark.parametrize("name", ["scale_bar", "text_labels", "panel_letter", "arrow", "outline"])
def test_each_annotation_draws_something(name):
    image = _stripes(3)
    params = sample_presentation(np.random.default_rng(4), SIZE)
    single = dataclasses.replace(getattr(params.annotations, name), enabled=True)
    params = dataclasses.replace(_all_annotations(params), annotations=dataclasses.replace(
        overlays.AnnotationParams(), **{name: single}))
    assert not np.array_equal(apply_presentation(image, (40, 40, 52, 52), params), image)


@pytest.mark.parametrize("name", ["arrow", "outline"])
def test_clean_images_get_arrows_and_outlines_at_a_stand_in_spot(name):
    image = _stripes(8)
    for seed in range(10):
        params = sample_presentation(np.random.default_rng(seed), SIZE)
        single = dataclasses.replace(getattr(params.annotations, name), enabled=True)
        only = overlays.AnnotationParams(stand_in_target=params.annotations.stand_in_target,
                                         **{name: single})
        params = dataclasses.replace(_all_annotations(params), annotations=only)
        assert not np.array_equal(apply_presentation(image, (0, 0, 0, 0), params), image)


@pytest.mark.parametrize("file_format,mode", [
    (FileFormat.PNG_GRAY, "L"), (FileFormat.PNG_RGB, "RGB"), (FileFormat.PNG_RGBA, "RGBA"),
    (FileFormat.PNG_PALETTE, "P"), (FileFormat.TIFF_8, "L"), (FileFormat.TIFF_16, "I;16"),
    (FileFormat.JPEG, "L")])
def test_every_file_format_decodes_back_to_the_image(file_format, mode):
    image = _stripes(5)
    for levels in (256, 64):
        params = PresentationParams(file=formats.FileParams(
            file_format, palette_levels=levels, tiff16_range=(3000, 41000), jpeg_quality=80))
        data, extension = encode_image(image, params)
        assert extension == formats.FILE_EXTENSIONS[file_format]
        assert encode_image(image, params) == (data, extension)
        decoded = Image.open(io.BytesIO(data))
        assert decoded.mode == mode
        if file_format == FileFormat.TIFF_16:
            values = np.asarray(decoded).astype(np.int64).ravel()
            order = np.argsort(image.ravel(), kind="stable")
            assert np.all(np.diff(values[order]) >= 0)
            assert values.min() >= 3000 and values.max() <= 41000
            assert values.max() - values.min() > 100 * (int(image.max()) - int(image.min()))
            continue
        gray = np.asarray(decoded.convert("L")).astype(np.int64)
        error = np.abs(gray - image.astype(np.int64))
        if file_format == FileFormat.JPEG:
            assert error.mean() < 8
        elif file_format == FileFormat.PNG_PALETTE:
            assert error.max() <= np.ceil(255 / (2 * (levels - 1)))
        else:
            assert error.max() == 0


def test_nuisance_rates_match_the_declared_rates():
    rng = np.random.default_rng(7)
    samples = [sample_presentation(rng, SIZE) for _ in range(20_000)]
    rates = formats.presentation_rates()
    assert samples[0].to_dict()["rates"] == rates
    switches = {
        "scale_bar": lambda p: p.annotations.scale_bar.enabled,
        "text_label": lambda p: p.annotations.text_labels.enabled,
        "panel_letter": lambda p: p.annotations.panel_letter.enabled,
        "arrow": lambda p: p.annotations.arrow.enabled,
        "outline": lambda p: p.annotations.outline.enabled,
        "data_bar": lambda p: p.data_bar.enabled, "border": lambda p: p.border.enabled,
        "crop_offset": lambda p: p.crop.enabled, "jpeg_artefacts": lambda p: p.jpeg.enabled}
    for name, switch in switches.items():
        assert abs(np.mean([switch(sample) for sample in samples]) - rates[name]) < 0.015, name
    for value, rate in rates["resolution"].items():
        observed = np.mean([sample.resolution.mode == value for sample in samples])
        assert abs(observed - rate) < 0.015, value
    for value, rate in rates["file_format"].items():
        observed = np.mean([sample.file.format == value for sample in samples])
        assert abs(observed - rate) < 0.015, value


def test_patch_resolution_leaves_only_source_many_columns():
    params = PresentationParams(size=SIZE, resolution=formats.ResolutionParams(
        Resolution.PATCH, 24, formats.Upsampling.NEAREST))
    out = apply_presentation(_stripes(6), (0, 0, 1, 1), params)
    assert len(np.unique(out, axis=1).T) <= 24 and len(np.unique(out, axis=0)) <= 24


def test_jpeg_artefacts_change_pixels_only_a_little():
    image = _stripes(7)
    out = apply_presentation(image, (0, 0, 1, 1), PresentationParams(
        jpeg=formats.JpegParams(enabled=True, quality=30)))
    difference = np.abs(out.astype(int) - image.astype(int))
    assert 0 < difference.mean() < 12


def test_mask_and_box_follow_the_pixels():
    image = np.full((SIZE, SIZE), 40, np.uint8)
    box = (30, 50, 46, 70)
    image[box[0]:box[2], box[1]:box[3]] = 250
    mask = image > 127
    for seed in range(20):
        sampled = sample_presentation(np.random.default_rng(seed), SIZE)
        params = PresentationParams(
            size=SIZE, data_bar=dataclasses.replace(sampled.data_bar, enabled=True),
            border=dataclasses.replace(sampled.border, enabled=True, page=0, frame_line=False),
            crop=dataclasses.replace(sampled.crop, enabled=True, page=0))
        moved = present_mask(mask, params)
        rows, cols = np.nonzero(moved)
        expected = (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)
        moved_box = present_bbox(box, image.shape, params)
        # The moved box contains the moved mask, rounded outward by at most 2 px.
        assert moved_box[:2] <= expected[:2] and moved_box[2:] >= expected[2:]
        assert np.abs(np.subtract(moved_box, expected)).max() <= 2
        # Away from the data bar's text, the bright pixels are the moved square, up to 1 px of
        # resampling at its edge.
        window = np.s_[moved_box[0] - 6:moved_box[2] + 6, moved_box[1] - 6:moved_box[3] + 6]
        bright = apply_presentation(image, box, params)[window] > 127
        assert bright[ndimage.binary_erosion(moved)[window]].all()
        assert not bright[~ndimage.binary_dilation(moved)[window]].any()


def test_apply_refuses_a_non_uint8_image():
    with pytest.raises(ValueError, match="uint8"):
        apply_presentation(np.zeros((8, 8)), (0, 0, 1, 1), PresentationParams())
