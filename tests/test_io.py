"""File I/O: round trips through .mtx/.tns/.npz against a dense numpy gold, hand-checked Matrix
Market and FROSTT files, error messages, and the shared real data sets."""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from zeroskip.errors import (
    CoordinateError,
    DenseLimitError,
    DTypeError,
    DuplicateError,
    FileFormatError,
    ShapeError,
    StructureError,
)
from zeroskip.formats.io import load, read_mtx, read_npz, read_tns, save, write_mtx, write_npz, write_tns
from zeroskip.formats.tensor import SparseTensor

DTYPES = [np.float32, np.float64, np.int64, np.bool_]


def gold(shape, dtype, density=0.3, seed=0) -> np.ndarray:
    """A dense array with about ``density`` nonzeros (some negative, some tiny, some huge)."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < density
    if np.dtype(dtype) == np.bool_:
        return mask
    values = rng.standard_normal(shape) * 10.0 ** rng.integers(-30, 30, shape)
    if np.dtype(dtype).kind in "iu":
        values = rng.integers(-(2**62), 2**62, shape)
    return np.where(mask, values, 0).astype(dtype)


def assert_same(a: SparseTensor, b: SparseTensor) -> None:
    """Structure equality: shape, format, dtypes and every pos/crd/vals array."""
    assert a.shape == b.shape and a.format == b.format, (a, b)
    assert a.dtype == b.dtype and a.index_dtype == b.index_dtype, (a, b)
    for la, lb in zip(a.levels, b.levels, strict=True):
        for x, y in ((la.pos, lb.pos), (la.crd, lb.crd)):
            assert (x is None) == (y is None)
            if x is not None:
                assert x.dtype == y.dtype and np.array_equal(x, y)
    assert np.array_equal(a.vals, b.vals)


# ---- .npz: the storage itself, every format -------------------------------------------------------
NPZ_CASES = [
    ((4, 5), "csr"), ((4, 5), "csc"), ((4, 5), "coo"), ((4, 5), "dcsr"), ((4, 5), "dcsc"),
    ((4, 5), "dense"), ((4, 5), "sd"), ((3, 4, 5), "dss"), ((3, 4, 5), "sss[2,0,1]"), ((3, 4, 5), "coo"),
    ((3, 4, 5), "csf"), ((2, 3, 2, 4), "coo"), ((2, 3, 2, 4), "dsds[3,1,0,2]"), ((7,), "sparse"), ((7,), "d"),
    ((0, 3), "csr"), ((1, 1), "csr"), ((1, 1), "dcsc"), ((3, 0, 2), "csf"), ((), "dense"),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(("shape", "fmt"), NPZ_CASES, ids=lambda c: str(c))
def test_npz_round_trip_every_format(tmp_path, shape, fmt, dtype):
    dense = gold(shape, dtype)
    t = SparseTensor.from_numpy(dense, fmt)
    path = tmp_path / "t.npz"
    save(path, t)
    back = load(path)
    assert_same(back, t)
    np.testing.assert_array_equal(back.to_numpy(), dense)


@pytest.mark.parametrize("fmt", ["csr", "coo", "dense"])
def test_npz_keeps_empty_tensors_stored_zeros_and_int64_indices(tmp_path, fmt):
    empty = SparseTensor.from_numpy(np.zeros((3, 4)), fmt)
    stored_zeros = SparseTensor.from_numpy(np.array([[0, 1.0], [0, 0]]), fmt, keep_zeros=True)
    wide = SparseTensor.from_numpy(np.eye(3), fmt, index_dtype=np.int64)
    for i, t in enumerate((empty, stored_zeros, wide)):
        write_npz(tmp_path / f"{i}.npz", t, compressed=bool(i % 2))
        assert_same(read_npz(tmp_path / f"{i}.npz"), t)


def test_npz_format_argument_converts(tmp_path):
    t = SparseTensor.from_numpy(gold((5, 6), np.float64), "csr")
    write_npz(tmp_path / "a.npz", t)
    assert_same(read_npz(tmp_path / "a.npz", format="csc"), t.asformat("csc"))


def _npz_bytes(**arrays) -> io.BytesIO:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    buf.seek(0)
    return buf


def _csr_arrays():
    t = SparseTensor.from_numpy(np.array([[0, 2.0], [3.0, 4.0]]), "csr")
    return {"zeroskip_version": np.array(1), "shape": np.array([2, 2]), "format": np.array("ds"),
            "level1_pos": t.levels[1].pos, "level1_crd": t.levels[1].crd, "vals": t.vals}


def test_npz_refuses_bad_archives(tmp_path):
    good = _csr_arrays()
    assert read_npz(_npz_bytes(**good)).nnz == 3
    with pytest.raises(FileFormatError, match="missing.*level1_crd"):
        read_npz(_npz_bytes(**{k: v for k, v in good.items() if k != "level1_crd"}))
    with pytest.raises(FileFormatError, match="unexpected.*level0_pos"):
        read_npz(_npz_bytes(**good, level0_pos=np.array([0, 1])))
    with pytest.raises(StructureError, match="not monotone"):
        read_npz(_npz_bytes(**{**good, "level1_pos": np.array([0, 2, 1], dtype=np.int32)}))
    pickled = io.BytesIO()
    np.savez(pickled, **{**good, "vals": np.array([1, "x", None], dtype=object)}, allow_pickle=True)
    with pytest.raises(FileFormatError, match="Python objects"):
        read_npz(io.BytesIO(pickled.getvalue()))
    with pytest.raises(FileFormatError, match="zeroskip_version"):
        read_npz(_npz_bytes(**{**good, "zeroskip_version": np.array(99)}))
    single = io.BytesIO()
    np.save(single, np.arange(3))
    with pytest.raises(FileFormatError, match="npz"):
        read_npz(io.BytesIO(single.getvalue()))
    with pytest.raises(FileFormatError, match="neither"):
        read_npz(_npz_bytes(x=np.arange(3)))
    with pytest.raises(FileNotFoundError):
        read_npz(tmp_path / "missing.npz")


def _lying_npz(shape) -> io.BytesIO:
    """A zeroskip archive whose ``vals`` header claims ``shape`` but whose data is 3 float64."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": shape})
    member.write(np.ones(3).tobytes())
    buf = _npz_bytes(**{k: v for k, v in _csr_arrays().items() if k != "vals"})
    with zipfile.ZipFile(buf, "a") as z:
        z.writestr("vals.npy", member.getvalue())
    buf.seek(0)
    return buf


