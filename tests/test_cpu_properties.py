"""The CPU backend's invariants: results independent of the thread count and of how the work is chunked
(skewed matrices and the bundled SuiteSparse matrices against scipy), and hypothesis-drawn expressions,
formats, loop orders and data against the numpy gold.

Each new expression, format or loop order is a new kernel for numba to compile, so the random expressions
are few; random data for fixed kernels reuses the compiled code and runs many examples.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from test_compiler import expressions  # the random expressions of the compiler's tests
from test_lowering import compile_drawn, operand

import zeroskip as zs
from zeroskip.backends.cpu import codegen
from zeroskip.backends.cpu import output as cpu_output
from zeroskip.backends.cpu import run as cpu_run
from zeroskip.lang import evaluate_dense, parse
from zeroskip.testing import assert_tensor_equal


def assert_identical(a: zs.SparseTensor, b: zs.SparseTensor) -> None:
    """Bit for bit: format, dtype, every level's pos and crd, the values."""
    assert (a.shape, a.format, a.dtype) == (b.shape, b.format, b.dtype)
    for level, (x, y) in enumerate(zip(a.levels, b.levels)):
        for name in ("pos", "crd"):
            got, want = getattr(x, name), getattr(y, name)
            assert (got is None) == (want is None), f"level {level} {name}"
            if got is not None:
                np.testing.assert_array_equal(got, want, err_msg=f"level {level} {name}")
    np.testing.assert_array_equal(a.vals, b.vals)


@pytest.fixture
def chunks(monkeypatch):
    """Chunking forced on small inputs; yields the chunk bounds of each run."""
    seen: list[list[int]] = []
    split, drive = cpu_run._map, cpu_run._drive

    def recording(call, bounds, threads):
        seen.append(list(bounds))
        return split(call, bounds, threads)

    def recording_drive(driver, bounds, args, threads):  # a dense output's chunks, on numba's threads
        seen.append(list(bounds))
        return drive(driver, bounds, args, threads)

    monkeypatch.setattr(cpu_run, "MIN_PARALLEL_WORK", 0)
    monkeypatch.setattr(cpu_run, "MIN_PARALLEL_SECONDS", 0.0)
    monkeypatch.setattr(cpu_run, "_map", recording)
    monkeypatch.setattr(cpu_run, "_drive", recording_drive)
    return seen


# ---- threads and chunks -----------------------------------------------------------------------------
def skewed(n: int, seed: int) -> np.ndarray:
    """``arrow``-like: a dense first row and column and the diagonal, a few scattered entries; small integers."""
    rng = np.random.default_rng(seed)
    a = operand((n, n), 0.01, rng)
    a[0, :] = rng.integers(1, 4, n)
    a[:, 0] = rng.integers(1, 4, n)
    a[np.arange(n), np.arange(n)] = 2.0
    return a


N = 400
A_SKEW = skewed(N, 1)
# name -> (expression, operands (array, format), loop order, output format, whether the root loop is split)
THREADED = {
    "spmv": ("y(i) = A(i,j) * x(j)", {"A": (A_SKEW, "csr"), "x": (np.arange(N) % 5 - 2.0, "dense")}, "ij", None, True),
    "spmv by columns": ("y(i) = A(i,j) * x(j)", {"A": (A_SKEW, "csc"), "x": (np.arange(N) % 5 - 2.0, "dense")},
                        "ji", "dense", False),
    "spmspv": ("y(i) = A(i,j) * x(j)", {"A": (A_SKEW, "dcsr"), "x": (np.where(np.arange(N) % 3, 0, 1.0), "sparse")},
               "ij", "sparse", True),
    "spgemm": ("X(i,j) = B(i,k) * C(k,j)", {"B": (A_SKEW, "csr"), "C": (skewed(N, 2).T.copy(), "csr")}, "ikj", "csr",
               True),
    "spgemm dense output": ("X(i,j) = B(i,k) * C(k,j)", {"B": (A_SKEW, "dcsr"), "C": (skewed(N, 3), "csr")}, "ikj",
                            "dense", True),
    "add": ("X(i,j) = B(i,j) + C(i,j)", {"B": (A_SKEW, "csr"), "C": (A_SKEW.T.copy(), "csr")}, "ij", "dcsr", True),
    "sddmm": ("X(i,j) = B(i,j) * C(i,k) * D(k,j)", {"B": (A_SKEW, "csr"), "C": (np.ones((N, 3)), "dense"),
                                                   "D": (np.full((3, N), 2.0), "dense")}, "ijk", "csr", True),
    "ttv": ("X(i,j) = B(i,j,k) * c(k)", {"B": (np.stack([A_SKEW[:60, :50]] * 3, axis=2), "csf"),
                                         "c": (np.array([1.0, -2, 3]), "dense")}, "ijk", "dcsr", True),
    "ttm": ("X(i,j,k) = B(i,j,l) * C(k,l)", {"B": (np.stack([A_SKEW[:60, :50], -A_SKEW[5:65, :50]], axis=2), "csf"),
                                             "C": (np.array([[1.0, 2], [0, 0], [3, -1]]), "dense")}, "ijlk", "csf", True),
}


