"""A kernel's sparse output: the buffers its chunks append to, and the output tensor built from them.

Buffers are generous (twice the expected entries: untouched pages cost nothing) and their memory
is written as few times as possible, because on a large output (SpGEMM with millions of
entries) page-faulting and zeroing fresh memory costs as much as the kernel. One chunk's buffer
becomes the output itself, shrunk in place. Several chunks' buffers are joined into the output
by the pool's threads, each copying its own chunk, so the copy and its page faults run in
parallel. A chunk that fills its buffer moves to one twice the size and resumes at the
coordinate that did not fit.

Example:
    >>> import numpy as np
    >>> b = Buffers(capacity=4, crd_dtype=np.dtype(np.int32), dtype=np.dtype(np.float64), recorded=1)
    >>> c0, v0 = b.slot(); c0[:2] = [0, 2]; v0[:2] = [1.0, 2.0]
    >>> c1, v1 = b.slot(); c1[:1] = [1]; v1[:1] = [3.0]
    >>> crd, vals = b.joined([(2, [c0, v0]), (1, [c1, v1])], lambda copy, bounds: [copy(0, 1), copy(1, 2)])
    >>> crd.tolist(), vals.tolist()
    ([0, 2, 1], [1.0, 2.0, 3.0])
"""

from __future__ import annotations

import numpy as np

from zeroskip.backends.cpu.support import count_positions, fill_levels
from zeroskip.config import check_dense_alloc
from zeroskip.formats.build import LevelArrays, choose_index_dtype, no_arrays
from zeroskip.formats.format import Format
from zeroskip.formats.tensor import SparseTensor, trusted_tensor


class Buffers:
    """Room for one chunk's entries, ``capacity`` each: ``recorded`` coordinate arrays, ``starts`` arrays of
    positions (where an appended node's children start) and the values."""

    def __init__(self, capacity: int, crd_dtype: np.dtype, dtype: np.dtype, recorded: int, starts: int = 0) -> None:
        self.capacity = capacity
        self.dtypes = [crd_dtype] * recorded + [np.dtype(np.int64)] * starts + [dtype]

    def slot(self) -> list[np.ndarray]:
        """One chunk's arrays (allocated by the thread that fills them, so it also takes their page faults)."""
        return [np.empty(self.capacity, d) for d in self.dtypes]

    @staticmethod
    def grown(arrays: list[np.ndarray], keep: int) -> list[np.ndarray]:
        """A full chunk's arrays at twice the size, its first ``keep`` entries kept."""
        out = []
        for a in arrays:
            bigger = np.empty(2 * len(a), a.dtype)
            bigger[:keep] = a[:keep]
            out.append(bigger)
        return out

    @staticmethod
    def joined(results: list, parallel) -> list[np.ndarray]:
        """Each of the chunks' arrays (the recorded ones and the values) end to end, from their ``(count, arrays)``.

        ``parallel(copy, bounds)`` runs ``copy(k, k + 1)`` for each chunk k (the run's thread map).
        The arrays held in ``results`` must not be used afterwards: one chunk's are shrunk in place.
        """
        if len(results) == 1:
            n, arrays = results[0]
            return [_shrunk(a, n) for a in arrays]
        ends = np.cumsum([0] + [n for n, _ in results]).tolist()
        out = [np.empty(ends[-1], a.dtype) for a in results[0][1]]

        def copy(k: int, _: int) -> None:
            n, arrays = results[k]
            for target, a in zip(out, arrays):
                target[ends[k]:ends[k + 1]] = a[:n]  # numpy lets go of the GIL for a large copy

        parallel(copy, list(range(len(results) + 1)))
        return out


