"""Exact and near-duplicate detection: a dihedral-invariant perceptual hash and its grouping.

The perceptual hash reduces an image to 32 x 32 by exact area averaging, takes its DCT and keeps
the 31 lowest AC frequencies. Each coefficient becomes two bits (clearly positive, clearly
negative; a small dead zone around zero gives neither, so near-zero coefficients cannot flip on
resampling noise): a 62-bit hash. Flipping an image only negates its odd-frequency coefficients
and transposing it transposes them, so each of the eight dihedral transforms (flips, 90-degree
rotations) is an exact permutation of the hash bits. ``perceptual_hash`` returns the smallest of
the eight permuted hashes, a canonical value equal for all orientations of an image, and
``hash_distance`` compares two hashes over all eight relative orientations, which keeps it robust
when resizing noise makes two copies pick different canonical orientations. Near duplicates are
grouped with a union-find over these distances; equal SHA-256 digests are always grouped.
``fingerprint_entries`` decodes a manifest's files once for both digests, listing every file
that cannot be used as a ``BadFile`` with its reason.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.fft import dctn
from tqdm import tqdm

from sem_core.data.image_io import load_image, sha256_file
from sem_core.data.manifest import Manifest, ManifestEntry
from sem_core.errors import ImageLoadError

REDUCED_SIZE = 32  # images are averaged down to 32 x 32 before the DCT
DEAD_ZONE = 0.15  # coefficients within 0.15 RMS of zero set neither bit
# Measured on random textures (48-128 px): resized, rotated and JPEG copies differ by <= 3 bits
# in 95% of cases (<= 6 in 99% for white noise); distinct images pair up at <= 6 bits about once
# per million pairs and at <= 8 bits about 15 times. 6 keeps copies together at little cost.
DEFAULT_MAX_DISTANCE = 6

# The lowest AC frequencies, a set closed under transposition: u + v <= 6 plus four of the
# seventh diagonal. Lowest first, so the high bits come from the strongest coefficients.
_COEFFICIENTS: tuple[tuple[int, int], ...] = tuple(
    sorted(
        [(u, v) for u in range(7) for v in range(7) if 0 < u + v <= 6]
        + [(0, 7), (7, 0), (1, 6), (6, 1)],
        key=lambda uv: (sum(uv), uv),
    )
)
HASH_BITS = 2 * len(_COEFFICIENTS)
_PROGRESS_MIN_FILES = 50
_SHIFTS = np.arange(HASH_BITS - 1, -1, -1, dtype=np.uint64)


def _orientation_permutations() -> np.ndarray:
    """For each dihedral transform, the source bit of every hash bit (shape 8 x HASH_BITS).

    Bit ``2 i`` says coefficient ``i`` is clearly positive, bit ``2 i + 1`` clearly negative.
    A flip along an axis negates coefficients with an odd frequency on that axis (the two bits
    swap); a transpose moves coefficient (u, v) to (v, u).
    """
    position = {coefficient: index for index, coefficient in enumerate(_COEFFICIENTS)}
    permutations = []
    for transpose in (False, True):
        for flip_rows in (False, True):
            for flip_columns in (False, True):
                source = np.zeros(HASH_BITS, dtype=np.intp)
                for (u, v), index in position.items():
                    target = position[(v, u) if transpose else (u, v)]
                    negated = (flip_rows and u % 2 == 1) != (flip_columns and v % 2 == 1)
                    source[2 * target] = 2 * index + int(negated)
                    source[2 * target + 1] = 2 * index + int(not negated)
                permutations.append(source)
    return np.stack(permutations)


_PERMUTATIONS = _orientation_permutations()


def _area_average_rows(array: np.ndarray, size: int) -> np.ndarray:
    """Average the rows of ``array`` into ``size`` equal-width bins (fractional overlaps count).

    A bin's sum is the difference of the running sum at its two edges, read between whole rows
    by linear interpolation; that is exact for piecewise-constant pixels, costs one pass over
    the image, and avoids matrix products (whose BLAS threads only add overhead here).
    """
    count = array.shape[0]
    running = np.concatenate([np.zeros((1, *array.shape[1:])), np.cumsum(array, axis=0)])
    edges = np.arange(size + 1, dtype=np.float64) * count / size
    lower = np.minimum(np.floor(edges).astype(np.intp), count - 1)
    weight = (edges - lower)[:, None]
    at_edges = running[lower] * (1.0 - weight) + running[lower + 1] * weight
    return np.diff(at_edges, axis=0) / (count / size)


def reduce_image(pixels: np.ndarray, size: int = REDUCED_SIZE) -> np.ndarray:
    """Average a 2-D image down (or up) to ``size`` x ``size`` with exact area weights.

    Area averaging is symmetric, so reducing a flipped image gives the flipped reduction; that
    keeps the hash's flip invariance exact (up to rounding).

    Args:
        pixels: A 2-D array (H x W); 3-D input is averaged over its last axis.
        size: Output side length. Default: 32.

    Returns:
        A float64 array of shape (size, size).

    Raises:
        ValueError: When ``pixels`` is empty or not 2-D/3-D.
    """
    array = np.asarray(pixels, dtype=np.float64)
    if array.ndim == 3:
        array = array.mean(axis=2)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"Expected a non-empty 2-D image, received shape {array.shape}.")
    return _area_average_rows(_area_average_rows(array, size).T, size).T


def _pack(bits: np.ndarray) -> np.ndarray:
    """Pack boolean rows (n x HASH_BITS), first bit most significant, into uint64 values."""
    return (bits.astype(np.uint64) << _SHIFTS).sum(axis=-1, dtype=np.uint64)


def _unpack(values: np.ndarray) -> np.ndarray:
    """Inverse of ``_pack``: uint64 values (n,) to boolean rows (n x HASH_BITS)."""
    return ((values[:, None] >> _SHIFTS) & np.uint64(1)).astype(bool)


def orientation_hashes(hashes: Sequence[int] | np.ndarray) -> np.ndarray:
    """The hash of each of the eight dihedral orientations of each image (shape n x 8, uint64)."""
    bits = _unpack(np.asarray([int(value) for value in hashes], dtype=np.uint64))
    return _pack(bits[:, _PERMUTATIONS])


def perceptual_hash(pixels: np.ndarray) -> int:
    """Return a 62-bit perceptual hash that ignores flips, 90-degree rotations and resizing.

    Args:
        pixels: A 2-D grayscale image (any size, any numeric range).

    Returns:
        A non-negative integer below 2**62, the same for every flip and rotation of the image;
        compare two hashes with ``hash_distance``.

    Raises:
        ValueError: When ``pixels`` is empty or not an image array.
    """
    spectrum = dctn(reduce_image(pixels), type=2, norm="ortho")
    coefficients = np.array([spectrum[u, v] for u, v in _COEFFICIENTS])
    tolerance = DEAD_ZONE * float(np.sqrt(np.mean(coefficients**2))) + 1e-12
    bits = np.zeros(HASH_BITS, dtype=bool)
    bits[0::2] = coefficients > tolerance
    bits[1::2] = coefficients < -tolerance
    return int(_pack(bits[_PERMUTATIONS]).min())


def hash_distance(first: int, second: int) -> int:
    """Bits that differ between two perceptual hashes, at their best relative orientation."""
    oriented = orientation_hashes([second])[0]
    return int(np.bitwise_count(oriented ^ np.uint64(first)).min())


class _UnionFind:
    """Disjoint sets over 0..n-1 with path halving."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, first: int, second: int) -> None:
        root_first, root_second = self.find(first), self.find(second)
        if root_first != root_second:
            self.parent[max(root_first, root_second)] = min(root_first, root_second)