@pytest.mark.parametrize("kernel", sorted(THREADED))
def test_threads_and_chunks_give_identical_results(kernel, chunks):
    text, ops, order, out, split = THREADED[kernel]
    program = zs.compile(text, loop_order=order, out=out, **{n: zs.as_tensor(a, f) for n, (a, f) in ops.items()})
    gold = evaluate_dense(parse(text), {n: a for n, (a, _) in ops.items()})
    one = program.run(backend="sparse", threads=1)
    assert_tensor_equal(one, gold, check_format=False)
    for threads in (2, 4):
        assert_identical(program.run(backend="sparse", threads=threads), one)
        assert (len(chunks[-1]) > 2) == split, chunks[-1]  # several chunks exactly where the root loop may split


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("kernel", ["add", "spgemm", "ttv", "ttm"])
def test_outputs_that_outgrow_their_buffers_resume_where_they_stopped(kernel, threads, chunks, monkeypatch):
    """Buffers of three entries: every chunk fills them again and again, and resumes at the unfinished row."""
    class Tiny(cpu_output.Buffers):
        def __init__(self, capacity, *args):
            super().__init__(3, *args)

    monkeypatch.setattr(cpu_run, "Buffers", Tiny)
    text, ops, order, out, _ = THREADED[kernel]
    program = zs.compile(text, loop_order=order, out=out, **{n: zs.as_tensor(a, f) for n, (a, f) in ops.items()})
    got = program.run(backend="sparse", threads=threads)
    assert_tensor_equal(got, evaluate_dense(parse(text), {n: a for n, (a, _) in ops.items()}), check_format=False)
    got.verify(canonical=True)


def test_chunks_follow_the_nonzeros_not_the_rows(chunks):
    """The dense first row alone weighs about a chunk: chunks are equal shares of stored entries."""
    program = zs.compile("y(i) = A(i,j) * x(j)", A=zs.as_tensor(A_SKEW, "csr"), x=np.ones(N), loop_order="ij")
    program.run(backend="sparse", threads=4)
    bounds = chunks[-1]
    weights = np.count_nonzero(A_SKEW, axis=1) + 1  # a row costs its entries and one step
    per_chunk = [weights[lo:hi].sum() for lo, hi in zip(bounds[:-1], bounds[1:])]
    assert len(per_chunk) >= 4 and sum(per_chunk) == weights.sum()
    assert max(per_chunk) <= weights.sum() / len(per_chunk) + weights.max()
    assert bounds[1] < N // len(per_chunk)  # the heavy first row gets a short chunk


def test_chunking_with_an_epilogue_and_a_vector_bias(chunks):
    e = zs.Epilogue(bias=np.arange(N) % 7 - 3.0, relu=True, clamp=(None, 20.0))
    program = zs.compile("X(i,j) = B(i,k) * C(k,j)", B="csr", C="csr", out="csr", loop_order="ikj", epilogue=e)
    C = skewed(N, 4)
    one = program.run(B=A_SKEW, C=C, backend="sparse", threads=1)
    value, reached = A_SKEW @ C, (np.abs(A_SKEW) @ np.abs(C)) != 0
    assert_tensor_equal(one, np.where(reached, np.clip(value + e.bias[None, :], 0, 20), 0), check_format=False)
    assert_identical(program.run(B=A_SKEW, C=C, backend="sparse", threads=3), one)
    assert len(chunks[-1]) > 2


