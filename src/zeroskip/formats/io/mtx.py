"""Matrix Market (``.mtx``) files through scipy.io (fast_matrix_market inside).

scipy does the parsing; this module screens the bytes first, because scipy 1.17's C++ reader
crashes the process (SIGSEGV/SIGFPE) on some malformed files: a NUL byte, a last line without a
newline, an ``array`` with a zero dimension, a non-square symmetric matrix. Every error scipy
raises comes back as ``FileFormatError`` naming the file.

Example:
    >>> import io, zeroskip as zs
    >>> text = b'''%%MatrixMarket matrix coordinate real symmetric
    ... 3 3 2
    ... 1 1 4.0
    ... 3 1 -1.5
    ... '''
    >>> t = read_mtx(io.BytesIO(text))
    >>> t.to_numpy().tolist()
    [[4.0, 0.0, -1.5], [0.0, 0.0, 0.0], [-1.5, 0.0, 0.0]]
"""

from __future__ import annotations

import io
import re

import numpy as np

from zeroskip.config import check_dense_alloc
from zeroskip.errors import DenseLimitError, DTypeError, FileFormatError, ShapeError
from zeroskip.formats.convert import as_tensor
from zeroskip.formats.io.files import open_write, read_bytes, source_name
from zeroskip.formats.tensor import SparseTensor

_FIELD_DTYPES = {"real": np.float64, "double": np.float64, "integer": np.int64,
                 "unsigned-integer": np.uint64, "pattern": np.float64}
_SYMMETRIES = ("general", "symmetric", "skew-symmetric")


def read_mtx(path_or_file, format=None, *, keep_zeros: bool = False) -> SparseTensor:
    """Read a Matrix Market matrix (coordinate or array; real, integer or pattern).

    Symmetric and skew-symmetric storage is expanded, duplicate entries are summed (as scipy
    does), pattern entries become float64 ones and explicit zeros are dropped unless
    ``keep_zeros``. ``path_or_file`` is a path (``.gz``/``.bz2`` decompressed) or a binary file.
    Default ``format``: CSR. A missing file raises ``FileNotFoundError``.

    Example:
        >>> import io
        >>> f = io.BytesIO(b"%%MatrixMarket matrix coordinate pattern general\\n2 2 1\\n2 1\\n")
        >>> read_mtx(f, "coo").to_numpy().tolist()
        [[0.0, 0.0], [1.0, 0.0]]
    """
    import scipy.io

    name = source_name(path_or_file)
    data = _screen(read_bytes(path_or_file, name), name)
    rows, cols, entries, layout, field, symmetry = _call(scipy.io.mminfo, io.BytesIO(data), name)
    _check_header(rows, cols, field, symmetry, name)
    dtype = np.dtype(_FIELD_DTYPES.get(field, np.float64))
    stored = _stored_count(rows, cols, entries, layout, symmetry)
    fmt = "csr" if format is None else format
    if layout == "array":
        check_dense_alloc(rows * cols, dtype.itemsize, f"the dense {rows} x {cols} array of {name}")
    # Every stored entry needs a line of >= 2 (array) or 4 (coordinate) bytes: a header that
    # promises more is truncated, and scipy would allocate for all of them first.
    min_line = 2 if layout == "array" else 4
    if stored > len(data) // min_line:
        raise FileFormatError(
            f"{name}: the header promises {stored} entries but the file has only {len(data)} bytes "
            f"(truncated file?)"
        )
    if layout == "array" and rows * cols == 0:
        # scipy divides by zero on a 0-sized array (SIGFPE): answer it here.
        return SparseTensor.from_coo(np.zeros((0, 2), np.int64), np.zeros(0, dtype), (rows, cols), fmt)
    try:
        matrix = scipy.io.mmread(io.BytesIO(data))
    except MemoryError as exc:
        raise DenseLimitError(f"{name}: reading it ran out of memory: {exc}") from exc
    except Exception as exc:
        raise FileFormatError(f"{name}: {_explain(exc, stored)}") from exc
    if layout == "array":
        return SparseTensor.from_numpy(np.asarray(matrix), fmt, keep_zeros=keep_zeros)
    row, col, vals = np.asarray(matrix.row), np.asarray(matrix.col), np.asarray(matrix.data)
    if symmetry == "skew-symmetric":
        diagonal = np.flatnonzero((row == col) & (vals != 0))
        if len(diagonal):
            k = int(diagonal[0])
            raise FileFormatError(
                f"{name}: a skew-symmetric matrix has a zero diagonal, but entry ({row[k] + 1}, "
                f"{col[k] + 1}) is {vals[k].item()!r}"
            )
    coords = np.stack([row.astype(np.int64), col.astype(np.int64)], axis=1)
    return SparseTensor.from_coo(coords, vals, (rows, cols), fmt, sum_duplicates=True, keep_zeros=keep_zeros)


