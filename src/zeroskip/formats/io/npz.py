"""zeroskip ``.npz`` archives (the storage itself: shape, format, level arrays, values) and
scipy.sparse ``save_npz`` archives.

A zeroskip archive holds ``zeroskip_version`` (1), ``shape``, ``format`` (``Format.spec``, e.g.
``"ds[1,0]"``), ``level{l}_pos`` / ``level{l}_crd`` for the levels that have them, and ``vals``.
Files are untrusted: never unpickled, every member's header is checked before its data is
allocated, and the arrays go through the verifying ``SparseTensor`` constructor.

Example:
    >>> import io, numpy as np
    >>> buf = io.BytesIO()
    >>> write_npz(buf, SparseTensor.from_numpy(np.eye(3), "dcsc"))
    >>> t = read_npz(io.BytesIO(buf.getvalue()))
    >>> t.format.name, t.nnz
    ('dcsc', 3)
"""

from __future__ import annotations

import os

import numpy as np

from zeroskip.config import check_dense_alloc
from zeroskip.errors import DenseLimitError, FileFormatError, ZeroskipError
from zeroskip.formats.build import LevelArrays
from zeroskip.formats.convert import as_tensor
from zeroskip.formats.format import as_format
from zeroskip.formats.io.files import Borrowed, open_write, source_name
from zeroskip.formats.tensor import SparseTensor
from zeroskip.formats.validate import check_value_dtype

VERSION = 1
_HEADER_KEYS = ("zeroskip_version", "shape", "format", "vals")
_SCIPY_KEYS = {"format", "shape", "data", "indices", "indptr", "offsets", "row", "col", "coords", "_is_array"}


def write_npz(path, tensor, *, compressed: bool = False) -> None:
    """Save a tensor's storage exactly (format, index dtype, stored zeros included).

    Example:
        >>> import numpy as np, io
        >>> buf = io.BytesIO()
        >>> write_npz(buf, np.arange(4.0).reshape(2, 2), compressed=True)
        >>> sorted(np.load(io.BytesIO(buf.getvalue())).files)[:3]
        ['format', 'level1_crd', 'level1_pos']
    """
    t = as_tensor(tensor)
    arrays = {
        "zeroskip_version": np.array(VERSION, dtype=np.int64),
        "shape": np.array(t.shape, dtype=np.int64),
        "format": np.array(t.format.spec),
        "vals": t.vals,
    }
    for depth, level in enumerate(t.levels):
        if level.pos is not None:
            arrays[f"level{depth}_pos"] = level.pos
        if level.crd is not None:
            arrays[f"level{depth}_crd"] = level.crd
    with open_write(path) as f:  # a file object: np.savez would append '.npz' to a path
        (np.savez_compressed if compressed else np.savez)(f, **arrays)


def read_npz(path_or_file, format=None) -> SparseTensor:
    """Load a zeroskip or a ``scipy.sparse.save_npz`` archive (told apart by their keys).

    A zeroskip archive comes back in its own format; a scipy one in its own (csr, csc, coo;
    CSR else). ``format`` converts after loading. A missing file raises ``FileNotFoundError``.

    Example:
        >>> import io, scipy.sparse as sp
        >>> buf = io.BytesIO()
        >>> sp.save_npz(buf, sp.csc_array([[0, 1.5], [2.0, 0]]))
        >>> read_npz(io.BytesIO(buf.getvalue())).format.name
        'csc'
    """
    name = source_name(path_or_file)
    with _open_read(path_or_file) as f:
        try:
            arrays = _load_arrays(f, name)
            if "zeroskip_version" in arrays:
                tensor = _zeroskip_tensor(arrays, name)
            elif "data" in arrays and "format" in arrays:
                f.seek(0)
                tensor = _scipy_tensor(f, arrays, name)
            else:
                raise FileFormatError(
                    f"{name}: neither a zeroskip nor a scipy.sparse archive (keys {sorted(arrays)})"
                )
        except ZeroskipError:
            raise
        except MemoryError as exc:
            raise DenseLimitError(f"{name}: loading it ran out of memory: {exc}") from exc
        except Exception as exc:  # zipfile, zlib, numpy header and scipy errors alike: a bad file
            raise FileFormatError(f"{name}: not a readable .npz archive: {type(exc).__name__}: {exc}") from exc
    return tensor if format is None else tensor.asformat(format)


def _open_read(source):
    try:
        return open(os.fspath(source), "rb")  # OS errors (missing file) propagate as they are
    except TypeError:
        if not hasattr(source, "read") or not hasattr(source, "seek"):
            raise FileFormatError(f"expected a path or a seekable binary file, got {type(source).__name__}") from None
        return Borrowed(source)


