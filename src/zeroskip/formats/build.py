"""Packing coordinate lists into level arrays and unpacking them again.

These two functions are the only code that walks levels to build or read storage; every
conversion (numpy, scipy, torch, files, format changes) goes through them, so a format is
supported everywhere as soon as its levels are.

Example:
    >>> import numpy as np
    >>> from zeroskip.formats.format import as_format
    >>> coords = np.array([[0, 1], [2, 0]])
    >>> levels, vals = pack(coords, np.array([5.0, 7.0]), (3, 2), as_format("csr").levels, np.int32)
    >>> levels[1].pos.tolist(), levels[1].crd.tolist()
    ([0, 1, 1, 2], [1, 0])
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from zeroskip.config import check_dense_alloc
from zeroskip.errors import CoordinateError, DTypeError, DuplicateError, ShapeError
from zeroskip.formats.level import Level
from zeroskip.formats.sort import RADIX_MIN_NNZ, lexicographic_order

INT32_MAX = np.iinfo(np.int32).max


@dataclass(frozen=True, slots=True, eq=False)
class LevelArrays:
    """The arrays of one stored level: ``pos`` (compressed only) and ``crd`` (compressed, singleton)."""

    pos: np.ndarray | None = None
    crd: np.ndarray | None = None


_EMPTY_LEVEL = LevelArrays()  # frozen, holds no arrays: every dense level can share it


@functools.lru_cache(maxsize=64)
def no_arrays(ndim: int) -> tuple[LevelArrays, ...]:
    """The level arrays of ``ndim`` dense levels (none), one shared tuple per ``ndim``."""
    return (_EMPTY_LEVEL,) * ndim


def level_sizes(coords: np.ndarray, storage_shape: tuple[int, ...], levels: tuple[Level, ...]) -> list[int]:
    """Number of positions of each level for sorted unique ``coords`` (storage order), without building."""
    sizes, parent, count = [], np.zeros(len(coords), dtype=np.int64), 1
    for depth, level in enumerate(levels):
        parent, count = _descend(parent, count, _keys(coords, depth, levels), storage_shape[depth], level)[:2]
        sizes.append(count)
    return sizes


def _keys(coords: np.ndarray, depth: int, levels: tuple[Level, ...]) -> np.ndarray:
    """The coordinates that tell entries of a level apart: its column, or for a non-unique level
    the tuple of its COO block (it and the singleton levels below), which levels after the block
    (``'nqd'``) may repeat."""
    if levels[depth].unique:
        return coords[:, depth]
    end = depth + 1
    while end < len(levels) and levels[end].branchless:
        end += 1
    return coords[:, depth:end]


def _descend(parent: np.ndarray, count: int, crd: np.ndarray, size: int, level: Level):
    """Positions of every nonzero one level down; returns (positions, level size, new-entry mask)."""
    if level.locate:
        return parent * size + crd, count * size, None
    if level.branchless:
        return parent, count, None
    new = np.ones(len(crd), dtype=bool)
    if len(crd) > 1:
        changed = crd[1:] != crd[:-1]
        if changed.ndim == 2:  # a COO block's tuple
            changed = changed.any(axis=1)
        new[1:] = (parent[1:] != parent[:-1]) | changed
    positions = np.cumsum(new) - 1
    return positions, int(new.sum()), new


def pack(
    coords: np.ndarray,
    vals: np.ndarray,
    storage_shape: tuple[int, ...],
    levels: tuple[Level, ...],
    index_dtype: type | None = None,
) -> tuple[tuple[LevelArrays, ...], np.ndarray]:
    """Build level arrays from sorted, unique coordinates given in storage (level) order.

    ``index_dtype`` None picks int32 when every size and position fits, else int64.
    """
    nnz = len(coords)
    if index_dtype is None:
        sizes = level_sizes(coords, storage_shape, levels)
        index_dtype = choose_index_dtype(storage_shape, sizes)
    out: list[LevelArrays] = []
    parent, count = np.zeros(nnz, dtype=np.int64), 1
    block_new = None  # which nonzeros start a new tuple of the COO block being built
    for depth, level in enumerate(levels):
        crd_all = coords[:, depth]
        positions, new_count, new = _descend(parent, count, _keys(coords, depth, levels), storage_shape[depth], level)
        if level.locate:
            out.append(LevelArrays())
            block_new = None
        elif level.branchless:
            kept = crd_all if block_new is None else crd_all[block_new]
            out.append(LevelArrays(crd=kept.astype(index_dtype)))
        else:
            block_new = None if level.unique else new
            check_dense_alloc(count + 1, 8, f"pos array of level {depth}")  # int64 bincount scratch
            counts = np.bincount(parent[new], minlength=count)
            pos = np.zeros(count + 1, dtype=index_dtype)
            np.cumsum(counts, out=pos[1:])
            out.append(LevelArrays(pos=pos, crd=crd_all[new].astype(index_dtype)))
        parent, count = positions, new_count
    check_dense_alloc(count, vals.dtype.itemsize, "the values array")
    if count == nnz and (nnz == 0 or (parent[0] == 0 and parent[-1] == nnz - 1)):
        out_vals = vals.copy()  # every position holds a nonzero: no scatter needed
    else:
        out_vals = np.zeros(count, dtype=vals.dtype)
        out_vals[parent] = vals
    return tuple(out), out_vals


def choose_index_dtype(storage_shape: tuple[int, ...], sizes: list[int]) -> type:
    """int32 when every dimension and level size fits in it, else int64."""
    largest = max([0, *storage_shape, *sizes])
    return np.int32 if largest <= INT32_MAX else np.int64


def parent_index(level: Level, arr: LevelArrays, count: int, size: int) -> tuple[np.ndarray, int]:
    """For each position of a level: the position of its parent; and how many positions the level has.

    ``count`` is the number of positions of the level above, ``size`` the level's dimension.
    """
    if level.locate:
        return np.repeat(np.arange(count, dtype=np.int64), size), count * size
    if level.branchless:
        return np.arange(count, dtype=np.int64), count
    return np.repeat(np.arange(count, dtype=np.int64), np.diff(arr.pos.astype(np.int64))), len(arr.crd)


def unpack(levels: tuple[Level, ...], arrays: tuple[LevelArrays, ...], storage_shape: tuple[int, ...]) -> np.ndarray:
    """Coordinates (storage order, int64) of every stored value, in storage order.

    Row ``p`` of the result is the coordinate of ``vals[p]``.
    """
    columns: list[np.ndarray] = []
    count = 1
    for depth, (level, arr) in enumerate(zip(levels, arrays, strict=True)):
        size = storage_shape[depth]
        if level.locate:
            check_dense_alloc(count * size, 8 * (depth + 1), f"coordinates of dense level {depth}")
            own = np.tile(np.arange(size, dtype=np.int64), count)
        else:
            own = arr.crd.astype(np.int64)
        parent, count = parent_index(level, arr, count, size)
        columns = [col[parent] for col in columns]
        columns.append(own)
    if not columns:
        return np.zeros((count, 0), dtype=np.int64)
    return np.stack(columns, axis=1)


def canonical_coo(
    coords: np.ndarray,
    vals: np.ndarray,
    shape: tuple[int, ...],
    *,
    sum_duplicates: bool = False,
    keep_zeros: bool = False,
    mode_order: tuple[int, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sort coordinates (rows of ``coords``), merge or reject duplicates, drop zeros.

    Coordinates must already be in range (see ``check_coords``). ``mode_order`` (of storage
    columns) only serves to quote a duplicate in the user's mode order.
    """
    nnz, ndim = coords.shape
    if nnz > 1 and ndim > 0:
        keys = _linear_keys(coords, shape)
        if keys is None:
            order = lexicographic_order(coords, shape)
            coords, vals = np.take(coords, order, axis=0), vals[order]  # take: 5x faster than 2-d fancy indexing
            same = np.all(coords[1:] == coords[:-1], axis=1)
        else:
            if np.any(keys[1:] < keys[:-1]):
                order = lexicographic_order(coords, shape) if nnz >= RADIX_MIN_NNZ else np.argsort(keys, kind="stable")
                coords, vals, keys = np.take(coords, order, axis=0), vals[order], keys[order]
            same = keys[1:] == keys[:-1]
    else:
        same = np.ones(max(nnz - 1, 0), dtype=bool)  # a scalar's entries all share one coordinate
    if same.any():
        if not sum_duplicates:
            first = coords[int(np.flatnonzero(same)[0])]
            if mode_order is not None:
                first = first[np.argsort(mode_order)]  # storage columns back to mode order
            raise DuplicateError(
                f"coordinate {tuple(int(c) for c in first)} appears more than once; "
                f"pass sum_duplicates=True to add duplicates together"
            )
        starts = np.flatnonzero(np.concatenate(([True], ~same)))
        # dtype= keeps the value dtype: reduceat would widen int32/uint8 to int64/uint64 and bool to int64
        summed = np.add.reduceat(vals, starts, dtype=vals.dtype) if len(vals) else vals
        if vals.dtype.kind in "iu" and len(vals):
            _check_sum_fits(np.add.reduceat(vals.astype(np.float64), starts), summed, coords[starts])
        vals = summed
        coords = np.take(coords, starts, axis=0)
    if not keep_zeros:
        keep = vals != 0
        if not keep.all():
            coords, vals = coords[keep], vals[keep]
    return coords, vals