def _shrunk(buf: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` entries of an array this module allocated, without a copy: realloc shrinks
    the block in place (glibc remaps a large one). Views of it must not be used afterwards."""
    if buf.flags.owndata and buf.base is None and n > 0:
        buf.resize(n, refcheck=False)
        return buf
    return buf[:n].copy()


def assemble(results: list, parallel, shape: tuple[int, ...], fmt: Format, dtype: np.dtype,
             nlevels: int) -> SparseTensor:
    """A sparse output of any format from the chunks' sorted entries ``(count, buffers)``: joined (as
    ``Buffers.joined`` does, by ``parallel``), then its levels built in one pass."""
    *coords, vals = Buffers.joined(results, parallel)
    storage = fmt.storage_shape(shape)
    compressed = [not lv.full for lv in fmt.levels]
    table = np.stack(coords, axis=1) if nlevels else np.empty((len(vals), 0), np.int64)
    flags = np.array(compressed, np.bool_)
    per_level = count_positions(table, flags) if nlevels else np.zeros(0, np.int64)
    positions, above = [], 1
    for level in range(nlevels):
        positions.append(above)  # parents of this level
        above = int(per_level[level]) if compressed[level] else above * storage[level]
    pos_sizes = [positions[lv] + 1 if compressed[lv] else 0 for lv in range(nlevels)]
    pos_start = np.concatenate(([0], np.cumsum(pos_sizes))).astype(np.int64)
    crd_start = np.concatenate(([0], np.cumsum(per_level))).astype(np.int64)
    pos_flat = np.zeros(int(pos_start[-1]), np.int64)
    crd_flat = np.zeros(int(crd_start[-1]), np.int64)
    check_dense_alloc(above, dtype.itemsize, "the output values")
    out_vals = np.zeros(above, dtype)
    if nlevels:
        fill_levels(table, vals, np.array(storage, np.int64), flags, pos_flat, pos_start, crd_flat, crd_start, out_vals)
    else:
        out_vals[:len(vals)] = vals
    index = choose_index_dtype(storage, [int(x) for x in per_level] + [above])
    levels = []
    for level in range(nlevels):
        if compressed[level]:
            pos = pos_flat[pos_start[level]:pos_start[level + 1]].astype(index)
            crd = crd_flat[crd_start[level]:crd_start[level + 1]].astype(index)
            levels.append(LevelArrays(pos=pos, crd=crd))
        else:
            levels.append(LevelArrays())
    return trusted_tensor(shape, fmt, tuple(levels), out_vals)


def assemble_counted(results: list, parallel, counts: np.ndarray, shape: tuple[int, ...], fmt: Format,
                     storage: tuple[int, ...]) -> SparseTensor:
    """Dense levels over one compressed level (CSR, a sparse vector): pos is the prefix sum of the counts."""
    crd, vals = Buffers.joined(results, parallel)
    index = choose_index_dtype(storage, [len(counts), len(vals)])
    pos = np.zeros(len(counts) + 1, index)  # int64 only when the entries outgrow int32
    if len(storage) == 1:
        pos[1] = len(vals)  # one parent: every entry (its count was kept across resumes)
    else:
        np.add.accumulate(counts, dtype=index, out=pos[1:])  # sums fit: the total is len(vals)
    levels = (*no_arrays(len(storage) - 1), LevelArrays(pos=pos, crd=crd.astype(index, copy=False)))
    return trusted_tensor(shape, fmt, levels, vals)


def assemble_appended(results: list, parallel, shape: tuple[int, ...], fmt: Format,
                      storage: tuple[int, ...]) -> SparseTensor:
    """An all-compressed output (DCSR, CSF) its kernel appended level by level, from the chunks' ``(count,
    arrays)``: arrays are each level's coordinates, then for each level below the top where its nodes'
    children start, then the values, then the chunk's node count on each level above the last.

    A level's crd is its chunks' coordinates end to end; its pos is its chunks' starts, each shifted by
    the children the chunks before it appended, closed by the level's total. Chunks split the top
    level, so no node spans two of them. The last level and the values, the large arrays, are
    joined by ``parallel`` as ``Buffers.joined`` does.

    >>> import numpy as np
    >>> from zeroskip.formats.format import as_format
    >>> chunk = lambda crd0, crd1, starts, vals: (len(vals), [np.array(crd0), np.array(crd1), np.array(starts),
    ...                                                       np.array(vals), np.array([len(crd0)])])
    >>> serial = lambda copy, bounds: [copy(k, k + 1) for k in range(len(bounds) - 1)]
    >>> t = assemble_appended([chunk([0], [1, 2], [0], [1.0, 2.0]), chunk([3], [0], [0], [3.0])], serial, (4, 3),
    ...                       as_format("ss"), (4, 3))
    >>> [lv.pos.tolist() for lv in t.levels], [lv.crd.tolist() for lv in t.levels], t.vals.tolist()
    ([[0, 2], [0, 2, 3]], [[0, 3], [1, 2, 0]], [1.0, 2.0, 3.0])
    """
    nlev = len(storage)
    nodes = [[*(int(n) for n in arrays[-1]), count] for count, arrays in results]  # per chunk, per level
    totals = [sum(per[lv] for per in nodes) for lv in range(nlev)]
    index = choose_index_dtype(storage, totals)
    leaf, vals = Buffers.joined([(count, [arrays[nlev - 1], arrays[2 * nlev - 1]]) for count, arrays in results],
                                parallel)
    levels = []
    for lv in range(nlev):
        if lv == nlev - 1:
            crd = leaf
        else:
            crd = np.concatenate([arrays[lv][:per[lv]] for (_, arrays), per in zip(results, nodes)])
        pos = np.empty((totals[lv - 1] if lv else 1) + 1, index)
        pos[0] = 0
        at = shift = 0
        for (_, arrays), per in zip(results, nodes) if lv else ():
            np.add(arrays[nlev + lv - 1][:per[lv - 1]], shift, out=pos[at:at + per[lv - 1]], casting="unsafe")
            at, shift = at + per[lv - 1], shift + per[lv]
        pos[-1] = totals[lv]
        levels.append(LevelArrays(pos=pos, crd=crd.astype(index, copy=False)))
    return trusted_tensor(shape, fmt, tuple(levels), vals)

