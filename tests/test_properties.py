"""Property tests: random tensors of order 0-4 in random formats, and the special cases.

The strategies draw small dimensions (0..6), every value dtype, and formats built from random
level strings (dense and compressed levels, and COO blocks ``n q..`` anywhere) with random mode
orders; the gold arrays include the empty, all-zero, one-element, full and boundary-only cases.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from zeroskip import Format, as_format, as_tensor, from_coo
from zeroskip.testing import assert_tensor_equal

DTYPES = [np.dtype(d) for d in (np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_)]
MAX_DIM = 6
# Cheap examples (a few ms each): run more than the profile's default, and never fewer.
many = settings(max_examples=max(300, settings().max_examples))


# ---- strategies --------------------------------------------------------------------------------
@st.composite
def formats(draw, ndim: int) -> Format:
    """Any valid format of this order: blocks of 'd', 's' or a COO block 'nq..', any mode order."""
    letters = ""
    while len(letters) < ndim:
        room = ndim - len(letters)
        block = draw(st.sampled_from(["d", "s", "coo"] if room >= 2 else ["d", "s"]))
        letters += "n" + "q" * (draw(st.integers(2, room)) - 1) if block == "coo" else block
    order = tuple(draw(st.permutations(range(ndim))))
    return as_format(letters, ndim=ndim, mode_order=order)


shapes = st.integers(0, 4).flatmap(lambda n: st.tuples(*[st.integers(0, MAX_DIM)] * n))


def _nonzero_elements(dtype: np.dtype):
    if dtype.kind == "b":
        return st.just(True)
    if dtype.kind == "f":
        # NaN, Inf, subnormals and -0.0 (which counts as zero) included
        return hnp.from_dtype(dtype, allow_nan=True, allow_infinity=True)
    return hnp.from_dtype(dtype).filter(lambda v: v != 0)


@st.composite
def golds(draw, shape=None, dtype=None) -> np.ndarray:
    """A dense gold: random sparse, empty, all-zero, one element, full, or boundary-only."""
    shape = draw(shapes) if shape is None else shape
    dtype = draw(st.sampled_from(DTYPES)) if dtype is None else dtype
    case = draw(st.sampled_from(["random", "random", "random", "zero", "one", "full", "boundary"]))
    note(f"gold case {case}, shape {shape}, dtype {dtype}")
    gold = np.zeros(shape, dtype=dtype)
    size = gold.size
    if case == "random":
        gold = draw(hnp.arrays(dtype, shape, elements=_nonzero_elements(dtype), fill=st.just(dtype.type(0))))
    elif case == "one" and size:
        index = draw(st.tuples(*[st.integers(0, n - 1) for n in shape]))
        gold[index] = draw(_nonzero_elements(dtype))
    elif case == "full" and size:
        gold = draw(hnp.arrays(dtype, shape, elements=_nonzero_elements(dtype)))
    elif case == "boundary" and size:
        for _ in range(draw(st.integers(1, 4))):
            index = tuple(draw(st.sampled_from([0, n - 1])) for n in shape)
            gold[index] = draw(_nonzero_elements(dtype))
    return gold


@st.composite
def gold_and_formats(draw, count: int = 1):
    gold = draw(golds())
    return (gold, *[draw(formats(gold.ndim)) for _ in range(count)])


# ---- properties --------------------------------------------------------------------------------
@many
@given(gold_and_formats())
def test_numpy_round_trip_is_exact(case):
    gold, fmt = case
    t = as_tensor(gold, fmt)
    assert t.format == fmt and t.dtype == gold.dtype and t.shape == gold.shape
    assert_tensor_equal(t, gold, check_index_dtype=True)
    back = t.to_numpy()
    assert back.dtype == gold.dtype and back.shape == gold.shape
    np.testing.assert_array_equal(back, gold)
    assert t.nnz == np.count_nonzero(gold)
    assert t.nbytes == t.vals.nbytes + sum(a.nbytes for lv in t.levels for a in (lv.pos, lv.crd) if a is not None)
    wide = as_tensor(gold, fmt, index_dtype=np.int64)
    assert all(a.dtype == np.int64 for lv in wide.levels for a in (lv.pos, lv.crd) if a is not None)
    assert_tensor_equal(wide, t, check_index_dtype=False)
    assert_tensor_equal(wide.asformat(fmt, index_dtype=np.int32), t, check_index_dtype=True)


@many
@given(gold_and_formats(count=2))
def test_format_a_to_b_to_a_is_identical(case):
    gold, fmt_a, fmt_b = case
    a = as_tensor(gold, fmt_a)
    b = a.asformat(fmt_b)
    assert b.format == fmt_b
    assert_tensor_equal(b, gold)
    assert_tensor_equal(b, as_tensor(gold, fmt_b))  # the same arrays as building B directly
    assert_tensor_equal(b.asformat(fmt_a), a)
    assert b.nnz == a.nnz == np.count_nonzero(gold)


@many
@given(gold_and_formats())
def test_transpose_twice_is_the_identity(case):
    gold, fmt = case
    t = as_tensor(gold, fmt)
    assert_tensor_equal(t.T, gold.T)
    assert_tensor_equal(t.T.T, t)
    axes = tuple(np.random.default_rng(gold.size).permutation(gold.ndim).tolist())
    assert_tensor_equal(t.transpose(axes), np.transpose(gold, axes))
    assert_tensor_equal(t.transpose(axes).transpose(np.argsort(axes)), t)


@st.composite
def coordinate_lists(draw):
    """Coordinates drawn from a small pool (so duplicates abound), boundaries included."""
    shape = draw(shapes.filter(lambda s: all(s)))
    dtype = draw(st.sampled_from([np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.int32),
                                  np.dtype(np.uint8), np.dtype(np.bool_)]))
    coordinate = st.tuples(*[st.sampled_from(sorted({0, n - 1, n // 2})) | st.integers(0, n - 1) for n in shape])
    pool = draw(st.lists(coordinate, min_size=1, max_size=5))
    picks = draw(st.lists(st.sampled_from(pool), max_size=30))
    if dtype.kind == "b":
        values = st.booleans()
    elif dtype.kind == "f":
        # multiples of 1/8: every sum is exact, whatever order the duplicates are added in
        values = st.integers(-24, 24).map(lambda k: k / 8)
    else:
        values = st.integers(-3 if dtype.kind == "i" else 0, 5)
    vals = np.array(draw(st.lists(values, min_size=len(picks), max_size=len(picks))), dtype=dtype)
    coords = np.array(picks, dtype=np.int64).reshape(len(picks), len(shape))
    return shape, coords, vals, draw(formats(len(shape)))


def _linear(coords: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Flat index of each coordinate (all 0 for a scalar, where numpy would give one 0)."""
    if not shape:
        return np.zeros(len(coords), dtype=np.intp)
    return np.ravel_multi_index(tuple(coords.T), shape)


