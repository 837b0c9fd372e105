"""Image input: hostile and odd files decode correctly or fail with the right kind and file name."""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import numpy as np
import pytest
from image_fixtures import (
    BATCH_MAX_PIXELS, HOSTILE_FILES, RAMP8, RAMP16, encode, encode_tiff,
    truncated, write_hostile_files)
from PIL import Image, ImageFile, ImageOps

from sem_core.data.image_io import (
    DEFAULT_MAX_PIXELS, DEFAULT_MIN_SIDE, IMAGE_EXTENSIONS, LoadResult, iter_images,
    list_image_files, load_image, sha256_bytes, sha256_file)
from sem_core.data.image_tiff import orient_array
from sem_core.errors import ARCHIVE_ONLY_KINDS, DatasetError, ImageErrorKind, ImageLoadError

FAILING = [case for case in HOSTILE_FILES if case.expected is not None]
DECODING = [case for case in HOSTILE_FILES if case.expected is None]
RAMP_UNIT = np.linspace(0.0, 1.0, RAMP8.shape[1], dtype=np.float32)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Path]:
    """Every hostile file, written once into a temporary folder."""
    return write_hostile_files(tmp_path_factory.mktemp("hostile"))


def load(paths: dict[str, Path], name: str):
    return load_image(paths[name], max_pixels=BATCH_MAX_PIXELS)


def test_the_hostile_suite_covers_at_least_twenty_files_of_both_outcomes():
    assert len(HOSTILE_FILES) >= 20
    assert len({case.name for case in HOSTILE_FILES}) == len(HOSTILE_FILES)
    assert {case.expected for case in FAILING} == set(ImageErrorKind) - ARCHIVE_ONLY_KINDS


@pytest.mark.parametrize("case", FAILING, ids=lambda case: case.name)
def test_a_bad_file_raises_its_kind_with_a_message_naming_the_file(hostile, case):
    with pytest.raises(ImageLoadError) as caught:
        load(hostile, case.name)
    error = caught.value
    assert error.kind == case.expected
    assert error.source == str(hostile[case.name])
    assert str(error).startswith(f"{hostile[case.name]}: ")
    assert case.name in str(error)
    assert "Traceback" not in error.detail and len(error.detail) > 10


@pytest.mark.parametrize("case", DECODING, ids=lambda case: case.name)
def test_an_odd_file_decodes_to_unit_grayscale(hostile, case):
    image = load(hostile, case.name)
    assert image.pixels.dtype == np.float32 and image.pixels.ndim == 2
    assert image.pixels.flags["C_CONTIGUOUS"]
    assert np.isfinite(image.pixels).all()
    assert image.pixels.min() >= 0.0 and image.pixels.max() <= 1.0
    assert (image.meta.height, image.meta.width) == image.pixels.shape
    assert image.meta.source == str(hostile[case.name])
    assert image.meta.format in {"PNG", "JPEG", "TIFF", "BMP"}


@pytest.mark.parametrize("name", ["gray16.tif", "gray16.png", "rgb16.tif", "int32.tif",
                                  "float64.tif"])
def test_deep_data_is_scaled_by_its_real_range_not_by_the_type_maximum(hostile, name):
    image = load(hostile, name)
    # 1000..3000 of 0..65535 would be 0.015..0.046 if divided by 65535.
    np.testing.assert_allclose(image.pixels[7], RAMP_UNIT, atol=0.01)


def test_sixteen_bit_metadata_reports_the_file_as_found(hostile):
    meta = load(hostile, "gray16.tif").meta
    assert (meta.mode, meta.bit_depth, meta.format) == ("I;16", 16, "TIFF")
    assert load(hostile, "gray16.png").meta.bit_depth == 16
    assert load(hostile, "rgb16.tif").meta.bit_depth == 16


def test_white_is_zero_tiff_is_inverted(hostile):
    np.testing.assert_allclose(load(hostile, "white_is_zero16.tif").pixels[0], RAMP_UNIT[::-1],
                               atol=0.01)


def test_float_tiff_replaces_nan_and_inf_and_says_so(hostile):
    image = load(hostile, "float32.tif")
    assert image.pixels[0, 0] == 0.0 and image.pixels[0, 1] == 1.0
    np.testing.assert_allclose(image.pixels[5], RAMP_UNIT, atol=0.01)
    assert any("non-finite" in note for note in image.meta.notes)
    assert image.meta.mode == "F"


