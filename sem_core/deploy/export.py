"""Export a bundle's two stages to ONNX or LiteRT, behind the parity gate.

``export_bundle`` converts both Keras models (``sem_core.deploy.convert``), runs the Keras and the
exported cascade on the gate's labelled images (``sem_core.deploy.gate_data``), and judges the
export (``sem_core.deploy.parity``). A passing export is written, with ``export.json`` (an
``ExportInfo``: converter versions, parity figures, side-by-side speed, file hashes), to
``BUNDLE/exports/<format>-<precision>/``; a failing one is deleted and ``ExportRefused`` carries
its figures, so it can never be used. The bundle's own files, bundle.json included, are never
touched: the export folder records everything about the export, and the file hashes bind it to
the exact models it came from (``sem_core.deploy.serving`` checks them before use).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sem_core.deploy.convert import Converter, convert_model, converter_versions
from sem_core.deploy.gate_data import ExportError, LabelledImages
from sem_core.deploy.options import DEFAULT_LIMITS, ExportFormat, ParityLimits, Precision
from sem_core.deploy.parity import ParityReport, StageScores, parity_report
from sem_core.deploy.runtimes import load_predictor
from sem_core.registry import LoadedBundle, utc_now

EXPORTS_FOLDER = "exports"
EXPORT_FILE = "export.json"
EXPORT_SCHEMA_VERSION = 1
CASCADE_BATCH = 32  # the cascade's default batch size (``CascadeConfig``)
_SPEED_ROUNDS = 3


class ExportRefused(ExportError):
    """The export failed its parity gate; ``report`` holds the figures.

    Attributes:
        report: The gate's ``ParityReport``.
    """

    def __init__(self, message: str, report: ParityReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class ExportedStage:
    """One exported model file.

    Attributes:
        file: File name inside the export folder.
        sha256: Its hash.
        source_sha256: Hash of the bundle's ``.keras`` file it was converted from.
    """

    file: str
    sha256: str
    source_sha256: str


@dataclass(frozen=True)
class ExportInfo:
    """What export.json records.

    Attributes:
        name: The export folder's name, ``<format>-<precision>``.
        bundle: Name of the bundle exported.
        export_format: ONNX or LiteRT.
        precision: float32, float16 or int8.
        stage1: The stage-1 file.
        stage2: The stage-2 file.
        parity: The gate's figures (an export is only written when they passed).
        speed: The cascade on the gate's images, Keras and export side by side: milliseconds
            per image (``keras_ms_per_image``, ``export_ms_per_image``) and the batch size.
        gate_data: The images the gate ran on (``LabelledImages.describe``).
        calibration: The int8 calibration images, or {} for other precisions.
        converters: Package versions that converted it.
        created: UTC time, ISO 8601.
        command: The command or call that made it.
        schema_version: Version of this layout.
    """

    name: str
    bundle: str
    export_format: ExportFormat
    precision: Precision
    stage1: ExportedStage
    stage2: ExportedStage
    parity: ParityReport
    speed: Mapping[str, float] = field(default_factory=dict)
    gate_data: Mapping[str, object] = field(default_factory=dict)
    calibration: Mapping[str, object] = field(default_factory=dict)
    converters: Mapping[str, str] = field(default_factory=dict)
    created: str = ""
    command: str = ""
    schema_version: int = EXPORT_SCHEMA_VERSION

    @property
    def speedup(self) -> float:
        """Keras' steady-state cascade time over the export's, measured side by side at export
        (0 if unknown). Steady state, so a long run is never slower than Keras; a short run gains
        more, since Keras also traces its graph once per process."""
        export_ms = float(self.speed.get("export_ms_per_image", 0.0))
        return float(self.speed.get("keras_ms_per_image", 0.0)) / export_ms if export_ms > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON view."""
        data = asdict(self)
        data.update(export_format=self.export_format.value, precision=self.precision.value,
                    parity=self.parity.to_dict())
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ExportInfo:
        """Rebuild from ``to_dict`` output.

        Raises:
            ValueError, KeyError, TypeError: On a malformed record.
        """
        version = int(data.get("schema_version", 0))
        if version > EXPORT_SCHEMA_VERSION:
            raise ValueError(f"schema version {version}; this sem_core reads up to "
                             f"{EXPORT_SCHEMA_VERSION}")
        values = dict(data)
        values.update(export_format=ExportFormat(data["export_format"]),
                      precision=Precision(data["precision"]),
                      stage1=ExportedStage(**data["stage1"]), stage2=ExportedStage(**data["stage2"]),
                      parity=ParityReport.from_dict(data["parity"]))
        return cls(**values)