def _load_arrays(f, name: str) -> dict[str, np.ndarray]:
    """Every member of the archive, each header checked before its data is read."""
    loaded = np.load(f, allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise FileFormatError(f"{name}: a single .npy array, not an .npz archive")
    with loaded:
        out = {}
        for key in loaded.files:
            member = key if key in loaded.zip.namelist() else key + ".npy"
            _check_member(loaded.zip, member, key, name)
            out[key] = loaded[key]
        return out


def _check_member(archive, member: str, key: str, name: str) -> None:
    info = archive.getinfo(member)
    with archive.open(member) as m:
        if m.read(6) != b"\x93NUMPY":
            raise FileFormatError(f"{name}: member {key!r} is not a .npy array")
        version = tuple(m.read(2))
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(m)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(m)
        else:
            raise FileFormatError(f"{name}: member {key!r} has .npy version {version}, expected 1.0 or 2.0")
        data_bytes = info.file_size - m.tell()
    if dtype.hasobject:
        raise FileFormatError(f"{name}: member {key!r} holds Python objects ({dtype}); zeroskip never unpickles")
    count = 1
    for size in shape:
        count *= int(size)
    # The header is untrusted: refuse sizes the member cannot hold before numpy allocates them.
    check_dense_alloc(count, dtype.itemsize, f"array {key!r} of {name}")
    if count * dtype.itemsize > data_bytes:
        raise FileFormatError(
            f"{name}: member {key!r} claims shape {shape} of {dtype} ({count * dtype.itemsize} bytes) "
            f"but holds {data_bytes} bytes of data"
        )


def _native(arr: np.ndarray) -> np.ndarray:
    return arr.astype(arr.dtype.newbyteorder("=")) if not arr.dtype.isnative else arr


def _zeroskip_tensor(arrays: dict[str, np.ndarray], name: str) -> SparseTensor:
    version, shape_arr, spec_arr = arrays["zeroskip_version"], arrays["shape"], arrays.get("format")
    if version.ndim != 0 or version.dtype.kind not in "iu" or int(version) != VERSION:
        raise FileFormatError(f"{name}: zeroskip_version is {version!r}; this zeroskip reads version {VERSION}")
    if shape_arr.ndim != 1 or (shape_arr.dtype.kind not in "iu" and len(shape_arr)):
        raise FileFormatError(
            f"{name}: shape must be a 1-d integer array, got {shape_arr.dtype} of shape {shape_arr.shape}"
        )
    if spec_arr is None or spec_arr.ndim != 0 or spec_arr.dtype.kind != "U":
        raise FileFormatError(f"{name}: format must be a string such as 'ds[1,0]', got {spec_arr!r}")
    shape = tuple(int(s) for s in shape_arr)
    spec = str(spec_arr[()])
    fmt = as_format(spec, ndim=len(shape))
    expected = set(_HEADER_KEYS)
    for depth, level in enumerate(fmt.levels):
        expected |= {f"level{depth}_pos"} if level.has_pos else set()
        expected |= {f"level{depth}_crd"} if level.has_crd else set()
    missing, extra = sorted(expected - set(arrays)), sorted(set(arrays) - expected)
    if missing or extra:
        raise FileFormatError(
            f"{name}: format {spec!r} needs keys {sorted(expected)}; missing {missing}, unexpected {extra}"
        )
    levels = tuple(
        LevelArrays(
            _native(arrays[f"level{d}_pos"]) if level.has_pos else None,
            _native(arrays[f"level{d}_crd"]) if level.has_crd else None,
        )
        for d, level in enumerate(fmt.levels)
    )
    return SparseTensor(shape, fmt, levels, _native(arrays["vals"]))


def _scipy_tensor(f, arrays: dict[str, np.ndarray], name: str) -> SparseTensor:
    import scipy.sparse as sp

    extra = sorted(set(arrays) - _SCIPY_KEYS)
    if extra:
        raise FileFormatError(f"{name}: unexpected keys {extra} in a scipy.sparse archive")
    for key in sorted(_SCIPY_KEYS & set(arrays) - {"format", "data", "_is_array"}):
        if arrays[key].dtype.kind not in "iu":  # scipy would cast float or complex indices silently
            raise FileFormatError(f"{name}: {key!r} must hold integers, got {arrays[key].dtype}")
    check_value_dtype(arrays["data"].dtype)
    matrix = sp.load_npz(f)
    if matrix.format in ("csr", "csc", "bsr"):
        # load_npz checks shallowly; scipy's C++ conversions trust indptr and indices, so check all.
        matrix.check_format(full_check=True)
    return SparseTensor.from_scipy(matrix)
