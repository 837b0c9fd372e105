"""Does a batch of images come from the domain a bundle was trained on? (issue 19, item 3)

A bundle's reference is the mean and spread of its features over the images it was trained on:
blocks of them (``sem_core.shift_features``: each stage's pooled features and stage 2's feature
maps at middle depth). A batch's distance is how far its mean feature lies from the reference
mean, per feature in units of the standard error of a batch mean, as a root mean square over
the features of each block, the blocks weighed equally:

    z_ij = clip((x_ij - mean_j) / scale_j, -CLIP_Z, CLIP_Z) - clipped_mean_j
    D = sqrt(mean_b(mean_{j in b}(batch_mean_i(z_ij) ** 2)) * n)

so an in-domain batch of any size n gives D near 1, and a batch from another tool (other
patterns, detector, noise, tone) moves many features together and gives a large D. Equal
weights keep the 1,280 tool-invariant pooled features of a block from drowning the 40 or 112
of a middle-depth block that sees the tool most (measured in ``sem_core.shift_features``). A
reference written before the blocks has none (one block of both stages' pooled features). Clipping
each image's standardised features keeps one odd in-domain image from making its whole batch
look shifted: without it, 19 % of in-domain test batches of 32 exceeded a threshold calibrated
at the 0.99 quantile, because single images lay up to 49 standard deviations out in many
features at once (benchmarks/bench_shift.py, tool profile a); with it, none did. The
threshold is calibrated on held-out in-domain images (the validation split): the ``quantile`` of
D over random batches of ``batch_size`` drawn from them. The reference is written beside the
models, ``BUNDLE/shift/reference.json`` (the bundle's own files are not changed), by
``python -m sem_core shift-reference``; ``python -m sem_core shift-check`` and the library's
``check_shift`` use it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

REFERENCE_FILE = Path("shift") / "reference.json"
DEFAULT_BATCH_SIZE = 32
DEFAULT_QUANTILE = 0.99
MIN_IMAGES = 8
"""Fewer images than this are not judged: the mean of a handful says little about a tool."""
MIN_CALIBRATION_IMAGES = 64
CLIP_Z = 3.0
"""Standardised features of one image are clipped to +-CLIP_Z before a batch is averaged."""


class ShiftError(ValueError):
    """A reference cannot be fitted or read (the message says why)."""


@dataclass(frozen=True, eq=False)
class ShiftReference:
    """Feature statistics of a bundle's training domain and the calibrated threshold.

    Attributes:
        mean: (D,) mean pooled feature of the reference images.
        scale: (D,) their standard deviation, floored so that a feature that never varied
            cannot divide by zero.
        threshold: Distance above which a batch is called shifted.
        batch_size: Batch size the threshold was calibrated at.
        quantile: Share of calibration batches under the threshold.
        reference_images: Images behind ``mean`` and ``scale``.
        calibration_images: Held-out in-domain images the threshold was calibrated on.
        calibration_distances: (median, max) of D over the calibration batches.
        clip: The clip of standardised features, or None for a reference made before clipping
            (its distances are read the old way).
        clipped_mean: (D,) mean of the clipped standardised reference features (near 0; not
            0 for skewed features), subtracted so that in-domain batches centre on 0.
        blocks: (name, width) of each block of features, in column order, weighed equally by
            the distance; None for a reference made before blocks (one block of all features,
            the pooled features of stage 1 then stage 2).
    """

    mean: np.ndarray
    scale: np.ndarray
    threshold: float
    batch_size: int
    quantile: float
    reference_images: int
    calibration_images: int
    calibration_distances: tuple[float, float]
    clip: float | None = None
    clipped_mean: np.ndarray | None = None
    blocks: tuple[tuple[str, int], ...] | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        record = asdict(self)
        record.update(mean=self.mean.tolist(), scale=self.scale.tolist(),
                      calibration_distances=list(self.calibration_distances))
        if self.clip is not None:
            record.update(clipped_mean=self.clipped_mean.tolist())
        if self.blocks is None:
            record.pop("blocks")
        else:
            record.update(blocks=[[name, width] for name, width in self.blocks])
        return record

    def block_slices(self) -> list[slice]:
        """The columns of each block (one slice of all of them without blocks)."""
        if self.blocks is None:
            return [slice(0, self.mean.shape[0])]
        ends = np.cumsum([width for _, width in self.blocks]).tolist()
        return [slice(end - width, end) for (_, width), end in zip(self.blocks, ends)]

    def statistics_of(self, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(mean, scale) of the named blocks' columns, in the order given; a reference without
        blocks is all of one block and gives all of its columns.

        Raises:
            ShiftError: When a name is not one of the reference's blocks.
        """
        if self.blocks is None:
            return self.mean, self.scale
        columns = dict(zip((name for name, _ in self.blocks), self.block_slices()))
        missing = [name for name in names if name not in columns]
        if missing:
            raise ShiftError(f"the shift reference has no block {', '.join(missing)} (it has "
                             f"{', '.join(columns)}).")
        picked = np.concatenate([np.arange(self.mean.shape[0])[columns[name]] for name in names])
        return self.mean[picked], self.scale[picked]

    def standardise(self, features: np.ndarray) -> np.ndarray:
        """Each image's features in the reference's units (clipped, when the reference is)."""
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        if self.clip is None:
            return z
        return np.clip(z, -self.clip, self.clip) - self.clipped_mean

    @classmethod
    def from_dict(cls, record: dict) -> ShiftReference:
        """The reference of ``to_dict``'s output.

        Raises:
            ShiftError: When a field is missing or malformed.
        """
        try:
            mean = np.asarray(record["mean"], dtype=np.float64)
            scale = np.asarray(record["scale"], dtype=np.float64)
            clip = record.get("clip")
            clipped = None if clip is None else np.asarray(record["clipped_mean"], np.float64)
            blocks = record.get("blocks")
            blocks = None if blocks is None else tuple((str(name), int(width))
                                                       for name, width in blocks)
            reference = cls(mean, scale, float(record["threshold"]), int(record["batch_size"]),
                            float(record["quantile"]), int(record["reference_images"]),
                            int(record["calibration_images"]),
                            tuple(float(x) for x in record["calibration_distances"]),
                            None if clip is None else float(clip), clipped, blocks)
        except (KeyError, TypeError, ValueError) as error:
            raise ShiftError(f"the shift reference is malformed ({error!r}).") from None
        vectors = [mean, scale] + ([] if clipped is None else [clipped])
        if mean.ndim != 1 or any(vector.shape != mean.shape for vector in vectors) or not np.all(
                scale > 0):
            raise ShiftError("the shift reference's mean, scale (and clipped mean) must be "
                             "equal-length vectors with positive scales.")
        _check_blocks(blocks, mean.shape[0])
        return reference


