"""The two-stage cascade at work: stream images, screen them all, classify only the flagged ones.

Stage 1 (a small CNN, sigmoid output = probability of Defective) runs on every image; stage 2
(softmax over the seven defect classes) runs only on images whose stage-1 probability is at or
above the operating threshold. Each stage's output is temperature-scaled (the bundle's
calibration) the moment it leaves the predictor, so every score, threshold comparison and
confidence downstream is calibrated, whatever runtime produced it. Inputs stream in batches from
a folder, a zip, a list of paths or arrays, so memory stays flat however many images there are. A file that cannot be decoded becomes
an error record; the rest of the batch goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from sem_core.classes import CLASSES, CLEAN, DEFECTIVE, STAGE2_CLASSES
from sem_core.data.image_io import load_image
from sem_core.data.sources import ImageSource
from sem_core.errors import ImageLoadError
from sem_core.metrics.temperature import apply_sigmoid_temperature, apply_softmax_temperature
from sem_core.models.preprocessing import prepare_batch

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class CascadeConfig:
    """How the cascade runs.

    Attributes:
        stage1_threshold: Calibrated stage-1 probability at or above which an image goes to
            stage 2.
        review_threshold: Final confidence below which a result is flagged for review.
        batch_size: Images decoded and scored per batch. Default 32.
        image_size: Square input size of both models, in pixels.
        stage1_temperature: Temperature applied to stage 1's output. Default 1.0 (none).
        stage2_temperature: Temperature applied to stage 2's output. Default 1.0 (none).
        stage1_bias: Added to stage 1's logit after its temperature. Default 0.0 (none).
    """

    stage1_threshold: float = 0.5
    review_threshold: float = 0.6
    batch_size: int = 32
    image_size: int = 128
    stage1_temperature: float = 1.0
    stage2_temperature: float = 1.0
    stage1_bias: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.stage1_threshold <= 1.0:
            raise ValueError(f"stage1_threshold must be in [0, 1]; received {self.stage1_threshold}.")
        if not 0.0 <= self.review_threshold <= 1.0:
            raise ValueError(f"review_threshold must be in [0, 1]; received {self.review_threshold}.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; received {self.batch_size}.")
        for name in ("stage1_temperature", "stage2_temperature"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a finite number above 0; received {value}.")
        if not np.isfinite(self.stage1_bias):
            raise ValueError(f"stage1_bias must be a finite number; received {self.stage1_bias}.")

    @classmethod
    def for_bundle(cls, info, stage1_threshold: float | None = None, **options) -> CascadeConfig:
        """The configuration that runs a bundle as it was calibrated: its input size, stage-1
        threshold (unless ``stage1_threshold``, on the same calibrated scale, overrides it),
        temperatures and bias. ``info`` is a ``sem_core.registry.BundleInfo``; ``options`` are
        the run's own (``review_threshold``, ``batch_size``)."""
        threshold = info.stage1_threshold if stage1_threshold is None else stage1_threshold
        return cls(stage1_threshold=float(threshold), image_size=int(info.input_size),
                   stage1_temperature=float(info.stage1_temperature),
                   stage2_temperature=float(info.stage2_temperature),
                   stage1_bias=float(info.stage1_bias), **options)


@dataclass(frozen=True)
class CascadeResult:
    """One image's way through the cascade.

    ``final_probabilities`` is the 8-class view used for calibration: Clean gets 1 - p1 and each
    defect class p1 * p2(class). ``final_label`` follows the cascade's decisions (Clean below the
    stage-1 threshold, else the stage-2 top class); ``confidence`` is 1 - p1 for Clean and the
    stage-2 top probability otherwise. Error records have ``error`` set and no scores.
    """

    source: str
    stage1_probability: float | None = None
    stage1_decision: str | None = None
    stage2_probabilities: tuple[float, ...] | None = None
    final_label: str | None = None
    confidence: float | None = None
    needs_review: bool = False
    final_probabilities: tuple[float, ...] | None = None
    error: str | None = None
    error_kind: str | None = None
    width: int | None = None
    height: int | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the image was scored."""
        return self.error is None

    def to_row(self) -> dict[str, object]:
        """A flat row for a results table (CSV/Parquet).

        ``p_<class>`` are the stage-2 probabilities (empty when stage 2 did not run);
        ``prob_<class>`` the 8-class final probabilities.
        """
        row: dict[str, object] = {
            "source": self.source, "final_label": self.final_label, "confidence": self.confidence,
            "stage1_probability": self.stage1_probability, "stage1_decision": self.stage1_decision,
            "needs_review": self.needs_review, "error": self.error, "error_kind": self.error_kind,
            "width": self.width, "height": self.height,
        }
        for name, value in zip(STAGE2_CLASSES, self.stage2_probabilities or (None,) * 7):
            row[f"p_{name}"] = value
        for name, value in zip(CLASSES, self.final_probabilities or (None,) * len(CLASSES)):
            row[f"prob_{name}"] = value
        for stage, milliseconds in self.timings_ms.items():
            row[f"{stage}_ms"] = milliseconds
        return row


def combine_stages(
    stage1_probability: np.ndarray, stage2_probabilities: np.ndarray | None, config: CascadeConfig
) -> list[tuple[str, str, float, tuple[float, ...]]]:
    """Turn stage scores into (stage-1 decision, final label, confidence, 8-class probabilities).

    Args:
        stage1_probability: Shape (N,), probability of Defective.
        stage2_probabilities: Shape (N, 7) softmax rows, or None when stage 2 did not run; rows of
            images below the threshold are ignored.
        config: Supplies the stage-1 threshold.

    Returns:
        One tuple per image.
    """
    decisions = []
    for index, p1 in enumerate(stage1_probability.astype(np.float64)):
        p2 = None if stage2_probabilities is None else stage2_probabilities[index].astype(np.float64)
        flagged = p1 >= config.stage1_threshold and p2 is not None
        eight = eight_class_probabilities(p1, p2)
        if flagged:
            top = int(np.argmax(p2))
            decisions.append((DEFECTIVE, STAGE2_CLASSES[top], float(p2[top]), tuple(eight.tolist())))
        else:
            decisions.append((CLEAN, CLEAN, float(1.0 - p1), tuple(eight.tolist())))
    return decisions


def eight_class_probabilities(p1: float, p2: np.ndarray | None) -> np.ndarray:
    """The 8-class view of one image: Clean 1 - p1, each defect p1 * p2(class), or p1 / 7 each
    when stage 2 did not score the image (None or a NaN row)."""
    eight = np.zeros(len(CLASSES))
    eight[0] = 1.0 - p1
    if p2 is not None and np.isfinite(p2).all():
        eight[1:] = p1 * p2
    else:
        eight[1:] = p1 / len(STAGE2_CLASSES)
    return eight


def calibrate_stage1(probabilities: np.ndarray, config: CascadeConfig) -> np.ndarray:
    """Stage 1's raw P(Defective), any shape, as the cascade reads it: (N,) float64, scaled."""
    return apply_sigmoid_temperature(np.asarray(probabilities, dtype=np.float64).reshape(-1),
                                     config.stage1_temperature, config.stage1_bias)