# ---- the bundled SuiteSparse matrices --------------------------------------------------------------
def assert_close_to_scipy(out: zs.SparseTensor, gold) -> None:
    """Values within rounding of the largest entry (sums run in another order); canonical structure."""
    out.verify(canonical=True)
    if out.ndim == 1:
        np.testing.assert_allclose(out.to_numpy(), gold, rtol=1e-12, atol=1e-12 * np.abs(gold).max())
        return
    difference = abs(out.to_scipy("csr") - sparse.csr_array(gold))
    assert difference.max() <= 1e-12 * abs(gold).max()


SUITE = [(m, k) for m in ["karate", "west0479", "bcsstk13", "G51", "arrow"] for k in ["spmv", "spgemm", "add"]
         if (m, k) != ("arrow", "spgemm")]  # arrow @ arrow is dense: 46500^2 entries


@pytest.mark.parametrize(("matrix", "kernel"), SUITE)
def test_suitesparse_matrices_against_scipy(matrix, kernel, data_dir, chunks):
    A = zs.load(data_dir / "suitesparse" / f"{matrix}.mtx").astype(np.float64)
    S = A.to_scipy("csr")
    x = np.random.default_rng(0).random(A.shape[1])
    text, operands, gold = {
        "spmv": ("y(i) = A(i,j) * x(j)", {"A": A, "x": x}, lambda: S @ x),
        "spgemm": ("X(i,j) = A(i,k) * B(k,j)", {"A": A, "B": A}, lambda: S @ S),
        "add": ("X(i,j) = A(i,j) + B(i,j)", {"A": A, "B": A.T}, lambda: S + S.T),
    }[kernel]
    program = zs.compile(text, **operands)
    one = program.run(backend="sparse", threads=1)
    assert_close_to_scipy(one, gold())
    assert_identical(program.run(backend="sparse", threads=2), one)


# ---- hypothesis ---------------------------------------------------------------------------------------
@settings(max_examples=25)  # each example is a new kernel to compile
@given(expressions(), st.data())
def test_random_expressions_formats_and_loop_orders(case, data):
    assign, operands = case
    arrays, program = compile_drawn(assign, operands, data)
    if program is None:
        return
    out = program.run(backend="sparse", threads=1)
    assert_tensor_equal(out, evaluate_dense(assign, arrays), check_format=False)
    assert_tensor_equal(out, program.interpret())


# name -> (expression, operand formats, loop order, operand shapes as index letters)
FIXED = {
    "spmv": ("y(i) = A(i,j) * x(j)", {"A": "csr", "x": "dense"}, "ij", {"A": "ij", "x": "j"}),
    "spgemm": ("X(i,j) = B(i,k) * C(k,j)", {"B": "csr", "C": "csr"}, "ikj", {"B": "ik", "C": "kj"}),
    "add": ("X(i,j) = B(i,j) + C(i,j)", {"B": "csr", "C": "csr"}, "ij", {"B": "ij", "C": "ij"}),
}
PROGRAMS = {name: zs.compile(text, loop_order=order, **formats) for name, (text, formats, order, _) in FIXED.items()}


@settings(max_examples=150)  # the data changes, the kernels do not: no compile after the first
@given(kernel=st.sampled_from(sorted(FIXED)), sizes=st.fixed_dictionaries({i: st.integers(0, 9) for i in "ijk"}),
       density=st.sampled_from([0.0, 0.1, 0.5, 1.0]), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float64, np.int64]), threads=st.integers(1, 3))
