"""Perceptual hash and near-duplicate grouping: the invariances the leakage guard relies on."""

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from sem_core.data.dedup import (
    DEFAULT_MAX_DISTANCE,
    group_near_duplicates,
    hash_distance,
    perceptual_hash,
    reduce_image,
)


def _texture(rng: np.random.Generator, size: int = 48, blur: float = 1.5) -> np.ndarray:
    field = gaussian_filter(rng.random((size, size)), blur)
    return ((field - field.min()) / (np.ptp(field) + 1e-9)).astype(np.float32)


def _resized(pixels: np.ndarray, side: int) -> np.ndarray:
    image = Image.fromarray((pixels * 255).astype(np.uint8)).resize(
        (side, side), Image.Resampling.BILINEAR
    )
    return np.asarray(image, dtype=np.float32) / 255


DIHEDRAL = {
    "flip left-right": np.fliplr,
    "flip up-down": np.flipud,
    "rotate 90": np.rot90,
    "rotate 180": lambda a: np.rot90(a, 2),
    "rotate 270": lambda a: np.rot90(a, 3),
    "transpose": np.transpose,
    "anti-transpose": lambda a: np.rot90(a, 2).T,
}


@pytest.mark.parametrize("name", sorted(DIHEDRAL))
def test_hash_is_identical_for_every_flip_and_rotation(name):
    rng = np.random.default_rng(3)
    for _ in range(5):
        pixels = _texture(rng, size=40 + int(rng.integers(0, 20)))
        assert perceptual_hash(np.ascontiguousarray(DIHEDRAL[name](pixels))) == perceptual_hash(
            pixels
        )


def test_resized_and_transformed_copies_stay_within_the_default_distance():
    rng = np.random.default_rng(5)
    for _ in range(20):
        pixels = _texture(rng)
        original = perceptual_hash(pixels)
        for copy in (_resized(pixels, 96), _resized(pixels, 33), np.rot90(_resized(pixels, 70)).T):
            assert hash_distance(original, perceptual_hash(copy)) <= DEFAULT_MAX_DISTANCE


def test_different_images_are_further_apart_than_the_default_distance():
    rng = np.random.default_rng(11)
    hashes = [perceptual_hash(_texture(rng)) for _ in range(30)]
    distances = [hash_distance(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    assert min(distances) > DEFAULT_MAX_DISTANCE


def test_hash_distance_is_symmetric_and_zero_for_itself():
    rng = np.random.default_rng(2)
    first, second = perceptual_hash(_texture(rng)), perceptual_hash(_texture(rng))
    assert hash_distance(first, first) == 0
    assert hash_distance(first, second) == hash_distance(second, first)


def test_reduce_image_averages_exactly_and_commutes_with_flips():
    pixels = np.arange(64 * 48, dtype=np.float64).reshape(64, 48)
    reduced = reduce_image(pixels, size=16)
    assert reduced.shape == (16, 16)
    assert reduced.mean() == pytest.approx(pixels.mean())
    np.testing.assert_allclose(reduce_image(pixels[:, ::-1], size=16), reduced[:, ::-1])


def test_reduce_image_rejects_empty_input():
    with pytest.raises(ValueError, match="shape"):
        reduce_image(np.zeros((0, 5)))


def test_grouping_joins_copies_transitively_and_exact_digests_always():
    rng = np.random.default_rng(8)
    a, b = _texture(rng), _texture(rng)
    hashes = [
        perceptual_hash(a),
        perceptual_hash(b),
        perceptual_hash(np.fliplr(_resized(a, 80))),
        12345,
    ]
    groups = group_near_duplicates(hashes, sha256s=["x", "y", "z", "y"])
    assert groups == [0, 1, 0, 1]  # copy of a joins a; the odd hash joins b by equal sha256


def test_negative_distance_groups_only_equal_digests():
    assert group_near_duplicates([7, 7, 7], max_distance=-1, sha256s=["a", "b", "a"]) == [0, 1, 0]


def test_grouping_checks_lengths():
    with pytest.raises(ValueError, match="2 sha256"):
        group_near_duplicates([1, 2, 3], sha256s=["a", "b"])
