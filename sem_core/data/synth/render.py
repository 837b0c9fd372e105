"""Secondary-electron signal of a scene (spec B3): material levels, edge bloom, texture.

``S = I_base (1 + s_t T_m) + h [A_in e^(-d_in/l_in) 1_in + A_out e^(-d_out/l_out) 1_out] + extra``

Distances come from ``distance_transform_edt`` on the supersampled topography. Every bloom term
is tapered smoothly to exactly zero at ``BLOOM_REACH`` decay lengths, so a geometry edit changes
the signal only within a known radius: the clean twin differs only inside the dilated mask.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from sem_core.data.synth.canvas import MAP_NAMES, FieldGeometry, Material, SceneMaps
from sem_core.data.synth.scene_params import LookParams

BLOOM_REACH = 4.6
"""Bloom is cut to zero beyond this many decay lengths (e^-4.6 = 1 %)."""


def bloom_reach(look: LookParams) -> float:
    """Largest distance (reference px) at which an edge still changes the signal."""
    return BLOOM_REACH * max(look.bloom_in_length, look.bloom_out_length)


def _decay(distance: np.ndarray, length: float) -> np.ndarray:
    """exp(-d / length) multiplied by a smooth taper reaching 0 at BLOOM_REACH lengths."""
    ratio = distance / (BLOOM_REACH * length)
    taper = np.clip(1.0 - ratio * ratio, 0.0, None) ** 2
    return np.exp(-distance / length) * taper


def edge_pixels(topo: np.ndarray) -> np.ndarray:
    """Pixels on either side of a topography edge (4-neighbourhood)."""
    edges = np.zeros(topo.shape, bool)
    vertical = topo[:-1] != topo[1:]
    horizontal = topo[:, :-1] != topo[:, 1:]
    edges[:-1] |= vertical
    edges[1:] |= vertical
    edges[:, :-1] |= horizontal
    edges[:, 1:] |= horizontal
    return edges


def edge_distance(topo: np.ndarray, step: float) -> tuple[np.ndarray, tuple]:
    """Distance (reference px) of every pixel to the nearest topography edge, and that edge pixel.

    One Euclidean distance transform to the pixels that flank an edge serves both sides: a
    pixel n pixels from the edge is n - 1 pixels from the nearest flanking pixel, and the edge
    runs half a pixel beyond it.

    Args:
        topo: Boolean raised-region mask on the canvas.
        step: Reference px per canvas px.

    Returns:
        (distance, nearest): distance is infinite everywhere when there is no edge; ``nearest``
        holds the canvas indices of the nearest flanking pixel.
    """
    edges = edge_pixels(topo)
    if not edges.any():
        rows, cols = np.indices(topo.shape)
        return np.full(topo.shape, np.inf), (rows, cols)
    distance, nearest = ndimage.distance_transform_edt(~edges, return_indices=True)
    return (distance + 0.5) * step, tuple(nearest)


def neighbour_max(values: np.ndarray) -> np.ndarray:
    """Maximum over each pixel and its 4 neighbours."""
    out = values.copy()
    np.maximum(out[:-1], values[1:], out=out[:-1])
    np.maximum(out[1:], values[:-1], out=out[1:])
    np.maximum(out[:, :-1], values[:, 1:], out=out[:, :-1])
    np.maximum(out[:, 1:], values[:, :-1], out=out[:, 1:])
    return out


def _facing(topo: np.ndarray, factor: int, azimuth: float) -> np.ndarray:
    """cos(angle between the outward edge normal and the detector azimuth), on the canvas.

    The normal is the gradient of the topography coverage, integrated to the output grid and
    smoothed by one output pixel (the bloom it modulates is smooth at that scale), then
    upsampled; far from edges the gradient vanishes and so does the term.
    """
    coverage = topo.astype(np.float64)
    if factor > 1:
        rows, cols = topo.shape[0] // factor, topo.shape[1] // factor
        coverage = coverage.reshape(rows, factor, cols, factor).mean(axis=(1, 3))
    grad_rows, grad_cols = np.gradient(ndimage.gaussian_filter(coverage, 1.0))
    norm = np.hypot(grad_rows, grad_cols) + 0.02
    # outward normal = -gradient; image rows grow downward, so the detector's row component is -sin
    facing = -(grad_cols * math.cos(azimuth) - grad_rows * math.sin(azimuth)) / norm
    return upsample(facing, factor)


def upsample(values: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upsampling by an integer factor (smooth fields only)."""
    if factor == 1:
        return values
    return np.repeat(np.repeat(values, factor, axis=0), factor, axis=1)


