"""Helpers the generated kernels call (binary search, ordering a sparse workspace) and output assembly.

Compiled once with ``cache=True``; the generated modules import them by name.

Example:
    >>> import numpy as np
    >>> int(lower_bound(np.array([1, 4, 4, 9]), 0, 4, 4))
    1
"""

from __future__ import annotations

import numpy as np
from numba import njit

OPTIONS = dict(cache=True, nogil=True, boundscheck=False, error_model="numpy")


@njit(**OPTIONS)
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


@njit(**OPTIONS)
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


@njit(**OPTIONS)
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