def _check_sum_fits(sums: np.ndarray, wrapped: np.ndarray, coords: np.ndarray) -> None:
    """Integer duplicates must not wrap around when summed (numpy wraps silently).

    A wrap moves the sum by a multiple of 2**bits, far beyond the rounding of the float64 sum.
    """
    dtype = wrapped.dtype
    bad = np.flatnonzero(np.abs(sums - wrapped.astype(np.float64)) >= 2.0 ** (8 * dtype.itemsize - 1))
    if len(bad):
        k, info = int(bad[0]), np.iinfo(dtype)
        raise DTypeError(
            f"summing the duplicates of coordinate {tuple(int(c) for c in coords[k])} gives {sums[k]:.6g}, "
            f"outside {dtype} [{info.min}, {info.max}]; cast the values to a wider type first"
        )


def _linear_keys(coords: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    total = 1
    for size in shape:
        total *= int(size)
    if total >= 2**62:
        return None  # would overflow int64: lexsort instead
    return np.ravel_multi_index(tuple(coords.T), shape)


def check_coords(coords: np.ndarray, shape: tuple[int, ...]) -> None:
    """Raise ``CoordinateError`` naming the first coordinate outside its dimension."""
    if coords.ndim != 2 or coords.shape[1] != len(shape):
        raise ShapeError(f"coordinates of shape {coords.shape} do not fit a tensor of order {len(shape)}")
    if len(coords) == 0:
        return
    for mode, size in enumerate(shape):
        column = coords[:, mode]
        bad = np.flatnonzero((column < 0) | (column >= size))
        if len(bad):
            entry = int(bad[0])
            raise CoordinateError(
                f"coordinate {int(column[entry])} out of range for dimension {mode} of size {size} "
                f"(entry {entry}: {tuple(int(c) for c in coords[entry])})"
            )