def test_constant_deep_image_becomes_zeros_without_dividing_by_zero(hostile):
    image = load(hostile, "constant16.tif")
    assert not image.pixels.any()
    assert any("constant" in note for note in image.meta.notes)


def test_a_small_defect_on_a_flat_background_survives_robust_scaling(hostile):
    pixels = load(hostile, "defect_on_flat.tif").pixels
    assert (pixels[40:42, 50:52] == 1.0).all()
    assert pixels.sum() == 4.0


def test_eight_bit_data_is_divided_by_255(hostile):
    np.testing.assert_array_equal(load(hostile, "constant8.png").pixels, np.float32(200 / 255))
    for name in ("gray.bmp", "palette.png", "la.png", "défaut_晶圆.png"):
        np.testing.assert_allclose(load(hostile, name).pixels, RAMP8 / 255.0, atol=1e-6)


def test_alpha_is_ignored_not_composited_and_noted(hostile):
    image = load(hostile, "rgba.png")
    np.testing.assert_allclose(image.pixels, RAMP8 / 255.0, atol=1e-6)
    assert any("alpha channel ignored (50.0%" in note for note in image.meta.notes)


def test_bilevel_png_gives_zeros_and_ones(hostile):
    np.testing.assert_array_equal(load(hostile, "bilevel.png").pixels, RAMP8 >= 128)
    assert load(hostile, "bilevel.png").meta.bit_depth == 1


@pytest.mark.parametrize("name", ["cmyk.jpg", "gray.jpg", "jpeg_inside.png"])
def test_jpeg_content_matches_the_gray_it_encodes(hostile, name):
    image = load(hostile, name)
    np.testing.assert_allclose(image.pixels, RAMP8 / 255.0, atol=0.03)
    assert image.meta.format == "JPEG"


def test_exif_orientation_swaps_the_size_and_turns_the_pixels(hostile):
    image = load(hostile, "exif_rotated.jpg")
    assert (image.meta.width, image.meta.height, image.meta.orientation) == (32, 64, 6)
    # Orientation 6 turns the stored image 90 degrees clockwise: top-left goes to top-right.
    assert image.pixels[:6, -6:].min() > 0.8
    assert image.pixels[:, :16].max() < 0.2


def test_multipage_tiff_gives_the_first_page_and_counts_the_pages(hostile):
    image = load(hostile, "multipage.tif")
    np.testing.assert_allclose(image.pixels, RAMP8 / 255.0, atol=1e-6)
    assert image.meta.frame_count == 2


@pytest.mark.parametrize("orientation", range(1, 9))
def test_numpy_orientation_matches_pillow_exif_transpose(orientation):
    stored = np.arange(6 * 10, dtype=np.uint8).reshape(6, 10)
    exif = Image.Exif()
    exif[0x0112] = orientation
    with Image.open(io.BytesIO(encode(Image.fromarray(stored), "PNG", exif=exif))) as image:
        expected = np.asarray(ImageOps.exif_transpose(image))
    np.testing.assert_array_equal(orient_array(stored, orientation), expected)


def test_tiff_orientation_is_applied_on_the_tifffile_path():
    data = encode_tiff(RAMP16.astype(np.float64), extratags=[(274, "H", 1, 8, True)])
    image = load_image(data, name="rotated.tif")
    assert (image.meta.width, image.meta.height, image.meta.orientation) == (48, 64, 8)
    # Orientation 8 turns 90 degrees counter-clockwise: the bright right column goes on top.
    assert image.pixels[0].min() > 0.95 and image.pixels[-1].max() < 0.05


def test_bytes_input_uses_the_given_name():
    image = load_image(encode(Image.fromarray(RAMP8), "PNG"), name="upload.png")
    assert image.meta.source == "upload.png"
    with pytest.raises(ImageLoadError, match=r"^wafer_12\.png: the file is truncated or corrupt"):
        load_image(truncated(encode(Image.fromarray(RAMP8), "PNG")), name="wafer_12.png")
    with pytest.raises(ImageLoadError) as caught:
        load_image(b"")
    assert caught.value.kind == ImageErrorKind.EMPTY and caught.value.source == "<bytes>"


def test_a_non_ascii_name_appears_intact_in_errors(tmp_path):
    with pytest.raises(ImageLoadError, match="缺陷_défaut.png: the file does not exist"):
        load_image(tmp_path / "缺陷_défaut.png")


