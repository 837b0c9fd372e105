"""Class activation maps of either stage for any class: Grad-CAM, Grad-CAM++ and Score-CAM.

The maps come from tf-keras-vis 0.8.7, run on a side model (``sem_core.explain.side_model``)
so the caller's cached model is never changed, with the layers before the target feature map
compiled into one step (``sem_core.explain.compiled``) so large backbones explain quickly.
An ``Explainer`` holds that side model for one model and can be reused for many images (an app
keeps one per loaded model); ``explain`` and ``explain_batch`` are one-call conveniences.
Images are grayscale float in [0, 1] at any size; they are resized to the model's input size
and the heat map is returned at that size (``sem_core.explain.overlay`` draws it over the
original image).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from sem_core.explain.heatmap import CamMethod, HeatMap, normalise_maps

__all__ = ["CamMethod", "Explainer", "HeatMap", "explain", "explain_batch"]

if TYPE_CHECKING:
    import keras

# Images per tf-keras-vis call; Score-CAM holds max_n masked copies of each at once.
CHUNK_SIZE = 16


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape == (height, width):
        return image
    # Box filter when shrinking, bilinear when enlarging: the rule the models are fed with.
    shrinking = image.shape[0] >= height and image.shape[1] >= width
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(image).resize((width, height), resample), dtype=np.float32)


def _method(method: CamMethod | str) -> CamMethod:
    try:
        return CamMethod(method)
    except ValueError:
        choices = ", ".join(member.value for member in CamMethod)
        raise ValueError(f"Received `method={method!r}`; expected one of {choices}.") from None


class Explainer:
    """Explains one classifier, many times, without touching it.

    Args:
        model: A flat Functional classifier with one grayscale input (height, width, 1 or 3)
            taking [0, 1] pixels and a softmax or one-unit sigmoid output. It is only read.
        layer_name: Feature-map layer to explain; None picks the last 4-D layer (the one the
            head pools). Default: None.
        decision_threshold: For a sigmoid model, the probability at or above which the top
            class is Defective (1) rather than Clean (0). Default: 0.5.
        compile_body: Run the layers up to ``layer_name`` as one compiled function
            (``sem_core.explain.compiled``): the first call traces (about 3 s for DenseNet121),
            later calls are ~10x faster. It falls back to eager execution when the head does
            not depend on ``layer_name`` alone; ``compiled`` says which ran. Default: True.

    Raises:
        ValueError: When the model cannot be explained or ``layer_name`` is not a 4-D layer.
    """

    def __init__(self, model: keras.Model, layer_name: str | None = None,
                 decision_threshold: float = 0.5, compile_body: bool = True) -> None:
        from sem_core.explain.compiled import FEATURES_NAME, build_compiled_view
        from sem_core.explain.side_model import (build_logit_model, check_target_layer,
                                                 find_target_layer)

        self.model = model
        self.layer_name = (find_target_layer(model) if layer_name is None
                           else check_target_layer(model, layer_name))
        self.decision_threshold = decision_threshold
        self._side_model, self.is_binary = build_logit_model(model)
        # What tf-keras-vis runs, and the name of the feature-map layer in it.
        self._run_model, self._run_layer = self._side_model, self.layer_name
        compiled = build_compiled_view(self._side_model, self.layer_name) if compile_body else None
        if compiled is not None:
            self._run_model, self._run_layer = compiled, FEATURES_NAME
        self.compiled = compiled is not None
        self._methods: dict[CamMethod, object] = {}

    @property
    def n_classes(self) -> int:
        """Number of explainable classes (2 for a sigmoid model: Clean, Defective)."""
        return int(self._side_model.outputs[0].shape[-1])

    def _prepare(self, images: np.ndarray) -> np.ndarray:
        batch = np.asarray(images, dtype=np.float32)
        if batch.ndim == 4 and batch.shape[-1] == 1:
            batch = batch[..., 0]
        if batch.ndim != 3:
            raise ValueError("Expected grayscale images of shape (batch, height, width); "
                             f"received shape {np.shape(images)}.")
        _, height, width, channels = self.model.inputs[0].shape
        height, width = height or batch.shape[1], width or batch.shape[2]
        resized = (np.stack([_resize(image, height, width) for image in batch]) if len(batch)
                   else np.zeros((0, height, width), dtype=np.float32))
        resized = np.clip(resized, 0.0, 1.0)[..., np.newaxis]
        return np.repeat(resized, channels or 1, axis=-1)

    def _visualiser(self, method: CamMethod):
        if method not in self._methods:
            from tf_keras_vis.gradcam import Gradcam
            from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
            from tf_keras_vis.layercam import Layercam
            from tf_keras_vis.scorecam import Scorecam

            kind = {CamMethod.GRADCAM: Gradcam, CamMethod.GRADCAM_PLUS_PLUS: GradcamPlusPlus,
                    CamMethod.SCORECAM: Scorecam, CamMethod.LAYERCAM: Layercam}[method]
            self._methods[method] = kind(self._run_model)
        return self._methods[method]

    def _classes(self, probabilities: np.ndarray, class_index: int | None) -> np.ndarray:
        if class_index is not None:
            if not 0 <= class_index < self.n_classes:
                raise ValueError(f"Received `class_index={class_index}`; model "
                                 f"{self.model.name!r} has classes 0..{self.n_classes - 1}.")
            return np.full(len(probabilities), class_index, dtype=np.int64)
        if self.is_binary:
            return (probabilities[:, 1] >= self.decision_threshold).astype(np.int64)
        return np.argmax(probabilities, axis=1).astype(np.int64)

    def explain_batch(self, images: np.ndarray, method: CamMethod | str = CamMethod.GRADCAM,
                      class_index: int | None = None, scorecam_max_n: int = 16) -> list[HeatMap]:
        """Heat maps for a batch of images.

        Args:
            images: Grayscale float images in [0, 1], shape (batch, height, width) at any size.
            method: "gradcam", "gradcampp", "scorecam" or "layercam". Default: "gradcam".
            class_index: Class to explain for every image; None explains each image's top
                class. Default: None.
            scorecam_max_n: Channels Score-CAM scores (fast Score-CAM); capped at the layer's
                channel count. Default: 16.

        Returns:
            One ``HeatMap`` per image, in order; images are processed ``CHUNK_SIZE`` at a
            time, so memory stays bounded for long batches.

        Raises:
            ValueError: On a bad image shape, method, class index or ``scorecam_max_n``.
        """
        method = _method(method)
        if scorecam_max_n < 1:
            raise ValueError(
                f"scorecam_max_n must be >= 1; received `scorecam_max_n={scorecam_max_n}`.")
        batch = self._prepare(images)
        results: list[HeatMap] = []
        for start in range(0, len(batch), CHUNK_SIZE):
            results.extend(self._explain_chunk(batch[start:start + CHUNK_SIZE], method,
                                               class_index, scorecam_max_n))
        return results

    def _explain_chunk(self, batch: np.ndarray, method: CamMethod, class_index: int | None,
                       scorecam_max_n: int) -> list[HeatMap]:
        from tf_keras_vis.utils.scores import CategoricalScore

        start = time.perf_counter()
        logits = np.asarray(self._run_model([batch], training=False), dtype=np.float64)
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        classes = self._classes(probabilities, class_index)
        options = {"penultimate_layer": self._run_layer, "seek_penultimate_conv_layer": False,
                   "normalize_cam": False}
        if method is CamMethod.SCORECAM:
            channels = int(self.model.get_layer(self.layer_name).output.shape[-1])
            options["max_N"] = min(scorecam_max_n, channels)
        maps = self._visualiser(method)(CategoricalScore(classes.tolist()), batch, **options)
        maps = normalise_maps(np.reshape(maps, batch.shape[:3]))
        seconds = (time.perf_counter() - start) / len(batch)
        results = []
        for index, heat in enumerate(maps):
            heat.setflags(write=False)
            results.append(HeatMap(heat, method, int(classes[index]),
                                   float(probabilities[index, classes[index]]), self.layer_name,
                                   seconds))
        return results

    def explain(self, image: np.ndarray, method: CamMethod | str = CamMethod.GRADCAM,
                class_index: int | None = None, scorecam_max_n: int = 16) -> HeatMap:
        """Heat map for one grayscale image (height, width) in [0, 1]; see ``explain_batch``."""
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        if image.ndim != 2:
            raise ValueError(f"Expected one grayscale (height, width) image; received shape "
                             f"{image.shape}. Use explain_batch for a batch.")
        return self.explain_batch(image[np.newaxis], method, class_index, scorecam_max_n)[0]


def explain(model: keras.Model, image: np.ndarray, *, method: CamMethod | str = CamMethod.GRADCAM,
            class_index: int | None = None, layer_name: str | None = None,
            scorecam_max_n: int = 16, decision_threshold: float = 0.5,
            compile_body: bool = False) -> HeatMap:
    """Explain one image in one call (builds an ``Explainer``; keep one to explain many).

    Args:
        model: A flat Functional classifier (only read, never changed).
        image: Grayscale float (height, width) in [0, 1], any size.
        method: "gradcam", "gradcampp", "scorecam" or "layercam". Default: "gradcam".
        class_index: Class to explain; None explains the top class. Default: None.
        layer_name: Feature-map layer; None picks the last 4-D layer. Default: None.
        scorecam_max_n: Channels scored by fast Score-CAM. Default: 16.
        decision_threshold: Sigmoid models: top class is Defective at or above it. Default: 0.5.
        compile_body: See ``Explainer``; off by default here because one image does not repay
            the trace. Default: False.

    Returns:
        A ``HeatMap`` at the model's input size.

    Raises:
        ValueError: When the model, layer, image, method or class cannot be used.
    """
    explainer = Explainer(model, layer_name, decision_threshold, compile_body)
    return explainer.explain(image, method, class_index, scorecam_max_n)


def explain_batch(model: keras.Model, images: np.ndarray, *,
                  method: CamMethod | str = CamMethod.GRADCAM, class_index: int | None = None,
                  layer_name: str | None = None, scorecam_max_n: int = 16,
                  decision_threshold: float = 0.5, compile_body: bool = True) -> list[HeatMap]:
    """Explain a (batch, height, width) stack of images; arguments as in ``explain``, except
    that ``compile_body`` defaults to True (a batch repays the trace)."""
    explainer = Explainer(model, layer_name, decision_threshold, compile_body)
    return explainer.explain_batch(images, method, class_index, scorecam_max_n)