def group_near_duplicates(
    hashes: Sequence[int],
    max_distance: int = DEFAULT_MAX_DISTANCE,
    sha256s: Sequence[str] | None = None,
) -> list[int]:
    """Group images whose perceptual hashes lie within ``max_distance`` bits (transitively).

    Distances are those of ``hash_distance`` (best relative orientation). Comparison is
    all-pairs but vectorised, which stays quick for tens of thousands of images.

    Args:
        hashes: One perceptual hash per image.
        max_distance: Largest Hamming distance that still counts as a near duplicate.
            Default: ``DEFAULT_MAX_DISTANCE`` (6). A negative value groups exact SHA-256
            duplicates only.
        sha256s: Optional SHA-256 per image; equal non-empty digests are always grouped.
            Default: None.

    Returns:
        A group id per image: consecutive integers from 0, numbered by first appearance.

    Raises:
        ValueError: When ``sha256s`` and ``hashes`` differ in length.
    """
    count = len(hashes)
    if sha256s is not None and len(sha256s) != count:
        raise ValueError(f"Received {len(sha256s)} sha256 digests for {count} hashes.")
    sets = _UnionFind(count)
    if max_distance >= 0 and count > 1:
        oriented = orientation_hashes(hashes)
        for index in range(count - 1):
            distances = np.bitwise_count(oriented[index + 1 :] ^ oriented[index, 0]).min(axis=1)
            for offset in np.flatnonzero(distances <= max_distance):
                sets.union(index, index + 1 + int(offset))
    if sha256s is not None:
        first_with_digest: dict[str, int] = {}
        for index, digest in enumerate(sha256s):
            if digest:
                sets.union(index, first_with_digest.setdefault(digest, index))
    group_ids: dict[int, int] = {}
    return [group_ids.setdefault(sets.find(index), len(group_ids)) for index in range(count)]


