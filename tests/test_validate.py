"""Every error of direct construction, of coordinate input and of the dense limit.

Each test asserts the exception class and the part of the message that names the failure.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import zeroskip
from zeroskip import (
    CoordinateError,
    DenseLimitError,
    DTypeError,
    DuplicateError,
    FormatError,
    OrderError,
    ShapeError,
    SparseTensor,
    StructureError,
    as_tensor,
    from_coo,
)
from zeroskip.formats import LevelArrays, verify_tensor
from zeroskip.testing import assert_tensor_equal

I32 = np.int32


def a32(*values) -> np.ndarray:
    return np.array(values, dtype=I32)


def csr(shape, pos, crd, vals=None) -> SparseTensor:
    """A CSR tensor straight from its arrays (always verified)."""
    vals = np.ones(len(crd)) if vals is None else vals
    return SparseTensor(shape, "csr", (LevelArrays(), LevelArrays(pos=pos, crd=crd)), vals)


def _rising_pos(rows: int) -> np.ndarray:
    return np.arange(rows + 1, dtype=I32)  # one entry per row


# ---- the table of bad level arrays -------------------------------------------------------------
def _drop_at_17():
    pos = _rising_pos(20)
    pos[18] = 16  # pos[17]=17 > pos[18]=16
    return csr((20, 5), pos, np.zeros(20, dtype=I32))


#        name, builder, error class, text the message contains
BAD_ARRAYS = [
    ("pos-not-monotone", _drop_at_17, StructureError,
     "pos of level 1 is not monotone at position 17: pos[17]=17 > pos[18]=16"),
    ("pos-not-from-0", lambda: csr((2, 3), a32(1, 2, 3), a32(0, 1)), StructureError,
     "pos of level 1 must start at 0, got pos[0]=1"),
    ("pos-too-short", lambda: csr((4, 3), a32(0, 1, 2), a32(0, 1)), StructureError,
     "pos of level 1 has 3 entries, expected 5 (parents + 1)"),
    ("pos-too-long", lambda: csr((1, 3), a32(0, 1, 2), a32(0, 1)), StructureError,
     "pos of level 1 has 3 entries, expected 2"),
    ("pos-empty", lambda: csr((0, 3), a32(), a32()), StructureError,
     "pos of level 1 has 0 entries, expected 1"),
    ("crd-out-of-range", lambda: csr((2, 1024), a32(0, 2, 3), a32(5, 1030, 7)), CoordinateError,
     "coordinate 1030 out of range for dimension of size 1024 (crd of level 1, position 1)"),
    ("crd-negative", lambda: csr((2, 8), a32(0, 1, 1), a32(-3)), CoordinateError,
     "coordinate -3 out of range for dimension of size 8"),
    ("crd-too-short", lambda: csr((2, 8), a32(0, 1, 4), a32(0, 1, 2), np.ones(4)), StructureError,
     "crd of level 1 has 3 entries, expected 4"),
    ("crd-unsorted", lambda: csr((2, 8), a32(0, 3, 3), a32(1, 5, 2)), OrderError,
     "unsorted coordinates in a fiber of level 1: crd[1]=5, crd[2]=2"),
    ("crd-duplicate", lambda: csr((2, 8), a32(0, 1, 4), a32(1, 2, 6, 6)), DuplicateError,
     "duplicate coordinates in a fiber of level 1: crd[2]=6, crd[3]=6"),
    ("dcsr-rows-unsorted", lambda: SparseTensor(
        (4, 4), "dcsr", (LevelArrays(a32(0, 2), a32(3, 1)), LevelArrays(a32(0, 1, 2), a32(0, 0))), np.ones(2)),
     OrderError, "unsorted coordinates in a fiber of level 0: crd[0]=3, crd[1]=1"),
    ("coo-duplicate-tuple", lambda: SparseTensor(
        (3, 3), "coo", (LevelArrays(a32(0, 3), a32(0, 1, 1)), LevelArrays(None, a32(2, 0, 0))), np.ones(3)),
     DuplicateError, "duplicate coordinates below non-unique level 0: entry 1 (1, 0) then entry 2 (1, 0)"),
    ("coo-unsorted-tuple", lambda: SparseTensor(
        (3, 3), "coo", (LevelArrays(a32(0, 3), a32(0, 1, 1)), LevelArrays(None, a32(2, 2, 1))), np.ones(3)),
     OrderError, "unsorted coordinates below non-unique level 0: entry 1 (1, 2) then entry 2 (1, 1)"),
    ("coo-unsorted-rows", lambda: SparseTensor(
        (3, 3), "coo", (LevelArrays(a32(0, 2), a32(2, 1)), LevelArrays(None, a32(0, 0))), np.ones(2)),
     OrderError, "entry 0 (2, 0) then entry 1 (1, 0)"),
    ("coo-3d-duplicate", lambda: SparseTensor(
        (2, 2, 2), "coo",
        (LevelArrays(a32(0, 2), a32(1, 1)), LevelArrays(None, a32(0, 0)), LevelArrays(None, a32(1, 1))),
        np.ones(2)),
     DuplicateError, "entry 0 (1, 0, 1) then entry 1 (1, 0, 1)"),
    ("second-coo-block-duplicate", lambda: SparseTensor(
        (1, 1, 2, 2), "nqnq",
        (LevelArrays(a32(0, 1), a32(0)), LevelArrays(None, a32(0)), LevelArrays(a32(0, 2), a32(1, 1)),
         LevelArrays(None, a32(0, 0))), np.ones(2)),
     DuplicateError, "duplicate coordinates below non-unique level 2: entry 0 (1, 0) then entry 1 (1, 0)"),
    ("coo-singleton-out-of-range", lambda: SparseTensor(
        (3, 3), "coo", (LevelArrays(a32(0, 1), a32(0)), LevelArrays(None, a32(3))), np.ones(1)),
     CoordinateError, "coordinate 3 out of range for dimension of size 3 (crd of level 1, position 0)"),
    ("coo-singleton-too-long", lambda: SparseTensor(
        (3, 3), "coo", (LevelArrays(a32(0, 1), a32(0)), LevelArrays(None, a32(1, 2))), np.ones(1)),
     StructureError, "crd of level 1 has 2 entries, expected 1"),
    ("vals-too-short", lambda: csr((2, 8), a32(0, 2, 4), a32(0, 1, 2, 3), np.ones(3)), StructureError,
     "vals has 3 entries but the last level has 4 positions"),
    ("vals-too-long-dense", lambda: SparseTensor((2, 3), "dense", (LevelArrays(), LevelArrays()), np.ones(7)),
     StructureError, "vals has 7 entries but the last level has 6 positions"),
    ("vals-2d", lambda: csr((2, 8), a32(0, 1, 2), a32(0, 1), np.ones((2, 1))), StructureError,
     "vals must be one-dimensional, got shape (2, 1)"),
    ("mixed-int32-int64", lambda: csr((2, 8), a32(0, 1, 2), np.array([0, 1], dtype=np.int64)), DTypeError,
     "crd of level 1 has dtype int64 but earlier index arrays are int32"),
    ("mixed-across-levels", lambda: SparseTensor(
        (4, 4), "dcsr", (LevelArrays(np.array([0, 1]), np.array([0])), LevelArrays(a32(0, 1), a32(2))),
        np.ones(1)),
     DTypeError, "pos of level 1 has dtype int32 but earlier index arrays are int64"),
    ("float-pos", lambda: csr((2, 8), np.array([0.0, 1.0, 2.0]), a32(0, 1)), DTypeError,
     "pos of level 1 has dtype float64; index arrays are int32 or int64"),
    ("uint-crd", lambda: csr((2, 8), a32(0, 1, 2), np.array([0, 1], dtype=np.uint32)), DTypeError,
     "crd of level 1 has dtype uint32; index arrays are int32 or int64"),
    ("int16-crd", lambda: csr((2, 8), np.array([0, 1, 2], np.int16), np.array([0, 1], np.int16)), DTypeError,
     "pos of level 1 has dtype int16"),
    ("list-crd", lambda: csr((2, 8), a32(0, 1, 2), [0, 1]), StructureError,
     "level arrays must be numpy arrays, got list"),
    ("2d-crd", lambda: csr((2, 8), a32(0, 1, 2), np.zeros((2, 1), dtype=I32)), StructureError,
     "crd of level 1 must be a one-dimensional numpy array"),
    ("missing-crd", lambda: SparseTensor((2, 8), "csr", (LevelArrays(), LevelArrays(pos=a32(0, 0, 0))),
                                         np.ones(0)),
     StructureError, "level 1 (compressed) needs a crd array"),
    ("missing-pos", lambda: SparseTensor((2, 8), "csr", (LevelArrays(), LevelArrays(crd=a32(0))), np.ones(1)),
     StructureError, "level 1 (compressed) needs a pos array"),
    ("pos-on-dense", lambda: SparseTensor((2, 8), "csr", (LevelArrays(pos=a32(0, 2)), LevelArrays(a32(0, 0, 0),
                                                                                                 a32())),
                                          np.ones(0)),
     StructureError, "level 0 (dense) has no pos array, but one was given"),
    ("pos-on-singleton", lambda: SparseTensor(
        (3, 3), "coo", (LevelArrays(a32(0, 1), a32(0)), LevelArrays(a32(0, 1), a32(1))), np.ones(1)),
     StructureError, "level 1 (singleton) has no pos array, but one was given"),
    ("too-few-level-arrays", lambda: SparseTensor((2, 8), "csr", (LevelArrays(),), np.ones(16)),
     StructureError, "format 'ds' has 2 levels but 1 level arrays were given"),
]  # fmt: skip


@pytest.mark.parametrize("build, error, text", [row[1:] for row in BAD_ARRAYS], ids=[row[0] for row in BAD_ARRAYS])
def test_bad_level_arrays(build, error, text):
    with pytest.raises(error) as info:
        build()
    assert type(info.value) is error
    assert text in str(info.value), str(info.value)


def test_unsorted_across_fibers_is_fine():
    t = csr((2, 8), a32(0, 2, 4), a32(5, 6, 0, 1), np.arange(1.0, 5.0))
    assert_tensor_equal(t, np.array([[0, 0, 0, 0, 0, 1.0, 2.0, 0], [3.0, 4.0, 0, 0, 0, 0, 0, 0]]))
    assert t.index_dtype == np.int32


def test_verify_tensor_directly_and_error_hierarchy():
    with pytest.raises(StructureError, match=r"pos of level 1 is not monotone at position 1: pos\[1\]=2 > pos\[2\]=1"):
        verify_tensor((2, 2), zeroskip.as_format("csr"), (LevelArrays(), LevelArrays(a32(0, 2, 1), a32(0, 1))),
                      np.ones(2))
    with pytest.raises(ShapeError, match=r"shape \(2, 2, 2\) has order 3 but format 'ds' has 2 levels"):
        verify_tensor((2, 2, 2), zeroskip.as_format("csr"), (), np.ones(0))
    for cls in (CoordinateError, DuplicateError, OrderError):
        assert issubclass(cls, StructureError) and issubclass(cls, ValueError)
    assert issubclass(DTypeError, TypeError) and issubclass(DenseLimitError, MemoryError)


# ---- shapes ------------------------------------------------------------------------------------
BAD_SHAPES = [
    ((3, -2), "dimension 1 of shape (3, -2) is negative: -2"),
    ((-1,), "dimension 0 of shape (-1,) is negative: -1"),
    ((3, 2.5), "dimension 1 of shape (3, 2.5) is 2.5, not an integer"),
    ((2.0, 2), "dimension 0 of shape (2.0, 2) is 2.0, not an integer"),
    ((True, 2), "dimension 0 of shape (True, 2) is True, not an integer"),
    (("3", 2), "dimension 0 of shape ('3', 2) is '3', not an integer"),
    ((None, 2), "is None, not an integer"),
    ((2**40, 2**40), "shape (1099511627776, 1099511627776) has 1208925819614629174706176 elements, "
                     "more than int64 can index"),
    ((2**31, 2**31, 2), "more than int64 can index"),
]


@pytest.mark.parametrize("shape, text", BAD_SHAPES, ids=[str(s) for s, _ in BAD_SHAPES])
def test_bad_shapes(shape, text):
    levels = tuple(LevelArrays(a32(0, 0), a32()) for _ in shape)
    with pytest.raises(ShapeError) as info:
        SparseTensor(shape, "s" * len(shape), levels, np.ones(0))
    assert text in str(info.value)
    with pytest.raises(ShapeError) as info:
        from_coo(np.zeros((0, len(shape)), dtype=int), [], shape, "s" * len(shape))
    assert text in str(info.value)


def test_numpy_integer_dims_are_accepted():
    t = SparseTensor((np.int64(2), np.int32(3)), "dense", (LevelArrays(), LevelArrays()), np.ones(6))
    assert t.shape == (2, 3) and all(type(d) is int for d in t.shape)


def test_shape_and_format_order_mismatch():
    with pytest.raises(FormatError, match=r"format 'ds' has 2 levels but the tensor has order 3"):
        SparseTensor((2, 2, 2), "ds", (LevelArrays(),) * 3, np.ones(8))
    with pytest.raises(FormatError, match=r"format 'csr' is for matrices, not for a tensor of order 3"):
        SparseTensor((2, 2, 2), "csr", (LevelArrays(),) * 3, np.ones(8))


# ---- value dtypes ------------------------------------------------------------------------------
BAD_VALUE_DTYPES = [np.complex128, np.complex64, np.float16, object, np.dtype("M8[s]"), np.dtype("U1")]


@pytest.mark.parametrize("dtype", BAD_VALUE_DTYPES, ids=lambda d: np.dtype(d).name)
def test_bad_value_dtypes(dtype):
    vals = np.zeros(4, dtype=dtype)
    name = re.escape(str(np.dtype(dtype)))
    with pytest.raises(DTypeError, match=rf"values of dtype {name} are not supported; use float32, float64"):
        SparseTensor((2, 2), "dense", (LevelArrays(), LevelArrays()), vals)
    with pytest.raises(DTypeError, match=rf"values of dtype {name} are not supported"):
        from_coo([[0, 0]], vals[:1], (2, 2))
    if np.dtype(dtype) != object:
        with pytest.raises(DTypeError, match=rf"values of dtype {name} are not supported"):
            as_tensor(vals.reshape(2, 2))


def test_object_arrays_and_lists_of_objects_are_refused():
    with pytest.raises(DTypeError, match=r"cannot make a tensor from a list of Python objects"):
        as_tensor([[1, "a"], [None, 2]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8,
                                   np.uint16, np.uint32, np.uint64, np.bool_], ids=lambda d: np.dtype(d).name)
def test_supported_value_dtypes(dtype):
    gold = (np.arange(6).reshape(2, 3) % 2).astype(dtype)
    for fmt in ("csr", "coo", "dense"):
        t = as_tensor(gold, fmt)
        assert t.dtype == np.dtype(dtype)
        assert_tensor_equal(t, gold)


# ---- coordinate input --------------------------------------------------------------------------
BAD_COO = [
    ("coord-out-of-range", ([[0, 1], [0, 5]], [1.0, 2.0], (3, 5)), CoordinateError,
     "coordinate 5 out of range for dimension 1 of size 5 (entry 1: (0, 5))"),
    ("coord-negative", ([[-1, 1]], [1.0], (3, 5)), CoordinateError,
     "coordinate -1 out of range for dimension 0 of size 3 (entry 0: (-1, 1))"),
    ("coord-float", ([[0.5, 1]], [1.0], (3, 5)), DTypeError, "coordinates must be integers, got dtype float64"),
    ("coord-wrong-order", ([[0, 1, 2]], [1.0], (3, 5)), ShapeError,
     "coordinates of shape (1, 3) do not fit a tensor of order 2"),
    ("vals-wrong-length", ([[0, 1], [1, 1]], [1.0, 2.0, 3.0], (3, 5)), ShapeError,
     "2 coordinates but values of shape (3,)"),
    ("duplicate", ([[2, 1], [0, 0], [2, 1]], [1.0, 2.0, 3.0], (3, 5)), DuplicateError,
     "coordinate (2, 1) appears more than once; pass sum_duplicates=True"),
]  # fmt: skip


@pytest.mark.parametrize("args, error, text", [row[1:] for row in BAD_COO], ids=[row[0] for row in BAD_COO])
def test_bad_coordinate_lists(args, error, text):
    for fmt in ("coo", "csr", "dcsc", "dense"):
        with pytest.raises(error) as info:
            from_coo(*args, format=fmt)
        assert type(info.value) is error
        assert text in str(info.value)


def test_integral_float_coordinates_are_accepted():
    t = from_coo(np.array([[1.0, 2.0]]), [3.0], (2, 3), "csr")
    assert_tensor_equal(t, np.array([[0, 0, 0], [0, 0, 3.0]]))


def test_transpose_with_bad_axes():
    t = as_tensor(np.eye(2))
    with pytest.raises(StructureError, match=r"axes \(0, 0\) are not a permutation of the 2 modes"):
        t.transpose((0, 0))


# ---- canonical form ----------------------------------------------------------------------------
def test_verify_canonical_catches_a_stored_zero():
    t = csr((2, 8), a32(0, 2, 3), a32(1, 3, 0), np.array([1.0, 0.0, 2.0]))
    assert t.verify() is t  # structurally valid
    assert t.nnz == 2 and t.nstored == 3
    with pytest.raises(StructureError) as info:
        t.verify(canonical=True)
    assert "stored entry at level 1 position 1 (coordinate 3) holds only zeros" in str(info.value)
    with pytest.raises(AssertionError, match=r"verify\(canonical=True\) failed: StructureError"):
        assert_tensor_equal(t, t.to_numpy())


def test_verify_canonical_catches_an_empty_subtree():
    # dcsr whose row 2 is stored but has no columns: nothing below it is nonzero
    t = SparseTensor((4, 4), "dcsr", (LevelArrays(a32(0, 2), a32(0, 2)), LevelArrays(a32(0, 1, 1), a32(3))),
                     np.ones(1))
    with pytest.raises(StructureError, match=r"stored entry at level 0 position 1 \(coordinate 2\) holds only zeros"):
        t.verify(canonical=True)
    # "sd": compressed rows over dense columns; row 1 holds a dense fiber of zeros
    sd = SparseTensor((3, 2), "sd", (LevelArrays(a32(0, 2), a32(0, 1)), LevelArrays()), np.array([1.0, 0, 0, 0]))
    with pytest.raises(StructureError, match=r"level 0 position 1 \(coordinate 1\) holds only zeros"):
        sd.verify(canonical=True)
    # but zeros inside a dense fiber are fine
    SparseTensor((3, 2), "sd", (LevelArrays(a32(0, 1), a32(1)), LevelArrays()), np.array([0.0, 1.0])).verify(
        canonical=True)


def test_assert_tensor_equal_reports_the_failed_detail():
    gold = np.array([[0, 1.0, 0], [2.0, 0, 3.0]])
    t = as_tensor(gold, "csr")
    with pytest.raises(AssertionError, match=r"values differ at 1 of 6 positions: at \(1, 2\) actual 3.0, expected 4.0"):
        assert_tensor_equal(t, np.array([[0, 1.0, 0], [2.0, 0, 4.0]]))
    with pytest.raises(AssertionError, match=r"shape differs: actual \(2, 3\), expected \(3, 2\)"):
        assert_tensor_equal(t, gold.T)
    with pytest.raises(AssertionError, match=r"dtype kind differs: actual float64 \(kind 'f'\), expected int64"):
        assert_tensor_equal(t, gold.astype(np.int64))
    with pytest.raises(AssertionError, match=r"format differs: actual 'ds' \(csr\), expected 'nq' \(coo\)"):
        assert_tensor_equal(t, as_tensor(gold, "coo"))
    assert_tensor_equal(t, as_tensor(gold, "coo"), check_format=False)
    with pytest.raises(AssertionError, match=r"dtype differs: actual float64, expected float32"):
        assert_tensor_equal(t, as_tensor(gold.astype(np.float32), "csr"))
    assert_tensor_equal(t, gold * (1 + 1e-12), rtol=1e-9)
    with pytest.raises(AssertionError, match=r"values differ at 3 of 6 positions: at \(0, 1\) actual 1.0"):
        assert_tensor_equal(t, gold * (1 + 1e-12))
    with pytest.raises(AssertionError, match=r"nnz differs|values differ"):
        assert_tensor_equal(t, np.zeros((2, 3)), atol=10)
    with pytest.raises(AssertionError, match=r"actual is a ndarray, not a SparseTensor"):
        assert_tensor_equal(gold, gold)


# ---- the dense limit ---------------------------------------------------------------------------
def test_dense_limit_refuses_to_densify():
    t = as_tensor(np.eye(100), "csr")
    with zeroskip.config.dense_limit(1000):
        assert zeroskip.config.get_dense_limit() == 1000
        with pytest.raises(DenseLimitError) as info:
            t.to_numpy()
        assert "a dense array of shape (100, 100) (float64) would need 78.1 KiB (10000 elements x 8 B)" in str(
            info.value)
        assert "over the dense limit of 1000 B" in str(info.value)
        small = as_tensor(np.eye(10), "csr")
        assert small.to_numpy().shape == (10, 10)  # 800 B fits
    assert zeroskip.config.get_dense_limit() != 1000  # restored
    assert t.to_numpy().shape == (100, 100)


def test_dense_limit_guards_pos_arrays():
    # CSR of 3e9 rows needs a pos array of 3e9 + 1 entries: refused, while DCSR is fine
    coords, vals, shape = [[2_999_999_999, 1]], [1.0], (3_000_000_000, 2)
    with pytest.raises(DenseLimitError, match=r"pos array of level 1 would need 22.4 GiB \(3000000001 elements x 8 B\)"):
        from_coo(coords, vals, shape, "csr")
    assert from_coo(coords, vals, shape, "dcsr").nnz == 1


def test_dense_limit_setting_is_checked():
    with pytest.raises(ShapeError, match=r"dense limit must be >= 0 bytes, got nbytes=-1"):
        zeroskip.config.set_dense_limit(-1)


# ---- special values ----------------------------------------------------------------------------
def test_nan_and_inf_values_are_accepted():
    vals = np.array([np.nan, np.inf, -np.inf])
    t = csr((2, 4), a32(0, 2, 3), a32(0, 3, 2), vals)
    t.verify(canonical=True)  # NaN and Inf are nonzero
    assert t.nnz == 3
    gold = np.array([[np.nan, 0, 0, np.inf], [0, 0, -np.inf, 0]])
    assert_tensor_equal(t, gold)
    assert_tensor_equal(from_coo([[1, 2], [0, 3], [0, 0]], [-np.inf, np.inf, np.nan], (2, 4), "csr"), t)


@pytest.mark.parametrize(
    ("values", "dtype", "fits"),
    [
        ([2**62, 2**62 - 1], np.int64, True),
        ([2**62, 2**62], np.int64, False),
        ([-(2**62), -(2**62) - 1], np.int64, False),
        ([100, 27], np.int8, True),
        ([100, 28], np.int8, False),
        ([200, 56], np.uint8, False),
        ([2**63, 2**63 - 1], np.uint64, True),
    ],
)
def test_summed_integer_duplicates_never_wrap(values, dtype, fits):
    args = ([[0], [0]], np.array(values, dtype=dtype), (1,))
    if fits:
        assert int(zeroskip.from_coo(*args, sum_duplicates=True).vals[0]) == sum(values)
    else:
        with pytest.raises(zeroskip.DTypeError, match=f"outside {np.dtype(dtype)}"):
            zeroskip.from_coo(*args, sum_duplicates=True)
