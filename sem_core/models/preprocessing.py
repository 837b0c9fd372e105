"""Host-side image preparation shared by training and inference.

Models take raw grayscale in [0, 1] at a square input size; everything else (channel
replication, backbone normalisation) happens inside the saved model. The one step outside is
resizing, done here (area averaging when shrinking, bilinear when enlarging) so training and
inference resize identically. The description ``RESIZE_METHOD`` is recorded in every bundle.json.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

RESIZE_METHOD = "squash to square; Pillow BOX when shrinking, BILINEAR when enlarging; float32 [0, 1]"


def prepare_image(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize one grayscale image for a model.

    Args:
        pixels: Float array (H, W) or (H, W, 1) with values in [0, 1].
        size: Output height and width.

    Returns:
        Float32 array (size, size, 1) clipped to [0, 1].

    Raises:
        ValueError: When the array is not 2-D grayscale or ``size`` is not positive.
    """
    if size < 1:
        raise ValueError(f"size must be positive. Received `size={size}`.")
    array = np.asarray(pixels, dtype=np.float32)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"Expected a grayscale (H, W) image. Received shape {array.shape}.")
    if array.shape != (size, size):
        shrinking = min(array.shape) >= size
        resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
        array = np.asarray(Image.fromarray(array).resize((size, size), resample), dtype=np.float32)
    return np.clip(array, 0.0, 1.0)[..., np.newaxis]


def prepare_batch(images: list[np.ndarray], size: int) -> np.ndarray:
    """Stack ``prepare_image`` results into one (N, size, size, 1) float32 batch."""
    if not images:
        return np.zeros((0, size, size, 1), dtype=np.float32)
    return np.stack([prepare_image(image, size) for image in images])
