"""Choose and load what runs a bundle's cascade: its Keras models or one of its exports.

``list_exports`` reads ``BUNDLE/exports/*/export.json`` and sorts the exports into usable ones
and the others with the reason: an export is usable only when its record says it passed its
parity gate and the hashes it records still match both its own files and the bundle's ``.keras``
files (a file changed after the gate was run is never used). ``serving_stages`` turns a
``Runtime`` into two predictors: ``keras`` the bundle's models, ``onnx``/``litert`` the fastest
usable export of that format, and ``auto`` the usable export with the best speed-up over Keras
measured at export time, or Keras when no export beat it. Only Keras needs TensorFlow.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sem_core.deploy.export import EXPORT_FILE, EXPORTS_FOLDER, ExportInfo, file_sha256
from sem_core.deploy.gate_data import ExportError
from sem_core.deploy.options import Runtime, parse_choice
from sem_core.deploy.runtimes import load_predictor
from sem_core.registry import BundleInfo, LoadedBundle, check_bundle

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class UsableExport:
    """An export that passed its gate and still matches its bundle.

    Attributes:
        path: The export folder.
        info: Its export.json.
    """

    path: Path
    info: ExportInfo


@dataclass(frozen=True)
class ServingStages:
    """The two predictors a cascade runs, and what they are.

    Attributes:
        runtime: The runtime chosen (never ``auto``).
        stage1: Batch -> P(Defective).
        stage2: Batch -> stage-2 probabilities.
        export: The export used, or None for Keras.
    """

    runtime: Runtime
    stage1: Predictor
    stage2: Predictor
    export: UsableExport | None = None

    def describe(self) -> str:
        """One line: the runtime and, for an export, its name and speed-up."""
        if self.export is None:
            return self.runtime.value
        return (f"{self.runtime.value} ({self.export.info.name}, "
                f"{self.export.info.speedup:.2f}x Keras at export)")


def list_exports(bundle: str | os.PathLike) -> tuple[list[UsableExport], list[tuple[Path, str]]]:
    """The bundle's exports: the usable ones (by name) and the others with the reason.

    Args:
        bundle: The bundle folder.
    """
    usable, unusable = [], []
    folder = Path(bundle) / EXPORTS_FOLDER
    if not folder.is_dir():
        return usable, unusable
    recorded = check_bundle(bundle)
    sources = (Path(bundle) / recorded.stage1.file, Path(bundle) / recorded.stage2.file)
    for path in sorted(folder.iterdir()):
        if not path.is_dir() or path.name.startswith("."):
            continue
        info, problem = _read_export(path, sources)
        if problem:
            unusable.append((path, problem))
        else:
            usable.append(UsableExport(path, info))
    return usable, unusable


def _read_export(path: Path, sources: tuple[Path, Path]) -> tuple[ExportInfo | None, str | None]:
    record = path / EXPORT_FILE
    try:
        info = ExportInfo.from_dict(json.loads(record.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None, f"{record}: missing"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        return None, f"{record}: malformed ({error})"
    if not info.parity.passed:
        return None, f"{record}: the export failed its parity gate"
    for stage, source in zip((info.stage1, info.stage2), sources):
        exported = path / stage.file
        if Path(stage.file).name != stage.file or not exported.is_file():
            return None, f"{exported}: exported model missing"
        if file_sha256(exported) != stage.sha256:
            return None, f"{exported}: changed since its parity gate ran (hash differs)"
        if file_sha256(source) != stage.source_sha256:
            return None, f"{source}: not the model this export was made from"
    return info, None


def choose_export(bundle: str | os.PathLike, runtime: Runtime | str) -> UsableExport | None:
    """The export a runtime runs, or None when it is Keras.

    Args:
        bundle: The bundle folder.
        runtime: ``keras``, ``onnx``, ``litert`` or ``auto``.

    Raises:
        ExportError: For ``onnx``/``litert`` when the bundle has no usable export of it.
        ValueError: For an unknown runtime.
    """
    runtime = parse_choice(Runtime, runtime, "runtime")
    if runtime is Runtime.KERAS:
        return None
    usable, unusable = list_exports(bundle)
    if runtime is not Runtime.AUTO:
        usable = [item for item in usable if item.info.export_format is runtime.export_format]
    if not usable:
        if runtime is Runtime.AUTO:
            return None
        reasons = "".join(f"; {path.name}: {reason}" for path, reason in unusable)
        raise ExportError(f"{Path(bundle)}: no {runtime.value} export has passed its parity gate "
                          f"(run `python -m sem_core export --bundle {bundle} --format "
                          f"{runtime.value}`){reasons}.")
    best = max(usable, key=lambda item: item.info.speedup)
    if runtime is Runtime.AUTO and best.info.speedup <= 1.0:
        return None
    return best


def serving_stages(bundle: LoadedBundle | str | os.PathLike, runtime: Runtime | str = Runtime.KERAS,
                   *, threads: int | None = None) -> ServingStages:
    """The predictors of both stages for a runtime.

    Args:
        bundle: A loaded bundle, or a bundle folder (its Keras models are then loaded only when
            the runtime turns out to be Keras).
        runtime: ``keras``, ``onnx``, ``litert`` or ``auto``. Default: ``keras``.
        threads: Threads of an exported runtime. Default: every core (``default_threads``).

    Raises:
        ExportError: When an export runtime is asked for and the bundle has no usable one.
        sem_core.registry.BundleError: When the bundle cannot be read.
    """
    folder = bundle.path if isinstance(bundle, LoadedBundle) else Path(bundle)
    chosen = choose_export(folder, runtime)
    if chosen is None:
        from sem_core.inference import model_predictor
        from sem_core.registry import load_bundle

        loaded = bundle if isinstance(bundle, LoadedBundle) else load_bundle(folder)
        return ServingStages(Runtime.KERAS, model_predictor(loaded.stage1),
                             model_predictor(loaded.stage2))
    runtime_used = Runtime(chosen.info.export_format.value)
    return ServingStages(runtime_used, load_predictor(chosen.path / chosen.info.stage1.file, threads),
                         load_predictor(chosen.path / chosen.info.stage2.file, threads), chosen)


def bundle_info(bundle: LoadedBundle | str | os.PathLike) -> BundleInfo:
    """The info of a loaded bundle, or of a bundle folder (checked, without TensorFlow)."""
    return bundle.info if isinstance(bundle, LoadedBundle) else check_bundle(bundle)


__all__ = ["ExportError", "ServingStages", "UsableExport", "bundle_info", "choose_export",
           "list_exports", "serving_stages"]
