"""The CPU backend against the reference interpreter and the dense numpy gold: every kernel of the compiler's
table (formats x loop orders x densities), dtypes, edge cases, fused epilogues, the dense fallback, errors,
and the on-disk kernel cache.

Operands hold small integers, so float64 sums are exact in any order and compared exactly; float32 is
compared within ``F32``. Each distinct kernel costs numba a compile (about half a second) on an empty cache:
the table makes about 300, the other tests a few dozen.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import sparse
from test_lowering import CANNOT, KERNELS, operand  # the compiler's kernel table and its operands

import zeroskip as zs
from zeroskip.backends.cpu.backend import compiled
from zeroskip.errors import ConfigError, ShapeError, ZeroskipError
from zeroskip.lang import evaluate_dense, parse
from zeroskip.lang.gold import reached_entries
from zeroskip.testing import assert_tensor_equal, random_tensor

F32 = dict(rtol=1e-5, atol=1e-6)  # float32: sums of a few terms, each rounded to 24 bits


def arrays_for(shapes: dict, density: float, seed) -> dict:
    rng = np.random.default_rng(seed)
    return {n: operand(s, density, rng) if s else float(rng.choice([-1.5, 2.0])) for n, s in shapes.items()}


def check_run(program, gold, interpret=True, **operands):
    """One sparse run on one thread: the gold's values, the program's output format, the interpreter's arrays."""
    out = program.run(backend="sparse", threads=1, **operands)
    assert out.format == program.output_format
    assert_tensor_equal(out, gold, check_format=False)
    if interpret:
        assert_tensor_equal(out, program.interpret(**operands))  # same format, pos, crd and vals
    return out


# ---- the compiler's kernel table ------------------------------------------------------------------
def table_of(kernel):
    name, text, ops = kernel
    for combo in itertools.product(*(ops[n][1] for n in ops)):
        yield pytest.param(name, text, dict(zip(ops, combo)), {n: s for n, (s, _) in ops.items()},
                           id=f"{name}-{'-'.join(c or 'scalar' for c in combo)}")


def table():
    for kernel in KERNELS:
        yield from table_of(kernel)


@pytest.mark.parametrize("density", [0.0, 0.3, 1.0])
@pytest.mark.parametrize(("name", "text", "formats", "shapes"), list(table()))
def test_every_kernel_format_and_loop_order(name, text, formats, shapes, density):
    assign = parse(text)
    arrays = arrays_for(shapes, density, [len(text), int(density * 10)])
    gold = evaluate_dense(assign, arrays)
    tensors = {n: zs.as_tensor(a, format=formats[n] or None) for n, a in arrays.items()}
    for order in itertools.permutations(assign.all_indices):
        if (name, "".join(order)) not in CANNOT:  # orders SAM's lowering (run by compile) cannot express
            check_run(zs.compile(text, loop_order=order, **tensors), gold)


@pytest.mark.parametrize(("name", "text", "formats", "shapes"), list(table()))
def test_every_kernel_on_one_by_one_operands(name, text, formats, shapes):
    ones = {n: (1,) * len(s) for n, s in shapes.items()}
    for density in (0.0, 1.0):
        arrays = arrays_for(ones, density, [len(text), 7])
        tensors = {n: zs.as_tensor(a, format=formats[n] or None) for n, a in arrays.items()}
        check_run(zs.compile(text, **tensors), evaluate_dense(parse(text), arrays))


# ---- edge cases -------------------------------------------------------------------------------------
def pattern(shape, *entries):
    a = np.zeros(shape)
    for k, index in enumerate(entries):
        a[index] = k + 2.0
    return a


