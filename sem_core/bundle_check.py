"""Checks of an untrusted model bundle that need no TensorFlow: its fields, paths and model files.

A bundle folder may come from anywhere (a colleague, a download), so before Keras sees a file:
``info_problem`` checks what bundle.json says (types, ranges, model paths that stay inside the
folder), and ``model_file_problem`` opens a ``.keras`` archive as the zip it is, reads its
``config.json`` with a size cap and walks it for objects Keras safe mode would refuse or could
not rebuild: ``Lambda`` layers (arbitrary Python code) and classes from outside Keras (unknown
custom objects). Each returns a sentence naming the file and the problem, or None. Keras' own
safe mode stays on when the models are loaded; these checks let the registry list a broken
bundle as broken, with its reason, without loading TensorFlow.
"""

from __future__ import annotations

import functools
import json
import math
import os
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath

MAX_CONFIG_BYTES = 64 << 20
"""Largest config.json read from a .keras file (DenseNet121's is under 1 MB)."""
KERAS_MODULES = ("keras",)
_CONFIG = "config.json"


def info_problem(folder: Path, data: Mapping[str, object], stage_files: tuple[str, str]) -> str | None:
    """What is wrong with a parsed bundle.json, or None.

    Args:
        folder: The bundle folder.
        data: The parsed bundle.json.
        stage_files: The two model file names it gives.
    """
    size = data.get("input_size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        return f"input_size must be a positive whole number of pixels; found {size!r}"
    threshold = data.get("stage1_threshold")
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) \
            or not math.isfinite(threshold) or not 0.0 <= threshold <= 1.0:
        return f"stage1_threshold must be a number from 0 to 1; found {threshold!r}"
    for name in ("stage1_temperature", "stage2_temperature"):
        temperature = data.get(name, 1.0)
        if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) \
                or not math.isfinite(temperature) or temperature <= 0.0:
            return f"{name} must be a number above 0; found {temperature!r}"
    bias = data.get("stage1_bias", 0.0)
    if not isinstance(bias, (int, float)) or isinstance(bias, bool) or not math.isfinite(bias):
        return f"stage1_bias must be a finite number; found {bias!r}"
    for file in stage_files:
        problem = _path_problem(folder, file)
        if problem:
            return problem
    return None


def _path_problem(folder: Path, file: object) -> str | None:
    if not isinstance(file, str) or not file:
        return f"a stage's model file must be a file name; found {file!r}"
    relative = PurePosixPath(file.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts or Path(file).is_absolute():
        return f"the model path {file!r} leaves the bundle folder"
    target = folder / file
    try:
        target.resolve().relative_to(folder.resolve())
    except ValueError:
        return f"the model path {file!r} leads outside the bundle folder (a link)"
    if not target.is_file():
        return f"{target}: model file missing from the bundle"
    return None


def model_file_problem(file: Path) -> str | None:
    """What makes a ``.keras`` file unsafe or unreadable, or None (cached per file version)."""
    try:
        status = os.stat(file)
    except OSError as error:
        return f"{file}: the model file cannot be read ({error.strerror or error})"
    return _cached_model_problem(str(file), status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _cached_model_problem(file: str, size: int, modified_ns: int) -> str | None:
    try:
        with zipfile.ZipFile(file) as archive:
            info = archive.getinfo(_CONFIG)
            if info.file_size > MAX_CONFIG_BYTES:
                return (f"{file}: its {_CONFIG} declares {info.file_size:,} bytes, over the "
                        f"{MAX_CONFIG_BYTES:,}-byte limit")
            with archive.open(info) as stream:
                text = stream.read(MAX_CONFIG_BYTES + 1)
        config = json.loads(text)
    except KeyError:
        return f"{file}: not a Keras model archive ({_CONFIG} missing)"
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as error:
        return f"{file}: not a readable Keras model archive ({error})"
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return f"{file}: its {_CONFIG} is not valid JSON ({error})"
    for problem in _config_problems(config):
        return f"{file}: {problem}; refused (safe mode loads only Keras' own layers)"
    return None


def _config_problems(node: object) -> Iterator[str]:
    """Lambda layers and non-Keras classes anywhere in a serialised Keras config."""
    if isinstance(node, list):
        for child in node:
            yield from _config_problems(child)
        return
    if not isinstance(node, dict):
        return
    class_name, module = node.get("class_name"), node.get("module")
    layer = node.get("config", {}).get("name") if isinstance(node.get("config"), dict) else None
    called = f" ('{layer}')" if layer else ""
    if class_name == "Lambda":
        yield f"it holds a Lambda layer{called}, which runs arbitrary Python code"
    elif isinstance(module, str) and module.split(".")[0] not in KERAS_MODULES:
        registered = node.get("registered_name") or class_name
        yield f"it needs the unknown custom object {registered!r}{called} from module {module!r}"
    for value in node.values():
        yield from _config_problems(value)