def test_npz_checks_each_header_before_allocating():
    with pytest.raises(FileFormatError, match="claims shape \\(1000,\\) of float64 \\(8000 bytes\\) but holds 24"):
        read_npz(_lying_npz((1000,)))
    with pytest.raises(DenseLimitError, match="'vals'"):
        read_npz(_lying_npz((10**12,)))


@pytest.mark.parametrize("kind", ["csr", "csc", "coo"])
@pytest.mark.parametrize("matrix", [False, True])
def test_npz_reads_scipy_save_npz(tmp_path, kind, matrix):
    dense = gold((6, 5), np.float64)
    m = sp.csr_matrix(dense) if matrix else sp.csr_array(dense)
    sp.save_npz(tmp_path / "s.npz", m.asformat(kind))
    t = load(tmp_path / "s.npz")
    assert t.format.name == kind
    np.testing.assert_array_equal(t.to_numpy(), dense)


def test_npz_scipy_non_canonical_and_corrupt(tmp_path):
    m = sp.csr_array((np.array([1.0, 2.0, 5.0]), np.array([1, 1, 0]), np.array([0, 3, 3])), shape=(2, 2))
    sp.save_npz(tmp_path / "dup.npz", m)
    assert read_npz(tmp_path / "dup.npz").to_numpy().tolist() == [[5.0, 3.0], [0.0, 0.0]]
    with np.load(tmp_path / "dup.npz") as z:
        arrays = dict(z)
    # A non-monotone indptr makes scipy's C++ expandptr write out of bounds unless checked first.
    sp_bad = {**arrays, "indptr": np.array([0, 1000, 3], dtype=np.int32)}
    with pytest.raises(FileFormatError):
        read_npz(_npz_bytes(**sp_bad))


# ---- .tns -------------------------------------------------------------------------------------
TNS_SHAPES = [(1,), (9,), (1, 1), (4, 6), (3, 4, 5), (2, 3, 2, 4), (5, 0, 2)]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", TNS_SHAPES, ids=str)
def test_tns_round_trip(tmp_path, shape, dtype):
    dense = gold(shape, dtype, seed=len(shape))
    t = SparseTensor.from_numpy(dense)
    write_tns(tmp_path / "t.tns", t)
    back = read_tns(tmp_path / "t.tns", shape=shape)
    np.testing.assert_array_equal(back.to_numpy(), dense.astype(back.dtype))
    # floats (and empty files) come back float64, integers and bools int64; the structure is the same
    expected = t.astype(np.float64 if np.dtype(dtype).kind == "f" or not t.nnz else np.int64)
    assert_same(back, expected)
    if t.nnz and np.dtype(dtype) in (np.float64, np.int64):
        assert_same(load(tmp_path / "t.tns", format=t.format, shape=shape), t)


