"""Training-time augmentation as Keras preprocessing layers, applied in the tf.data pipeline.

Every transform keeps the class of an SEM defect image: the dihedral group (flips and
90-degree turns; SEM patterns have no preferred orientation), small rotations, translation and
zoom with reflected borders, brightness, contrast and gamma changes (detector gain and
contrast settings), shot-like noise and mild beam blur. Nothing crops a defect away or paints
one in. Layers take pixels in [0, 1], shape (batch, H, W, 1), and are never saved in a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import keras
import tensorflow as tf


class AugmentLevel(str, Enum):
    """How hard training images are augmented.

    FULL is every transform below; LIGHT keeps the dihedral group and mild brightness and
    contrast, for short from-scratch runs where the full stack keeps a network from fitting
    at all; NONE turns augmentation off.
    """

    FULL = "full"
    LIGHT = "light"
    NONE = "none"


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; 0 turns one off.

    Attributes:
        rotation_degrees: Largest small rotation, either way. Default: 10.
        translation: Largest shift as a fraction of the side. Default: 0.05.
        zoom: Largest zoom in or out as a fraction. Default: 0.1.
        brightness: Largest brightness shift (fraction of the range). Default: 0.1.
        contrast: Largest contrast factor change. Default: 0.2.
        gamma: Largest |log(gamma)|; gamma is drawn log-uniformly. Default: 0.2.
        noise_std: Largest Gaussian noise standard deviation. Default: 0.03.
        blur_sigma: Largest blur sigma in pixels (3x3 kernel). Default: 0.8.
    """

    rotation_degrees: float = 10.0
    translation: float = 0.05
    zoom: float = 0.1
    brightness: float = 0.1
    contrast: float = 0.2
    gamma: float = 0.2
    noise_std: float = 0.03
    blur_sigma: float = 0.8


class RandomRot90(keras.layers.Layer):
    """Rotate each image of a square batch by a random multiple of 90 degrees."""

    def __init__(self, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training: bool = True):
        if not training:
            return images
        turns = tf.cast(
            keras.random.randint(tf.shape(images)[:1], 0, 4, seed=self.seed_generator), tf.int32
        )
        rotated = tf.stack([tf.image.rot90(images, k) for k in range(4)], axis=0)
        return tf.gather(tf.transpose(rotated, [1, 0, 2, 3, 4]), turns, axis=1, batch_dims=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


class RandomGamma(keras.layers.Layer):
    """Raise [0, 1] pixels to a random power exp(u), u uniform in [-max_log_gamma, max_log_gamma]."""

    def __init__(self, max_log_gamma: float, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_log_gamma = max_log_gamma
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training: bool = True):
        if not training:
            return images
        log_gamma = keras.random.uniform(
            tf.shape(images)[:1], -self.max_log_gamma, self.max_log_gamma, seed=self.seed_generator
        )
        gamma = tf.exp(log_gamma)[:, tf.newaxis, tf.newaxis, tf.newaxis]
        # The epsilon keeps the gradient-free power finite at exact zeros.
        return tf.pow(tf.clip_by_value(images, 1e-6, 1.0), gamma)

    def get_config(self) -> dict:
        return {**super().get_config(), "max_log_gamma": self.max_log_gamma, "seed": self.seed}


class RandomNoise(keras.layers.Layer):
    """Add zero-mean Gaussian noise with a per-image standard deviation up to ``max_std``."""

    def __init__(self, max_std: float, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_std = max_std
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training: bool = True):
        if not training:
            return images
        std = keras.random.uniform(tf.shape(images)[:1], 0.0, self.max_std, seed=self.seed_generator)
        noise = keras.random.normal(tf.shape(images), seed=self.seed_generator)
        return images + noise * std[:, tf.newaxis, tf.newaxis, tf.newaxis]

    def get_config(self) -> dict:
        return {**super().get_config(), "max_std": self.max_std, "seed": self.seed}


LIGHT_AUGMENT = AugmentConfig(rotation_degrees=0.0, translation=0.0, zoom=0.0, brightness=0.05,
                              contrast=0.1, gamma=0.0, noise_std=0.0, blur_sigma=0.0)


def augment_config(level: AugmentLevel | str) -> AugmentConfig | None:
    """The ``AugmentConfig`` of a level, or None for ``none``."""
    level = AugmentLevel(level)
    if level == AugmentLevel.NONE:
        return None
    return AugmentConfig() if level == AugmentLevel.FULL else LIGHT_AUGMENT


def build_augmenter(config: AugmentConfig = AugmentConfig(), seed: int = 0) -> keras.Sequential:
    """Build the augmentation stack.

    Args:
        config: Strengths; zero strengths are left out. Default: ``AugmentConfig()``.
        seed: Base seed; each layer gets its own seed derived from it. Default: 0.

    Returns:
        A ``keras.Sequential`` to call with ``training=True`` on batches of [0, 1] pixels; its
        output is clipped back to [0, 1].
    """
    seeds = iter(range(seed * 100, seed * 100 + 100))
    layers: list[keras.layers.Layer] = [
        keras.layers.RandomFlip("horizontal_and_vertical", seed=next(seeds), name="flip"),
        RandomRot90(seed=next(seeds), name="rot90"),
    ]
    if config.rotation_degrees > 0:
        layers.append(keras.layers.RandomRotation(
            config.rotation_degrees / 360.0, fill_mode="reflect", seed=next(seeds), name="rotate"))
    if config.translation > 0:
        layers.append(keras.layers.RandomTranslation(
            config.translation, config.translation, fill_mode="reflect", seed=next(seeds), name="shift"))
    if config.zoom > 0:
        layers.append(keras.layers.RandomZoom(
            (-config.zoom, config.zoom), fill_mode="reflect", seed=next(seeds), name="zoom"))
    if config.brightness > 0:
        layers.append(keras.layers.RandomBrightness(
            config.brightness, value_range=(0.0, 1.0), seed=next(seeds), name="brightness"))
    if config.contrast > 0:
        layers.append(keras.layers.RandomContrast(
            config.contrast, value_range=(0.0, 1.0), seed=next(seeds), name="contrast"))
    if config.gamma > 0:
        layers.append(RandomGamma(config.gamma, seed=next(seeds), name="gamma"))
    if config.blur_sigma > 0:
        layers.append(keras.layers.RandomGaussianBlur(
            factor=1.0, kernel_size=3, sigma=(0.0, config.blur_sigma), value_range=(0.0, 1.0),
            seed=next(seeds), name="blur"))
    if config.noise_std > 0:
        layers.append(RandomNoise(config.noise_std, seed=next(seeds), name="noise"))
    layers.append(keras.layers.Activation(lambda x: tf.clip_by_value(x, 0.0, 1.0), name="clip"))
    return keras.Sequential(layers, name="augment")