def export_name(export_format: ExportFormat, precision: Precision) -> str:
    """Folder name of an export inside ``BUNDLE/exports``."""
    return f"{export_format.value}-{precision.value}"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_bundle(bundle: LoadedBundle, export_format: ExportFormat, precision: Precision,
                  gate: LabelledImages, *, calibration: LabelledImages | None = None,
                  limits: ParityLimits = DEFAULT_LIMITS, converter: Converter = convert_model,
                  command: str = "", progress: Callable[[str], None] | None = None) -> Path:
    """Convert both stages, gate the export against Keras, and keep it only if it passed.

    Args:
        bundle: The loaded bundle (its Keras models are the reference and are not modified).
        export_format: ONNX or LiteRT.
        precision: float32, float16 or int8.
        gate: Labelled images to judge on (``gate_data.labelled_images``), at the bundle's size.
        calibration: int8 calibration images; required for int8. Default: None.
        limits: The gate's limits. Default: ``ParityLimits()``.
        converter: Writes one model file; ``convert_model`` unless a caller swaps the strategy.
            Default: ``convert_model``.
        command: Recorded in export.json. Default: "".
        progress: Called with a short line at each step. Default: None.

    Returns:
        The export folder, ``BUNDLE/exports/<format>-<precision>``.

    Raises:
        ExportError: When the export folder exists or int8 has no calibration images.
        ExportRefused: When the export failed its gate (nothing is left behind).
    """
    say = progress or (lambda line: None)
    name = export_name(export_format, precision)
    target = Path(bundle.path) / EXPORTS_FOLDER / name
    if target.exists():
        raise ExportError(f"{target}: already exported; exports are never overwritten (delete "
                          "the folder to export again).")
    if precision is Precision.INT8 and calibration is None:
        raise ExportError(f"{target}: int8 needs calibration images (--calibration DATA).")
    staging = target.parent / f".{name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        stages = []
        for number, model, info in ((1, bundle.stage1, bundle.info.stage1),
                                    (2, bundle.stage2, bundle.info.stage2)):
            say(f"converting stage {number} to {name}")
            file = f"stage{number}{export_format.suffix}"
            converter(model, staging / file, export_format, precision,
                      None if calibration is None else calibration.images)
            stages.append(ExportedStage(file, file_sha256(staging / file),
                                        file_sha256(Path(bundle.path) / info.file)))
        say(f"running the parity gate on {len(gate.labels)} images")
        # The gate compares the models' own outputs, before the bundle's temperature scaling,
        # with the threshold carried back to that scale (scaling is monotonic: same decisions).
        # Scaling with T > 1 stretches differences near 0 and 1 (q ~ p ** (1 / T)), so float32
        # noise in a 1e-8 probability would fail a 1e-4 gate it says nothing about. The cascade
        # then scales every runtime's output alike.
        keras_predictors = _keras_predictors(bundle)
        export_predictors = tuple(load_predictor(staging / stage.file) for stage in stages)
        report = parity_report(_scores(keras_predictors, gate.images),
                               _scores(export_predictors, gate.images), gate.labels,
                               bundle.info.stage1_model_threshold, precision, limits)
        if not report.passed:
            raise ExportRefused(f"{target}: the export failed its parity gate and was deleted; "
                                f"it will not be used.\n{report.describe()}", report)
        say("timing Keras and the export side by side")
        info = ExportInfo(
            name=name, bundle=bundle.info.name, export_format=export_format, precision=precision,
            stage1=stages[0], stage2=stages[1], parity=report,
            speed=_side_by_side_cascade(keras_predictors, export_predictors, gate.images,
                                        bundle.info.stage1_model_threshold),
            gate_data=gate.describe(),
            calibration={} if calibration is None or precision is not Precision.INT8
            else calibration.describe(),
            converters=converter_versions(export_format), created=utc_now(), command=command)
        (staging / EXPORT_FILE).write_text(json.dumps(info.to_dict(), indent=2) + "\n",
                                           encoding="utf-8")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _keras_predictors(bundle: LoadedBundle) -> tuple[Callable, Callable]:
    from sem_core.inference import model_predictor

    return model_predictor(bundle.stage1), model_predictor(bundle.stage2)


def _scores(predictors, images: np.ndarray, batch_size: int = 32) -> StageScores:
    """Both stages on every image (stage 2 too, so its parity is measured on all of them)."""
    stage1, stage2 = predictors
    batches = [images[start:start + batch_size] for start in range(0, len(images), batch_size)]
    return StageScores(np.concatenate([np.asarray(stage1(b), np.float64).reshape(-1) for b in batches]),
                       np.concatenate([np.asarray(stage2(b), np.float64) for b in batches]))


def _side_by_side_cascade(keras_predictors, export_predictors, images: np.ndarray,
                          threshold: float) -> dict[str, float]:
    """Milliseconds per image of the cascade's model calls on the gate's images, as ``predict``
    makes them (stage 1 on batches of ``CASCADE_BATCH``, stage 2 on the images each batch flags),
    Keras and the export in interleaved rounds so load from other users of the machine falls on
    both alike; the median round is kept. Per-stage figures at one batch size misjudge this: a
    flagged subset is a small batch, where Keras' per-call cost dominates. ``threshold`` is on the
    models' own (uncalibrated) output: scaling is monotonic, so the same images are flagged."""
    runs = {"keras": keras_predictors, "export": export_predictors}
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(_SPEED_ROUNDS + 1):
        for name, (stage1, stage2) in runs.items():
            started = time.perf_counter()
            for start in range(0, len(images), CASCADE_BATCH):
                batch = images[start:start + CASCADE_BATCH]
                flagged = np.asarray(stage1(batch)).reshape(-1) >= threshold
                if flagged.any():
                    stage2(batch[flagged])
            samples[name].append(1000.0 * (time.perf_counter() - started) / len(images))
    # Round 0 warms up the runtimes' plans for the batch shapes met (Keras traced its graph for
    # them while the gate ran); the median of the others is the steady state.
    figures = {f"{name}_ms_per_image": round(float(np.median(values[1:])), 3)
               for name, values in samples.items()}
    return {**figures, "batch_size": CASCADE_BATCH, "images": len(images)}