def test_tns_exact_floats_and_shape_inference(tmp_path):
    vals = [0.1, 1e-300, 5e-324, 1.7976931348623157e308, -1 / 3, float("inf")]
    t = SparseTensor.from_coo([[i, 0, 2 * i] for i in range(6)], vals, (6, 1, 11), "coo")
    save(tmp_path / "x.tns", t)
    back = load(tmp_path / "x.tns", format="coo")
    assert back.shape == (6, 1, 11)  # the largest index of each mode
    assert back.vals.tolist() == vals
    nan = SparseTensor.from_coo([[0]], [np.nan], (1,))
    write_tns(tmp_path / "n.tns", nan)
    assert np.isnan(read_tns(tmp_path / "n.tns").vals).all()


def test_tns_comments_blank_lines_and_values(tmp_path):
    text = "# FROSTT\n\n1 2 3 1.5   # trailing comment\n\t\n2 1 1 -2\n# end\n"
    (tmp_path / "a.tns").write_text(text)
    t = read_tns(tmp_path / "a.tns")
    assert t.shape == (2, 2, 3) and t.dtype == np.float64
    expected = np.zeros((2, 2, 3))
    expected[0, 1, 2], expected[1, 0, 0] = 1.5, -2
    np.testing.assert_array_equal(t.to_numpy(), expected)
    (tmp_path / "i.tns").write_text("1 5\n3 -9223372036854775808\n")
    assert read_tns(tmp_path / "i.tns").to_numpy().tolist() == [5, 0, -(2**63)]


@pytest.mark.parametrize(
    ("text", "shape", "error", "pattern"),
    [
        ("1 1 1\n2 2\n", None, FileFormatError, "line 2: 2 columns, but line 1"),
        ("1 1 1\n2 2 2 2\n", None, FileFormatError, "line 2: 4 columns"),
        ("1 1.5 1\n", None, FileFormatError, "line 1: index '1.5' of mode 1 is not an integer"),
        ("# c\n0 1 1\n", None, FileFormatError, "line 2: index 0 of mode 0 is below 1"),
        ("1 1 1\n1 -3 1\n", None, FileFormatError, "line 2: index -3 of mode 1"),
        ("1 1 x\n", None, FileFormatError, "line 1: value 'x' is not a number"),
        ("1 1 1_0\n", None, FileFormatError, "value '1_0'"),
        ("99999999999999999999 1 1\n", None, FileFormatError, "does not fit int64"),
        ("", None, FileFormatError, "no entries"),
        ("# only comments\n", None, FileFormatError, "pass shape="),
        ("5\n", None, FileFormatError, "line 1: 1 column"),
        ("1 1 1\n3 1 2\n", (2, 2), CoordinateError, r"line 2: index 3 of mode 0 is beyond the shape \(2, 2\)"),
        ("1 1 1 1\n", (2, 2), FileFormatError, "shape"),
        ("1 1 1\n2 2 2\n1 1 3\n", None, DuplicateError, "line 3 repeats the coordinate \\(1, 1\\) of line 1"),
    ],
)
def test_tns_errors_name_the_line(tmp_path, text, shape, error, pattern):
    path = tmp_path / "bad.tns"
    path.write_text(text)
    with pytest.raises(error, match=pattern) as info:
        read_tns(path, shape=shape)
    assert str(path) in str(info.value)


def test_tns_empty_with_shape_and_sum_duplicates(tmp_path):
    (tmp_path / "e.tns").write_text("# nothing\n")
    empty = read_tns(tmp_path / "e.tns", shape=(2, 3, 4))
    assert empty.shape == (2, 3, 4) and empty.nnz == 0
    (tmp_path / "d.tns").write_text("1 1 2\n2 2 1\n1 1 3\n2 2 -1\n")
    assert read_tns(tmp_path / "d.tns", sum_duplicates=True).to_numpy().tolist() == [[5, 0], [0, 0]]
    with pytest.raises(ShapeError):
        write_tns(tmp_path / "s.tns", SparseTensor.from_numpy(np.array(3.0)))


