"""The radix sort behind mode-order changes equals numpy's stable lexsort, small and large."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import zeroskip as zs
from zeroskip.formats import sort


@st.composite
def coordinate_lists(draw):
    shape = tuple(draw(st.lists(st.integers(1, 7), min_size=0, max_size=4)))
    n = draw(st.integers(0, 60))
    rows = [[draw(st.integers(0, size - 1)) for size in shape] for _ in range(n)]
    return np.array(rows, dtype=np.int64).reshape(n, len(shape)), shape


@given(coordinate_lists())
def test_radix_order_is_stable_lexicographic(case):
    coords, shape = case
    old = sort.RADIX_MIN_NNZ
    sort.RADIX_MIN_NNZ = 0  # force the compiled path on small inputs
    try:
        got = sort.lexicographic_order(coords, shape)
    finally:
        sort.RADIX_MIN_NNZ = old
    expected = np.lexsort(coords.T[::-1]) if coords.shape[1] else np.arange(len(coords))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("shape", [(70_000,), (300, 400), (40, 50, 60), (2, 3, 5, 7)])
def test_radix_order_on_large_lists(shape):
    rng = np.random.default_rng(len(shape))
    coords = np.stack([rng.integers(0, s, 100_000) for s in shape], axis=1)
    np.testing.assert_array_equal(sort.lexicographic_order(coords, shape), np.lexsort(coords.T[::-1]))


def test_large_transpose_through_the_radix_path_matches_scipy():
    import scipy.sparse as sp

    rng = np.random.default_rng(3)
    nnz, n = 200_000, 5_000
    a = sp.coo_array((rng.random(nnz), (rng.integers(0, n, nnz), rng.integers(0, n, nnz))), shape=(n, n)).tocsr()
    t = zs.as_tensor(a)
    csc = t.asformat("csc")
    assert (csc.to_scipy("csc") != a.tocsc()).nnz == 0
    assert csc.asformat("csr").levels[1].crd.tolist() == t.levels[1].crd.tolist()
