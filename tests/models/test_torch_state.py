"""The PyTorch-free state-dict reader: both file layouts, strided tensors, and refusal of code."""

import collections
import io
import os
import pickle
import sys
import types
import zipfile

import numpy as np
import pytest

from sem_core.models.torch_state import StateDictError, read_state_dict


class _Storage:
    def __init__(self, key, array):
        self.key, self.array = key, array


def _fake_torch(monkeypatch):
    """A stand-in ``torch`` module, so pickles can name its globals without PyTorch installed."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("only pickled, never called")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "LongStorage"):
        setattr(torch, name, type(name, (), {"__module__": "torch", "__qualname__": name}))
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch, utils


class _Tensor:
    def __init__(self, storage, offset, shape, stride, utils):
        self.args = (storage, offset, shape, stride, False, collections.OrderedDict())
        self.utils = utils

    def __reduce__(self):
        return self.utils._rebuild_tensor_v2, self.args


def _pickler(stream, torch):
    pickler = pickle.Pickler(stream, protocol=2)

    def persistent_id(obj):
        if isinstance(obj, _Storage):
            kind = torch.FloatStorage if obj.array.dtype == np.float32 else torch.LongStorage
            return ("storage", kind, obj.key, "cpu", obj.array.size)
        return None

    pickler.persistent_id = persistent_id
    return pickler


def _state(torch, utils):
    """A 2x3 tensor, its transpose (a strided view of the same storage) and a scalar count."""
    values = _Storage("0", np.arange(6, dtype=np.float32))
    count = _Storage("1", np.array([7], dtype=np.int64))
    state = collections.OrderedDict()
    state["conv.weight"] = _Tensor(values, 0, (2, 3), (3, 1), utils)
    state["conv.weight_t"] = _Tensor(values, 0, (3, 2), (1, 3), utils)
    state["bn.num_batches_tracked"] = _Tensor(count, 0, (), (), utils)
    return state, [values, count]


def _write_legacy(path, monkeypatch):
    torch, utils = _fake_torch(monkeypatch)
    state, storages = _state(torch, utils)
    stream = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
        pickle.dump(header, stream, protocol=2)
    _pickler(stream, torch).dump(state)
    pickle.dump([storage.key for storage in storages], stream, protocol=2)
    for storage in storages:
        stream.write(np.array([storage.array.size], dtype="<i8").tobytes() + storage.array.tobytes())
    path.write_bytes(stream.getvalue())


def _write_zip(path, monkeypatch):
    torch, utils = _fake_torch(monkeypatch)
    state, storages = _state(torch, utils)
    stream = io.BytesIO()
    _pickler(stream, torch).dump(state)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", stream.getvalue())
        for storage in storages:
            archive.writestr(f"archive/data/{storage.key}", storage.array.tobytes())


@pytest.mark.parametrize("writer", [_write_legacy, _write_zip], ids=["legacy", "zip"])
def test_reads_tensors_views_and_scalars_in_both_layouts(writer, tmp_path, monkeypatch):
    path = tmp_path / "state.pth"
    writer(path, monkeypatch)
    monkeypatch.delitem(sys.modules, "torch")  # reading must not need it
    state = read_state_dict(path)
    assert list(state) == ["conv.weight", "conv.weight_t", "bn.num_batches_tracked"]
    np.testing.assert_array_equal(state["conv.weight"], np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(state["conv.weight_t"], state["conv.weight"].T)
    assert state["bn.num_batches_tracked"].shape == () and int(state["bn.num_batches_tracked"]) == 7


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_file_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"weight": _Payload(marker)}, protocol=2))
    with pytest.raises(StateDictError, match="refuses to load"):
        read_state_dict(path)
    assert not marker.exists()


def test_truncated_and_missing_files_name_the_file(tmp_path, monkeypatch):
    path = tmp_path / "state.pth"
    _write_legacy(path, monkeypatch)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(StateDictError, match="state.pth"):
        read_state_dict(path)
    with pytest.raises(StateDictError, match="cannot read"):
        read_state_dict(tmp_path / "absent.pth")
