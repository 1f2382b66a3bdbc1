"""Reading and writing flat PyTorch-style state dicts: ``{key: array}``.

* ``.pth`` / ``.pt`` / ``.pth.tar``: ``torch.load`` (needs the optional ``torch`` extra). The file may hold
  the state dict itself or a dict that holds it under one of :data:`CONTAINER_KEYS`; a leading
  ``module.`` of ``DataParallel`` is stripped from every key.
* ``.npz``: ``numpy.savez`` archives, one array per key.
* ``.safetensors``: read and written here (no dependency): an 8-byte little-endian header length, a JSON
  header ``{key: {dtype, shape, data_offsets}}`` and the raw little-endian tensor bytes.

Arrays come back as float32 (integer buffers such as ``num_batches_tracked`` keep an integer type).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping

import numpy as np
from etils import epath

from snnjax.errors import CheckpointError, ConfigError

CONTAINER_KEYS = ("state_dict", "model", "net", "model_state_dict", "state")
"""Keys under which training scripts commonly nest the state dict in a saved ``.pth`` dict."""

SUFFIXES = (".pth", ".pt", ".tar", ".npz", ".safetensors")  # .tar: the training scripts' .pth.tar

# safetensors dtype name <-> numpy dtype (BF16 has no numpy dtype: read by widening to float32)
_ST_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
_ST_NAMES = {np.dtype(v): k for k, v in _ST_DTYPES.items()}


def _suffix(path: epath.Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(f"{path}: unknown weights format {suffix!r}; use one of {', '.join(SUFFIXES)}")
    return suffix


def _as_numpy(value) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind == "f" and array.dtype != np.float32:
        array = array.astype(np.float32)
    return array


def _strip_module(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Drops the ``module.`` prefix ``torch.nn.DataParallel`` puts before every key (only if all have it)."""
    if tensors and all(k.startswith("module.") for k in tensors):
        return {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors


def _unwrap(obj, path) -> Mapping:
    """The state dict inside a loaded ``.pth`` object."""
    for _ in range(3):  # e.g. {'model': {'state_dict': ...}}
        if not isinstance(obj, Mapping):
            break
        nested = [k for k in CONTAINER_KEYS if isinstance(obj.get(k), Mapping)]
        if not nested or any(_is_tensor(v) for v in obj.values()):
            break
        obj = obj[nested[0]]
    if not isinstance(obj, Mapping) or not any(_is_tensor(v) for v in obj.values()):
        raise CheckpointError(
            f"{path} holds no state dict (a dict of tensors, or one under {', '.join(CONTAINER_KEYS)})"
        )
    return obj


def _is_tensor(value) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _read_torch(path: epath.Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise ConfigError(
            f"reading {path.name} needs PyTorch: pip install 'snnjax[torch]' (or save the weights as "
            ".npz / .safetensors, which need no torch)"
        ) from None
    try:
        with path.open("rb") as f:
            obj = torch.load(f, map_location="cpu", weights_only=True)
    except Exception as e:
        first = (str(e).splitlines() or [""])[0][:120]
        raise CheckpointError(
            f"{path} is not a readable PyTorch file (read with torch.load(weights_only=True)): "
            f"{type(e).__name__}: {first}"
        ) from None
    state = _unwrap(obj, path)
    out = {}
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            out[key] = _as_numpy(value.float() if value.dtype == torch.bfloat16 else value)
    return out


def _read_npz(path: epath.Path) -> dict[str, np.ndarray]:
    try:
        with path.open("rb") as f, np.load(f, allow_pickle=False) as archive:
            return {key: _as_numpy(archive[key]) for key in archive.files}
    except (ValueError, OSError, EOFError) as e:
        raise CheckpointError(f"{path} is not a readable .npz archive: {e}") from None


def _read_safetensors(path: epath.Path) -> dict[str, np.ndarray]:
    data = path.read_bytes()
    try:
        (size,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + size])
    except (struct.error, ValueError) as e:
        raise CheckpointError(f"{path} is not a .safetensors file: {type(e).__name__}") from None
    body = memoryview(data)[8 + size :]
    out = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = body[start:end]
        if info["dtype"] == "BF16":  # the upper 16 bits of a float32
            bits = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        elif info["dtype"] in _ST_DTYPES:
            array = np.frombuffer(raw, np.dtype(_ST_DTYPES[info["dtype"]]).newbyteorder("<"))
        else:
            raise CheckpointError(f"{path}: tensor {key!r} has unsupported dtype {info['dtype']}")
        out[key] = _as_numpy(array.reshape(info["shape"]).astype(array.dtype.newbyteorder("=")))
    return out


def read_state_dict(path: epath.PathLike) -> dict[str, np.ndarray]:
    """``{key: array}`` of a ``.pth``/``.pt``/``.npz``/``.safetensors`` file (``module.`` prefix removed)."""
    path = epath.Path(path)
    suffix = _suffix(path)
    if not path.exists():
        raise CheckpointError(f"{path} not found")
    reader = {".npz": _read_npz, ".safetensors": _read_safetensors}.get(suffix, _read_torch)
    return _strip_module(reader(path))


def _safetensors_bytes(tensors: Mapping[str, np.ndarray]) -> bytes:
    header, chunks, offset = {}, [], 0
    for key in sorted(tensors):
        array = np.asarray(tensors[key])  # (ascontiguousarray would make a scalar 1-d)
        if array.dtype not in _ST_NAMES:
            array = array.astype(np.float32)
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header[key] = {
            "dtype": _ST_NAMES[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header to a multiple of 8 bytes
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def write_state_dict(tensors: Mapping[str, np.ndarray], path: epath.PathLike) -> epath.Path:
    """Writes ``tensors`` as ``.npz`` or ``.safetensors`` (by the suffix of ``path``)."""
    path = epath.Path(path)
    suffix = _suffix(path)
    if suffix not in (".npz", ".safetensors"):
        raise ConfigError(
            f"{path.name}: export writes .npz or .safetensors (torch.load reads neither directly; "
            "load them with numpy / safetensors and torch.from_numpy)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npz":
        with path.open("wb") as f:
            np.savez(f, **{k: np.asarray(v) for k, v in tensors.items()})
    else:
        path.write_bytes(_safetensors_bytes(tensors))
    return path