def batch_distance(features: np.ndarray, reference: ShiftReference) -> float:
    """D of a batch (rows: images) against the reference (module docstring).

    Raises:
        ShiftError: When the batch is empty or its width differs from the reference's.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] == 0:
        raise ShiftError(f"expected a non-empty (images, features) array; got shape "
                         f"{features.shape}.")
    if features.shape[1] != reference.mean.shape[0]:
        raise ShiftError(f"the features have {features.shape[1]} columns, the reference "
                         f"{reference.mean.shape[0]}: were they made by another bundle?")
    return _distance(reference.standardise(features).mean(axis=0), features.shape[0],
                     reference.block_slices())


def _distance(mean_z: np.ndarray, images: int, blocks: list[slice]) -> float:
    """D of a batch of ``images`` whose standardised features average ``mean_z``, each of the
    ``blocks`` of columns weighed equally."""
    squares = mean_z * mean_z
    return float(math.sqrt(float(np.mean([squares[block].mean() for block in blocks])) * images))


def _check_blocks(blocks: tuple[tuple[str, int], ...] | None, width: int) -> None:
    """Raise ``ShiftError`` unless ``blocks`` (or None) cover ``width`` columns."""
    if blocks is None:
        return
    if not blocks or any(block_width < 1 for _, block_width in blocks) or sum(
            block_width for _, block_width in blocks) != width:
        raise ShiftError(f"the shift reference's blocks {list(blocks)} do not cover its "
                         f"{width} features.")


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) of (N, D) features; the scale is floored so that a feature that never
    varied cannot divide by zero."""
    features = np.asarray(features, dtype=np.float64)
    spread = features.std(axis=0)
    return features.mean(axis=0), np.maximum(spread, max(1e-3 * float(spread.mean()), 1e-8))


