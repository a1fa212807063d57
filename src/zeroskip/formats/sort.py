"""Sorting coordinate lists into storage order: LSD radix sort by counting, in compiled code.

Changing a tensor's mode order (CSR to CSC, CSF to another order) is a sort of its coordinates.
A comparison sort costs O(nnz log nnz); counting sorts per mode cost O(ndim * (nnz + dim)), about
ten times faster on millions of nonzeros, and are stable, so equal coordinates keep their order.

Example:
    >>> import numpy as np
    >>> coords = np.array([[1, 0], [0, 2], [1, 1], [0, 0]])
    >>> lexicographic_order(coords, (2, 3)).tolist()
    [3, 1, 0, 2]
"""

from __future__ import annotations

import numpy as np

from zeroskip.jit import cached_njit

RADIX_MIN_NNZ = 1 << 15  # below this numpy's argsort is as fast and needs no compiled code
RADIX_MAX_DIM = 1 << 26  # bucket arrays beyond this cost more memory than they save time


@cached_njit(nogil=True)
def _counting_pass(column: np.ndarray, size: int, order_in: np.ndarray, order_out: np.ndarray) -> None:
    counts = np.zeros(size + 1, dtype=np.int64)
    for i in range(order_in.shape[0]):
        counts[column[order_in[i]] + 1] += 1
    for c in range(size):
        counts[c + 1] += counts[c]
    for i in range(order_in.shape[0]):
        entry = order_in[i]
        c = column[entry]
        order_out[counts[c]] = entry
        counts[c] += 1


def lexicographic_order(coords: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Stable permutation that sorts the rows of ``coords`` (in range for ``shape``) lexicographically."""
    nnz, ndim = coords.shape
    if nnz < RADIX_MIN_NNZ or max(shape, default=0) > RADIX_MAX_DIM:
        return np.lexsort(coords.T[::-1]) if ndim else np.arange(nnz)
    order, spare = np.arange(nnz, dtype=np.int64), np.empty(nnz, dtype=np.int64)
    for mode in range(ndim - 1, -1, -1):  # least significant mode first
        column = np.ascontiguousarray(coords[:, mode])
        if shape[mode] > 1:
            _counting_pass(column, shape[mode], order, spare)
            order, spare = spare, order
    return order
