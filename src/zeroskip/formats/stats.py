"""Statistics of a tensor: nonzeros, fiber lengths per level, NaN/Inf, memory footprint per format.

Example:
    >>> import numpy as np, zeroskip as zs
    >>> t = zs.as_tensor(np.array([[1.0, 0, 2], [0, 0, 0], [0, 3, 0]]), "csr")
    >>> s = tensor_stats(t)
    >>> s.levels[1].empty_fibers, s.levels[1].max_length
    (1, 2)
    >>> smallest_format(t)[0].name
    'csr'
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from zeroskip.formats import build
from zeroskip.formats.format import Format, as_format
from zeroskip.formats.tensor import SparseTensor


@dataclass(frozen=True, slots=True)
class LevelStats:
    """Fibers of one level: a fiber is the set of children of one position of the level above.

    A fiber's length counts the children that hold a nonzero somewhere below them (for a CSR
    matrix, level 1 fiber lengths are the nonzeros per row), so it is the same for every level kind;
    a non-unique level (COO) counts its stored entries, one per nonzero.
    """

    level: int
    mode: int
    kind: str
    fibers: int
    empty_fibers: int
    mean_length: float
    max_length: int
    histogram: tuple[tuple[int, int, int], ...]  # (low, high, fibers with low <= length <= high)


@dataclass(frozen=True, slots=True)
class TensorStats:
    """Everything ``zeroskip info`` prints about one tensor."""

    shape: tuple[int, ...]
    format: str
    dtype: str
    index_dtype: str
    nnz: int
    nstored: int
    density: float
    sparsity: float
    nan_count: int
    inf_count: int
    nbytes: int
    levels: tuple[LevelStats, ...]

    def to_dict(self) -> dict:
        """Plain JSON-ready dict."""
        out = {name: getattr(self, name) for name in self.__slots__ if name != "levels"}
        out["levels"] = [{name: getattr(lv, name) for name in lv.__slots__} for lv in self.levels]
        return out


def tensor_stats(tensor: SparseTensor) -> TensorStats:
    """Counts, density, NaN/Inf and per-level fiber statistics of ``tensor`` in its own format."""
    vals = tensor.vals
    is_float = vals.dtype.kind == "f"
    return TensorStats(
        shape=tensor.shape,
        format=tensor.format.name,
        dtype=str(tensor.dtype),
        index_dtype=str(tensor.index_dtype),
        nnz=tensor.nnz,
        nstored=tensor.nstored,
        density=tensor.density,
        sparsity=tensor.sparsity,
        nan_count=int(np.isnan(vals).sum()) if is_float else 0,
        inf_count=int(np.isinf(vals).sum()) if is_float else 0,
        nbytes=tensor.nbytes,
        levels=_level_stats(tensor),
    )


def _level_stats(tensor: SparseTensor) -> tuple[LevelStats, ...]:
    fmt, storage_shape = tensor.format, tensor.format.storage_shape(tensor.shape)
    # Parent index of every position, level by level, top down.
    parents, counts, count = [], [], 1
    for depth, (level, arr) in enumerate(zip(fmt.levels, tensor.levels, strict=True)):
        counts.append(count)
        parent, count = build.parent_index(level, arr, count, storage_shape[depth])
        parents.append(parent)
    # Bottom up: which positions hold a nonzero below them, and fiber lengths from those.
    occupied = tensor.vals != 0
    out = []
    for depth in range(fmt.ndim - 1, -1, -1):
        lengths = np.bincount(parents[depth], weights=occupied, minlength=counts[depth]).astype(np.int64)
        out.append(_summarize(depth, fmt, lengths))
        occupied = lengths > 0
    return tuple(reversed(out))


def _summarize(depth: int, fmt: Format, lengths: np.ndarray) -> LevelStats:
    level = fmt.levels[depth]
    top = int(lengths.max()) if len(lengths) else 0
    histogram = []
    low = 0
    while low <= top:
        high = 0 if low == 0 else 2 * low - 1  # bins 0, 1, 2-3, 4-7, ...: power-law rows stay readable
        histogram.append((low, high, int(((lengths >= low) & (lengths <= high)).sum())))
        low = 1 if low == 0 else 2 * low
    return LevelStats(
        level=depth,
        mode=fmt.mode_order[depth],
        kind=level.kind.value if level.unique else f"{level.kind.value}(non-unique)",
        fibers=len(lengths),
        empty_fibers=int((lengths == 0).sum()),
        mean_length=float(lengths.mean()) if len(lengths) else 0.0,
        max_length=top,
        histogram=tuple(histogram),
    )


def footprint(tensor: SparseTensor, format: str | Format) -> int:
    """Bytes of pos, crd and vals if ``tensor`` were stored in ``format`` (computed, not built).

    Example:
        >>> import numpy as np, zeroskip as zs
        >>> t = zs.as_tensor(np.eye(4), "csr")
        >>> footprint(t, "dense"), footprint(t, "csr") == t.nbytes
        (128, True)
    """
    return footprints(tensor, [format])[as_format(format, ndim=tensor.ndim).spec]


def candidate_formats(ndim: int) -> list[Format]:
    """Every format of dense/compressed levels in every mode order, plus COO."""
    out = [as_format("coo", ndim=ndim)] if ndim >= 2 else []
    for order in itertools.permutations(range(ndim)):
        for letters in itertools.product("ds", repeat=ndim):
            out.append(as_format("".join(letters), mode_order=order))
    return out


def footprints(tensor: SparseTensor, formats=None) -> dict[str, int]:
    """Bytes of ``tensor`` in each of ``formats`` (default ``candidate_formats``), keyed by format spec."""
    fmts = candidate_formats(tensor.ndim) if formats is None else [as_format(f, ndim=tensor.ndim) for f in formats]
    coords, vals = tensor.to_coo()
    out: dict[str, int] = {}
    by_order: dict[tuple[int, ...], list[Format]] = {}
    for fmt in fmts:
        by_order.setdefault(fmt.mode_order, []).append(fmt)
    for order, group in by_order.items():
        storage_shape = tuple(tensor.shape[m] for m in order)
        storage, _ = build.canonical_coo(coords[:, list(order)], vals, storage_shape, keep_zeros=True)
        for fmt in group:
            out[fmt.spec] = _bytes(storage, storage_shape, fmt, tensor.dtype.itemsize)
    return out


def _bytes(storage: np.ndarray, storage_shape: tuple[int, ...], fmt: Format, value_size: int) -> int:
    sizes = build.level_sizes(storage, storage_shape, fmt.levels)
    index_size = np.dtype(build.choose_index_dtype(storage_shape, sizes)).itemsize
    entries, parents = 0, 1
    for level, size in zip(fmt.levels, sizes, strict=True):
        entries += (parents + 1 if level.has_pos else 0) + (size if level.has_crd else 0)
        parents = size
    return entries * index_size + parents * value_size


def smallest_format(tensor: SparseTensor, formats=None) -> tuple[Format, int]:
    """The format (of ``formats``, default ``candidate_formats``) with the fewest bytes, and its bytes.

    Ties go to the earlier candidate, so COO wins only when strictly smaller.
    """
    sizes = footprints(tensor, formats)
    spec = min(sizes, key=sizes.__getitem__)
    return as_format(spec), sizes[spec]


def density_grid(rows, cols, shape: tuple[int, int], height: int, width: int) -> np.ndarray:
    """Stored entries per cell of a ``height`` x ``width`` grid laid over a matrix of ``shape`` (what a spy
    plot draws), from the entries' ``rows`` and ``cols``.

    Example:
        >>> density_grid([0, 1, 3], [0, 0, 3], (4, 4), 2, 2).tolist()
        [[2, 0], [0, 1]]
    """
    m, n = max(shape[0], 1), max(shape[1], 1)
    r = np.asarray(rows, dtype=np.int64) * height // m
    c = np.asarray(cols, dtype=np.int64) * width // n
    grid = np.zeros((height, width), dtype=np.int64)
    np.add.at(grid, (r, c), 1)
    return grid