def test_random_data_for_fixed_kernels(kernel, sizes, density, seed, dtype, threads):
    text, _, _, letters = FIXED[kernel]
    rng = np.random.default_rng(seed)
    arrays = {n: operand(tuple(sizes[i] for i in idx), density, rng).astype(dtype) for n, idx in letters.items()}
    with mock.patch.object(cpu_run, "MIN_PARALLEL_WORK", 0):
        out = PROGRAMS[kernel].run(backend="sparse", threads=threads, **arrays)
    assert out.dtype == dtype and out.format == PROGRAMS[kernel].output_format
    assert_tensor_equal(out, evaluate_dense(parse(text), arrays), check_format=False)


# ---- position maps: a sparse fiber every pass reads whole is located, not merged ---------------------
# name -> (expression, formats (sparse outputs), loop order, operand shapes as index letters, the map in the source)
MAPPED = {
    "spmspv": ("y(i) = A(i,j) * x(j)", {"A": "csr", "x": "sparse", "out": "sparse"}, "ij",
               {"A": "ij", "x": "j"}, "m0_x"),
    "dcsr-matmul": ("X(i,j) = A(i,k) * B(k,j)", {"A": "csr", "B": "dcsr", "out": "csr"}, "ikj",
                    {"A": "ik", "B": "kj"}, "m0_B"),
    "three-way": ("y(i) = A(i,j) * x(j) * z(j)", {"A": "csr", "x": "sparse", "z": "sparse", "out": "sparse"}, "ij",
                  {"A": "ij", "x": "j", "z": "j"}, "m0_z"),
}
_mapped_programs: dict[tuple[str, bool, bool], zs.Program] = {}


def mapped_program(name: str, limit: int, bias: bool) -> zs.Program:
    key = (name, limit > 0, bias)
    if key not in _mapped_programs:
        text, formats, order, _, _ = MAPPED[name]
        epilogue = zs.Epilogue(bias=-1.0) if bias else None  # f(0) != 0: only reached entries are stored
        _mapped_programs[key] = zs.compile(text, loop_order=order, epilogue=epilogue, **formats)
    return _mapped_programs[key]


@settings(max_examples=120)
@given(name=st.sampled_from(sorted(MAPPED)), sizes=st.fixed_dictionaries({i: st.integers(0, 9) for i in "ijk"}),
       density=st.sampled_from([0.0, 0.1, 0.5, 1.0]), seed=st.integers(0, 2**16),
       limit=st.sampled_from([0, codegen.MAP_LIMIT]), bias=st.booleans(), threads=st.integers(1, 3))
def test_position_maps_and_their_merge_fallback_match_the_gold(name, sizes, density, seed, limit, bias, threads):
    """Located through the map (or merged, when the dimension is over the map's limit): same answer,
    and under an epilogue with f(0) != 0 only the entries a product reached are stored."""
    text, _, _, letters, map_name = MAPPED[name]
    rng = np.random.default_rng(seed)
    arrays = {n: operand(tuple(sizes[i] for i in idx), density, rng) for n, idx in letters.items()}
    program = mapped_program(name, limit, bias)
    with mock.patch.object(codegen, "MAP_LIMIT", limit), mock.patch.object(cpu_run, "MIN_PARALLEL_WORK", 0):
        out = program.run(backend="sparse", threads=threads, **arrays)
        assert map_name in program.source()
    gold = evaluate_dense(parse(text), arrays)
    if bias:
        pattern = {n: (a != 0).astype(np.int64) for n, a in arrays.items()}
        reached = evaluate_dense(parse(text), pattern) != 0
        gold = np.where(reached, gold - 1.0, 0.0)
    assert_tensor_equal(out, gold, check_format=False)


# ---- the sparse accumulator: rows read back sorted (few entries) or by their set bits (many) --------
SPA_EPILOGUES = {"none": None, "bias": zs.Epilogue(bias=-1.0)}  # bias: only entries a product reached are stored
_spa_programs = {name: zs.compile("X(i,j) = B(i,k) * C(k,j)", B="csr", C="csr", out="csr", loop_order="ikj",
                                  epilogue=e) for name, e in SPA_EPILOGUES.items()}


@settings(max_examples=60)
@given(epilogue=st.sampled_from(sorted(SPA_EPILOGUES)), n=st.sampled_from([1, 63, 64, 65, 130, 300]),
       row_density=st.lists(st.sampled_from([0.0, 0.005, 0.05, 0.5, 1.0]), min_size=5, max_size=5),
       seed=st.integers(0, 2**16))
