"""Broken and unsafe model bundles, each made from a good one by one change (built by code).

``HOSTILE_BUNDLES`` is a table: folder name, a function that damages a copy of a good bundle,
and a phrase the refusal must contain. The Lambda and custom-object models are real Keras
models saved by Keras, so safe mode itself refuses them too.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def _edit_json(folder: Path, change: Callable[[dict], None]) -> None:
    data = json.loads((folder / "bundle.json").read_text())
    change(data)
    (folder / "bundle.json").write_text(json.dumps(data))


def lambda_model_file(file: Path) -> Path:
    """A small Keras model with a Lambda layer (Python code), saved as ``file``."""
    import keras

    inputs = keras.Input((8, 8, 1))
    doubled = keras.layers.Lambda(lambda tensor: tensor * 2.0, name="double_it")(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(doubled))
    keras.Model(inputs, outputs).save(file)
    return file


def custom_object_model_file(file: Path) -> Path:
    """A small Keras model with a layer class from outside Keras (not registered)."""
    import keras

    class Brightness(keras.layers.Layer):
        def call(self, tensor):
            return tensor + 0.1

    inputs = keras.Input((8, 8, 1))
    shifted = Brightness(name="brightness")(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(shifted))
    keras.Model(inputs, outputs).save(file)
    return file


def _replace_stage1(builder: Callable[[Path], Path]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / "stage1.keras").unlink()
        builder(folder / "stage1.keras")

    return damage


@dataclass(frozen=True)
class HostileBundle:
    """One broken bundle: its folder name, how it is damaged, and what the refusal says."""

    name: str
    damage: Callable[[Path], None]
    reason: str


HOSTILE_BUNDLES: tuple[HostileBundle, ...] = (
    HostileBundle("lambda_layer", _replace_stage1(lambda_model_file),
                  "holds a Lambda layer ('double_it')"),
    HostileBundle("custom_object", _replace_stage1(custom_object_model_file),
                  "unknown custom object"),
    HostileBundle("bad_json", lambda folder: (folder / "bundle.json").write_text("{ not json"),
                  "malformed bundle.json"),
    HostileBundle("json_list", lambda folder: (folder / "bundle.json").write_text("[1, 2]"),
                  "expected a JSON object"),
    HostileBundle("future_schema", lambda folder: _edit_json(
        folder, lambda data: data.update(schema_version=99)), "schema version 99"),
    HostileBundle("missing_model", lambda folder: (folder / "stage2.keras").unlink(),
                  "stage2.keras: model file missing"),
    HostileBundle("path_escape", lambda folder: _edit_json(
        folder, lambda data: data["stage2"].update(file="../../etc/stage2.keras")),
        "leaves the bundle folder"),
    HostileBundle("absolute_path", lambda folder: _edit_json(
        folder, lambda data: data["stage1"].update(file="/etc/passwd")),
        "leaves the bundle folder"),
    HostileBundle("not_a_zip", lambda folder: (folder / "stage1.keras").write_bytes(b"\x00" * 64),
                  "not a readable Keras model archive"),
    HostileBundle("bad_threshold", lambda folder: _edit_json(
        folder, lambda data: data.update(stage1_threshold="high")), "stage1_threshold"),
    HostileBundle("no_bundle_json", lambda folder: (folder / "bundle.json").unlink(),
                  "bundle.json missing"),
)


def write_hostile_bundles(good: Path, root: Path) -> dict[str, Path]:
    """Copy ``good`` once per ``HOSTILE_BUNDLES`` entry under ``root`` and damage each copy."""
    folders = {}
    for case in HOSTILE_BUNDLES:
        folder = root / case.name
        shutil.copytree(good, folder)
        case.damage(folder)
        folders[case.name] = folder
    return folders
