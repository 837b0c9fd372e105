"""tf.data input pipelines built from a dataset manifest.

Images are decoded once with sem_core's own loader (every format it reads), resized with the
same function inference uses, and cached in memory as 8-bit arrays; a file that cannot be
read is reported and left out, never stopping the run. ``make_dataset`` then serves shuffled,
augmented (on the training split), batched and prefetched tensors.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sem_core.errors import SemCoreError
from sem_core.models.preprocessing import prepare_image

_EPSILON = 1e-9


@dataclass(frozen=True)
class ImageFailure:
    """A file left out of training, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class DecodedImages:
    """Images of one split, decoded and resized, with their labels.

    Attributes:
        pixels: uint8 array (N, size, size, 1); divide by 255 for model input.
        labels: Class name of each image.
        paths: File of each image.
        failures: Files that could not be decoded (not in ``pixels``).
    """

    pixels: np.ndarray
    labels: tuple[str, ...]
    paths: tuple[str, ...]
    failures: tuple[ImageFailure, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: np.ndarray) -> DecodedImages:
        """The images where the boolean mask ``keep`` is true (failures are kept as they are)."""
        indices = np.flatnonzero(keep)
        return DecodedImages(
            self.pixels[indices], tuple(self.labels[i] for i in indices),
            tuple(self.paths[i] for i in indices), self.failures,
        )


def decode_images(
    paths: Sequence[Path],
    labels: Sequence[str],
    size: int,
    workers: int | None = None,
    on_image: Callable[[], None] | None = None,
) -> DecodedImages:
    """Decode and resize images in parallel threads, keeping the input order.

    Args:
        paths: Image files.
        labels: Class name of each file.
        size: Output side length in pixels.
        workers: Threads; None uses the CPU count. Default: None.
        on_image: Called once per processed file (for progress bars). Default: None.

    Returns:
        ``DecodedImages``; unreadable files appear in ``failures`` with their reason.
    """
    from sem_core.data.image_io import load_image

    def decode(path: Path) -> np.ndarray | ImageFailure:
        try:
            resized = prepare_image(load_image(path).pixels, size)
            return np.round(resized * 255.0).astype(np.uint8)
        except (SemCoreError, OSError, ValueError) as error:
            return ImageFailure(str(path), str(error))
        finally:
            if on_image is not None:
                on_image()

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        results = list(pool.map(decode, paths))
    kept = [index for index, result in enumerate(results) if not isinstance(result, ImageFailure)]
    pixels = (np.stack([results[i] for i in kept]) if kept
              else np.zeros((0, size, size, 1), dtype=np.uint8))
    return DecodedImages(
        pixels=pixels,
        labels=tuple(labels[i] for i in kept),
        paths=tuple(str(paths[i]) for i in kept),
        failures=tuple(result for result in results if isinstance(result, ImageFailure)),
    )


def balanced_sample_weights(targets: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-image weights n / (k * count[class]) so every present class weighs the same in the loss.

    Args:
        targets: Integer class index of each image.
        num_classes: Number of classes k.

    Returns:
        Float32 weights, one per image (mean 1 over the present classes).
    """
    counts = np.bincount(targets, minlength=num_classes).astype(np.float64)
    present = max(1, int(np.count_nonzero(counts)))
    per_class = len(targets) / (present * counts + _EPSILON)
    return per_class[targets].astype(np.float32)


def make_dataset(
    pixels: np.ndarray,
    targets: np.ndarray,
    batch_size: int,
    *,
    sample_weights: np.ndarray | None = None,
    shuffle_seed: int | None = None,
    augmenter=None,
    deterministic: bool = True,
):
    """Serve cached images as a batched, prefetched ``tf.data.Dataset``.

    Args:
        pixels: uint8 (N, H, W, 1) images from ``decode_images``.
        targets: Model targets, first axis N (0/1 column for stage 1, one-hot for stage 2).
        batch_size: Images per batch.
        sample_weights: Optional loss weight per image. Default: None.
        shuffle_seed: Reshuffle every epoch with this seed; None keeps the order. Default: None.
        augmenter: A Keras layer called with ``training=True`` on each float batch. Default: None.
        deterministic: Run the augmentation map sequentially so random draws happen in a fixed
            order (repeatable runs); otherwise in parallel. Default: True.

    Returns:
        A dataset of (images float32 [0, 1], targets[, weights]) batches.
    """
    import tensorflow as tf

    tensors = (pixels, targets.astype(np.float32))
    if sample_weights is not None:
        tensors = (*tensors, sample_weights.astype(np.float32))
    dataset = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(pixels), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)

    def to_float(images, *rest):
        images = tf.cast(images, tf.float32) / 255.0
        if augmenter is not None:
            images = augmenter(images, training=True)
        return (images, *rest)

    parallel = 1 if (deterministic and augmenter is not None) else tf.data.AUTOTUNE
    dataset = dataset.map(to_float, num_parallel_calls=parallel, deterministic=deterministic)
    return dataset.prefetch(tf.data.AUTOTUNE)