SPGEMM = "X(i,j) = B(i,k) * C(k,j)"
SPMV = "y(i) = A(i,j) * x(j)"
INNER = "x = B(i,j,k) * C(i,j,k)"
EDGES = {
    "all-zero operands": (SPGEMM, {"B": (np.zeros((4, 3)), "csr"), "C": (np.zeros((3, 5)), "csr")}),
    "no product meets: zero-nnz output": (SPGEMM, {"B": (pattern((4, 3), (0, 0), (2, 0)), "csr"),
                                                   "C": (pattern((3, 5), (1, 1), (2, 4)), "csr")}),
    "single element each": (SPGEMM, {"B": (pattern((4, 3), (2, 1)), "dcsr"), "C": (pattern((3, 5), (1, 3)), "csr")}),
    "1x1": (SPGEMM, {"B": (np.full((1, 1), 3.0), "csr"), "C": (np.full((1, 1), -2.0), "csr")}),
    "row vector times matrix": (SPGEMM, {"B": (pattern((1, 4), (0, 1), (0, 3)), "csr"),
                                         "C": (operand((4, 3), 0.5, np.random.default_rng(1)), "csr")}),
    "outer product (inner dimension 1)": (SPGEMM, {"B": (pattern((4, 1), (0, 0), (3, 0)), "csr"),
                                                   "C": (pattern((1, 5), (0, 2), (0, 4)), "csr")}),
    "empty rows and columns": (SPGEMM, {"B": (pattern((5, 5), (0, 4), (4, 0)), "csr"),
                                        "C": (pattern((5, 5), (0, 0), (4, 4)), "dcsr")}),
    "zero rows": (SPMV, {"A": (np.zeros((0, 4)), "csr"), "x": (np.arange(4.0), "dense")}),
    "zero columns": (SPMV, {"A": (np.zeros((3, 0)), "csr"), "x": (np.zeros(0), "dense")}),
    "spmspv: vector empty": (SPMV, {"A": (pattern((4, 3), (1, 1)), "csr"), "x": (np.zeros(3), "sparse")}),
    "add: one side empty": ("X(i,j) = B(i,j) + C(i,j)", {"B": (np.zeros((3, 4)), "csr"),
                                                        "C": (pattern((3, 4), (0, 3), (2, 0)), "dcsr")}),
    "mul: disjoint patterns": ("X(i,j) = B(i,j) * C(i,j)", {"B": (pattern((3, 4), (0, 3)), "csr"),
                                                           "C": (pattern((3, 4), (0, 2)), "csr")}),
    "residual: b and A*x cancel": ("y(i) = b(i) - A(i,j) * x(j)", {"b": (np.array([2.0, 0, 0]), "sparse"),
                                                                   "A": (pattern((3, 2), (0, 1)), "csr"),
                                                                   "x": (np.array([0.0, 1.0]), "sparse")}),
    "0-d output (innerprod)": (INNER, {"B": (operand((3, 4, 2), 0.4, np.random.default_rng(2)), "csf"),
                                       "C": (operand((3, 4, 2), 0.6, np.random.default_rng(3)), "csf")}),
    "0-d output, nothing meets": (INNER, {"B": (pattern((3, 4, 2), (0, 0, 0)), "csf"),
                                          "C": (pattern((3, 4, 2), (2, 3, 1)), "csf")}),
    "3-tensor with one-sized modes": ("X(i,j) = B(i,j,k) * c(k)",
                                      {"B": (operand((1, 4, 1), 0.7, np.random.default_rng(4)), "csf"),
                                       "c": (np.array([3.0]), "dense")}),
}


# The dataflow interpreter cannot write an output with a zero-sized dimension (a StreamError), so the
# backend is checked against the gold alone there.
NO_INTERPRETER = {"zero rows"}


@pytest.mark.parametrize("case", sorted(EDGES))
def test_edge_cases(case):
    text, ops = EDGES[case]
    gold = evaluate_dense(parse(text), {n: a for n, (a, _) in ops.items()})
    program = zs.compile(text, **{n: zs.as_tensor(a, format=f) for n, (a, f) in ops.items()})
    out = check_run(program, gold, interpret=case not in NO_INTERPRETER)
    assert out.shape == gold.shape


def test_zero_nnz_and_zero_d_outputs_are_canonical():
    text, ops = EDGES["no product meets: zero-nnz output"]
    program = zs.compile(text, **{n: zs.as_tensor(a, format=f) for n, (a, f) in ops.items()}, out="csr")
    out = program.run(backend="sparse")
    assert out.nnz == 0 and out.levels[1].pos.tolist() == [0] * 5 and len(out.levels[1].crd) == 0
    text, ops = EDGES["0-d output (innerprod)"]
    B, C = (a for a, _ in ops.values())
    out = zs.compile(text, B=zs.as_tensor(B, "csf"), C=zs.as_tensor(C, "csf")).run(backend="sparse")
    assert out.shape == () and out.to_numpy() == np.sum(B * C)


