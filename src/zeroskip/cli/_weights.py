"""Model weights as named numpy arrays: numpy ``.npz`` and ``.safetensors`` files, never unpickled.

The safetensors layout is read and written here directly (an 8-byte little-endian header length,
a JSON header of name -> dtype, shape, byte offsets, then the raw bytes), so no extra is needed.

Example:
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> save_weights(path, {"fc.weight": np.eye(2, dtype=np.float32)})
    >>> load_weights(path)["fc.weight"].tolist()
    [[1.0, 0.0], [0.0, 1.0]]
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Mapping

import numpy as np

from zeroskip.errors import FileFormatError

WEIGHT_FILES = ".npz (numpy arrays by name) or .safetensors"
_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
           "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
_CODES = {np.dtype(v).newbyteorder("<").str: k for k, v in _DTYPES.items()}


def load_weights(path: str) -> dict[str, np.ndarray]:
    """Every array in a ``.npz`` or ``.safetensors`` file, by name, in file order."""
    if not os.path.isfile(path):
        raise FileFormatError(f"{path}: no such file")
    if path.lower().endswith(".safetensors"):
        return _read_safetensors(path)
    if path.lower().endswith(".npz"):
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise FileFormatError(f"{path}: not a numpy .npz of arrays: {exc}") from None
    raise FileFormatError(f"{path}: expected weights in {WEIGHT_FILES}")


def save_weights(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Write arrays to ``.npz`` (compressed: pruned weights shrink) or ``.safetensors``."""
    if path.lower().endswith(".safetensors"):
        _write_safetensors(path, arrays)
    elif path.lower().endswith(".npz"):
        np.savez_compressed(path, **arrays)
    else:
        raise FileFormatError(f"{path}: write weights as {WEIGHT_FILES}")


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise FileFormatError(f"{path}: {len(data)} bytes, too short for a safetensors header")
    size = int.from_bytes(data[:8], "little")
    if 8 + size > len(data):
        raise FileFormatError(f"{path}: header of {size} bytes runs past the end of the {len(data)}-byte file")
    try:
        header = json.loads(data[8 : 8 + size])
    except (ValueError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{path}: the safetensors header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FileFormatError(f"{path}: the safetensors header is not a JSON object")
    body = memoryview(data)[8 + size :]
    out = {}
    for name, info in header.items():
        if name != "__metadata__":
            out[name] = _tensor(path, name, info, body)
    return out


def _tensor(path: str, name: str, info, body: memoryview) -> np.ndarray:
    where = f"{path}: tensor {name!r}"
    try:
        code, shape, (begin, end) = info["dtype"], tuple(int(s) for s in info["shape"]), info["data_offsets"]
    except (TypeError, KeyError, ValueError) as exc:
        raise FileFormatError(f"{where}: expected dtype, shape and data_offsets, got {info!r}") from exc
    if code != "BF16" and code not in _DTYPES:
        raise FileFormatError(f"{where}: dtype {code!r} is not supported (supported: BF16, {', '.join(_DTYPES)})")
    itemsize = 2 if code == "BF16" else np.dtype(_DTYPES[code]).itemsize
    if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= len(body)):
        raise FileFormatError(f"{where}: data_offsets {[begin, end]} outside the {len(body)}-byte data")
    if end - begin != math.prod(shape) * itemsize or any(s < 0 for s in shape):
        raise FileFormatError(f"{where}: {end - begin} bytes do not hold shape {shape} of {code}")
    raw = body[begin:end]
    if code == "BF16":  # bfloat16 is the top half of a float32: widen it exactly
        return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).reshape(shape)
    return np.frombuffer(raw, _DTYPES[code]).reshape(shape).copy()


def _write_safetensors(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    header, chunks, offset = {}, [], 0
    for name, array in arrays.items():
        a = np.ascontiguousarray(array)
        code = _CODES.get(a.dtype.newbyteorder("<").str)
        if code is None:
            raise FileFormatError(f"{path}: cannot store {name!r} of dtype {a.dtype} in safetensors")
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header to 8 bytes with spaces
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for raw in chunks:
            f.write(raw)