def test_tns_gz_and_non_utf8(tmp_path):
    t = SparseTensor.from_numpy(gold((3, 4, 5), np.float64))
    save(tmp_path / "t.tns.gz", t)
    assert gzip.open(tmp_path / "t.tns.gz").read().startswith(b"1 ")
    assert_same(load(tmp_path / "t.tns.gz", shape=t.shape), t)
    (tmp_path / "b.tns").write_bytes(b"1 1 1\n2 2 \xff\n")
    with pytest.raises(FileFormatError, match="line 2: not UTF-8"):
        read_tns(tmp_path / "b.tns")


# ---- .mtx --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (7, 5), (0, 0), (3, 0), (4, 4)], ids=str)
def test_mtx_round_trip(tmp_path, shape, dtype):
    dense = gold(shape, dtype, seed=sum(shape))
    t = SparseTensor.from_numpy(dense, "csc")
    save(tmp_path / "m.mtx", t)
    header = (tmp_path / "m.mtx").read_text().splitlines()[0]
    # scipy writes an empty matrix as 'real' whatever the field asked for
    field = {"f": "real", "i": "integer", "b": "pattern"}[np.dtype(dtype).kind] if t.nnz else "real"
    assert header == f"%%MatrixMarket matrix coordinate {field} general"
    back = load(tmp_path / "m.mtx", format="csc")
    np.testing.assert_array_equal(back.to_numpy(), dense.astype(back.dtype))
    assert_same(back, t.astype(np.int64 if dtype == np.int64 and t.nnz else np.float64))


@pytest.mark.parametrize("symmetry", ["symmetric", "skew-symmetric"])
def test_mtx_writes_symmetric_storage(tmp_path, symmetry):
    a = gold((6, 6), np.float64, density=0.4, seed=3)
    a = np.tril(a, -1 if symmetry == "skew-symmetric" else 0)
    dense = a + a.T - np.diag(np.diag(a)) if symmetry == "symmetric" else a - a.T
    write_mtx(tmp_path / "s.mtx", dense, symmetry=symmetry, comment="a test\nof two lines")
    text = (tmp_path / "s.mtx").read_text().splitlines()
    assert text[0] == f"%%MatrixMarket matrix coordinate real {symmetry}"
    assert "%a test" in text and "%of two lines" in text
    assert scipy.io.mminfo(tmp_path / "s.mtx")[2] == np.count_nonzero(np.tril(dense))
    np.testing.assert_array_equal(read_mtx(tmp_path / "s.mtx").to_numpy(), dense)
    with pytest.raises(FileFormatError, match="not"):
        write_mtx(tmp_path / "n.mtx", dense + np.triu(np.ones((6, 6)), 1), symmetry=symmetry)


def test_mtx_write_options_and_refusals(tmp_path):
    ints = np.array([[0, 3], [4, 0]])
    write_mtx(tmp_path / "r.mtx", ints, field="real")
    assert read_mtx(tmp_path / "r.mtx").dtype == np.float64
    write_mtx(tmp_path / "p.mtx", ints, field="pattern")
    assert read_mtx(tmp_path / "p.mtx").to_numpy().tolist() == [[0, 1], [1, 0]]
    write_mtx(tmp_path / "i.mtx", ints.astype(float), field="integer")
    assert read_mtx(tmp_path / "i.mtx").dtype == np.int64
    with pytest.raises(DTypeError, match="fractional"):
        write_mtx(tmp_path / "x.mtx", np.array([[0.5]]), field="integer")
    with pytest.raises(DTypeError):
        write_mtx(tmp_path / "x.mtx", ints, field="complex")
    with pytest.raises(ShapeError):
        write_mtx(tmp_path / "x.mtx", np.ones((2, 2, 2)))
    with pytest.raises(FileFormatError):
        write_mtx(tmp_path / "x.mtx", ints, symmetry="hermitian")
    save(tmp_path / "z.mtx.gz", ints)  # compressed by the writer, read back by scipy or us
    assert load(tmp_path / "z.mtx.gz").to_numpy().tolist() == ints.tolist()
    assert gzip.open(tmp_path / "z.mtx.gz").read().startswith(b"%%MatrixMarket")


def _mtx(tmp_path, text: str, **kw) -> SparseTensor:
    path = tmp_path / "m.mtx"
    path.write_text(text)
    return read_mtx(path, **kw)


