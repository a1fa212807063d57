"""The helpers generated kernels call: the workspace sort and the NRT allocations, against numpy."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from numba import njit

from zeroskip.backends.cpu.alloc import clear, empty, zeros
from zeroskip.backends.cpu.support import SMALL_SORT, sort_prefix


@given(values=st.lists(st.integers(0, 2**40), max_size=400), cut=st.integers(0, 400),
       dtype=st.sampled_from([np.int64, np.uint32]))
def test_sort_prefix_sorts_the_prefix_and_leaves_the_rest(values, cut, dtype):
    a = np.array(values, dtype=np.int64).astype(dtype)
    n = min(cut, len(a))
    before = a.copy()
    sort_prefix(a, n)
    np.testing.assert_array_equal(a[:n], np.sort(before[:n]))
    np.testing.assert_array_equal(a[n:], before[n:])


def test_sort_prefix_on_long_and_repetitive_rows():
    rng = np.random.default_rng(3)
    for n in (SMALL_SORT, SMALL_SORT + 1, 1000, 50_000):
        for high in (3, 10**9):
            a = rng.integers(0, high, n)
            expect = np.sort(a)
            sort_prefix(a, n)
            np.testing.assert_array_equal(a, expect)


@njit
def _made(n, m):
    return zeros(n, np.float32), zeros((n, m), np.uint64), zeros((m,), np.bool_), empty(n, np.int64)


@given(n=st.integers(0, 300), m=st.integers(0, 5))
def test_kernel_allocations_are_numpy_arrays_of_the_asked_shape_and_dtype(n, m):
    a, b, c, d = _made(n, m)
    for got, shape, dtype in ((a, (n,), np.float32), (b, (n, m), np.uint64), (c, (m,), np.bool_), (d, (n,), np.int64)):
        assert got.shape == shape and got.dtype == dtype and got.flags.c_contiguous
    assert not a.any() and not b.any() and not c.any()
    b[...] = 7
    njit(lambda x: clear(x))(b)
    assert not b.any()