def render_signal(
    maps: SceneMaps,
    look: LookParams,
    geometry: FieldGeometry,
    textures: tuple[np.ndarray, np.ndarray],
    detector: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Render the SE signal of a scene on the canvas.

    Args:
        maps: The (possibly defect-edited) scene maps.
        look: Bloom and texture parameters.
        geometry: Canvas geometry.
        textures: Two unit-variance fields on the padded output grid (top and substrate).
        detector: (asymmetry a, azimuth) of a side detector: bloom is multiplied by
            1 + a cos(outward edge normal - azimuth). Default: (0, 0), symmetric.

    Returns:
        Float64 canvas signal.
    """
    step = geometry.canvas_to_reference()
    material = np.clip(maps.material, 0, Material.COUNT - 1)
    top_weight = np.array([0.0, 1.0, 0.0, -1.0])[material]
    sub_weight = np.array([1.0, 0.0, 0.7, 0.0])[material]
    texture = top_weight * upsample(textures[0], geometry.supersample) + sub_weight * upsample(
        textures[1], geometry.supersample
    )
    signal = maps.intensity * (1.0 + look.texture_strength * texture)
    distance, nearest = edge_distance(maps.topo, step)
    near = np.nonzero((distance < bloom_reach(look)).ravel())[0]
    inside = maps.topo.ravel().take(near)
    # inside: the pixel's own step height; outside: the height of the feature across the edge
    # (all ones when every raised pixel has full height, the common case)
    own_height = maps.height.ravel().take(near)
    if np.array_equal(maps.height, maps.topo):
        across = np.ones(near.size)
    else:
        flat_nearest = nearest[0].ravel().take(near) * maps.topo.shape[1] + nearest[1].ravel().take(
            near
        )
        across = neighbour_max(maps.height).ravel().take(flat_nearest)
    edge_height = np.where(inside, own_height, across)
    amplitude = np.where(inside, look.bloom_in, look.bloom_out)
    length = np.where(inside, look.bloom_in_length, look.bloom_out_length)
    bloom = amplitude * edge_height * _decay(distance.ravel().take(near), length)
    if detector[0] > 0.0 and near.size:
        bloom *= 1.0 + detector[0] * _facing(
            maps.topo, geometry.supersample, detector[1]
        ).ravel().take(near)
    flat = signal.ravel()
    flat[near] += bloom
    signal += maps.extra
    return signal


FACING_REACH = 6
"""Output px over which ``_facing`` reads its smoothed coverage (Gaussian sigma 1, 4 sigma)."""


def render_patch(
    maps: SceneMaps,
    base: np.ndarray,
    changed: np.ndarray,
    look: LookParams,
    geometry: FieldGeometry,
    textures: tuple[np.ndarray, np.ndarray],
    detector: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """The signal of ``maps`` when they differ from the scene rendered as ``base`` only where
    ``changed`` is True: ``base`` re-rendered in a window around the change.

    Bloom and the side-detector term reach a bounded distance, so pixels farther than that from
    every change keep ``base``'s values, and a window that reaches as far again gives the
    rendered pixels all the context they need. This is what makes the visibility contract's
    redraws cheap: the clean scene is rendered once, each try only around its defect.

    Args:
        maps: The edited scene maps.
        base: ``render_signal`` of the unedited maps (not modified).
        changed: Canvas mask of the pixels where ``maps`` differ from the unedited ones.
        look, geometry, textures, detector: As for ``render_signal``.

    Returns:
        Float64 canvas signal, equal to ``render_signal(maps, ...)``.
    """
    if not changed.any():
        return base.copy()
    factor = geometry.supersample
    reach = bloom_reach(look) / geometry.canvas_to_reference() + (FACING_REACH + 1) * factor
    rows, cols = np.nonzero(np.any(changed, axis=1))[0], np.nonzero(np.any(changed, axis=0))[0]
    inner = _aligned(rows[0] - reach, rows[-1] + 1 + reach, cols[0] - reach, cols[-1] + 1 + reach,
                     factor, changed.shape)
    outer = _aligned(inner[0] - reach, inner[1] + reach, inner[2] - reach, inner[3] + reach,
                     factor, changed.shape)
    if outer == (0, changed.shape[0], 0, changed.shape[1]):
        return render_signal(maps, look, geometry, textures, detector)
    window = (slice(outer[0], outer[1]), slice(outer[2], outer[3]))
    coarse = tuple(slice(part.start // factor, part.stop // factor) for part in window)
    part = SceneMaps(*(getattr(maps, name)[window] for name in MAP_NAMES))
    patch = render_signal(
        part, look, geometry, (textures[0][coarse], textures[1][coarse]), detector
    )
    out = base.copy()
    keep = (slice(inner[0], inner[1]), slice(inner[2], inner[3]))
    out[keep] = patch[inner[0] - outer[0] : inner[1] - outer[0], inner[2] - outer[2] : inner[3] - outer[2]]
    return out


def _aligned(r0: float, r1: float, c0: float, c1: float, factor: int, shape) -> tuple[int, ...]:
    """Window bounds rounded outward to multiples of ``factor`` and clipped to ``shape``."""
    def down(value: float) -> int:
        return max(0, math.floor(value / factor) * factor)

    def up(value: float, limit: int) -> int:
        return min(limit, math.ceil(value / factor) * factor)

    return down(r0), up(r1, shape[0]), down(c0), up(c1, shape[1])