MM = "%%MatrixMarket matrix "
HAND_CASES = [
    # symmetric storage is mirrored; the explicit zero at (3, 2) is dropped
    (MM + "coordinate real symmetric\n% c\n3 3 4\n1 1 1.5\n2 1 2\n3 2 0\n3 3 -1\n",
     [[1.5, 2, 0], [2, 0, 0], [0, 0, -1]]),
    (MM + "coordinate real skew-symmetric\n3 3 2\n2 1 2\n3 2 4\n", [[0, -2, 0], [2, 0, -4], [0, 4, 0]]),
    (MM + "coordinate pattern general\n2 3 2\n1 3\n2 1\n", [[0, 0, 1], [1, 0, 0]]),
    (MM + "coordinate pattern symmetric\n2 2 2\n1 1\n2 1\n", [[1, 1], [1, 0]]),
    # duplicates are summed, as scipy does; a pair that cancels disappears
    (MM + "coordinate integer general\n2 2 4\n1 1 5\n1 1 2\n2 2 -7\n2 2 7\n", [[7, 0], [0, 0]]),
    (MM + "array real general\n2 3\n1\n2\n0\n4\n5\n6\n", [[1, 0, 5], [2, 4, 6]]),  # column-major
    (MM + "array real symmetric\n3 3\n1\n2\n3\n4\n5\n6\n", [[1, 2, 3], [2, 4, 5], [3, 5, 6]]),
    (MM + "array real skew-symmetric\n3 3\n2\n3\n5\n", [[0, -2, -3], [2, 0, -5], [3, 5, 0]]),
    (MM + "array integer general\n2 2\n1\n0\n-3\n4", [[1, -3], [0, 4]]),  # no final newline
    (MM + "coordinate real general\n3 4 0\n", [[0] * 4] * 3),
    (MM + "array real general\n0 3\n", np.zeros((0, 3))),
]


@pytest.mark.parametrize(("text", "expected"), HAND_CASES, ids=range(len(HAND_CASES)))
def test_mtx_hand_written_files(tmp_path, text, expected):
    t = _mtx(tmp_path, text)
    expected = np.array(expected)
    assert t.format.name == "csr" and t.shape == expected.shape
    assert t.dtype == (np.int64 if " integer " in text else np.float64)
    np.testing.assert_array_equal(t.to_numpy(), expected)
    assert t.nstored == np.count_nonzero(expected)


def test_mtx_keep_zeros_and_formats(tmp_path):
    text = MM + "coordinate real symmetric\n3 3 3\n1 1 1.5\n3 2 0\n3 3 0\n"
    kept = _mtx(tmp_path, text, keep_zeros=True, format="coo")
    assert kept.format.name == "coo" and kept.nstored == 4 and kept.nnz == 1
    assert _mtx(tmp_path, text, format="dense").vals.tolist() == [1.5] + [0.0] * 8
    stream = read_mtx(io.BytesIO(text.encode()))
    assert stream.nnz == 1


@pytest.mark.parametrize(
    ("text", "error", "pattern"),
    [
        (MM + "coordinate real general\n2 2 2\n1 1 1\n3 1 2\n", FileFormatError, "Line 4: Row index out of bounds"),
        (MM + "coordinate real general\n2 2 3\n1 1 1\n", FileFormatError, "Truncated file.*read 1 of the 3"),
        (MM + "coordinate real general\n2 2 1000000\n1 1 1\n", FileFormatError, "promises 1000000 entries"),
        (MM + "coordinate real general\n2 2 1\n1 1 abc\n", FileFormatError, "Line 3: Invalid floating-point"),
        (MM + "coordinatez real general\n2 2 1\n1 1 1\n", FileFormatError, "header element"),
        ("2 2 1\n1 1 1\n", FileFormatError, "Missing banner"),
        (MM + "coordinate real general\n2 2 1\n1 1 1\x00\n", FileFormatError, "line 3: a NUL byte"),
        (MM + "coordinate real general\n2 2 1\n99999999999999999999 1 1\n", FileFormatError, "Integer out of range"),
        (MM + "coordinate complex general\n2 2 1\n1 1 1 2\n", DTypeError, "complex"),
        (MM + "coordinate complex hermitian\n2 2 1\n2 1 1 2\n", DTypeError, "hermitian"),
        (MM + "coordinate real symmetric\n2 3 1\n1 1 1\n", FileFormatError, "must be square, got 2 x 3"),
        (MM + "coordinate real skew-symmetric\n2 2 1\n1 1 4\n", FileFormatError, r"zero diagonal.*\(1, 1\)"),
        (MM + "array pattern general\n2 2\n", FileFormatError, "pattern"),
        (MM + "array real general\n1000000 1000000\n1\n", DenseLimitError, "1000000 x 1000000"),
    ],
)
def test_mtx_errors(tmp_path, text, error, pattern):
    path = tmp_path / "bad.mtx"
    path.write_bytes(text.encode())
    with pytest.raises(error, match=pattern) as info:
        read_mtx(path)
    assert str(path) in str(info.value)


