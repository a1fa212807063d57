"""FROSTT ``.tns`` files: one nonzero per line, 1-based indices then the value.

Lines are ``i_1 ... i_N value``; ``#`` starts a comment and blank lines are skipped. Reading tries
numpy's C parser first; when it objects, a line-by-line scan finds what is wrong and says where.

Example:
    >>> import io
    >>> t = read_tns(io.BytesIO(b"# a 2 x 2 x 3 tensor\\n1 1 1 1.5\\n2 2 3 -4\\n"))
    >>> t.shape, t.format.name, t.to_coo()[1].tolist()
    ((2, 2, 3), 'csf', [1.5, -4.0])
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np

from zeroskip.errors import CoordinateError, DuplicateError, FileFormatError, ShapeError
from zeroskip.formats.convert import as_tensor, default_format
from zeroskip.formats.io.files import open_write, read_bytes, source_name
from zeroskip.formats.tensor import SparseTensor
from zeroskip.formats.validate import check_shape

_INT = re.compile(r"[+-]?[0-9]+\Z")
_INT64_MAX = np.iinfo(np.int64).max
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def read_tns(path, shape=None, format=None, *, sum_duplicates: bool = False) -> SparseTensor:
    """Read a FROSTT tensor of any order >= 1 (a path, ``.gz``/``.bz2`` too, or a binary file).

    ``shape`` defaults to the largest index of each mode; when given, an index beyond it raises
    ``CoordinateError``. Values are int64 when every value is an integer, else (and when empty) float64.
    Duplicated coordinates raise ``DuplicateError`` unless ``sum_duplicates``. Default format:
    a sparse vector, CSR for matrices, CSF above.

    Example:
        >>> import io
        >>> read_tns(io.BytesIO(b"3 7\\n1 2\\n"), shape=(4,)).to_numpy().tolist()
        [2, 0, 7, 0]
    """
    name = source_name(path)
    data = read_bytes(path, name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileFormatError(f"{name}: line {line}: not UTF-8 text ({exc.reason})") from exc
    if shape is not None:
        shape = check_shape(shape)
        if not shape:
            raise ShapeError("a .tns file holds a tensor of order >= 1, but shape=() was given")
    parsed = _fast(text, shape)
    coords, vals = parsed if parsed is not None else _scan(text, name, shape)[:2]
    if shape is None:
        if len(coords) == 0:
            raise FileFormatError(f"{name}: no entries, so the shape is unknown; pass shape=")
        shape = tuple(int(m) for m in coords.max(axis=0))
    fmt = default_format(len(shape)) if format is None else format
    try:
        return SparseTensor.from_coo(coords - 1, vals, shape, fmt, sum_duplicates=sum_duplicates)
    except DuplicateError:
        raise _duplicate_error(text, name, shape) from None


def write_tns(path, tensor) -> None:
    """Write a tensor of order >= 1 as FROSTT text: exact (shortest round-trip) floats, integers as such.

    The shape is not stored: read back with ``shape=`` when the last index of a mode is empty.

    Example:
        >>> import numpy as np, io
        >>> buf = io.BytesIO()
        >>> write_tns(buf, np.array([[0, 0.1], [3, 0]]))
        >>> buf.getvalue()
        b'1 2 0.1\\n2 1 3.0\\n'
    """
    t = as_tensor(tensor)
    if t.ndim < 1:
        raise ShapeError("a .tns file holds a tensor of order >= 1, not a scalar")
    coords, vals = t.to_coo()
    if vals.dtype.kind == "b":
        text_vals = vals.astype(np.int8).astype(str)
    elif vals.dtype.kind in "iu":
        text_vals = vals.astype(str)
    else:
        # numpy prints the shortest string that parses back to the same float64.
        text_vals = vals.astype(np.float64).astype(str)
    columns = [(coords[:, m] + 1).astype(str) for m in range(t.ndim)] + [text_vals]
    body = "".join(line + "\n" for line in map(" ".join, zip(*columns)))
    with open_write(path) as f:
        f.write(body.encode("ascii"))


def _fast(text: str, shape):
    """1-based coordinates and values by numpy's parser, or None when anything looks wrong."""
    ncols = _first_columns(text)
    if ncols is None or ncols < 2 or (shape is not None and ncols != len(shape) + 1):
        return None  # empty, or a problem the scan explains
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            table = np.loadtxt(io.StringIO(text), dtype=np.int64, comments="#", ndmin=2)
            coords, vals = table[:, :-1], table[:, -1]
        except ValueError:
            fields = [(f"i{m}", np.int64) for m in range(ncols - 1)] + [("v", np.float64)]
            try:
                rec = np.loadtxt(io.StringIO(text), dtype=np.dtype(fields), comments="#", ndmin=1)
            except (ValueError, OverflowError):
                return None
            coords = np.stack([rec[f"i{m}"] for m in range(ncols - 1)], axis=1)
            vals = np.ascontiguousarray(rec["v"])
        except OverflowError:
            return None
    if coords.shape[1] != ncols - 1 or len(coords) == 0:
        return None
    if coords.min() < 1 or (shape is not None and np.any(coords.max(axis=0) > np.array(shape))):
        return None
    return coords, vals