def calibrate_stage2(probabilities: np.ndarray, config: CascadeConfig) -> np.ndarray:
    """Stage 2's raw (N, 7) probabilities as the cascade reads them: float64, scaled."""
    return apply_softmax_temperature(np.asarray(probabilities, dtype=np.float64),
                                     config.stage2_temperature)


class Cascade:
    """Runs stage 1 on every image and stage 2 on the flagged ones, in streaming batches.

    Args:
        stage1: Callable mapping (N, S, S, 1) float32 in [0, 1] to (N,) or (N, 1) P(Defective),
            e.g. a Keras model's ``predict_on_batch``.
        stage2: Callable mapping (N, S, S, 1) to (N, 7) class probabilities.
        config: Thresholds, batch size and input size.
    """

    def __init__(self, stage1: Predictor, stage2: Predictor, config: CascadeConfig) -> None:
        self.stage1 = stage1
        self.stage2 = stage2
        self.config = config

    def run(
        self, sources: Iterable[ImageSource], progress: Callable[[int], None] | None = None
    ) -> Iterator[CascadeResult]:
        """Yield one result per source, in input order, batch by batch.

        Args:
            sources: Image sources (see ``sem_core.data.sources``), consumed lazily.
            progress: Optional callback given the number of sources finished in each batch.
        """
        batch: list[ImageSource] = []
        for source in sources:
            batch.append(source)
            if len(batch) == self.config.batch_size:
                yield from self._run_batch(batch)
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            yield from self._run_batch(batch)
            if progress:
                progress(len(batch))

    def _run_batch(self, sources: list[ImageSource]) -> list[CascadeResult]:
        started = time.perf_counter()
        decoded: list[tuple[int, np.ndarray, int, int]] = []
        results: list[CascadeResult | None] = [None] * len(sources)
        for index, source in enumerate(sources):
            try:
                image = source.load() if source.array is None else None
                pixels = image.pixels if image is not None else _check_array(source)
                height, width = pixels.shape
                decoded.append((index, pixels, width, height))
            except ImageLoadError as error:
                results[index] = CascadeResult(source=source.name, error=error.detail,
                                               error_kind=error.kind.value)
        decode_ms = 1000.0 * (time.perf_counter() - started) / max(len(sources), 1)
        if decoded:
            batch = prepare_batch([item[1] for item in decoded], self.config.image_size)
            started = time.perf_counter()
            p1 = calibrate_stage1(self.stage1(batch), self.config)
            stage1_ms = 1000.0 * (time.perf_counter() - started) / len(decoded)
            flagged = np.flatnonzero(p1 >= self.config.stage1_threshold)
            p2 = None
            stage2_ms = 0.0
            if flagged.size:
                started = time.perf_counter()
                p2_flagged = calibrate_stage2(self.stage2(batch[flagged]), self.config)
                stage2_ms = 1000.0 * (time.perf_counter() - started) / flagged.size
                p2 = np.full((len(decoded), len(STAGE2_CLASSES)), np.nan)
                p2[flagged] = p2_flagged
            combined = combine_stages(p1, p2, self.config)
            for row, (index, _, width, height) in enumerate(decoded):
                decision, label, confidence, eight = combined[row]
                ran_stage2 = p2 is not None and decision == DEFECTIVE
                timings = {"decode": decode_ms, "stage1": stage1_ms}
                if ran_stage2:
                    timings["stage2"] = stage2_ms
                results[index] = CascadeResult(
                    source=sources[index].name,
                    stage1_probability=float(p1[row]),
                    stage1_decision=decision,
                    stage2_probabilities=tuple(p2[row].tolist()) if ran_stage2 else None,
                    final_label=label,
                    confidence=confidence,
                    needs_review=confidence < self.config.review_threshold,
                    final_probabilities=eight,
                    width=width,
                    height=height,
                    timings_ms=timings,
                )
        return [result for result in results if result is not None]


def _check_array(source: ImageSource) -> np.ndarray:
    pixels = np.asarray(source.array, dtype=np.float32)
    if pixels.ndim != 2 or min(pixels.shape) < 1 or not np.isfinite(pixels).all():
        raise ImageLoadError(source.name, "corrupt",
                             f"the array must be finite and 2-D (H, W); received shape {pixels.shape}.")
    return pixels