@dataclass(frozen=True)
class BadFile:
    """A file that belongs to the dataset but cannot be used.

    Attributes:
        path: The file, relative to the dataset root (or as written in the CSV).
        reason: Why, as a sentence (from ``ImageLoadError.detail`` when decoding failed).
        kind: Short machine-readable cause (an ``ImageErrorKind`` value, ``unreadable`` or
            ``sha256_mismatch``).
    """

    path: str
    reason: str
    kind: str = ""


def fingerprint_entries(
    manifest: Manifest, *, progress: bool = False
) -> tuple[list[ManifestEntry], list[int], list[BadFile]]:
    """Decode every entry's file, recording its SHA-256 and perceptual hash.

    Args:
        manifest: The entries and the root their paths resolve against.
        progress: Show a progress bar on stderr for 50 or more files. Default: False.

    Returns:
        The usable entries (with ``sha256`` filled), their perceptual hashes, and a ``BadFile``
        for each file that cannot be decoded or read, or whose bytes differ from the sha256
        the manifest recorded. A bad file never stops the run.
    """
    kept, hashes, bad = [], [], []
    entries = tqdm(
        manifest.entries,
        desc="Hashing images",
        unit="file",
        file=sys.stderr,
        disable=not progress or len(manifest) < _PROGRESS_MIN_FILES,
    )
    for entry in entries:
        file_path = manifest.resolve(entry)
        try:
            image = load_image(file_path)
            digest = sha256_file(file_path)
        except ImageLoadError as error:
            bad.append(BadFile(entry.path, error.detail, error.kind.value))
            continue
        except OSError as error:
            reason = f"the file cannot be read ({error.strerror or error})"
            bad.append(BadFile(entry.path, reason, "unreadable"))
            continue
        if entry.sha256 and entry.sha256.lower() != digest:
            reason = (
                f"the file changed since the manifest was written (sha256 {digest[:12]}..., "
                f"manifest says {entry.sha256[:12]}...)"
            )
            bad.append(BadFile(entry.path, reason, "sha256_mismatch"))
            continue
        kept.append(replace(entry, sha256=digest))
        hashes.append(perceptual_hash(image.pixels))
    return kept, hashes, bad