def write_mtx(path, tensor, *, field: str | None = None, symmetry: str | None = None,
              comment: str = "", layout: str = "coordinate") -> None:
    """Write a matrix as a Matrix Market file (``.gz``/``.bz2`` paths are compressed).

    ``layout`` is ``coordinate`` (the nonzeros) or ``array`` (every entry, column-major, within
    the dense limit).

    ``field`` defaults from the dtype: bool -> ``pattern``, integers -> ``integer``, floats ->
    ``real`` (float32 is written as float64 text, so reading back gives the same numbers).
    ``symmetry`` ``symmetric`` or ``skew-symmetric`` stores the lower triangle; the matrix must
    have that symmetry exactly.

    Example:
        >>> import numpy as np, io
        >>> buf = io.BytesIO()
        >>> write_mtx(buf, np.array([[0, 2], [2, 0]]), symmetry="symmetric")
        >>> buf.getvalue().decode().splitlines()[::2]
        ['%%MatrixMarket matrix coordinate integer symmetric', '2 2 1']
    """
    import scipy.io
    import scipy.sparse as sp

    name = source_name(path)
    t = as_tensor(tensor)
    if t.ndim != 2:
        raise ShapeError(f"Matrix Market files hold matrices, not a tensor of order {t.ndim} (shape {t.shape})")
    coords, vals = t.to_coo()
    field = _choose_field(vals, field)
    vals = _field_values(vals, field)
    symmetry = "general" if symmetry is None else symmetry
    if symmetry not in _SYMMETRIES:
        raise FileFormatError(f"symmetry must be one of {_SYMMETRIES}, got {symmetry!r}")
    matrix = sp.coo_array((vals, (coords[:, 0], coords[:, 1])), shape=t.shape)
    if symmetry != "general":
        _check_symmetry(matrix, symmetry, field)
    if layout not in ("coordinate", "array"):
        raise FileFormatError(f"layout must be 'coordinate' or 'array', got {layout!r}")
    if layout == "array":
        if field == "pattern":
            raise FileFormatError("a pattern matrix has no array layout (it would list every entry as 1)")
        check_dense_alloc(t.size, vals.dtype.itemsize, f"the dense array written to {name}")
        matrix = matrix.toarray()
    with open_write(path) as f:
        try:
            scipy.io.mmwrite(f, matrix, comment=comment, field=field, symmetry=symmetry)
        except (ValueError, TypeError, OverflowError) as exc:
            raise FileFormatError(f"{name}: scipy could not write it: {exc}") from exc


# ---- reading helpers ---------------------------------------------------------------------------
def _screen(data: bytes, name: str) -> bytes:
    """Refuse or fix the byte patterns that crash scipy's reader (a NUL; no final newline)."""
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise FileFormatError(f"{name}: line {line}: a NUL byte (a Matrix Market file is text)")
    return data if data.endswith(b"\n") else data + b"\n"


def _call(fn, source, name: str):
    try:
        return fn(source)
    except Exception as exc:
        raise FileFormatError(f"{name}: {exc}") from exc


def _check_header(rows: int, cols: int, field: str, symmetry: str, name: str) -> None:
    if field == "complex" or symmetry == "hermitian":
        raise DTypeError(f"{name}: {field} {symmetry} matrices hold complex values, which zeroskip does not store")
    if field not in _FIELD_DTYPES:
        raise FileFormatError(f"{name}: unknown field {field!r}")
    if symmetry != "general" and rows != cols:
        # scipy mirrors entries of non-square symmetric files out of bounds (and crashes on arrays).
        raise FileFormatError(f"{name}: a {symmetry} matrix must be square, got {rows} x {cols}")


def _stored_count(rows: int, cols: int, entries: int, layout: str, symmetry: str) -> int:
    """Entries the file body must hold (an array file stores one triangle when symmetric)."""
    if layout != "array":
        return entries
    if symmetry == "symmetric":
        return rows * (rows + 1) // 2
    if symmetry == "skew-symmetric":
        return rows * (rows - 1) // 2
    return rows * cols


def _explain(exc: Exception, stored: int) -> str:
    message = str(exc)
    missing = re.search(r"Expected another (\d+) lines", message)
    if missing:
        read = stored - int(missing.group(1))
        message += f" (read {read} of the {stored} entries the header promises)"
    return message


# ---- writing helpers ----------------------------------------------------------------------------
def _choose_field(vals: np.ndarray, field: str | None) -> str:
    if field is None:
        return "pattern" if vals.dtype.kind == "b" else "integer" if vals.dtype.kind in "iu" else "real"
    if field == "complex":
        raise DTypeError("zeroskip stores real values; it does not write complex Matrix Market files")
    if field not in ("real", "integer", "pattern"):
        raise FileFormatError(f"field must be 'real', 'integer' or 'pattern', got {field!r}")
    return field


def _field_values(vals: np.ndarray, field: str) -> np.ndarray:
    if field == "pattern":
        return np.ones(len(vals))
    if field == "real":
        return vals.astype(np.float64)  # float32 -> float64 text: reading back gives the same value
    if vals.dtype.kind == "f" and not np.all(np.isfinite(vals) & (vals == np.round(vals))):
        raise DTypeError("field='integer' needs integer values, but some values have a fractional part")
    if vals.dtype.kind == "u" and len(vals) and vals.max() > np.iinfo(np.int64).max:
        raise DTypeError("values above 2**63 - 1 do not fit the Matrix Market integer field")
    if vals.dtype.kind == "f" and len(vals) and np.abs(vals).max() >= 2.0**63:
        raise DTypeError("values beyond +-2**63 do not fit the Matrix Market integer field")
    return vals.astype(np.int64)


def _check_symmetry(matrix, symmetry: str, field: str) -> None:
    rows, cols = matrix.shape
    if rows != cols:
        raise ShapeError(f"a {symmetry} matrix must be square, got {rows} x {cols}")
    if symmetry == "skew-symmetric" and field == "pattern":
        raise FileFormatError("a pattern matrix cannot be skew-symmetric (its values are all 1)")
    a = matrix.tocsr()
    other = (-a.T if symmetry == "skew-symmetric" else a.T).tocsr()
    differ = (a != other).tocoo()  # scipy writes only the lower triangle: the rest must mirror it
    if differ.nnz:
        raise FileFormatError(
            f"cannot write symmetry={symmetry!r}: the matrix is not {symmetry} at "
            f"({int(differ.row[0])}, {int(differ.col[0])}) (0-based)"
        )