def test_missing_files_and_unknown_extensions(tmp_path):
    for name in ("no.mtx", "no.tns", "no.npz"):
        with pytest.raises(FileNotFoundError):
            load(tmp_path / name)
    with pytest.raises(FileFormatError, match=r"'\.csv'"):
        load(tmp_path / "a.csv")
    with pytest.raises(FileFormatError, match="extension"):
        save(tmp_path / "a.mtx.zip", np.eye(2))
    (tmp_path / "bad.mtx.gz").write_bytes(b"not gzip at all")
    with pytest.raises(FileFormatError, match="decompress"):
        load(tmp_path / "bad.mtx.gz")


# ---- the shared real data ---------------------------------------------------------------------
SUITESPARSE = [
    "Franz6_id1959_aug", "G51", "Pd", "adder_dcop_05", "arrow", "bayer10", "bcspwr06", "bcsstk13",
    "bp_1200", "cryg2500", "dwt_878", "hangGlider_2", "jagmesh7", "karate", "lp_e226", "nnc1374",
    "olm1000", "pushpull", "rajat01", "watt_2", "west0067", "west0479", "zenios",
]


def test_suitesparse_list_is_complete(data_dir):
    assert sorted(p.stem for p in (data_dir / "suitesparse").glob("*.mtx")) == sorted(SUITESPARSE)


@pytest.mark.parametrize("name", SUITESPARSE)
def test_suitesparse_matches_scipy(data_dir, name):
    path = data_dir / "suitesparse" / f"{name}.mtx"
    t = read_mtx(path)
    ref = scipy.io.mmread(path).tocsr()
    ref.sum_duplicates()
    ref.eliminate_zeros()
    mine = t.to_scipy("csr")
    assert mine.shape == ref.shape and mine.nnz == ref.nnz == t.nnz
    assert mine.dtype == ref.dtype
    assert (mine != ref).nnz == 0


def test_graphchallenge_dnn_shapes(data_dir):
    folder = data_dir / "graphchallenge-dnn"
    weights = sorted(folder.glob("n1024-l*.mtx"))
    assert len(weights) == 30 and len(list(folder.glob("*.mtx"))) == 32
    for path in weights:
        w = load(path)
        assert w.shape == (1024, 1024) and w.format.name == "csr"
        assert np.all(np.diff(w.levels[1].pos) == 32), path.name
    images = load(folder / "sparse-images-1024_subset.mtx")
    assert images.shape == (1200, 1024) and images.nnz == 122_713
    categories = load(folder / "neuron1024-l120-categories_subset.mtx")
    assert categories.shape == (1200, 1) and categories.nnz == 19
    assert np.count_nonzero(np.diff(categories.levels[1].pos)) == 19


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
@pytest.mark.parametrize("symmetry", ["general", "symmetric", "skew-symmetric"])
def test_mtx_array_layout_round_trip(tmp_path, dtype, symmetry):
    rng = np.random.default_rng(7)
    base = (rng.integers(-3, 4, (5, 5)) * (rng.random((5, 5)) < 0.5)).astype(dtype)
    dense = {"general": base, "symmetric": base + base.T, "skew-symmetric": base - base.T}[symmetry]
    path = tmp_path / "a.mtx"
    write_mtx(path, dense, symmetry=symmetry, layout="array")
    assert path.read_text().splitlines()[0].split()[2] == "array"
    back = read_mtx(path)
    np.testing.assert_array_equal(back.to_numpy(), dense.astype(back.dtype))
    assert back.format.name == "csr" and back.nnz == np.count_nonzero(dense)


def test_mtx_array_layout_refuses_pattern_and_unknown_layouts(tmp_path):
    with pytest.raises(FileFormatError, match="pattern"):
        write_mtx(tmp_path / "p.mtx", np.eye(2, dtype=bool), layout="array")
    with pytest.raises(FileFormatError, match="'dense'"):
        write_mtx(tmp_path / "p.mtx", np.eye(2), layout="dense")
