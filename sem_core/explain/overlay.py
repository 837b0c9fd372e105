"""Drawing a heat map over the original SEM image, at the original image's size.

Colour maps are small built-in tables (matplotlib is not a dependency): "jet" and "hot" are the
classic piecewise-linear ramps, "viridis" and "inferno" are interpolated between ten published
stops of those perceptually uniform maps, and "gray" is the identity. Prefer "inferno" or
"viridis" when brightness must read as heat in print; "jet" is what most Grad-CAM figures use.
"""

from __future__ import annotations

from enum import Enum

import numpy as np
from PIL import Image

from sem_core.explain.heatmap import HeatMap


class Colormap(str, Enum):
    """Colour map for heat maps."""

    JET = "jet"
    INFERNO = "inferno"
    VIRIDIS = "viridis"
    HOT = "hot"
    GRAY = "gray"


_STOPS: dict[Colormap, tuple[str, ...]] = {
    Colormap.VIRIDIS: ("#440154", "#482878", "#3e4a89", "#31688e", "#26828e",
                       "#1f9e89", "#35b779", "#6dcd59", "#b4de2c", "#fde725"),
    Colormap.INFERNO: ("#000004", "#1b0c42", "#4b0c6b", "#781c6d", "#a52c60",
                       "#cf4446", "#ed6925", "#fb9a06", "#f7d03c", "#fcffa4"),
}


def _ramp(values: np.ndarray, colormap: Colormap) -> np.ndarray:
    """Float RGB in [0, 1], shape values.shape + (3,)."""
    if colormap is Colormap.JET:
        centres = np.array([3.0, 2.0, 1.0])  # red, green, blue peak at 3/4, 1/2, 1/4
        return np.clip(1.5 - np.abs(4.0 * values[..., np.newaxis] - centres), 0.0, 1.0)
    if colormap is Colormap.HOT:
        offsets = np.array([0.0, 1.0, 2.0])  # red, then green, then blue saturate
        return np.clip(3.0 * values[..., np.newaxis] - offsets, 0.0, 1.0)
    if colormap is Colormap.GRAY:
        return np.repeat(values[..., np.newaxis], 3, axis=-1)
    stops = np.array([[int(code[i:i + 2], 16) for i in (1, 3, 5)] for code in _STOPS[colormap]],
                     dtype=np.float64) / 255.0
    positions = np.linspace(0.0, 1.0, len(stops))
    return np.stack([np.interp(values, positions, stops[:, channel]) for channel in range(3)],
                    axis=-1)


def _colormap(colormap: Colormap | str) -> Colormap:
    try:
        return Colormap(colormap)
    except ValueError:
        choices = ", ".join(member.value for member in Colormap)
        raise ValueError(f"Received `colormap={colormap!r}`; expected one of {choices}.") from None


def colorize(heatmap: np.ndarray, colormap: Colormap | str = Colormap.JET) -> np.ndarray:
    """Map values in [0, 1] to colours.

    Args:
        heatmap: Float array (height, width); values are clipped to [0, 1], NaN reads as 0.
        colormap: A ``Colormap`` name. Default: "jet".

    Returns:
        uint8 RGB array (height, width, 3).

    Raises:
        ValueError: On an unknown colour map.
    """
    values = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float64)), 0.0, 1.0)
    return np.round(_ramp(values, _colormap(colormap)) * 255.0).astype(np.uint8)


def _as_rgb_float(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    scale = 255.0 if array.dtype == np.uint8 else 1.0
    array = np.clip(np.nan_to_num(array.astype(np.float64) / scale), 0.0, 1.0)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        return np.repeat(array[..., np.newaxis], 3, axis=-1)
    if array.ndim == 3 and array.shape[-1] == 3:
        return array
    raise ValueError(f"Expected a grayscale (height, width) or RGB (height, width, 3) image; "
                     f"received shape {np.shape(image)}.")


def overlay(image: np.ndarray, heatmap: HeatMap | np.ndarray, *,
            colormap: Colormap | str = Colormap.JET, alpha: float = 0.4) -> np.ndarray:
    """Blend a coloured heat map over an image, at the image's own size.

    Args:
        image: The original image: grayscale (height, width) or RGB (height, width, 3), float
            in [0, 1] or uint8.
        heatmap: A ``HeatMap`` or a float (h, w) array in [0, 1] of any size; it is resized
            bilinearly to the image's size.
        colormap: A ``Colormap`` name. Default: "jet".
        alpha: Weight of the heat-map colour, in [0, 1]; 0 gives the image alone. Default: 0.4.

    Returns:
        uint8 RGB array (height, width, 3) of the original image's size.

    Raises:
        ValueError: On a bad image or heat-map shape, colour map, or ``alpha``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; received `alpha={alpha}`.")
    background = _as_rgb_float(image)
    values = heatmap.heatmap if isinstance(heatmap, HeatMap) else np.asarray(heatmap)
    if values.ndim != 2:
        raise ValueError(f"Expected a (height, width) heat map; received shape {values.shape}.")
    height, width = background.shape[:2]
    values = np.nan_to_num(values.astype(np.float32))
    if values.shape != (height, width):
        resized = Image.fromarray(values).resize((width, height), Image.Resampling.BILINEAR)
        values = np.asarray(resized)
    colours = colorize(values, colormap).astype(np.float64) / 255.0
    blended = (1.0 - alpha) * background + alpha * colours
    return np.round(blended * 255.0).astype(np.uint8)
