"""verify_tensor: the check of a tensor's storage at every boundary where it enters zeroskip.

Every failure names the level, the position and the values involved.

Example:
    >>> import numpy as np
    >>> from zeroskip.formats.format import as_format
    >>> from zeroskip.formats.build import LevelArrays, parent_index
    >>> bad = (LevelArrays(), LevelArrays(pos=np.array([0, 2, 1]), crd=np.array([0, 1])))
    >>> verify_tensor((2, 2), as_format("csr"), bad, np.ones(2))
    Traceback (most recent call last):
    ...
    zeroskip.errors.StructureError: pos of level 1 is not monotone at position 1: pos[1]=2 > pos[2]=1
"""

from __future__ import annotations

import numpy as np

from zeroskip.errors import CoordinateError, DTypeError, DuplicateError, OrderError, ShapeError, StructureError
from zeroskip.formats.build import LevelArrays, parent_index
from zeroskip.formats.format import Format

INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def check_shape(shape) -> tuple[int, ...]:
    """Normalize a shape to a tuple of non-negative ints whose product fits int64."""
    try:
        dims = tuple(shape)
    except TypeError:
        dims = (shape,)
    out = []
    for mode, size in enumerate(dims):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise ShapeError(f"dimension {mode} of shape {dims} is {size!r}, not an integer")
        if size < 0:
            raise ShapeError(f"dimension {mode} of shape {dims} is negative: {size}")
        out.append(int(size))
    total = 1
    for size in out:
        total *= size
    if total >= 2**63:
        raise ShapeError(f"shape {tuple(out)} has {total} elements, more than int64 can index")
    return tuple(out)


# Type numbers of the value dtypes: float32/64, every signed and unsigned integer, bool. A number, not
# the dtype, is what a hot path compares (dtype equality is slow, and C int and long share a width).
VALUE_TYPE_NUMS = frozenset(np.dtype(code).num for code in np.typecodes["AllInteger"] + "?fd")


def check_value_dtype(dtype) -> np.dtype:
    """Accept float32/64, signed and unsigned integers and bool; refuse the rest by name."""
    dtype = np.dtype(dtype)
    if not dtype.isnative:
        raise DTypeError(f"values of dtype {dtype.str} are not in native byte order; use native_values() first")
    if dtype.num in VALUE_TYPE_NUMS:
        return dtype
    raise DTypeError(f"values of dtype {dtype} are not supported; use float32, float64, an integer or bool")


def native_values(values) -> np.ndarray:
    """``values`` as an array in native byte order (big-endian input from files is converted once)."""
    array = np.asarray(values)
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))


def verify_tensor(
    shape: tuple[int, ...],
    fmt: Format,
    arrays: tuple[LevelArrays, ...],
    vals: np.ndarray,
    *,
    allow_zeros: bool = True,
) -> None:
    """Check that level arrays and values describe a valid tensor of ``shape`` in ``fmt``.

    With ``allow_zeros=False`` it also checks canonical form: no stored entry of a compressed or
    singleton level whose values are all zero.
    """
    if len(shape) != fmt.ndim:
        raise ShapeError(f"shape {shape} has order {len(shape)} but format {fmt.spec!r} has {fmt.ndim} levels")
    if len(arrays) != fmt.ndim:
        raise StructureError(f"format {fmt.spec!r} has {fmt.ndim} levels but {len(arrays)} level arrays were given")
    storage_shape = fmt.storage_shape(shape)
    index_dtype = None
    count = 1
    parent_counts = []
    for depth, (level, arr) in enumerate(zip(fmt.levels, arrays, strict=True)):
        size = storage_shape[depth]
        parent_counts.append(count)
        for name in ("pos", "crd"):
            arr_ = getattr(arr, name)
            wanted = getattr(level, f"has_{name}")
            if wanted and arr_ is None:
                raise StructureError(f"level {depth} ({level.kind.value}) needs a {name} array")
            if not wanted and arr_ is not None:
                raise StructureError(f"level {depth} ({level.kind.value}) has no {name} array, but one was given")
            if arr_ is not None:
                index_dtype = _check_index_array(arr_, f"{name} of level {depth}", index_dtype)
        if level.locate:
            count *= size
            continue
        if level.has_pos:
            _check_pos(arr.pos, count, depth)
            segment_starts = arr.pos[:-1]
            count = int(arr.pos[-1]) if len(arr.pos) else 0
        else:
            segment_starts = np.arange(count)
        if len(arr.crd) != count:
            raise StructureError(f"crd of level {depth} has {len(arr.crd)} entries, expected {count}")
        _check_crd_range(arr.crd, size, depth)
        if level.unique and not level.branchless:
            _check_fiber_order(arr.crd, segment_starts, depth)
    if vals.ndim != 1:
        raise StructureError(f"vals must be one-dimensional, got shape {vals.shape}")
    check_value_dtype(vals.dtype)
    if len(vals) != count:
        raise StructureError(f"vals has {len(vals)} entries but the last level has {count} positions")
    _check_tuples_unique(fmt, arrays)
    if not allow_zeros:
        _check_no_stored_zeros(fmt, arrays, vals, parent_counts)


