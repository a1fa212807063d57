"""Round trips numpy <-> SparseTensor <-> every format <-> scipy, driven by one table.

``CASES`` crosses every shape with every format of its order, every dtype and every density; the
tests then convert each row to *all* formats of that order (and to scipy, for matrices). Each
result is checked with ``assert_tensor_equal``, which checks canonical structure as well as values.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest
import scipy.sparse as sp

import zeroskip as zs
from zeroskip import DTypeError, DuplicateError, FormatError, ShapeError, as_format, as_tensor, from_coo
from zeroskip.testing import assert_tensor_equal, random_tensor

FORMATS = {
    0: ["dense"],
    1: ["dense", "sparse"],
    2: ["dense", "dd[1,0]", "csr", "csc", "dcsr", "dcsc", "coo", "nq[1,0]", "sd", "sd[1,0]"],
    3: ["dense", "ddd[2,0,1]", "csf", "sss[2,0,1]", "dss", "sds[1,2,0]", "coo", "nqq[2,1,0]", "snq", "dnq[1,0,2]",
        "nqd", "nqs[2,0,1]"],
    4: ["dense", "csf", "ssss[3,1,0,2]", "coo", "nqqq[1,0,3,2]", "dsds", "snqq[2,3,1,0]", "ddnq[0,2,1,3]",
        "nqnq[3,2,1,0]", "nqqs"],
}
DTYPES = [np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_]
SHAPES = [(), (0,), (1,), (17,), (0, 0), (1, 1), (0, 5), (5, 0), (7, 3), (3, 7), (40, 33),
          (2, 3, 4), (5, 1, 6), (2, 3, 2, 3)]
DENSITIES = [0.0, 0.01, 0.3, 1.0]


CASES = [  # every shape x format of its order x dtype x density: 2664 rows
    (shape, fmt, np.dtype(dtype), density)
    for shape in SHAPES
    for fmt in FORMATS[len(shape)]
    for dtype in DTYPES
    for density in DENSITIES
]
MATRIX_CASES = [row for row in CASES if len(row[0]) == 2]


def _id(row) -> str:
    shape, fmt, dtype, density = row
    return f"{'x'.join(map(str, shape)) or 'scalar'}-{fmt}-{dtype.name}-d{density}"


def _seed(row) -> int:
    return zlib.crc32(_id(row).encode())  # stable across runs and xdist workers


def _make(row):
    shape, fmt, dtype, density = row
    return random_tensor(shape, density, fmt, dtype, rng=_seed(row))


def _axes_to_try(ndim: int) -> list[tuple[int, ...]]:
    perms = list(itertools.permutations(range(ndim)))
    return perms if ndim <= 3 else perms[::5]


# ---- numpy <-> tensor <-> every format ----------------------------------------------------------
@pytest.mark.parametrize("row", CASES, ids=_id)
def test_numpy_round_trip(row):
    gold, t = _make(row)
    assert t.format == as_format(row[1], ndim=gold.ndim)
    assert t.dtype == gold.dtype
    assert_tensor_equal(t, gold, check_index_dtype=True)
    back = t.to_numpy()
    assert back.dtype == gold.dtype and back.shape == gold.shape
    np.testing.assert_array_equal(back, gold)
    back[...] = 0  # the dense array is the caller's own, never a view of the tensor's storage
    assert_tensor_equal(t, gold)
    assert t.index_dtype == np.int32
    assert t.nnz == np.count_nonzero(gold)
    assert t.nbytes == sum(a.nbytes for lv in t.levels for a in (lv.pos, lv.crd) if a is not None) + t.vals.nbytes


@pytest.mark.parametrize("row", CASES, ids=_id)
def test_every_format_and_back(row):
    gold, t = _make(row)
    for target in FORMATS[gold.ndim]:
        u = t.asformat(target)
        assert u.format == as_format(target, ndim=gold.ndim), target
        # canonical and equal to the gold, so the same arrays as as_tensor(gold, target) (its own row)
        assert_tensor_equal(u, gold, check_index_dtype=True)
        assert_tensor_equal(as_tensor(u, t.format.spec), t)  # and back, to identical arrays


@pytest.mark.parametrize("row", CASES, ids=_id)
def test_mode_order_transposes(row):
    gold, t = _make(row)
    letters = "".join(level.char for level in t.format.levels)
    for axes in _axes_to_try(gold.ndim):
        moved = t.asformat(letters, mode_order=axes)
        assert moved.format.mode_order == axes
        assert_tensor_equal(moved, gold)
        assert_tensor_equal(moved.asformat(t.format), t)
        view = t.transpose(axes)
        assert_tensor_equal(view, np.transpose(gold, axes))
        assert np.shares_memory(view.vals, t.vals) or t.vals.size == 0  # no data moved
        assert_tensor_equal(view.transpose(np.argsort(axes)), t)
    assert_tensor_equal(t.T, gold.T)
    assert_tensor_equal(t.T.T, t)


@pytest.mark.parametrize("row", CASES, ids=_id)
def test_from_coo_in_shuffled_order(row):
    gold, t = _make(row)
    coords = np.argwhere(gold)
    vals = gold[tuple(coords.T)] if gold.ndim else gold.reshape(-1)[: len(coords)]
    order = np.random.default_rng(_seed(row)).permutation(len(coords))
    shuffled = from_coo(coords[order], vals[order], gold.shape, t.format)
    assert_tensor_equal(shuffled, t)
    assert_tensor_equal(zs.SparseTensor.from_coo(coords[order].tolist(), vals[order], gold.shape, t.format), t)
    got_coords, got_vals = t.to_coo()
    assert got_coords.dtype == np.int64 and got_coords.shape == (t.nnz, gold.ndim)
    assert_tensor_equal(from_coo(got_coords, got_vals, gold.shape, t.format), t)


@pytest.mark.parametrize("row", CASES, ids=_id)
def test_from_coo_duplicates(row):
    gold, t = _make(row)
    coords = np.argwhere(gold)
    if len(coords) == 0 or gold.ndim == 0:
        return
    vals = gold[tuple(coords.T)]
    # split every value in two entries (v = a + b exactly: a is v or 0), shuffled together
    rng = np.random.default_rng(_seed(row))
    keep = rng.random(len(vals)) < 0.5
    first = np.where(keep, vals, np.zeros_like(vals))
    second = vals if gold.dtype == bool else (vals - first).astype(gold.dtype)
    all_coords = np.concatenate([coords, coords])
    all_vals = np.concatenate([first, second])
    order = rng.permutation(len(all_vals))
    with pytest.raises(DuplicateError, match=r"appears more than once; pass sum_duplicates=True"):
        from_coo(all_coords[order], all_vals[order], gold.shape, t.format)
    summed = from_coo(all_coords[order], all_vals[order], gold.shape, t.format, sum_duplicates=True)
    assert_tensor_equal(summed, t)


def test_levels_after_a_coo_block_share_its_entries():
    # 'nqd': a COO list of (i, j) pairs, each with a dense fiber over k; one pair per (i, j)
    gold = np.zeros((2, 3, 2))
    gold[0, 1] = [1.0, 2.0]
    gold[1, 2, 1] = 3.0
    t = as_tensor(gold, "nqd")
    assert t.levels[0].pos.tolist() == [0, 2] and t.levels[0].crd.tolist() == [0, 1]
    assert t.levels[1].crd.tolist() == [1, 2]
    assert t.vals.tolist() == [1.0, 2.0, 0.0, 3.0]
    assert_tensor_equal(t, gold)
    u = as_tensor(gold, "nqs")
    assert u.levels[2].pos.tolist() == [0, 2, 3] and u.levels[2].crd.tolist() == [0, 1, 1]
    assert_tensor_equal(u, gold)


# ---- scipy -------------------------------------------------------------------------------------
SCIPY_KINDS = ["csr", "csc", "coo", "bsr", "dia", "dok", "lil"]


def _scipy(kind: str, matrix: bool, gold: np.ndarray):
    return getattr(sp, f"{kind}_{'matrix' if matrix else 'array'}")(gold)


@pytest.mark.parametrize("row", MATRIX_CASES, ids=_id)
def test_scipy_in_and_out(row):
    gold, t = _make(row)
    for kind, matrix in itertools.product(SCIPY_KINDS, (False, True)):
        out = t.to_scipy(kind, matrix=matrix)
        assert out.format == kind and sp.issparse(out)
        assert sp.isspmatrix(out) == matrix, (kind, matrix)
        assert out.shape == gold.shape and out.dtype == gold.dtype
        np.testing.assert_array_equal(out.toarray(), gold)
        assert_tensor_equal(as_tensor(out, t.format), t)
        assert_tensor_equal(zs.SparseTensor.from_scipy(_scipy(kind, matrix, gold), t.format), t)


@pytest.mark.parametrize("matrix", [False, True], ids=["array", "matrix"])
@pytest.mark.parametrize("kind", SCIPY_KINDS)
def test_scipy_default_format_follows_the_input(kind, matrix):
    gold, _ = random_tensor((6, 9), 0.3, None, np.float64, rng=3)
    default = as_tensor(_scipy(kind, matrix, gold))
    assert default.format.name == {"csc": "csc", "coo": "coo"}.get(kind, "csr")
    assert_tensor_equal(default, gold)


@pytest.mark.parametrize("row", [r for r in CASES if len(r[0]) == 1], ids=_id)
def test_scipy_vectors(row):
    gold, t = _make(row)
    for kind in ("coo", "csr", "dok"):
        out = t.to_scipy(kind)
        assert out.shape == gold.shape
        np.testing.assert_array_equal(out.toarray(), gold)
        assert_tensor_equal(as_tensor(out, t.format), t)
    with pytest.raises(FormatError, match=r"scipy holds sparse vectors as coo, csr or dok, not 'csc'"):
        t.to_scipy("csc")


def _messy_coo(dtype):
    """A 4x5 coordinate list with unsorted entries, a duplicate pair and two explicit zeros."""
    row = np.array([3, 0, 2, 0, 3, 1, 2])
    col = np.array([4, 1, 0, 1, 0, 3, 2])
    data = np.array([5, 2, 0, 3, 7, 0, 1]).astype(dtype)  # (0,1) twice: 2+3; (2,0), (1,3) zeros
    gold = np.zeros((4, 5), dtype=dtype)
    np.add.at(gold, (row, col), data)
    return row, col, data, gold


@pytest.mark.parametrize("matrix", [False, True], ids=["array", "matrix"])
@pytest.mark.parametrize("kind", SCIPY_KINDS)
@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.bool_], ids=lambda d: np.dtype(d).name)
def test_scipy_input_unsorted_duplicates_and_explicit_zeros(kind, matrix, dtype):
    row, col, data, gold = _messy_coo(dtype)
    coo = (sp.coo_matrix if matrix else sp.coo_array)((data, (row, col)), shape=(4, 5))
    messy = coo.asformat(kind) if kind != "coo" else coo
    t = as_tensor(messy, "csr")
    assert_tensor_equal(t, gold)
    assert t.nnz == np.count_nonzero(gold)
    kept = as_tensor(messy, "csr", keep_zeros=True)
    np.testing.assert_array_equal(kept.to_numpy(), gold)
    stored = {tuple(c) for c in kept.to_coo(keep_zeros=True)[0].tolist()}
    # explicit zeros that scipy itself still stores survive keep_zeros=True; dia/dok/lil drop them
    scipy_stored = {(int(r), int(c)) for r, c in zip(*messy.tocoo().coords, strict=True)}
    assert stored == scipy_stored
    if len(stored) > t.nnz:
        with pytest.raises(zs.StructureError, match=r"holds only zeros"):
            kept.verify(canonical=True)
    else:
        kept.verify(canonical=True)


def test_scipy_csr_with_unsorted_indices_and_duplicates_in_rows():
    indptr = np.array([0, 3, 3, 6], dtype=np.int32)
    indices = np.array([2, 0, 2, 1, 0, 3], dtype=np.int32)  # unsorted, (0,2) twice
    data = np.array([1.0, 2.0, 4.0, 0.0, 5.0, 6.0])
    for cls in (sp.csr_array, sp.csr_matrix):
        m = cls((data, indices, indptr), shape=(3, 4))
        assert not m.has_canonical_format
        gold = np.array([[2.0, 0, 5.0, 0], [0, 0, 0, 0], [5.0, 0.0, 0, 6.0]])
        for fmt in FORMATS[2]:
            assert_tensor_equal(as_tensor(m, fmt), gold)
        kept = as_tensor(m, "csr", keep_zeros=True)
        assert kept.nstored == 5 and kept.nnz == 4  # (2,1) holds an explicit zero
        assert kept.levels[1].crd.tolist() == [0, 2, 0, 1, 3]
        with pytest.raises(zs.StructureError, match=r"level 1 position 3 \(coordinate 1\) holds only zeros"):
            kept.verify(canonical=True)


def test_from_scipy_refuses_other_objects():
    with pytest.raises(FormatError, match=r"expected a scipy.sparse matrix or array, got ndarray"):
        zs.formats.from_scipy(np.eye(2))


def test_to_scipy_refuses_higher_orders():
    t = as_tensor(np.ones((2, 2, 2)))
    with pytest.raises(ShapeError, match=r"not a tensor of order 3"):
        t.to_scipy()


# ---- explicit zeros through numpy and coordinates ------------------------------------------------
def test_keep_zeros_from_numpy_and_coo():
    gold = np.array([[0.0, 1.0], [0.0, 0.0]])
    kept = as_tensor(gold, "coo", keep_zeros=True)
    assert kept.nstored == 4 and kept.nnz == 1
    np.testing.assert_array_equal(kept.to_numpy(), gold)
    assert_tensor_equal(kept.asformat("csr"), gold)  # converting drops them again
    t = from_coo([[1, 1], [0, 0]], [0.0, 2.0], (2, 2), "csr", keep_zeros=True)
    assert t.nstored == 2 and t.levels[1].crd.tolist() == [0, 1]
    assert_tensor_equal(from_coo([[1, 1], [0, 0]], [0.0, 2.0], (2, 2), "csr"), np.array([[2.0, 0], [0, 0]]))
    # duplicates summing to zero vanish, unless kept
    assert from_coo([[0, 0], [0, 0]], [1, -1], (1, 1), sum_duplicates=True).nstored == 0
    assert from_coo([[0, 0], [0, 0]], [1, -1], (1, 1), sum_duplicates=True, keep_zeros=True).nstored == 1


def test_scalar_coordinates():
    assert_tensor_equal(from_coo(np.zeros((1, 0), dtype=int), [2.5], ()), np.array(2.5))
    assert_tensor_equal(from_coo(np.zeros((0, 0), dtype=int), np.zeros(0), ()), np.array(0.0))
    assert_tensor_equal(from_coo(np.zeros((3, 0), dtype=int), [1, 2, 3], (), sum_duplicates=True), np.array(6))
    with pytest.raises(DuplicateError):
        from_coo(np.zeros((2, 0), dtype=int), [1, 2], ())


# ---- index dtypes ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS[2])
def test_index_dtype_int32_by_default_int64_on_request(fmt):
    gold, t = random_tensor((9, 8), 0.3, fmt, np.float64, rng=4)
    assert t.index_dtype == np.int32
    wide = as_tensor(gold, fmt, index_dtype=np.int64)
    assert_tensor_equal(wide, gold)
    arrays = [a for lv in wide.levels for a in (lv.pos, lv.crd) if a is not None]
    assert all(a.dtype == np.int64 for a in arrays)
    assert wide.index_dtype == (np.int64 if arrays else np.int32)
    assert_tensor_equal(wide, t, check_index_dtype=False)
    if arrays:
        with pytest.raises(AssertionError, match=r"index dtype differs: actual int64, expected int32"):
            assert_tensor_equal(wide, t, check_index_dtype=True)
    narrow = wide.asformat(fmt, index_dtype=np.int32)
    assert_tensor_equal(narrow, t, check_index_dtype=True)
    assert_tensor_equal(t.asformat(fmt, index_dtype="int64"), wide, check_index_dtype=True)
    with pytest.raises(DTypeError, match=r"index_dtype must be int32 or int64, got int16"):
        as_tensor(gold, "coo", index_dtype=np.int16)


@pytest.mark.parametrize("fmt", ["csc", "dcsr", "dcsc", "coo", "nq[1,0]"])
def test_index_dtype_int32_refused_when_it_cannot_fit(fmt):
    shape = (3_000_000_000, 2)
    coords = [[2_999_999_999, 1], [0, 0], [1_500_000_000, 1]]
    t = from_coo(coords, [1.0, 2.0, 3.0], shape, fmt)
    assert t.index_dtype == np.int64  # chosen by itself
    assert t.nnz == 3
    got, vals = t.to_coo()
    assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, coords))
    with pytest.raises(DTypeError, match=r"index_dtype int32 cannot hold shape \(3000000000, 2\)"):
        from_coo(coords, [1.0, 2.0, 3.0], shape, fmt, index_dtype=np.int32)
    with pytest.raises(DTypeError, match=r"index_dtype int32 cannot hold"):
        t.asformat("dcsc", index_dtype=np.int32)


@pytest.mark.parametrize("kind", ["csr", "csc"])
@pytest.mark.parametrize("matrix", [False, True], ids=["array", "matrix"])
def test_to_scipy_keeps_int32_indices(kind, matrix):
    gold, t = random_tensor((30, 20), 0.2, "coo", np.float32, rng=7)
    out = t.to_scipy(kind, matrix=matrix)
    assert out.indices.dtype == np.int32 and out.indptr.dtype == np.int32
    assert out.has_sorted_indices
    np.testing.assert_array_equal(out.toarray(), gold)
    direct = t.asformat(kind)
    np.testing.assert_array_equal(out.indices, direct.levels[1].crd)
    np.testing.assert_array_equal(out.indptr, direct.levels[1].pos)


# ---- values that are not plain numbers ---------------------------------------------------------
def test_nan_and_inf_round_trip():
    gold = np.array([[np.nan, 0, np.inf], [0, -np.inf, 1.0]])
    for fmt in FORMATS[2]:
        t = as_tensor(gold, fmt)
        assert t.nnz == 4
        assert_tensor_equal(t, gold)
        np.testing.assert_array_equal(t.to_numpy(), gold)


# ---- the helper itself: every kind of expected ---------------------------------------------------
@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_assert_tensor_equal_accepts_every_kind_of_expected():
    gold, t = random_tensor((6, 5), 0.4, "csr", np.float64, rng=11)
    assert_tensor_equal(t, gold)
    assert_tensor_equal(t, gold.tolist())
    for expected in (sp.csr_array(gold), sp.coo_matrix(gold), sp.dok_array(gold)):
        assert_tensor_equal(t, expected)
    assert_tensor_equal(t, as_tensor(gold, "dcsc"), check_format=False)
    torch = pytest.importorskip("torch")
    dense = torch.from_numpy(gold)
    for expected in (dense, dense.to_sparse(), dense.to_sparse_csr()):
        assert_tensor_equal(t, expected)
    with pytest.raises(AssertionError, match=r"values differ at 1 of 30 positions"):
        changed = dense.clone()
        changed[0, 0] += 1
        assert_tensor_equal(t, changed.to_sparse())


@pytest.mark.parametrize("kind", ["csr", "csc"])
def test_canonical_scipy_compressed_matrices_are_wrapped_without_a_sort(kind):
    import scipy.sparse as sp
    from zeroskip.testing import assert_tensor_equal
    dense = np.array([[0, 2.0, 0, 1.0], [0, 0, 0, 0], [3.0, 0, 0, 4.0]])
    m = sp.csr_matrix(dense) if kind == "csr" else sp.csc_matrix(dense)
    m.indptr, m.indices = m.indptr.astype(np.int64), m.indices.astype(np.int64)  # scipy's wider indices
    t = zs.as_tensor(m)
    assert t.format.name == kind and t.levels[1].crd.dtype == np.int32
    assert_tensor_equal(t, zs.from_coo(np.argwhere(dense), dense[dense != 0], dense.shape, kind))
    m.data[0] = 99.0  # the tensor holds copies, not the caller's arrays
    assert 99.0 not in t.vals
    # Unsorted and duplicate indices, and stored zeros, take the general path: sorted, summed, dropped.
    messy = sp.csr_matrix((np.array([1.0, 2.0, 0.0, 5.0]), np.array([3, 1, 2, 1]), np.array([0, 3, 3, 4])),
                          shape=(3, 4))
    messy.has_sorted_indices = False
    gold = np.zeros((3, 4))
    gold[0, 3], gold[0, 1], gold[2, 1] = 1.0, 2.0, 5.0
    np.testing.assert_array_equal(zs.as_tensor(messy).to_numpy(), gold)
    assert zs.as_tensor(messy).nnz == 3
