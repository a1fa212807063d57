"""Fuzzing the readers: whatever the bytes, the outcome is a verified SparseTensor or a ZeroskipError.

Random byte strings, mutations of valid Matrix Market and FROSTT files (truncation, flipped
tokens, garbage lines, huge and negative numbers, wrong header words) and corrupted .npz archives
(random arrays under the right keys, wrong dtypes, pickled object arrays, damaged zip bytes).
The dense limit is lowered so a header promising a huge matrix cannot eat the machine.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zeroskip import config
from zeroskip.errors import ZeroskipError
from zeroskip.formats.io import read_mtx, read_npz, read_tns, write_npz
from zeroskip.formats.tensor import SparseTensor

# ZEROSKIP_FUZZ_EXAMPLES=5000 for a long hunt; the default keeps the file well under 40 s.
FUZZ = settings(max_examples=int(os.environ.get("ZEROSKIP_FUZZ_EXAMPLES", 150)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

JUNK_TOKENS = [
    b"-1", b"0", b"-0", b"+3", b"-9223372036854775809", b"9223372036854775807", b"9223372036854775808",
    b"2147483648", b"4294967297", b"99999999999999999999999", b"1e400", b"-1e-400", b"nan", b"inf", b"-inf",
    b"1.5", b"0x10", b"abc", b"", b"%", b"#", b"+", b"-", b".", b"1_0", b"\xef\xbc\x91", b"\xff", b"\x00",
    b"1" * 40, b"%%MatrixMarket", b"\t", b"\r",
]
HEADER_WORDS = [
    b"matrix", b"vector", b"tensor", b"coordinate", b"array", b"real", b"integer", b"pattern", b"complex",
    b"double", b"unsigned-integer", b"general", b"symmetric", b"skew-symmetric", b"hermitian", b"", b"xyz",
]


@pytest.fixture(autouse=True)
def _small_dense_limit():
    with config.dense_limit(1 << 24):  # 16 MiB: a lying header is refused, not allocated
        yield


def outcome(read, data: bytes, **kw) -> SparseTensor | None:
    """Run a reader on bytes: a verified tensor, or None for a ZeroskipError; anything else fails."""
    try:
        t = read(io.BytesIO(data), **kw)
    except ZeroskipError:
        return None
    assert isinstance(t, SparseTensor)
    t.verify()
    return t


# ---- mutations ----------------------------------------------------------------------------------
@st.composite
def mutated(draw, data: bytes, max_ops: int = 4) -> bytes:
    """``data`` changed by a few random edits of the kinds real damage takes."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(["truncate", "token", "line", "header", "delete", "repeat", "byte"]))
        lines = bytes(out).split(b"\n")
        if op == "truncate":
            del out[draw(st.integers(0, len(out))):]
        elif op == "token":
            tokens = bytes(out).split(b" ")
            tokens[draw(st.integers(0, len(tokens) - 1))] = draw(st.sampled_from(JUNK_TOKENS))
            out = bytearray(b" ".join(tokens))
        elif op == "line":
            garbage = draw(st.one_of(st.binary(max_size=12), st.lists(st.sampled_from(JUNK_TOKENS), max_size=5)
                                     .map(b" ".join)))
            lines.insert(draw(st.integers(0, len(lines))), garbage)
            out = bytearray(b"\n".join(lines))
        elif op == "header":
            words = lines[0].split(b" ")
            words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(HEADER_WORDS))
            out = bytearray(b"\n".join([b" ".join(words), *lines[1:]]))
        elif op in ("delete", "repeat"):
            k = draw(st.integers(0, len(lines) - 1))
            lines[k:k + 1] = [] if op == "delete" else [lines[k], lines[k]]
            out = bytearray(b"\n".join(lines))
        elif out:
            out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
    return bytes(out)