def fit_shift_reference(reference: np.ndarray, calibration: np.ndarray, *,
                        blocks: tuple[tuple[str, int], ...] | None = None,
                        batch_size: int = DEFAULT_BATCH_SIZE, quantile: float = DEFAULT_QUANTILE,
                        batches: int = 500, seed: int = 0) -> ShiftReference:
    """Fit the statistics on ``reference`` and the threshold on ``calibration``.

    Args:
        reference: (N, D) features of the training images.
        calibration: (M, D) features of held-out in-domain images (not in ``reference``).
        blocks: (name, width) of the blocks of columns, weighed equally by the distance
            (``sem_core.shift_features.shift_blocks``). Default: None, one block.
        batch_size: Batch size of the calibration batches. Default: 32.
        quantile: Share of calibration batches the threshold lets through. Default: 0.99.
        batches: Random batches drawn from ``calibration`` (each without repeats). Default: 500.
        seed: Seed of the batch draws. Default: 0.

    Raises:
        ShiftError: When there are too few images or the shapes disagree.
    """
    reference = np.asarray(reference, dtype=np.float64)
    calibration = np.asarray(calibration, dtype=np.float64)
    if reference.ndim != 2 or reference.shape[0] < 2:
        raise ShiftError(f"need at least 2 reference images; got {reference.shape[0]}.")
    if calibration.ndim != 2 or calibration.shape[1] != reference.shape[1]:
        raise ShiftError("the calibration features must have the reference's width.")
    if calibration.shape[0] < max(MIN_CALIBRATION_IMAGES, 2 * batch_size):
        raise ShiftError(f"need at least {max(MIN_CALIBRATION_IMAGES, 2 * batch_size)} held-out "
                         f"calibration images; got {calibration.shape[0]}.")
    if not 0.5 <= quantile < 1.0:
        raise ShiftError(f"quantile must be in [0.5, 1); got {quantile}.")
    blocks = None if blocks is None else tuple((str(name), int(width)) for name, width in blocks)
    _check_blocks(blocks, reference.shape[1])
    mean, scale = feature_statistics(reference)
    clipped = np.clip((reference - mean) / scale, -CLIP_Z, CLIP_Z)
    fitted = ShiftReference(mean, scale, 0.0, batch_size, quantile, reference.shape[0],
                            calibration.shape[0], (0.0, 0.0), CLIP_Z, clipped.mean(axis=0),
                            blocks)
    calibration = fitted.standardise(calibration)
    # Batches drawn from a finite held-out set vary less about its mean than batches of new
    # images would (finite-population factor (M - n) / (M - 1)); each draw's deviation from that
    # mean is scaled back up, so the threshold holds for independent batches, not only for
    # overlapping ones (measured: a 4-batch calibration set false-alarmed without it).
    count = calibration.shape[0]
    shrink = math.sqrt((count - batch_size) / (count - 1))
    centre = calibration.mean(axis=0)
    rng = np.random.default_rng(seed)
    slices = fitted.block_slices()
    distances = np.array([
        _distance(centre + (calibration[rng.choice(count, batch_size, replace=False)].mean(axis=0)
                            - centre) / max(shrink, 0.1), batch_size, slices)
        for _ in range(batches)])
    return replace(fitted, threshold=float(np.quantile(distances, quantile)),
                   calibration_distances=(float(np.median(distances)), float(distances.max())))


@dataclass(frozen=True)
class ShiftCheck:
    """The verdict on one batch.

    Attributes:
        images: Images in the batch.
        distance: Its D, or None when there were too few images to judge.
        threshold: The reference's threshold.
        shifted: True when ``distance`` exceeds ``threshold``.
    """

    images: int
    distance: float | None
    threshold: float
    shifted: bool

    def describe(self) -> str:
        """One line for a user."""
        if self.distance is None:
            return (f"{self.images} image(s): too few to judge a domain shift (at least "
                    f"{MIN_IMAGES} are needed).")
        verdict = ("unlike the images the model was trained on: expect lower accuracy; "
                   "adapt or fine-tune on a few labelled ones" if self.shifted
                   else "like the images the model was trained on")
        return (f"{self.images} images: shift distance {self.distance:.2f} (threshold "
                f"{self.threshold:.2f}), {verdict}.")


def check_shift(features: np.ndarray, reference: ShiftReference) -> ShiftCheck:
    """The verdict on a batch's features (fewer than ``MIN_IMAGES`` rows are not judged)."""
    count = int(np.asarray(features).shape[0])
    if count < MIN_IMAGES:
        return ShiftCheck(count, None, reference.threshold, False)
    distance = batch_distance(features, reference)
    return ShiftCheck(count, distance, reference.threshold, distance > reference.threshold)


def check_batches(features: np.ndarray, reference: ShiftReference) -> list[ShiftCheck]:
    """Verdicts on consecutive batches of the reference's batch size (input order); a last
    batch under ``MIN_IMAGES`` joins the one before it."""
    features = np.asarray(features)
    size, count = reference.batch_size, features.shape[0]
    starts = list(range(0, count, size))
    if len(starts) > 1 and count - starts[-1] < MIN_IMAGES:
        starts.pop()
    ends = starts[1:] + [count]
    return [check_shift(features[start:end], reference) for start, end in zip(starts, ends)]


def save_reference(bundle: str | os.PathLike, reference: ShiftReference, *,
                   command: str = "", overwrite: bool = False) -> Path:
    """Write ``BUNDLE/shift/reference.json`` (never over an existing one unless ``overwrite``).

    Raises:
        FileExistsError: When a reference exists and ``overwrite`` is False.
    """
    path = Path(bundle) / REFERENCE_FILE
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite (--overwrite) to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"command": command, **reference.to_dict()}))
    partial.replace(path)
    return path


def load_reference(bundle: str | os.PathLike) -> ShiftReference | None:
    """The bundle's shift reference, or None when it has none.

    Raises:
        ShiftError: When the file exists but cannot be read as a reference.
    """
    path = Path(bundle) / REFERENCE_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ShiftError(f"{path}: cannot be read ({error}).") from None
    if not isinstance(record, dict):
        raise ShiftError(f"{path}: not a shift reference.")
    return ShiftReference.from_dict(record)