# ---- dtypes ---------------------------------------------------------------------------------------
DTYPED = {
    "spmv": (SPMV, {"A": ((9, 7), 0.4, "csr"), "x": ((7,), 1.0, "dense")}),
    "spgemm": (SPGEMM, {"B": ((8, 6), 0.3, "csr"), "C": ((6, 7), 0.3, "csr")}),
    "add": ("X(i,j) = B(i,j) + C(i,j)", {"B": ((6, 5), 0.4, "csr"), "C": ((6, 5), 0.4, "dcsr")}),
    "sddmm": ("X(i,j) = B(i,j) * C(i,k) * D(k,j)", {"B": ((6, 5), 0.4, "csr"), "C": ((6, 3), 1.0, "dense"),
                                                  "D": ((3, 5), 1.0, "dense")}),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("kernel", sorted(DTYPED))
def test_value_dtypes(kernel, dtype):
    text, ops = DTYPED[kernel]
    pairs = {n: random_tensor(shape, density, fmt, dtype, rng=[len(n), k]) for k, (n, (shape, density, fmt))
             in enumerate(ops.items())}
    program = zs.compile(text, **{n: t for n, (_, t) in pairs.items()})
    out = program.run(backend="sparse", threads=1)
    gold = evaluate_dense(parse(text), {n: a for n, (a, _) in pairs.items()})
    assert out.dtype == gold.dtype == np.dtype(dtype)
    if dtype == np.float32:  # values in [0.5, 2): summation order changes the last bits
        assert_tensor_equal(out, gold, check_format=False, **F32)
        assert_tensor_equal(out, program.interpret(), check_format=False, **F32)
    elif dtype == np.float64:
        assert_tensor_equal(out, gold, check_format=False, rtol=1e-13)
    else:  # integers: exact in any order
        assert_tensor_equal(out, gold, check_format=False)
        assert_tensor_equal(out, program.interpret())


@pytest.mark.parametrize(("a_dtype", "x_dtype"), [(np.float32, np.float64), (np.int32, np.float32),
                                                  (np.int32, np.int64), (np.int64, np.float32), (np.int16, np.int32)])
def test_mixed_dtypes_promote_like_numpy(a_dtype, x_dtype):
    A, At = random_tensor((7, 5), 0.5, "csr", a_dtype, rng=1)
    x = np.arange(1, 6).astype(x_dtype)
    out = zs.compile(SPMV, A=At, x=x).run(backend="sparse", threads=1)
    gold = A @ x
    assert out.dtype == gold.dtype
    assert_tensor_equal(out, gold, check_format=False, rtol=1e-6 if np.dtype(gold.dtype).kind == "f" else 0)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_index_widths(index_dtype):
    B, Bt = random_tensor((9, 8), 0.3, "csr", np.float64, rng=5, index_dtype=index_dtype)
    C, Ct = random_tensor((8, 6), 0.3, "dcsr", np.float64, rng=6, index_dtype=index_dtype)
    assert Bt.index_dtype == index_dtype
    out = zs.compile(SPGEMM, B=Bt, C=Ct).run(backend="sparse", threads=1)
    assert_tensor_equal(out, B @ C, check_format=False, rtol=1e-13)


def test_an_integer_output_becomes_float_when_the_epilogue_needs_it():
    A, x = np.array([[1, 0, 2], [0, 0, 3]], np.int32), np.array([1, 2, 3], np.int32)
    whole = zs.compile(SPMV, A=A, x=x, epilogue=zs.Epilogue(bias=2, scale=3))
    assert_tensor_equal(whole.run(backend="sparse"), 3 * (A @ x) + 2)
    fraction = zs.compile(SPMV, A=A, x=x, epilogue=zs.Epilogue(bias=0.5))
    out = fraction.run(backend="sparse")
    assert out.dtype == np.float64 and out.to_numpy().tolist() == [7.5, 9.5]


# ---- epilogues ----------------------------------------------------------------------------------------
EPILOGUES = {
    "scale": zs.Epilogue(scale=2.5),
    "bias": zs.Epilogue(bias=-1.0),  # f(0) != 0
    "relu": zs.Epilogue(relu=True),
    "clamp around 0": zs.Epilogue(clamp=(-2.0, 3.0)),
    "clamp above 0": zs.Epilogue(clamp=(1.0, None)),  # f(0) = 1
    "clamp below 0": zs.Epilogue(clamp=(None, -1.0)),
    "all": zs.Epilogue(scale=0.5, bias=0.75, relu=True, clamp=(None, 4.0)),
    "bias vector along j": zs.Epilogue(bias=np.arange(6.0) - 2),
    "bias vector along i": zs.Epilogue(bias=np.arange(7.0) - 3, bias_index="i"),
}
# name -> (formats, loop order, output format, the workspace's indices): each way the kernels write an output.
WRITERS = {
    "sparse accumulator": ({"B": "csr", "C": "csr"}, "ikj", "csr", ("j",)),
    "2-d workspace": ({"B": "csc", "C": "csr"}, "kij", "csr", ("i", "j")),
    "inner product": ({"B": "dcsr", "C": "csc"}, "ijk", "dcsr", ()),
    "dense, rows skipped": ({"B": "dcsr", "C": "csr"}, "ikj", "dense", ("j",)),  # the mask path: rows B lacks
    "dense, inner product": ({"B": "csr", "C": "csc"}, "ijk", "dense", ()),
}
B_EP = operand((7, 5), 0.35, np.random.default_rng(11))
C_EP = operand((5, 6), 0.35, np.random.default_rng(12))
B_EP[2] = B_EP[5] = 0  # rows no product reaches
B_EP[0, 0], B_EP[0, 1], C_EP[0, 2], C_EP[1, 2] = 1, 1, 3, -3  # a product that cancels: X(0, 2) reached but 0


def epilogue_gold(e: zs.Epilogue, value: np.ndarray, reached: np.ndarray | None, indices: str) -> np.ndarray:
    """The epilogue on every entry of a dense output, on the entries some product reaches of a sparse one."""
    coords = np.indices(value.shape)[indices.index(e.bias_index or indices[-1])] if e.vector_bias else None
    applied = e.apply(value, coords)
    return applied if reached is None else np.where(reached, applied, 0)


@pytest.mark.parametrize("writer", sorted(WRITERS))
@pytest.mark.parametrize("epilogue", sorted(EPILOGUES))
def test_epilogues_on_every_way_of_writing_the_output(epilogue, writer):
    e, (formats, order, out, workspace) = EPILOGUES[epilogue], WRITERS[writer]
    program = zs.compile(SPGEMM, B=zs.as_tensor(B_EP, formats["B"]), C=zs.as_tensor(C_EP, formats["C"]),
                         loop_order=order, out=out, epilogue=e)
    assert [t.indices for t in compiled(program).nest.temporaries] == [workspace]
    dense = out == "dense"
    gold = epilogue_gold(e, B_EP @ C_EP, None if dense else (np.abs(B_EP) @ np.abs(C_EP)) != 0, "ij")
    got = program.run(backend="sparse", threads=1)
    assert_tensor_equal(got, gold, check_format=False, rtol=1e-15)
    assert got.format == program.output_format
    assert_tensor_equal(program.run(backend="dense"), gold, check_format=False, rtol=1e-15)
    assert_tensor_equal(program.interpret(), gold, check_format=False, rtol=1e-15)
    if writer == "dense, rows skipped":
        assert compiled(program).plan.mask == (not e.zero_maps_to_zero())


@pytest.mark.parametrize(("name", "text", "formats", "shapes"), list(table()))
def test_an_epilogue_with_f0_nonzero_on_every_kernel_and_loop_order(name, text, formats, shapes):
    """bias 0.5 maps 0 elsewhere: dense outputs take the masked path, sparse ones store the reached entries only."""
    assign, e = parse(text), zs.Epilogue(bias=0.5)
    arrays = arrays_for(shapes, 0.3, [len(text), 3])
    for n, f in formats.items():
        if f == "dense":
            arrays[n] = np.where(arrays[n] == 0, 1.0, arrays[n])  # a dense operand stores every entry
    value, where = evaluate_dense(assign, arrays), reached_entries(assign, arrays)
    tensors = {n: zs.as_tensor(a, format=formats[n] or None) for n, a in arrays.items()}
    for order in itertools.permutations(assign.all_indices):
        if (name, "".join(order)) in CANNOT:
            continue
        program = zs.compile(text, loop_order=order, epilogue=e, **tensors)
        dense = all(lv.full for lv in program.schedule.format_of[assign.output].levels)
        gold = e.apply(value) if dense else np.where(where, e.apply(value), 0)
        assert_tensor_equal(program.run(backend="sparse", threads=1), gold, check_format=False)
        assert_tensor_equal(program.run(backend="dense"), gold, check_format=False)


RESIDUAL = "y(i) = b(i) - A(i,j) * x(j)"
RESIDUAL_OPERANDS = {"b": zs.as_tensor(np.array([0, 1.0, 0, 0]), "sparse"),
                     "A": zs.as_tensor(np.array([[2.0, 0], [0, 1], [0, 3], [4, 0]]), "dcsr"),
                     "x": zs.as_tensor(np.array([0, 1.0]), "sparse")}
RESIDUAL_GOLD = [0, 0.5, -2.5, 0]  # y(0), y(3): A meets no x entry, b has none


def test_an_epilogue_on_a_sparse_vector_output_and_on_a_reduction_to_a_scalar():
    A = np.array([[1.0, 0, 0], [0, 0, 0], [0, 2, 0], [0, 0, 4]])
    x = np.array([0.0, 3, 1])
    e = zs.Epilogue(bias=0.5, scale=-1.0)
    spmspv = zs.compile(SPMV, A="dcsr", x="sparse", loop_order="ij", epilogue=e)
    assert_tensor_equal(spmspv.run(A=A, x=x, backend="sparse"), [0, 0, -5.5, -3.5])  # row 0 meets no x entry
    assert "ep_bias_" in spmspv.source() and "ep_scale_" in spmspv.source()
    inner = zs.compile("x = B(i,j) * C(i,j)", B="csr", C="csr", epilogue=zs.Epilogue(bias=-10.0, relu=True))
    assert inner.run(B=A, C=A, backend="sparse").to_numpy() == 11.0
    assert inner.run(B=A, C=A, backend="dense").to_numpy() == 11.0
    residual = zs.compile(RESIDUAL, **RESIDUAL_OPERANDS, loop_order="ij", epilogue=zs.Epilogue(bias=0.5))
    for backend in ("sparse", "dense"):
        assert_tensor_equal(residual.run(backend=backend), RESIDUAL_GOLD)


@pytest.mark.xfail(strict=True, reason="interpret applies the epilogue to y(i) where b(i) is absent and A(i,:) "
                                       "meets no x entry: its graph writes the empty reduction")
def test_the_interpreter_stores_only_reached_entries_under_a_union_with_a_reduction():
    program = zs.compile(RESIDUAL, **RESIDUAL_OPERANDS, loop_order="ij", epilogue=zs.Epilogue(bias=0.5))
    assert_tensor_equal(program.interpret(), RESIDUAL_GOLD)


def test_graph_challenge_layer_against_scipy():
    """A sparse DNN layer: Y = min(max(Y @ W - 0.3, 0), 32) on the stored entries of the product."""
    Y = sparse.random(300, 256, density=0.08, format="csr", random_state=1, dtype=np.float64)
    W = sparse.random(256, 256, density=0.06, format="csr", random_state=2, dtype=np.float64)
    Y.data, W.data = 40 * Y.data + 0.01, W.data + 0.01  # positive: no product cancels, as in the challenge
    layer = zs.compile("Z(i,j) = Y(i,k) * W(k,j)", Y="csr", W="csr", out="csr",
                       epilogue=zs.Epilogue(bias=-0.3, relu=True, clamp=(None, 32.0)))
    gold = (Y @ W).tocsr()
    gold.data = np.minimum(np.maximum(gold.data - 0.3, 0), 32)
    gold.eliminate_zeros()
    assert 0 < gold.nnz < (Y @ W).nnz and np.any(gold.data == 32)  # both the ReLU and the clamp bite
    for dtype, tol in ((np.float64, dict(rtol=1e-12)), (np.float32, F32)):
        out = layer.run(Y=Y.astype(dtype), W=W.astype(dtype), backend="sparse", threads=2)
        assert out.dtype == dtype and out.format.name == "csr"
        assert_tensor_equal(out, gold.toarray().astype(dtype), check_format=False, **tol)


# ---- backends and errors ------------------------------------------------------------------------
def test_dense_and_auto_equal_sparse():
    rng = np.random.default_rng(3)
    for text, ops in [(SPGEMM, {"B": operand((30, 20), 0.2, rng), "C": operand((20, 25), 0.9, rng)}),
                      (SPMV, {"A": operand((40, 30), 0.95, rng), "x": operand((30,), 1.0, rng)}),
                      ("X(i,j) = B(i,j) + C(i,j)", {"B": operand((10, 8), 0.3, rng), "C": operand((10, 8), 0.3, rng)})]:
        program = zs.compile(text, **ops)
        sparse_out = program.run(backend="sparse")
        assert_tensor_equal(sparse_out, evaluate_dense(parse(text), ops), check_format=False)
        for backend in ("dense", "auto"):
            assert_tensor_equal(program.run(backend=backend), sparse_out)
        assert "cpu: " in program.explain() and "predicted sparse" in program.explain()


def test_explain_with_some_operands_bound_says_the_decision_waits_for_the_call():
    W = zs.as_tensor(np.eye(4), format="csr")
    program = zs.compile("Y(b,o) = X(b,i) * W(o,i)", W=W, X="dense")
    assert "no tensor for X given at compile time" in program.explain()
    np.testing.assert_array_equal(program.run(X=np.ones((2, 4))).to_numpy(), np.ones((2, 4)))


def test_thread_count_setting():
    A = operand((12, 9), 0.4, np.random.default_rng(8))
    program = zs.compile(SPMV, A="csr", x="dense")
    try:
        zs.set_num_threads(3)
        assert zs.get_num_threads() == 3
        assert_tensor_equal(program.run(A=A, x=np.ones(9), backend="sparse"), A @ np.ones(9))
    finally:
        zs.set_num_threads(None)
    assert zs.get_num_threads() >= 1


ERRORS = [
    # (run keyword arguments, compile epilogue, exception, message)
    (dict(backend="gpu"), None, ConfigError, "backend must be one of auto, sparse, dense, got 'gpu'"),
    (dict(backend=None), None, ConfigError, "got None"),
    (dict(threads=0), None, ConfigError, "thread count must be a positive integer, got 0"),
    (dict(threads=-1), None, ConfigError, "positive integer, got -1"),
    (dict(threads="2"), None, ConfigError, "positive integer, got '2'"),
    (dict(threads=1.5), None, ConfigError, "positive integer, got 1.5"),
    (dict(x=np.ones(7)), None, ShapeError, "index j is 5 in A .mode 1. but 7 in x .mode 0."),
    (dict(x=np.ones((5, 1))), None, ShapeError, r"x has shape \(5, 1\)"),
    (dict(A=np.ones((4, 5))), zs.Epilogue(bias=np.ones(6)), ShapeError,
     "bias has length 6 but output index i has size 4"),
]


@pytest.mark.parametrize(("kwargs", "epilogue", "error", "message"), ERRORS)
def test_errors_name_the_value(kwargs, epilogue, error, message):
    program = zs.compile(SPMV, A="csr", x="dense", epilogue=epilogue)  # formats only: shapes come with run
    operands = {"A": np.ones((6, 5)), "x": np.ones(5), **kwargs}
    with pytest.raises(error, match=message) as info:
        program.run(**operands)
    assert isinstance(info.value, ZeroskipError)


def test_bias_checked_at_compile_time_when_the_shapes_are_known():
    with pytest.raises(ShapeError, match="bias has length 5 but output index i has size 6"):
        zs.compile(SPMV, A=np.ones((6, 5)), x=np.ones(5), epilogue=zs.Epilogue(bias=np.ones(5)))
    with pytest.raises(ZeroskipError, match="bias_index 'j' is not an index of the output"):
        zs.compile(SPMV, A="csr", x="dense", epilogue=zs.Epilogue(bias=np.ones(5), bias_index="j"))
    with pytest.raises(ConfigError, match="positive integer, got 0"):
        zs.set_num_threads(0)
    # formats only: nothing to check until run
    program = zs.compile(SPMV, A="csr", x="dense", epilogue=zs.Epilogue(bias=np.arange(6.0)))
    A = np.eye(6, 5)
    assert_tensor_equal(program.run(A=A, x=np.ones(5), backend="sparse"), A @ np.ones(5) + np.arange(6))


# ---- source and the kernel cache ------------------------------------------------------------------
def test_source_is_the_kernel_python():
    program = zs.compile(SPGEMM, B="csr", C="csr", loop_order="ikj", epilogue=zs.Epilogue(relu=True))
    source = program.source()
    tree = ast.parse(source)
    kernels = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert [k.name for k in kernels] == ["kernel"] and "def kernel(" in source
    assert "# X(i,j) = B(i,k) * C(k,j)" in source and "loop order i,k,j" in source and "relu(v)" in source
    assert source == program.source()  # deterministic: the cache is keyed by it


CACHE_SCRIPT = textwrap.dedent("""
    import json, sys, time, numpy as np, zeroskip as zs
    from zeroskip.backends.cpu import run
    from zeroskip.backends.cpu.backend import compiled
    from zeroskip.backends.cpu.cache import load_kernel
    start = time.perf_counter()
    p = zs.compile("X(i,j) = B(i,k) * C(k,j)", B="csr", C="csr", loop_order="ikj",
                   epilogue=zs.Epilogue(scale=3.0, clamp=(-7.0, 7.0)))
    B = np.array([[1.0, 0], [2, 3]])
    out = p.run(B=B, C=B, backend="sparse", threads=1).to_numpy().tolist()
    run.MIN_PARALLEL_SECONDS = 0  # split: the prange driver loads too
    q = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="dense")
    A = np.arange(24000.0).reshape(12000, 2) % 3  # 16000 entries: above MIN_PARALLEL_WORK
    y = q.run(A=A, x=np.ones(2), backend="sparse", threads=2).to_numpy()
    from zeroskip.formats.sort import RADIX_MIN_NNZ, lexicographic_order  # a compiled helper below the backends
    keys = np.stack([np.arange(RADIX_MIN_NNZ) % 7, np.arange(RADIX_MIN_NNZ) % 5], axis=1)
    assert (np.diff(keys[lexicographic_order(keys, (7, 5))] @ [5, 1]) >= 0).all()
    stats = [load_kernel(compiled(p).plan.source).stats, load_kernel(compiled(q).plan.source, "driver").stats]
    print(json.dumps({"out": out, "seconds": time.perf_counter() - start, "spmv": bool((y == A.sum(1)).all()),
                      "hits": sum(sum(s.cache_hits.values()) for s in stats),
                      "misses": sum(sum(s.cache_misses.values()) for s in stats),
                      "refreshed": "numba.np.linalg" in sys.modules}))
""")


def test_kernels_are_cached_on_disk_for_a_new_process(tmp_path):
    env = {**os.environ, "ZEROSKIP_CACHE_DIR": str(tmp_path)}

    def fresh_process():
        done = subprocess.run([sys.executable, "-c", CACHE_SCRIPT], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    def cached_files():
        return {p.relative_to(tmp_path): p.stat().st_mtime_ns for p in (tmp_path / "kernels").rglob("*")}

    B = np.array([[1.0, 0], [2, 3]])
    gold = np.clip(3 * (B @ B), -7, 7).tolist()
    first = fresh_process()
    assert first["out"] == gold and first["spmv"] and first["misses"] >= 2 and first["hits"] == 0
    files = cached_files()
    assert any(p.suffix == ".py" and p.name.startswith("k_") for p in files)
    assert any(p.suffix == ".nbi" for p in files) and any(p.suffix == ".nbc" for p in files)
    second = fresh_process()
    assert second["out"] == gold and second["spmv"] and second["hits"] >= 2 and second["misses"] == 0
    # Loaded without numba's registry refresh (zeroskip.jit.load_only), whose imports include numba.np.linalg.
    assert first["refreshed"] and not second["refreshed"]
    assert cached_files() == files  # nothing recompiled, nothing rewritten
    assert second["seconds"] < 5.0  # loading, not compiling (generous: a slow CI machine)
