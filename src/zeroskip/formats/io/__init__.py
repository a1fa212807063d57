"""File I/O: Matrix Market (``.mtx``, ``.mtx.gz``, ``.mtx.bz2``), FROSTT (``.tns``) and ``.npz``.

``load``/``save`` pick the reader or writer from the file's extension; never pickle.

Example:
    >>> import numpy as np, tempfile, os, zeroskip as zs
    >>> t = zs.as_tensor(np.array([[0, 1.5], [2.0, 0]]))
    >>> path = os.path.join(tempfile.mkdtemp(), "a.mtx")
    >>> save(path, t)
    >>> load(path, format="csc").to_numpy().tolist()
    [[0.0, 1.5], [2.0, 0.0]]
"""

from __future__ import annotations

import os

from zeroskip.errors import FileFormatError
from zeroskip.formats.io.mtx import read_mtx, write_mtx
from zeroskip.formats.io.npz import read_npz, write_npz
from zeroskip.formats.io.tns import read_tns, write_tns
from zeroskip.formats.tensor import SparseTensor

_READERS = {
    ".mtx": read_mtx, ".mtx.gz": read_mtx, ".mtx.bz2": read_mtx,
    ".tns": read_tns, ".tns.gz": read_tns, ".tns.bz2": read_tns,
    ".npz": read_npz,
}
_WRITERS = {
    ".mtx": write_mtx, ".mtx.gz": write_mtx, ".mtx.bz2": write_mtx,
    ".tns": write_tns, ".tns.gz": write_tns, ".tns.bz2": write_tns,
    ".npz": write_npz,
}


def load(path, format=None, **kw) -> SparseTensor:
    """Read a tensor, choosing the reader by extension; ``format`` is the storage format wanted.

    Keywords go to the reader (``keep_zeros`` for .mtx; ``shape``, ``sum_duplicates`` for .tns).

    Example:
        >>> load("weights.mtx", format="dcsr")  # doctest: +SKIP
    """
    return _pick(path, _READERS)(path, format=format, **kw)


def save(path, tensor, **kw) -> None:
    """Write a tensor, choosing the writer by extension (``.npz`` keeps the storage exactly).

    Keywords go to the writer (``field``, ``symmetry``, ``comment`` for .mtx; ``compressed`` for .npz).

    Example:
        >>> save("t.tns", zs.as_tensor(np.ones((2, 2, 2))))  # doctest: +SKIP
    """
    _pick(path, _WRITERS)(path, tensor, **kw)


def _pick(path, table: dict):
    try:
        name = os.fsdecode(os.fspath(path))
    except TypeError:
        raise FileFormatError(f"load/save need a path to tell the file type, got {type(path).__name__}") from None
    lower = os.path.basename(name).lower()
    # Longest suffix first, so '.mtx.gz' wins over a bare '.gz'.
    for ext in sorted(table, key=len, reverse=True):
        if lower.endswith(ext):
            return table[ext]
    suffix = "".join(_suffixes(lower)) or "(none)"
    raise FileFormatError(
        f"cannot tell the file type of {name!r} from its extension {suffix!r}; "
        f"expected one of {', '.join(table)}"
    )


def _suffixes(basename: str) -> list[str]:
    parts = basename.split(".")[1:]
    return ["." + p for p in parts[-2:]]


__all__ = ["load", "read_mtx", "read_npz", "read_tns", "save", "write_mtx", "write_npz", "write_tns"]
