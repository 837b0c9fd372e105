"""Model bundles and the registry of bundles.

A bundle is a folder holding ``stage1.keras``, ``stage2.keras``, ``bundle.json`` (a
``BundleInfo``) and a human-readable ``MODEL_CARD.md``. Bundles are written to a temporary
sibling folder and renamed into place, so a crash never leaves half a bundle, and an existing
bundle is never overwritten. Models load in Keras safe mode. A ``BundleRegistry`` lists the
bundles under a root folder and records which one is active in ``active.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path

from sem_core.errors import SemCoreError

SCHEMA_VERSION = 1
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
        stage1_threshold: Stage-1 probability at or above which an image goes to stage 2.
        operating_point: The threshold's recall, escape and overkill rates with intervals.
        training: Training configuration and run facts (weights, durations, phases).
        data: Dataset facts: manifest hash, source folder, image counts per split.
        metrics: Validation figures, flat name -> value.
        parent: Name or path of the bundle this one was trained from, or None.
        created: UTC creation time, ISO 8601.
        command: The exact command line (or API call) that produced the bundle.
        versions: Library versions used (sem_core, keras, tensorflow).
        schema_version: Version of this layout.
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
    """Read a bundle's bundle.json without loading TensorFlow.

    Raises:
        BundleError: When the folder or its bundle.json is missing or malformed.
    """
    file = Path(path) / BUNDLE_FILE
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        return BundleInfo.from_dict(data)
    except FileNotFoundError as error:
        raise BundleError(f"{file}: not a model bundle (bundle.json missing).") from error
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise BundleError(f"{file}: malformed bundle.json ({error}).") from error


def load_bundle(path: str | os.PathLike) -> LoadedBundle:
    """Load a bundle's info and both models, in Keras safe mode.

    Raises:
        BundleError: When a file is missing or a model cannot be loaded.
    """
    import keras

    folder = Path(path)
    info = read_bundle_info(folder)
    models = []
    for stage in (info.stage1, info.stage2):
        file = folder / stage.file
        if not file.is_file():
            raise BundleError(f"{file}: model file missing from the bundle.")
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


def _save_without_optimizer(model, file: Path) -> None:
    import keras

    # Rebuilt from its config the model is uncompiled, so the archive holds no optimizer slots
    # (clone_model would copy the compiled state and triple the file).
    fresh = keras.Model.from_config(model.get_config())
    fresh.set_weights(model.get_weights())
    fresh.save(file)


@dataclass(frozen=True)
class RegisteredBundle:
    """A bundle found under a registry root."""

    path: Path
    info: BundleInfo


class BundleRegistry:
    """The bundles under one root folder, and which of them is active.

    Args:
        root: Folder holding one sub-folder per bundle and ``active.json``.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def bundles(self) -> list[RegisteredBundle]:
        """Every readable bundle under the root, oldest first (unreadable folders are skipped)."""
        found = []
        if self.root.is_dir():
            for folder in sorted(self.root.iterdir()):
                if folder.is_dir() and not folder.name.startswith(".") and (folder / BUNDLE_FILE).is_file():
                    try:
                        found.append(RegisteredBundle(folder, read_bundle_info(folder)))
                    except BundleError:
                        continue
        return sorted(found, key=lambda item: (item.info.created, item.path.name))

    def get(self, name: str) -> RegisteredBundle:
        """The bundle called ``name``.

        Raises:
            BundleError: When there is none; the message lists the names that exist.
        """
        for item in self.bundles():
            if item.path.name == name:
                return item
        names = ", ".join(item.path.name for item in self.bundles()) or "none"
        raise BundleError(f"{self.root / name}: no such bundle; available: {names}.")

    def active(self) -> RegisteredBundle | None:
        """The active bundle, or None when none is marked (or it has disappeared)."""
        record = self._read_active()
        name = record.get("active")
        if not name:
            return None
        try:
            return self.get(str(name))
        except BundleError:
            return None

    def set_active(self, name: str) -> RegisteredBundle:
        """Mark bundle ``name`` active; earlier activations stay listed in active.json.

        Raises:
            BundleError: When the bundle does not exist.
        """
        bundle = self.get(name)
        record = self._read_active()
        history = list(record.get("history", []))
        history.append({"bundle": name, "activated": utc_now()})
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.root / f".{ACTIVE_FILE}.tmp-{os.getpid()}"
        temporary.write_text(json.dumps({"active": name, "history": history}, indent=2) + "\n",
                             encoding="utf-8")
        os.replace(temporary, self.root / ACTIVE_FILE)
        return bundle

    def new_bundle_dir(self, stem: str = "bundle") -> Path:
        """A fresh, not yet existing folder name under the root: ``{stem}-{UTC time}[-n]``."""
        base = f"{stem}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"
        candidate, counter = self.root / base, 1
        while candidate.exists():
            counter += 1
            candidate = self.root / f"{base}-{counter}"
        return candidate

    def _read_active(self) -> dict[str, object]:
        try:
            return json.loads((self.root / ACTIVE_FILE).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