@many
@given(coordinate_lists())
def test_from_coo_with_duplicates_summed_equals_add_at(case):
    shape, coords, vals, fmt = case
    gold = np.zeros(shape, dtype=vals.dtype)
    np.add.at(gold.reshape(-1), _linear(coords, shape), vals)
    t = from_coo(coords, vals, shape, fmt, sum_duplicates=True)
    assert t.dtype == vals.dtype
    assert_tensor_equal(t, gold)
    assert t.nnz == np.count_nonzero(gold)


@many
@given(coordinate_lists())
def test_from_coo_without_duplicates_in_any_order(case):
    shape, coords, vals, fmt = case
    linear = _linear(coords, shape)
    _, first = np.unique(linear, return_index=True)
    coords, vals = coords[np.sort(first)], vals[np.sort(first)]  # unique, still in drawn order
    gold = np.zeros(shape, dtype=vals.dtype)
    gold.reshape(-1)[_linear(coords, shape)] = vals
    assert_tensor_equal(from_coo(coords, vals, shape, fmt), gold)
    kept = from_coo(coords, vals, shape, fmt, keep_zeros=True)
    np.testing.assert_array_equal(kept.to_numpy(), gold)
    has_dense = fmt.is_dense or any(level.full for level in fmt.levels)  # a scalar is dense
    assert kept.nstored >= len(vals) if has_dense else kept.nstored == len(vals)


SCIPY_KINDS = ["csr", "csc", "coo", "bsr", "dia", "dok", "lil"]


@many
@given(st.data(), st.sampled_from(SCIPY_KINDS), st.booleans())
def test_scipy_round_trip_for_matrices(data, kind, matrix):
    gold = data.draw(golds(shape=data.draw(st.tuples(st.integers(0, MAX_DIM), st.integers(0, MAX_DIM)))))
    fmt = data.draw(formats(2))
    t = as_tensor(gold, fmt)
    out = t.to_scipy(kind, matrix=matrix)
    assert out.format == kind and sp.isspmatrix(out) == matrix
    np.testing.assert_array_equal(out.toarray(), gold)
    assert_tensor_equal(as_tensor(out, fmt), t)