def test_accumulator_rows_of_every_fill_across_bitset_words(epilogue, n, row_density, seed):
    """Rows from empty to full, on column counts around the 64-bit word boundaries: each row takes
    the sorted-list or the bitset path by its own fill, and every one must come back exactly."""
    rng = np.random.default_rng(seed)
    B = np.where(rng.random((6, 5)) < 0.6, rng.integers(1, 5, (6, 5)), 0).astype(np.float64)
    C = np.stack([np.where(rng.random(n) < d, rng.integers(-3, 4, n), 0) for d in row_density]).astype(np.float64)
    out = _spa_programs[epilogue].run(B=B, C=C, backend="sparse", threads=1)
    gold = B @ C
    if epilogue == "bias":
        gold = np.where((np.abs(B) @ np.abs(C)) != 0, gold - 1.0, 0.0)
    assert_tensor_equal(out, gold, check_format=False)


def test_a_split_ruled_out_by_one_slow_run_is_measured_again(monkeypatch):
    """A split run slowed by something else (a VM core waking up) is re-tried now and then, and recovers."""
    monkeypatch.setattr(cpu_run, "MIN_PARALLEL_SECONDS", 300e-6)
    profile = cpu_run._Profile(serial=1e-8, overhead=None)
    entries, threads = 100_000, 2  # 1 ms of serial work
    profile.record(entries, 4, threads, 0.1)  # the first split run is not counted
    profile.record(entries, 4, threads, 0.1)  # then a 100 ms one: the overhead looks huge
    decisions = []
    for _ in range(3 * cpu_run.REPROBE_RUNS):
        split = profile.split(entries, threads)
        decisions.append(split)
        profile.record(entries, 4 if split else 1, threads, 0.6e-3 if split else 1e-3)
    assert not decisions[0] and decisions.count(True) >= 3
    assert decisions[-20:].count(False) <= 1, "after a few fast split runs the overhead is small again (but for a serial probe)"


def test_a_split_kept_on_one_slow_serial_run_is_measured_again(monkeypatch):
    """A kernel's serial time measured slow once (cold caches, a disturbance) made every later run split,
    even where split runs cost more than they save: split runs never measured serial time again."""
    monkeypatch.setattr(cpu_run, "MIN_PARALLEL_SECONDS", 300e-6)
    profile = cpu_run._Profile()
    entries, threads = 100_000, 2
    profile.record(entries, 1, threads, 1.0)  # the first serial run is not counted
    profile.record(entries, 1, threads, 1e-3)  # then a slow one: 10 ns per entry, 1 ms of work
    true_serial, true_split = 0.2e-3, 0.3e-3  # what the runs take without the disturbance
    decisions = []
    for _ in range(4 * cpu_run.REPROBE_RUNS):
        split = profile.split(entries, threads)
        decisions.append(split)
        profile.record(entries, 4 if split else 1, threads, true_split if split else true_serial)
    assert decisions[0], "the slow serial run makes splitting look worth it at first"
    assert not any(decisions[-cpu_run.REPROBE_RUNS:]), "a serial run measured again rules splitting out"
    assert profile.serial == pytest.approx(true_serial / entries)


def test_a_kept_split_decision_does_not_probe(monkeypatch):
    """A decision kept for good (a bound layer's) never lands on a probe's serial run."""
    monkeypatch.setattr(cpu_run, "MIN_PARALLEL_SECONDS", 300e-6)
    profile = cpu_run._Profile(serial=1e-8, overhead=1e-6)
    assert all(profile.split(100_000, 2, probe=False) for _ in range(3 * cpu_run.REPROBE_RUNS))
    assert all(profile.split(100_000, 2, driven=True, probe=False) for _ in range(3 * cpu_run.REPROBE_RUNS))
    probed = [profile.split(100_000, 2) for _ in range(3 * cpu_run.REPROBE_RUNS)]
    assert probed.count(False) == 3, "a probing caller runs serially once every REPROBE_RUNS splits"
