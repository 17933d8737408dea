"""A model folder's weights as NumPy arrays, without torch: model.safetensors, or a
PyTorch checkpoint (pytorch_model.bin, the zip format torch.save writes since torch 1.6) for
models published without safetensors.

The checkpoint's pickle is read by an unpickler that knows only what a state dict of tensors
needs (an ordered dict, tensors rebuilt from typed storages); anything else in it is refused,
so a hostile file cannot run code.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

SAFETENSORS = "model.safetensors"
CHECKPOINT = "pytorch_model.bin"
STORAGES = {"FloatStorage": np.float32, "HalfStorage": np.float16,
            "BFloat16Storage": "bfloat16", "DoubleStorage": np.float64,
            "LongStorage": np.int64, "IntStorage": np.int32}


def weights_file(folder: Path) -> Path | None:
    """The weights file the NumPy encoder reads in `folder`, None if it has none."""
    for name in (SAFETENSORS, CHECKPOINT):
        if (folder / name).is_file() and (name == SAFETENSORS or zipfile.is_zipfile(folder / name)):
            return folder / name
    return None


def load_weights(path: Path) -> dict[str, np.ndarray]:
    if path.name.endswith(".safetensors"):
        from safetensors.numpy import load_file

        return load_file(str(path))
    return load_checkpoint(path)


class _Storage:
    def __init__(self, data: np.ndarray) -> None:
        self.data = data


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file)
        self.archive, self.prefix = archive, prefix
        self.storages: dict[str, _Storage] = {}  # tensors may share a storage

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            import collections

            return collections.OrderedDict
        if (module, name) in (("torch._utils", "_rebuild_tensor_v2"),
                              ("torch._utils", "_rebuild_tensor")):
            return _rebuild_tensor
        if module == "torch" and name in STORAGES:
            return name
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a weights file")

    def persistent_load(self, pid: Any) -> _Storage:
        kind, storage_type, key = pid[0], pid[1], pid[2]
        if kind != "storage" or storage_type not in STORAGES:
            raise pickle.UnpicklingError(f"unexpected storage {pid[:2]!r}")
        if key not in self.storages:
            self.storages[key] = _read_storage(self.archive.read(f"{self.prefix}data/{key}"),
                                               STORAGES[storage_type])
        return self.storages[key]


def _read_storage(raw: bytes, dtype: Any) -> _Storage:
    if dtype == "bfloat16":  # the high half of a float32
        return _Storage((np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32))
    return _Storage(np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")))


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple,
                    *_: Any) -> np.ndarray:
    data = storage.data
    itemsize = data.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(data[offset:], shape=tuple(size),
                                           strides=tuple(s * itemsize for s in stride))
    return np.array(view)  # a copy: its own memory, contiguous


def load_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a zip-format PyTorch checkpoint (a state dict), as NumPy arrays."""
    with zipfile.ZipFile(path) as archive:
        [pickled] = [n for n in archive.namelist() if n.endswith("data.pkl")]
        prefix = pickled[: -len("data.pkl")]
        with archive.open(pickled) as file:
            state = _Unpickler(file, archive, prefix).load()
    if not isinstance(state, dict):
        raise ValueError(f"{path.name} holds no state dict")
    return {key: value for key, value in state.items() if isinstance(value, np.ndarray)}