# ---- Matrix Market ------------------------------------------------------------------------------
@st.composite
def mm_files(draw) -> tuple[bytes, str, int]:
    """A valid Matrix Market file: (bytes, layout, rows * cols)."""
    layout = draw(st.sampled_from(["coordinate", "array"]))
    field = draw(st.sampled_from(["real", "integer"] + (["pattern"] if layout == "coordinate" else [])))
    symmetry = draw(st.sampled_from(["general", "symmetric", "skew-symmetric"]))
    rows = draw(st.integers(0 if layout == "coordinate" else 1, 6))
    cols = rows if symmetry != "general" else draw(st.integers(0 if layout == "coordinate" else 1, 6))
    value = st.integers(-(2**40), 2**40).map(str) if field == "integer" else st.floats(
        allow_nan=False, width=64).map(repr)
    body = []
    if layout == "coordinate":
        lower = symmetry != "general"
        cells = [(i, j) for i in range(1, rows + 1) for j in range(1, cols + 1)
                 if not lower or (j < i if symmetry == "skew-symmetric" else j <= i)]
        if cells:
            # unique cells: summing duplicates in another order may round differently
            chosen = draw(st.lists(st.sampled_from(cells), max_size=10, unique=True))
            body = [f"{i} {j}" + ("" if field == "pattern" else f" {draw(value)}") for i, j in chosen]
        header = f"{rows} {cols} {len(body)}"
    else:
        count = {"general": rows * cols, "symmetric": rows * (rows + 1) // 2,
                 "skew-symmetric": rows * (rows - 1) // 2}[symmetry]
        body = [draw(value) for _ in range(count)]
        header = f"{rows} {cols}"
    text = "\n".join([f"%%MatrixMarket matrix {layout} {field} {symmetry}", "% fuzz", header, *body]) + "\n"
    return text.encode(), layout, rows * cols


@FUZZ
@given(mm_files())
def test_valid_mtx_agrees_with_scipy(case):
    data, layout, size = case
    t = outcome(read_mtx, data)
    assert t is not None
    # Only unmutated files go to scipy directly: malformed ones can crash its C++ reader.
    ref = scipy.io.mmread(io.BytesIO(data))
    ref = sp.csr_array(ref)
    ref.sum_duplicates()
    ref.eliminate_zeros()
    assert t.shape == ref.shape and (t.to_scipy("csr") != ref).nnz == 0


@FUZZ
@given(st.data())
def test_mutated_mtx(data):
    text, _, _ = data.draw(mm_files())
    outcome(read_mtx, data.draw(mutated(text)), keep_zeros=data.draw(st.booleans()))


@FUZZ
@given(st.binary(max_size=200), st.sampled_from([b"", b"%%MatrixMarket matrix coordinate real general\n"]))
def test_random_bytes_mtx(junk, prefix):
    outcome(read_mtx, prefix + junk)


# ---- FROSTT .tns --------------------------------------------------------------------------------
@st.composite
def tns_files(draw) -> tuple[bytes, tuple[int, ...], dict]:
    """A valid .tns file, its shape and the entries it holds (no duplicates)."""
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    coords = draw(st.lists(st.tuples(*[st.integers(1, n) for n in shape]), max_size=12, unique=True))
    value = draw(st.sampled_from([st.integers(-(2**62), 2**62), st.floats(allow_nan=False, width=64)]))
    entries = {c: draw(value) for c in coords}
    lines = ["# fuzz"] + [" ".join(map(str, c)) + f" {v!r}" for c, v in entries.items()]
    return ("\n".join(lines) + "\n").encode(), shape, entries


@FUZZ
@given(tns_files())
def test_valid_tns_matches_its_entries(case):
    data, shape, entries = case
    t = outcome(read_tns, data, shape=shape)
    assert t is not None
    dense = np.zeros(shape, dtype=t.dtype)
    for c, v in entries.items():
        dense[tuple(i - 1 for i in c)] = v
    np.testing.assert_array_equal(t.to_numpy(), dense)


@FUZZ
@given(st.data())
def test_mutated_tns(data):
    text, shape, _ = data.draw(tns_files())
    kw = {"shape": data.draw(st.sampled_from([None, shape])), "sum_duplicates": data.draw(st.booleans())}
    outcome(read_tns, data.draw(mutated(text)), **kw)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_tns(junk):
    outcome(read_tns, junk)


# ---- .npz ---------------------------------------------------------------------------------------
FORMATS = {1: ["sparse", "d"], 2: ["csr", "csc", "coo", "dcsr", "dense", "sd"], 3: ["dss", "sss[2,0,1]", "coo"]}
DTYPES = ["float64", "float32", "int32", "int64", "uint8", "bool", "float16", "complex128", "<U3", ">i8", ">f8"]


@st.composite
def random_array(draw) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(st.sampled_from([(), (0,), (1,), (3,), (5,), (2, 2)]))
    raw = draw(st.lists(st.integers(-3, 10), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    return np.array(raw).astype(dtype).reshape(shape)


def _archive(arrays: dict, pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=pickle, **arrays)
    return buf.getvalue()


@st.composite
def npz_archives(draw) -> dict:
    ndim = draw(st.sampled_from(sorted(FORMATS)))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=ndim, max_size=ndim)))
    dense = np.array(draw(st.lists(st.integers(-2, 2), min_size=int(np.prod(shape)),
                                   max_size=int(np.prod(shape))))).reshape(shape).astype(np.float64)
    t = SparseTensor.from_numpy(dense, draw(st.sampled_from(FORMATS[ndim])))
    buf = io.BytesIO()
    write_npz(buf, t)
    with np.load(io.BytesIO(buf.getvalue())) as z:
        return dict(z)


@FUZZ
@given(st.data())
def test_corrupted_npz(data):
    arrays = data.draw(npz_archives())
    assert outcome(read_npz, _archive(arrays)) is not None
    op = data.draw(st.sampled_from(["replace", "drop", "add", "pickle", "bytes"]))
    key = data.draw(st.sampled_from(sorted(arrays)))
    pickle = False
    if op == "replace":
        arrays[key] = data.draw(random_array())
    elif op == "drop":
        del arrays[key]
    elif op == "add":
        new_key = data.draw(st.sampled_from(["level0_pos", "level1_crd", "level5_pos", "extra"]))
        arrays[new_key] = data.draw(random_array())
    elif op == "pickle":
        arrays[key], pickle = np.array([1, None, "x"], dtype=object), True
    raw = _archive(arrays, pickle)
    if op == "bytes":
        raw = data.draw(mutated(raw, max_ops=2))
    outcome(read_npz, raw)


@FUZZ
@given(st.data())
def test_corrupted_scipy_npz(data):
    dense = np.array(data.draw(st.lists(st.integers(-2, 2), min_size=12, max_size=12))).reshape(3, 4)
    buf = io.BytesIO()
    sp.save_npz(buf, sp.csr_array(dense).asformat(data.draw(st.sampled_from(["csr", "csc", "coo", "bsr", "dia"]))))
    with np.load(io.BytesIO(buf.getvalue())) as z:
        arrays = dict(z)
    key = data.draw(st.sampled_from(sorted(arrays)))
    arrays[key] = data.draw(random_array())
    outcome(read_npz, _archive(arrays))


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([b"", b"PK\x03\x04", b"\x93NUMPY\x01\x00"]))
def test_random_bytes_npz(junk, prefix):
    outcome(read_npz, prefix + junk)

