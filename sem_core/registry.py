"""Model bundles and the registry of bundles.

A bundle is a folder holding ``stage1.keras``, ``stage2.keras``, ``bundle.json`` (a
``BundleInfo``) and a human-readable ``MODEL_CARD.md``. Bundles are written to a temporary
sibling folder and renamed into place, so a crash never leaves half a bundle, and an existing
bundle is never overwritten. Bundles are untrusted input: ``check_bundle`` validates
bundle.json, the model paths and the model files (``sem_core.bundle_check``) before Keras sees
them, and models then load in Keras safe mode. ``BundleRegistry`` (in
``sem_core.bundle_registry``, importable from here) lists the bundles under a root folder, the
broken ones with their reason, and records which one is active in ``active.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path

from sem_core.bundle_check import info_problem, model_file_problem
from sem_core.errors import SemCoreError

SCHEMA_VERSION = 3
"""2: stage temperatures; the stage-1 threshold is on the calibrated score. 3: stage 1's bias
(Platt scaling), which an older sem_core would silently ignore, so it must refuse the bundle.
A bundle of version 1 has neither and reads as temperatures 1.0 and bias 0.0, which is exactly
how it always ran; one of version 2 reads as bias 0.0, likewise."""
BUNDLE_FILE = "bundle.json"
STAGE1_FILE = "stage1.keras"
STAGE2_FILE = "stage2.keras"
MODEL_CARD_FILE = "MODEL_CARD.md"
ACTIVE_FILE = "active.json"


class BundleError(SemCoreError):
    """A bundle folder is missing, incomplete, unreadable, or would be overwritten."""


@dataclass(frozen=True)
class StageInfo:
    """One stage of a bundle.

    Attributes:
        file: Model file inside the bundle.
        architecture: "stage1_cnn" or the stage-2 backbone name.
        classes: Output classes (stage 1: the probability is of ``classes[1]``).
        gradcam_layer: Layer Grad-CAM should target.
        parameters: Number of weights.
    """

    file: str
    architecture: str
    classes: tuple[str, ...]
    gradcam_layer: str
    parameters: int = 0


@dataclass(frozen=True)
class BundleInfo:
    """Everything bundle.json records.

    Attributes:
        name: Bundle name (its folder name when written).
        classes: The eight classes, Clean first.
        input_size: Square input size of both stages, in pixels.
        preprocessing: How an image becomes model input, in words.
        stage1: Stage-1 description.
        stage2: Stage-2 description.
        stage1_threshold: Calibrated stage-1 probability (after ``stage1_temperature`` and
            ``stage1_bias``) at or above which an image goes to stage 2.
        operating_point: The threshold's recall, escape and overkill rates with intervals.
        training: Training configuration and run facts (weights, durations, phases).
        data: Dataset facts: manifest hash, source folder, image counts per split.
        metrics: Validation figures, flat name -> value.
        parent: Name or path of the bundle this one was trained from, or None.
        created: UTC creation time, ISO 8601.
        command: The exact command line (or API call) that produced the bundle.
        versions: Library versions used (sem_core, keras, tensorflow).
        schema_version: Version of this layout.
        stage1_temperature: Temperature applied to stage 1's P(Defective) before anything reads
            it (``sem_core.metrics.temperature``); 1.0 (no scaling) for bundles made before
            calibration.
        stage2_temperature: The same for stage 2's class probabilities.
        stage1_bias: Added to stage 1's logit after its temperature (Platt scaling); 0.0 for
            bundles made before it.
        calibration: How the temperatures were fitted: per stage, the validation images, NLL
            and ECE before and after (``TemperatureFit.to_dict``); empty when not fitted.
    """

    name: str
    classes: tuple[str, ...]
    input_size: int
    preprocessing: str
    stage1: StageInfo
    stage2: StageInfo
    stage1_threshold: float
    operating_point: Mapping[str, object] = field(default_factory=dict)
    training: Mapping[str, object] = field(default_factory=dict)
    data: Mapping[str, object] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    parent: str | None = None
    created: str = ""
    command: str = ""
    versions: Mapping[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    stage1_temperature: float = 1.0
    stage2_temperature: float = 1.0
    calibration: Mapping[str, object] = field(default_factory=dict)
    stage1_bias: float = 0.0

    @property
    def stage1_model_threshold(self) -> float:
        """The stage-1 threshold on the model's own (uncalibrated) output, for code that reads
        the Keras model directly (Grad-CAM's decision, review features)."""
        from sem_core.metrics.temperature import uncalibrated_threshold

        return uncalibrated_threshold(self.stage1_threshold, self.stage1_temperature,
                                      self.stage1_bias)

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON view."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> BundleInfo:
        """Rebuild from ``to_dict`` output (unknown keys are ignored).

        Raises:
            BundleError: When the schema version is newer than this code understands.
        """
        version = int(data.get("schema_version", 0))
        if version > SCHEMA_VERSION:
            raise BundleError(f"bundle.json has schema version {version}; this sem_core reads up to "
                              f"{SCHEMA_VERSION}. Upgrade sem_core.")
        known = {item.name for item in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["classes"] = tuple(values.get("classes", ()))
        for stage in ("stage1", "stage2"):
            stage_values = dict(values[stage])
            stage_values["classes"] = tuple(stage_values.get("classes", ()))
            values[stage] = StageInfo(**stage_values)
        return cls(**values)


@dataclass(frozen=True)
class LoadedBundle:
    """A bundle ready to predict: its info and both models (uncompiled)."""

    path: Path
    info: BundleInfo
    stage1: object
    stage2: object


def utc_now() -> str:
    """Current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def read_bundle_info(path: str | os.PathLike) -> BundleInfo:
    """Read and check a bundle's bundle.json without loading TensorFlow (model files unchecked).

    Raises:
        BundleError: When the folder or its bundle.json is missing or malformed, or a field is
            out of range.
    """
    file = Path(path) / BUNDLE_FILE
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, found {type(data).__name__}")
        version = data.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise ValueError(f"schema_version must be a whole number; found {version!r}")
        info = BundleInfo.from_dict(data)
    except BundleError as error:  # from_dict's newer-schema refusal, which cannot name the file
        raise BundleError(f"{file}: {error}") from error
    except FileNotFoundError as error:
        raise BundleError(f"{file}: not a model bundle (bundle.json missing).") from error
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError,
            AttributeError) as error:
        raise BundleError(f"{file}: malformed bundle.json ({error}).") from error
    except OSError as error:
        raise BundleError(f"{file}: cannot be read ({error.strerror or error}).") from error
    problem = info_problem(Path(path), data, ())
    if problem:
        raise BundleError(f"{file}: {problem}.")
    return info


def check_bundle(path: str | os.PathLike) -> BundleInfo:
    """Everything that can be checked without TensorFlow: bundle.json, model paths that stay in
    the folder and exist, and model files free of Lambda layers and unknown custom objects.

    Raises:
        BundleError: Naming the file and the problem.
    """
    folder = Path(path)
    info = read_bundle_info(folder)
    files = (info.stage1.file, info.stage2.file)
    problem = info_problem(folder, info.to_dict(), files)
    if problem:  # a missing model file is named by its own path, anything else by bundle.json
        named = problem.startswith(str(folder))
        raise BundleError(f"{problem}." if named else f"{folder / BUNDLE_FILE}: {problem}.")
    for file in files:
        problem = model_file_problem(folder / file)
        if problem:
            raise BundleError(f"{problem}.")
    return info


def load_bundle(path: str | os.PathLike) -> LoadedBundle:
    """Load a bundle's info and both models, checked first (``check_bundle``), in Keras safe mode.

    Raises:
        BundleError: When a file is missing, unsafe, or a model cannot be loaded.
    """
    import keras

    folder = Path(path)
    info = check_bundle(folder)
    models = []
    for stage in (info.stage1, info.stage2):
        file = folder / stage.file
        try:
            models.append(keras.saving.load_model(file, compile=False, safe_mode=True))
        except Exception as error:  # Keras raises many types for a bad archive
            raise BundleError(f"{file}: cannot load the model ({error}).") from error
    return LoadedBundle(folder, info, models[0], models[1])


def save_bundle(out: str | os.PathLike, info: BundleInfo, stage1, stage2,
                extra_files: Mapping[str, str] | None = None) -> Path:
    """Write a new bundle folder; never overwrite an existing one.

    Models are saved without optimizer state. Files go to a hidden sibling folder first and
    the folder is renamed into place at the end.

    Args:
        out: The bundle folder to create (must not exist, or be empty).
        info: What to write to bundle.json; ``name`` is set to the folder name.
        stage1: Stage-1 Keras model.
        stage2: Stage-2 Keras model.
        extra_files: File name -> text, e.g. MODEL_CARD.md or history.json. Default: None.

    Returns:
        The bundle folder.

    Raises:
        BundleError: When ``out`` already holds files.
    """
    folder = Path(out)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BundleError(f"{folder}: already exists; bundles are never overwritten. Choose a new folder.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        _save_without_optimizer(stage1, staging / info.stage1.file)
        _save_without_optimizer(stage2, staging / info.stage2.file)
        named = replace(info, name=folder.name)
        (staging / BUNDLE_FILE).write_text(json.dumps(named.to_dict(), indent=2) + "\n", encoding="utf-8")
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
        if folder.exists():
            folder.rmdir()
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def uncompiled_copy(model):
    """A new model with ``model``'s architecture and weights and no compiled state."""
    import keras

    # Rebuilt from its config the model is uncompiled, so a saved archive holds no optimizer
    # slots (clone_model would copy the compiled state and triple the file).
    fresh = keras.Model.from_config(model.get_config())
    fresh.set_weights(model.get_weights())
    return fresh


def _save_without_optimizer(model, file: Path) -> None:
    uncompiled_copy(model).save(file)


_MOVED_TO_BUNDLE_REGISTRY = frozenset({"BrokenBundle", "BundleRegistry", "RegisteredBundle"})


def __getattr__(name: str):
    """The registry of bundle folders lives in ``sem_core.bundle_registry``; callers have always
    imported it from here (resolved on first use: that module builds on this one)."""
    if name in _MOVED_TO_BUNDLE_REGISTRY:
        from sem_core import bundle_registry

        return getattr(bundle_registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