def _first_columns(text: str) -> int | None:
    for line in io.StringIO(text):  # lazily: stops at the first entry
        tokens = line.split("#", 1)[0].split()
        if tokens:
            return len(tokens)
    return None


def _scan(text: str, name: str, shape):
    """Parse line by line, raising ``FileFormatError`` with the line number at the first problem.

    Returns 1-based coordinates (nnz, order), values and the line number of each entry.
    """
    ncols = None if shape is None else len(shape) + 1
    first = None
    coords: list[list[int]] = []
    vals: list[int | float] = []
    lines: list[int] = []
    for lineno, line in enumerate(_LINE_BREAK.split(text), 1):
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        if ncols is None:
            ncols, first = len(tokens), lineno
            if ncols < 2:
                raise FileFormatError(
                    f"{name}: line {lineno}: {ncols} column; a line holds the indices (1 or more) then a value"
                )
        if len(tokens) != ncols:
            what = f"line {first} (the first entry) has {ncols}" if first else f"shape {shape} needs {ncols}"
            raise FileFormatError(f"{name}: line {lineno}: {len(tokens)} columns, but {what}: {line.strip()!r}")
        coords.append([_index(tok, mode, lineno, name, shape) for mode, tok in enumerate(tokens[:-1])])
        vals.append(_value(tokens[-1], lineno, name))
        lines.append(lineno)
    order = (ncols or 1) - 1 if shape is None else len(shape)
    all_int = bool(vals) and all(isinstance(v, int) for v in vals)  # no entries: float64, as scipy
    out_vals = np.array(vals, dtype=np.int64 if all_int else np.float64)
    return np.array(coords, dtype=np.int64).reshape(len(coords), order), out_vals, np.array(lines, dtype=np.int64)


def _index(token: str, mode: int, lineno: int, name: str, shape) -> int:
    if not _INT.match(token):
        raise FileFormatError(f"{name}: line {lineno}: index {token!r} of mode {mode} is not an integer")
    index = int(token)
    if index < 1:
        raise FileFormatError(
            f"{name}: line {lineno}: index {index} of mode {mode} is below 1 (.tns indices start at 1)"
        )
    if index > _INT64_MAX:
        raise FileFormatError(f"{name}: line {lineno}: index {index} of mode {mode} does not fit int64")
    if shape is not None and index > shape[mode]:
        raise CoordinateError(
            f"{name}: line {lineno}: index {index} of mode {mode} is beyond the shape {shape} "
            f"(1-based: {index} > {shape[mode]})"
        )
    return index


def _value(token: str, lineno: int, name: str) -> int | float:
    if _INT.match(token):
        value = int(token)
        if -_INT64_MAX - 1 <= value <= _INT64_MAX:
            return value
        return float(value)
    # Python's float() also takes '1_0' and non-ASCII digits; a .tns value is plain ASCII.
    if token.isascii() and "_" not in token:
        try:
            return float(token)
        except ValueError:
            pass
    raise FileFormatError(f"{name}: line {lineno}: value {token!r} is not a number")


def _duplicate_error(text: str, name: str, shape) -> DuplicateError:
    coords, _, lines = _scan(text, name, shape)
    _, first_seen, inverse = np.unique(coords, axis=0, return_index=True, return_inverse=True)
    repeats = np.flatnonzero(first_seen[inverse.reshape(-1)] != np.arange(len(coords)))
    k = int(repeats[0])
    earlier = int(lines[first_seen[inverse.reshape(-1)[k]]])
    return DuplicateError(
        f"{name}: line {int(lines[k])} repeats the coordinate {tuple(int(c) for c in coords[k])} of line "
        f"{earlier}; pass sum_duplicates=True to add duplicates together"
    )