def _check_index_array(arr: np.ndarray, what: str, index_dtype: np.dtype | None) -> np.dtype:
    if not isinstance(arr, np.ndarray) or arr.ndim != 1:
        raise StructureError(f"{what} must be a one-dimensional numpy array, got {type(arr).__name__}")
    if arr.dtype not in INDEX_DTYPES:
        raise DTypeError(f"{what} has dtype {arr.dtype}; index arrays are int32 or int64")
    if index_dtype is not None and arr.dtype != index_dtype:
        raise DTypeError(f"{what} has dtype {arr.dtype} but earlier index arrays are {index_dtype}")
    return arr.dtype


def _check_pos(pos: np.ndarray, parents: int, depth: int) -> None:
    if len(pos) != parents + 1:
        raise StructureError(f"pos of level {depth} has {len(pos)} entries, expected {parents + 1} (parents + 1)")
    if pos[0] != 0:
        raise StructureError(f"pos of level {depth} must start at 0, got pos[0]={int(pos[0])}")
    drops = np.flatnonzero(pos[1:] < pos[:-1])
    if len(drops):
        k = int(drops[0])
        raise StructureError(
            f"pos of level {depth} is not monotone at position {k}: pos[{k}]={int(pos[k])} > pos[{k + 1}]={int(pos[k + 1])}"
        )


def _check_crd_range(crd: np.ndarray, size: int, depth: int) -> None:
    bad = np.flatnonzero((crd < 0) | (crd >= size))
    if len(bad):
        k = int(bad[0])
        raise CoordinateError(
            f"coordinate {int(crd[k])} out of range for dimension of size {size} (crd of level {depth}, position {k})"
        )


def _check_fiber_order(crd: np.ndarray, segment_starts: np.ndarray, depth: int) -> None:
    if len(crd) < 2:
        return
    within = np.ones(len(crd) - 1, dtype=bool)  # pair (k, k+1) lies in one fiber
    starts = segment_starts[(segment_starts > 0) & (segment_starts < len(crd))]
    within[starts - 1] = False
    bad = np.flatnonzero(within & (crd[1:] <= crd[:-1]))
    if len(bad):
        k = int(bad[0])
        kind = DuplicateError if crd[k + 1] == crd[k] else OrderError
        what = "duplicate" if kind is DuplicateError else "unsorted"
        raise kind(
            f"{what} coordinates in a fiber of level {depth}: crd[{k}]={int(crd[k])}, crd[{k + 1}]={int(crd[k + 1])}"
        )


def _check_tuples_unique(fmt: Format, arrays: tuple[LevelArrays, ...]) -> None:
    """Below a non-unique level, whole coordinate tuples must be sorted and unique (COO)."""
    for depth, level in enumerate(fmt.levels):
        if level.unique or level.branchless:  # a block starts at its non-unique compressed level
            continue
        chain = [arrays[depth].crd]
        below = depth + 1
        while below < fmt.ndim and fmt.levels[below].branchless:
            chain.append(arrays[below].crd)
            below += 1
        cols = np.stack([c.astype(np.int64) for c in chain], axis=1)
        if len(cols) < 2:
            continue  # not return: a later COO block ('nqnq') is checked too
        diff = cols[1:] - cols[:-1]
        nonzero = diff != 0
        first = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), -1)
        sign = np.where(first >= 0, diff[np.arange(len(diff)), np.maximum(first, 0)], 0)
        within = np.ones(len(diff), dtype=bool)
        pos = arrays[depth].pos
        starts = pos[:-1][(pos[:-1] > 0) & (pos[:-1] < len(cols))]
        within[starts - 1] = False
        bad = np.flatnonzero(within & (sign <= 0))
        if len(bad):
            k = int(bad[0])
            kind, what = (DuplicateError, "duplicate") if sign[k] == 0 else (OrderError, "unsorted")
            raise kind(
                f"{what} coordinates below non-unique level {depth}: entry {k} {tuple(cols[k].tolist())} "
                f"then entry {k + 1} {tuple(cols[k + 1].tolist())}"
            )


def _check_no_stored_zeros(fmt: Format, arrays, vals: np.ndarray, parent_counts: list[int]) -> None:
    occupied = vals != 0
    for depth in range(fmt.ndim - 1, -1, -1):
        level, arr = fmt.levels[depth], arrays[depth]
        if not level.locate:
            empty = np.flatnonzero(~occupied)
            if len(empty):
                k = int(empty[0])
                raise StructureError(
                    f"stored entry at level {depth} position {k} (coordinate {int(arr.crd[k])}) holds only zeros; "
                    f"canonical form stores no zeros (keep_zeros=True allows them)"
                )
        if level.locate:
            occupied = occupied.reshape(parent_counts[depth], -1 if len(occupied) else 0).any(axis=1)
        elif level.has_pos:
            parents, _ = parent_index(level, arr, parent_counts[depth], 0)
            occupied = np.bincount(parents, weights=occupied, minlength=parent_counts[depth]) > 0
