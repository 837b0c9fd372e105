"""Read a PyTorch state-dict file (``.pth``) into NumPy arrays, without PyTorch.

``read_state_dict`` accepts both layouts ``torch.save`` has written: the zip archive (PyTorch
1.6 and later: ``<name>/data.pkl`` plus one raw file per storage) and the legacy stream (a
magic number, a protocol version, system facts, the pickled object, the storage keys, then the
raw storages). Unpickling is restricted: only the few globals a state dict of tensors needs are
recognised, and each is replaced by a harmless stand-in, so a file cannot run code when read.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sem_core.errors import SemCoreError

# Element types of PyTorch's typed storages, as their class names appear in pickles.
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"), "DoubleStorage": np.dtype("<f8"), "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"), "IntStorage": np.dtype("<i4"), "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"), "ByteStorage": np.dtype("u1"), "BoolStorage": np.dtype("?"),
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class StateDictError(SemCoreError):
    """A state-dict file is missing, damaged, or holds something other than tensors."""


@dataclass(frozen=True)
class _Storage:
    """A storage named in the pickle; its bytes are attached once read."""

    key: str
    dtype: np.dtype
    count: int


@dataclass(frozen=True)
class _TensorRef:
    """A tensor as the pickle describes it: a view into a storage."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, offset, shape, stride, *unused) -> _TensorRef:
    return _TensorRef(storage, int(offset), tuple(shape), tuple(stride))


def _rebuild_parameter(tensor, *unused) -> _TensorRef:
    return tensor


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = _STORAGE_DTYPES[name]


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles tensors and dicts only; any other global is refused before it is imported."""

    def __init__(self, stream, source: Path) -> None:
        super().__init__(stream)
        self.source = source
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise StateDictError(f"{self.source}: refuses to load `{module}.{name}`; a state dict of "
                             "tensors never needs it (the file may be damaged or not a state dict).")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise StateDictError(f"{self.source}: unexpected persistent id {pid!r}.")
        storage_type, key, _location, count = pid[1], str(pid[2]), pid[3], int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise StateDictError(f"{self.source}: storage {key} has an unknown element type.")
        storage = self.storages.setdefault(key, _Storage(key, storage_type.dtype, count))
        return storage


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read the tensors of a PyTorch state-dict file.

    Args:
        path: A ``.pth`` / ``.pt`` file written by ``torch.save(model.state_dict(), path)``.

    Returns:
        Parameter name -> array with the tensor's shape and dtype, in file order.

    Raises:
        StateDictError: When the file is missing, truncated, not a state dict, or asks for any
            global other than the tensor rebuilders (nothing it names is imported).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise StateDictError(f"{path}: cannot read the weights file ({error}).") from error
    try:
        if zipfile.is_zipfile(io.BytesIO(data)):
            references, blobs = _read_zip(data, path)
        else:
            references, blobs = _read_legacy(data, path)
    except StateDictError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError, TypeError,
            zipfile.BadZipFile, AttributeError) as error:
        raise StateDictError(f"{path}: not a readable PyTorch state dict ({error}).") from error
    if not isinstance(references, dict):
        raise StateDictError(f"{path}: holds a {type(references).__name__}, not a state dict.")
    arrays = {}
    for name, reference in references.items():
        if not isinstance(reference, _TensorRef):
            raise StateDictError(f"{path}: entry {name!r} is not a tensor.")
        arrays[str(name)] = _view(reference, blobs, path)
    return arrays


def _read_zip(data: bytes, path: Path) -> tuple[object, dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        pickles = [name for name in names if name.endswith("/data.pkl") or name == "data.pkl"]
        if not pickles:
            raise StateDictError(f"{path}: zip archive without data.pkl; not a PyTorch file.")
        prefix = pickles[0][: -len("data.pkl")]
        unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), path)
        references = unpickler.load()
        blobs = {key: archive.read(f"{prefix}data/{key}") for key in unpickler.storages}
    return references, blobs


def _read_legacy(data: bytes, path: Path) -> tuple[object, dict[str, bytes]]:
    stream = io.BytesIO(data)
    if _RestrictedUnpickler(stream, path).load() != _LEGACY_MAGIC:
        raise StateDictError(f"{path}: not a PyTorch file (wrong magic number).")
    if _RestrictedUnpickler(stream, path).load() != _LEGACY_PROTOCOL:
        raise StateDictError(f"{path}: unsupported legacy PyTorch protocol version.")
    _RestrictedUnpickler(stream, path).load()  # system facts (byte order, type sizes)
    unpickler = _RestrictedUnpickler(stream, path)
    references = unpickler.load()
    keys = _RestrictedUnpickler(stream, path).load()
    blobs = {}
    for key in keys:
        storage = unpickler.storages[str(key)]
        count = int(np.frombuffer(stream.read(8), dtype="<i8")[0])
        size = count * storage.dtype.itemsize
        blob = stream.read(size)
        if count != storage.count or len(blob) != size:
            raise StateDictError(f"{path}: storage {key} is truncated or mislabelled.")
        blobs[str(key)] = blob
    return references, blobs


def _view(reference: _TensorRef, blobs: dict[str, bytes], path: Path) -> np.ndarray:
    storage = reference.storage
    flat = np.frombuffer(blobs[storage.key], dtype=storage.dtype)
    if len(flat) != storage.count:
        raise StateDictError(f"{path}: storage {storage.key} holds {len(flat)} values, "
                             f"expected {storage.count}.")
    if 0 in reference.shape:
        return np.zeros(reference.shape, dtype=storage.dtype)
    if not reference.shape:
        return flat[reference.offset: reference.offset + 1].reshape(()).copy()
    last = reference.offset + sum((size - 1) * step for size, step in zip(reference.shape, reference.stride))
    if reference.offset < 0 or last >= len(flat):
        raise StateDictError(f"{path}: a tensor reaches past the end of storage {storage.key}.")
    item = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[reference.offset:], shape=reference.shape,
        strides=tuple(step * item for step in reference.stride), writeable=False)
    return np.ascontiguousarray(view).astype(storage.dtype.newbyteorder("="), copy=False)