def test_own_pixel_limit_is_checked_from_the_header(hostile):
    with pytest.raises(ImageLoadError, match="above the limit of 3,000 pixels") as caught:
        load_image(hostile["gray.bmp"], max_pixels=3000)
    assert caught.value.kind == ImageErrorKind.TOO_LARGE
    assert load_image(hostile["gray.bmp"], max_pixels=64 * 48).pixels.shape == (48, 64)


def test_pillow_pixel_limit_also_maps_to_too_large(hostile, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageLoadError, match="Pillow's safety limit") as caught:
        load_image(hostile["gray16.png"])
    assert caught.value.kind == ImageErrorKind.TOO_LARGE


def test_min_side_is_configurable(hostile):
    assert DEFAULT_MIN_SIDE == 16 and DEFAULT_MAX_PIXELS == 200_000_000
    assert load_image(hostile["gray.bmp"], min_side=48).pixels.shape == (48, 64)
    with pytest.raises(ImageLoadError, match="minimum of 49 pixels") as caught:
        load_image(hostile["gray.bmp"], min_side=49)
    assert caught.value.kind == ImageErrorKind.TOO_SMALL


def test_truncated_files_stay_corrupt_when_pillow_is_told_to_accept_them(hostile, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    for name in ("truncated.png", "truncated.jpg", "damaged_stream.png"):
        with pytest.raises(ImageLoadError) as caught:
            load(hostile, name)
        assert caught.value.kind == ImageErrorKind.CORRUPT
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


def test_invalid_arguments_are_programming_errors_not_load_errors(hostile):
    with pytest.raises(ValueError, match="min_side=0"):
        load_image(hostile["gray.bmp"], min_side=0)
    with pytest.raises(TypeError, match="Received int"):
        load_image(42)


def test_errors_survive_pickling_for_worker_processes(hostile):
    with pytest.raises(ImageLoadError) as caught:
        load(hostile, "notes.png")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.kind, str(copy)) == (caught.value.kind, str(caught.value))


def test_a_batch_over_every_hostile_file_yields_one_result_each_and_never_raises(hostile):
    paths = [hostile[case.name] for case in HOSTILE_FILES]
    results = list(iter_images(paths, max_pixels=BATCH_MAX_PIXELS))
    assert [result.source for result in results] == [str(path) for path in paths]
    for case, result in zip(HOSTILE_FILES, results):
        assert isinstance(result, LoadResult)
        assert result.ok == (case.expected is None), case.name
        if case.expected is None:
            assert result.error is None and result.image.pixels.ndim == 2
        else:
            assert result.image is None and result.error.kind == case.expected, case.name


def test_the_batch_is_lazy(hostile):
    consumed: list[str] = []

    def sources():
        for name in ("gray.bmp", "notes.png", "gray16.tif"):
            consumed.append(name)
            yield hostile[name]

    results = iter_images(sources())
    assert next(results).ok and consumed == ["gray.bmp"]
    assert not next(results).ok and consumed == ["gray.bmp", "notes.png"]


def test_list_image_files_finds_images_by_extension_sorted_skipping_hidden(tmp_path):
    for relative in ("b.png", "a.TIF", "c.jpeg", "d.bmp", "notes.txt", "anim.gif", ".hidden.png",
                     "sub/e.jpg", ".cache/f.png", "x.png/inner.tiff"):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    found = [path.relative_to(tmp_path).as_posix() for path in list_image_files(tmp_path)]
    assert found == ["a.TIF", "b.png", "c.jpeg", "d.bmp", "sub/e.jpg", "x.png/inner.tiff"]
    shallow = list_image_files(tmp_path, recursive=False)
    assert [path.name for path in shallow] == ["a.TIF", "b.png", "c.jpeg", "d.bmp"]
    assert IMAGE_EXTENSIONS == {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
    with pytest.raises(DatasetError, match="no_such_folder"):
        list_image_files(tmp_path / "no_such_folder")


def test_sha256_of_a_file_is_streamed_and_matches_the_bytes(tmp_path):
    data = np.random.default_rng(5).integers(0, 256, 3 * 2**20 // 2, dtype=np.uint8).tobytes()
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert sha256_file(path) == sha256_bytes(data) == hashlib.sha256(data).hexdigest()
