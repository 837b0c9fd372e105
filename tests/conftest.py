"""Test-session settings shared by every test."""

import os
import socket

import pytest

# Quiet TensorFlow's C++ logging and keep it on the CPU, in the tests and any subprocess.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network, empty Keras and converted-weights caches, and a tripwire on any download."""
    import keras

    def refuse(*args, **kwargs):
        raise OSError("network unreachable (test)")

    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(keras.utils, "get_file", no_download)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("SEM_WEIGHTS_CACHE", raising=False)  # converted weights live under KERAS_HOME
    return tmp_path / "keras_home"


@pytest.fixture(scope="session")
def zero_bomb_4gib(tmp_path_factory):
    """A zip whose single member decompresses to 4 GiB of zeros (about 18 MB, built once)."""
    from archive_fixtures import write_zero_bomb

    return write_zero_bomb(tmp_path_factory.mktemp("zero_bomb") / "lot_4gib.zip")
