"""Helpers the generated kernels call (binary search, ordering a sparse workspace) and output assembly.

Compiled once with ``cache=True`` and loaded as the kernels are (``zeroskip.jit.cached_njit``); the generated
modules import them by name.

Example:
    >>> import numpy as np
    >>> int(lower_bound(np.array([1, 4, 4, 9]), 0, 4, 4))
    1
    >>> a = np.array([5, 3, 9, 1]); sort_prefix(a, 3); a.tolist()
    [3, 5, 9, 1]
    >>> bool(sorts_faster(3, 10**6)), bool(sorts_faster(500, 5000))
    (True, False)
    >>> from numba import njit
    >>> njit(lambda w: trailing_zeros(w))(np.uint64(40))
    3
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba.extending import intrinsic

from zeroskip.jit import cached_njit

OPTIONS = dict(nogil=True, boundscheck=False, error_model="numpy")


@cached_njit(**OPTIONS)
def lower_bound(crd, start, end, value):
    """First position in ``crd[start:end]`` (sorted) whose coordinate is at least ``value``."""
    start, end = np.int64(start), np.int64(end)  # uint32 positions would mix into float arithmetic
    while start < end:
        mid = (start + end) >> 1
        if crd[mid] < value:
            start = mid + 1
        else:
            end = mid
    return start


@intrinsic
def trailing_zeros(typingctx, x):
    """The index of the lowest set bit of a nonzero integer (LLVM's cttz: one instruction on x86-64)."""

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))  # 1: undefined for 0, never passed

    return x(x), codegen


SMALL_SORT = 32  # entries up to which an insertion sort beats numba's quicksort (its set-up costs ~200 ns)


GAPS = np.array([1, 4, 10, 23, 57, 132, 301, 701, 1577, 3548, 7983, 17961, 40412, 90927, 204585, 460316,
                 1035711], np.int64)  # Ciura's shell sort gaps, then each 2.25 times the last


@cached_njit(**OPTIONS)
def sort_prefix(a, n):
    """Sort ``a[:n]`` in place: by insertion when short (the rows of a sparse product), else by shell sort.

    Plain loops, not ``ndarray.sort``: numba's quicksort would make every kernel that sorts import
    its modules when its cache loads (about 14 ms). ``sorts_faster`` keeps the sorts short: a long
    row is read from the flags' bitset instead.
    """
    top = 0
    while top + 1 < len(GAPS) and GAPS[top + 1] < n:
        top += 1
    for g in range(top if n > SMALL_SORT else 0, -1, -1):
        gap = GAPS[g]
        for k in range(gap, n):
            key = a[k]
            j = k - gap
            while j >= 0 and a[j] > key:
                a[j + gap] = a[j]
                j -= gap
            a[j + gap] = key


@cached_njit(**OPTIONS)
def sorts_faster(n, size):
    """Whether sorting ``n`` touched coordinates beats scanning a bitset of ``size`` coordinates for them.

    Measured costs on x86-64: a bitset word about 0.5 ns, an insertion step 0.25 ns, a quicksort
    comparison 2.5 ns.
    """
    words = (size + 63) >> 6
    if n <= SMALL_SORT:
        return n * n < 2 * words
    return 5.0 * n * math.log2(n) < words


@cached_njit(**OPTIONS)
def count_positions(coords, compressed):
    """Positions of each storage level for sorted unique ``coords`` (n x levels); dense levels count 0."""
    n, nlev = coords.shape
    counts = np.zeros(nlev, np.int64)
    for e in range(n):
        new = e == 0
        for lev in range(nlev):
            new = new or coords[e, lev] != coords[e - 1, lev]
            if new and compressed[lev]:
                counts[lev] += 1
    return counts


@cached_njit(**OPTIONS)
def fill_levels(coords, vals, sizes, compressed, pos_flat, pos_start, crd_flat, crd_start, out_vals):
    """Build each compressed level's pos/crd and the values array from sorted unique ``coords``.

    Level ``l`` writes its pos at ``pos_flat[pos_start[l]:]`` and crd at ``crd_flat[crd_start[l]:]``;
    a dense level's position is its parent's times its size plus the coordinate (TACO's locate).
    """
    n, nlev = coords.shape
    seen = np.zeros(nlev, np.int64)  # positions appended so far per compressed level
    for e in range(n):
        new = e == 0
        parent = 0
        for lev in range(nlev):
            c = coords[e, lev]
            new = new or c != coords[e - 1, lev]
            if compressed[lev]:
                if new:
                    crd_flat[crd_start[lev] + seen[lev]] = c
                    pos_flat[pos_start[lev] + parent + 1] += 1
                    seen[lev] += 1
                parent = seen[lev] - 1
            else:
                parent = parent * sizes[lev] + c
        out_vals[parent] = vals[e]
    for lev in range(nlev):
        if compressed[lev]:
            nparent = pos_start[lev + 1] - pos_start[lev] - 1
            base = pos_start[lev]
            for q in range(nparent):
                pos_flat[base + q + 1] += pos_flat[base + q]
