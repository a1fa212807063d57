"""The CPU backend's per-call memos: never a stale answer, and no per-program work repeated per call.

``Program.run`` remembers, per program, what does not depend on the operands (the kernel, its
formats) and, by cheap keys, what does (index sizes by shapes, the cost model's choice by the
operands' statistics, output dtypes by operand dtypes). Each test here changes one thing a key
must see (shape, stored entries, dtype, threads, forced backend, format, a bias of another
length), alternates it with calls that hit the memo, and checks every answer against the dense
numpy gold, or the path taken against a fresh cost-model decision. Work is counted, not timed.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from test_lowering import operand

import zeroskip as zs
import zeroskip.backends.cpu.backend as cpu_backend
import zeroskip.backends.cpu.run as cpu_run
import zeroskip.compiler.program as program_module
import zeroskip.formats.tensor as tensor_module
from zeroskip.backends.cpu import costmodel, keys
from zeroskip.errors import ShapeError, StructureError
from zeroskip.formats.build import LevelArrays
from zeroskip.formats.format import as_format
from zeroskip.lang import evaluate_dense, parse
from zeroskip.testing import assert_tensor_equal

SPGEMM = "X(i,j) = B(i,k) * C(k,j)"
SPMV = "y(i) = A(i,j) * x(j)"


def gold(text: str, arrays: dict) -> np.ndarray:
    return evaluate_dense(parse(text), arrays)


def check(out, expected: np.ndarray) -> None:
    assert out.dtype == expected.dtype
    assert_tensor_equal(out, expected, check_format=False)


@pytest.fixture
def paths(monkeypatch):
    """Which path each run took ("sparse" or "dense"), in order."""
    taken: list[str] = []
    execute, dense = cpu_backend.execute, cpu_backend._dense

    def sparse_path(*args, **kwargs):
        taken.append("sparse")
        return execute(*args, **kwargs)

    def dense_path(*args, **kwargs):
        taken.append("dense")
        return dense(*args, **kwargs)

    monkeypatch.setattr(cpu_backend, "execute", sparse_path)
    monkeypatch.setattr(cpu_backend, "_dense", dense_path)
    return taken


def fresh_decision(program, tensors: dict, threads: int) -> str:
    """The cost model's choice computed from scratch, past every memo."""
    dims = cpu_backend.infer_dims(program.schedule.assignment, {n: t.shape for n, t in tensors.items()})
    infos = {n: costmodel.quick_info(t) for n, t in tensors.items()}
    nest = cpu_backend.compiled(program).nest
    return costmodel._decide(program, nest, tensors, infos, dims, threads, costmodel.calibration()).backend


# ---- every answer against the gold ------------------------------------------------------------------
def test_one_program_alternating_shapes_nnz_dtypes_threads_and_backends(monkeypatch, paths):
    monkeypatch.setattr(cpu_run, "MIN_PARALLEL_WORK", 0)  # two threads split even these small operands
    rng = np.random.default_rng(11)
    program = zs.compile(SPGEMM, B="csr", C="csr", out="csr")
    operands = [  # shapes, then stored entries, then dtypes differ from one set to the next
        {"B": operand((9, 7), 0.4, rng), "C": operand((7, 8), 0.4, rng)},
        {"B": operand((9, 7), 0.9, rng), "C": operand((7, 8), 0.1, rng)},
        {"B": operand((5, 12), 0.5, rng), "C": operand((12, 3), 0.5, rng)},
        {"B": operand((9, 7), 0.4, rng).astype(np.float32), "C": operand((7, 8), 0.4, rng).astype(np.float32)},
        {"B": operand((9, 7), 0.4, rng).astype(np.int64), "C": operand((7, 8), 0.4, rng)},
        {"B": operand((9, 7), 0.4, rng).astype(np.int32), "C": operand((7, 8), 0.4, rng).astype(np.int32)},
    ]
    calls = 0
    for _ in range(2):  # the second round finds every memo filled
        for arrays, threads, backend in itertools.product(operands, (1, 2), ("sparse", "auto", "dense")):
            tensors = {n: zs.as_tensor(a, format="csr") for n, a in arrays.items()}
            check(program.run(**tensors, threads=threads, backend=backend), gold(SPGEMM, arrays))
            calls += 1
            if backend != "auto":
                assert paths[-1] == backend  # a forced backend is obeyed whatever was decided before
    assert len(paths) == calls


def test_the_path_taken_is_a_fresh_cost_model_decision(paths):
    n = 256
    sparse_ops = {"B": np.eye(n), "C": np.eye(n)}
    dense_ops = {"B": np.ones((n, n)), "C": np.ones((n, n))}
    program = zs.compile(SPGEMM, B="csr", C="csr", out="csr")
    # Same shapes, other stored entries, dtypes and threads: the memo must tell them apart.
    cases = [(ops, dtype, threads) for ops in (sparse_ops, dense_ops, sparse_ops, dense_ops)
             for dtype in (np.float64, np.float32) for threads in (1, 2)]
    decisions = set()
    for ops, dtype, threads in cases:
        arrays = {k: v.astype(dtype) for k, v in ops.items()}
        tensors = {k: zs.as_tensor(v, format="csr") for k, v in arrays.items()}
        out = program.run(**tensors, threads=threads)
        assert paths[-1] == fresh_decision(program, tensors, threads)
        decisions.add(paths[-1])
        check(out, gold(SPGEMM, arrays))
    assert decisions == {"dense", "sparse"}  # else this test could not tell a stale answer


def test_the_thread_count_is_part_of_the_decision(paths):
    program = zs.compile(SPGEMM, B="csr", C="csr", out="csr")
    rng = np.random.default_rng(4)
    for density in np.linspace(0.1, 1.0, 10):  # more threads price the sparse kernel lower: find where that flips it
        arrays = {n: operand((128, 128), density, rng) for n in ("B", "C")}
        tensors = {n: zs.as_tensor(a, format="csr") for n, a in arrays.items()}
        if fresh_decision(program, tensors, 1) != fresh_decision(program, tensors, 16):
            break
    else:
        pytest.fail("no density here where the thread count changes the decision: this test could not fail")
    for threads in (1, 16, 1, 16):
        out = program.run(**tensors, threads=threads)
        assert paths[-1] == fresh_decision(program, tensors, threads)
        check(out, gold(SPGEMM, arrays))
    assert set(paths) == {"sparse", "dense"}


def test_operands_in_other_formats_alternate_with_the_kernels_own():
    rng = np.random.default_rng(5)
    A, x = operand((8, 6), 0.5, rng), operand((6,), 0.7, rng)
    program = zs.compile(SPMV, A="csr", x="dense")
    for fmt in ("csr", "csc", "csr", "coo", "dcsr", "csr", None):
        given = A if fmt is None else zs.as_tensor(A, format=fmt)
        check(program.run(A=given, x=x, backend="sparse", threads=1), A @ x)


def test_a_bias_vector_is_checked_against_every_new_shape():
    program = zs.compile(SPMV, A="csr", x="dense", epilogue=zs.Epilogue(bias=np.arange(6.0)))
    good = (np.eye(6, 5), np.ones(5))
    wide = (np.eye(6, 9), np.ones(9))  # another j: the bias runs along i and still fits
    for A, x in (good, wide, good):
        check(program.run(A=A, x=x, backend="sparse"), A @ x + np.arange(6.0))
    for _ in range(2):  # an error is not remembered as an answer: it raises again
        with pytest.raises(ShapeError, match="bias has length 6 but output index i has size 4"):
            program.run(A=np.eye(4, 5), x=np.ones(5))
    check(program.run(A=good[0], x=good[1], backend="sparse"), good[0] @ good[1] + np.arange(6.0))


def test_two_programs_of_one_expression_keep_their_own_epilogues():
    A, x = np.array([[1.0, -2.0], [0.0, 3.0]]), np.ones(2)
    plain = zs.compile(SPMV, A="csr", x="dense")
    relu = zs.compile(SPMV, A="csr", x="dense", epilogue=zs.Epilogue(bias=np.array([0.5, -4.0]), relu=True))
    for _ in range(2):
        check(plain.run(A=A, x=x), A @ x)
        check(relu.run(A=A, x=x, backend="sparse"), np.maximum(A @ x + [0.5, -4.0], 0))


# ---- reused ids never answer for another object ------------------------------------------------------
def test_a_prepared_entry_at_a_reused_address_is_not_used():
    spmv = zs.compile(SPMV, A="csr", x="dense")
    spgemm = zs.compile(SPGEMM, B="csr", C="csr")
    # What a dead program's entry looks like to a new program that got its address.
    cpu_backend._prepared[id(spgemm)] = cpu_backend.Prepared(spmv)
    assert cpu_backend.prepared(spgemm).schedule is spgemm.schedule
    B = np.arange(12.0).reshape(3, 4)
    check(spgemm.run(B=B, C=B.T, backend="sparse"), B @ B.T)


def test_a_program_sharing_the_schedule_but_not_the_epilogue_is_not_served_the_others_entry():
    plain = zs.compile(SPMV, A="csr", x="dense")
    scaled = dataclasses.replace(plain, epilogue=zs.Epilogue(scale=2.0))
    cpu_backend._prepared[id(scaled)] = cpu_backend.prepared(plain)
    A = np.array([[1.0, 2.0], [0.0, 3.0]])
    check(scaled.run(A=A, x=np.ones(2), backend="sparse"), 2 * (A @ np.ones(2)))


def test_run_facts_at_a_reused_address_are_not_used():
    one, other = parse(SPMV), parse("y(i) = A(i,j,k) * x(k)")
    program_module._RUN_FACTS[id(other)] = program_module._RunFacts(one)
    assert program_module._run_facts(other).orders == {"y": 1, "A": 3, "x": 1}


def test_format_serials_tell_formats_apart_by_value_also_at_a_reused_address():
    csr, also_csr, csc = as_format("csr"), as_format("ds"), as_format("csc")
    assert csr is not also_csr and keys.format_serial(csr) == keys.format_serial(also_csr)
    keys._by_id[id(csc)] = (csr, keys.format_serial(csr))  # a dead format's entry at csc's address
    assert keys.format_serial(csc) != keys.format_serial(csr)
    before = keys.format_serial(csr)
    keys._by_id.clear()
    keys._by_value.clear()
    after = keys.format_serial(csr)
    assert after != before and after == keys.format_serial(also_csr)  # a new serial, never an old one reused


def test_kernel_argument_layouts_at_a_reused_address_are_not_used():
    dense = zs.as_tensor(np.arange(6.0).reshape(2, 3), format="dense")
    cpu_run._layouts[id(dense.format)] = (as_format("csr"), (1,), 2)  # a dead CSR's layout at dense's address
    args = cpu_run.kernel_args(dense)
    assert len(args) == 1 and args[0].shape == (2, 3)


def test_a_decision_left_by_a_dead_schedule_at_the_same_address_is_not_used():
    first, second = (zs.compile(SPGEMM, B="csr", C="csr") for _ in range(2))
    tensors = {n: zs.as_tensor(np.eye(4), format="csr") for n in ("B", "C")}
    dims = {"i": 4, "j": 4, "k": 4}
    costmodel.choose(first, tensors, dims, 1)
    [(key, entry)] = [(k, v) for k, v in costmodel._DECISIONS.items() if v[0] is first.schedule]
    stale = costmodel.Decision("stale", 0.0, 0.0, "a dead program's")
    costmodel._DECISIONS[(id(second.schedule), *key[1:])] = (*entry[:3], stale)  # keyed by id(schedule) first
    assert costmodel.choose(second, tensors, dims, 1).backend in ("sparse", "dense")


def test_launch_facts_and_literals_left_by_a_dead_plan_are_not_used():
    text = "y(i) = 3 * A(i,j) * x(j)"  # a literal: the kernel takes it as an argument
    first, second = zs.compile(text, A="csr", x="dense"), zs.compile(text, A="csr", x="dense", loop_order="ji")
    A, x = np.array([[1.0, 0.0, 2.0], [0.0, 4.0, 0.0]]), np.arange(3.0)
    for program in (first, second):
        check(program.run(A=A, x=x, backend="sparse"), 3 * (A @ x))
    plan_1, plan_2 = (cpu_backend.prepared(p).kernel(p)[0].plan for p in (first, second))
    assert plan_1 is not plan_2
    for key, (plan, fmt, _) in list(cpu_run._launches.items()):
        if plan is plan_2:  # the same key, as a dead plan at plan_2's address would have left it
            cpu_run._launches[key] = (plan_1, fmt, ((1, 1), (1,), 1, 0, np.int32))
    cpu_run._scalars[id(plan_2)] = (plan_1, {np.dtype(np.float64): [np.float64(5.0), np.float64(0.0), np.empty(0)]})
    check(second.run(A=A, x=x, backend="sparse"), 3 * (A @ x))


def test_answers_survive_the_memos_being_dropped():
    A = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]])
    program = zs.compile(SPMV, A="csr", x="dense")
    check(program.run(A=A, x=np.ones(3)), A @ np.ones(3))
    for memo in (cpu_backend._prepared, costmodel._DECISIONS, keys._by_id, keys._by_value, cpu_run._layouts,
                 cpu_run._launches, cpu_run._scalars, program_module._RUN_FACTS):
        memo.clear()
    check(program.run(A=zs.as_tensor(A, format="csc"), x=np.ones(3)), A @ np.ones(3))


# ---- work counted per call ---------------------------------------------------------------------------
def counting(monkeypatch, module, name: str, counts: dict) -> None:
    original = getattr(module, name)

    def counted(*args, **kwargs):
        counts[name] = counts.get(name, 0) + 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)


def test_a_repeated_call_repeats_no_per_program_or_per_shape_work(monkeypatch):
    counts: dict[str, int] = {}
    for module, name in ((cpu_backend, "infer_dims"), (cpu_backend, "compiled"), (cpu_backend, "load_kernel"),
                         (costmodel, "_decide"), (costmodel, "quick_info"), (program_module, "_result_dtype")):
        counting(monkeypatch, module, name, counts)
    rng = np.random.default_rng(2)
    program = zs.compile(SPGEMM, B="csr", C="csr")
    B, C = (zs.as_tensor(operand((20, 20), 0.2, rng), format="csr") for _ in range(2))

    def calls(backend: str = "auto", **operands) -> dict[str, int]:
        counts.clear()
        program.run(**operands, threads=1, backend=backend)
        return dict(counts)

    assert {"infer_dims", "compiled", "_decide", "_result_dtype"} <= set(calls(B=B, C=C))
    assert calls(B=B, C=C, backend="sparse").keys() <= {"compiled", "load_kernel"}  # loaded now if auto chose dense
    twice = zs.as_tensor(2 * B.to_numpy(), format="csr")  # other values, the same structure
    for backend in ("auto", "sparse", "dense"):  # same shapes, stored entries and dtypes: nothing new
        assert calls(B=B, C=C, backend=backend) == {} and calls(B=twice, C=C, backend=backend) == {}
    wider = zs.as_tensor(operand((20, 30), 0.2, rng), format="csr")
    assert calls(B=B, C=wider).keys() == {"infer_dims", "_decide", "quick_info"}  # a new shape: new sizes, a new decision
    denser = zs.as_tensor(operand((20, 20), 0.9, rng), format="csr")
    assert calls(B=B, C=denser).keys() == {"_decide", "quick_info"}  # new stored entries: only a new decision
    assert calls(B=B, C=C.astype(np.float32)).keys() == {"_decide", "quick_info", "_result_dtype"}
    assert calls(B=B, C=C, backend="sparse") == {}


def test_numpy_operands_of_run_are_made_in_the_kernels_formats_directly(monkeypatch):
    """A numpy vector for a dense operand becomes a dense tensor, not a sparse one converted again."""
    converted = []
    original = tensor_module.SparseTensor.asformat
    monkeypatch.setattr(tensor_module.SparseTensor, "asformat",
                        lambda self, *a, **k: converted.append(self.format.name) or original(self, *a, **k))
    rng = np.random.default_rng(4)
    A = operand((30, 20), 0.3, rng)
    program = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="dense")
    for x in (rng.standard_normal(20), np.zeros(20), np.arange(20) % 3 * 1.0):
        keep = x.copy()
        for backend in ("sparse", "dense", "auto"):
            out = program.run(A=A, x=x, threads=1, backend=backend)
            np.testing.assert_allclose(out.to_numpy(), A @ keep, rtol=1e-12, atol=1e-12)
            assert x.flags.writeable and np.array_equal(x, keep) and not np.shares_memory(out.vals, x)
    assert "sparse" not in converted and "dense" not in converted  # the matrix may be, by the dense path


# ---- trusted outputs ---------------------------------------------------------------------------------
def test_the_fast_construction_of_outputs_is_in_use():
    assert tensor_module._CAN_TRUST  # False when SparseTensor's fields change: outputs then go through the constructor


def test_kernel_outputs_are_verified_under_zeroskip_verify_and_user_tensors_always(monkeypatch):
    counts: dict[str, int] = {}
    counting(monkeypatch, tensor_module, "verify_tensor", counts)
    A = zs.as_tensor(np.array([[0.0, 2.0], [1.0, 0.0]]), format="csr")
    program = zs.compile(SPGEMM, B="csr", C="csr")
    outputs = {}
    for verify in ("1", "0"):
        monkeypatch.setattr(tensor_module, "VERIFY", verify == "1")
        counts.clear()
        outputs[verify] = program.run(B=A, C=A, backend="sparse", threads=1)
        assert counts.get("verify_tensor", 0) == (1 if verify == "1" else 0)
        counts.clear()
        zs.SparseTensor(A.shape, A.format, A.levels, A.vals)  # a tensor from outside: checked either way
        assert counts == {"verify_tensor": 1}
        check(outputs[verify], A.to_numpy() @ A.to_numpy())
    for verified, trusted in zip(outputs["1"].levels, outputs["0"].levels):
        for a, b in ((verified.pos, trusted.pos), (verified.crd, trusted.crd)):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_array_equal(a, b)
                assert a.dtype == b.dtype and not b.flags.writeable
    np.testing.assert_array_equal(outputs["1"].vals, outputs["0"].vals)
    assert not outputs["0"].vals.flags.writeable


def test_a_broken_kernel_output_is_caught_under_zeroskip_verify(monkeypatch):
    csr = as_format("csr")
    broken = (LevelArrays(), LevelArrays(pos=np.array([0, 2, 1], np.int32), crd=np.array([0, 1], np.int32)))
    monkeypatch.setattr(tensor_module, "VERIFY", True)
    with pytest.raises(StructureError):
        tensor_module.trusted_tensor((2, 2), csr, broken, np.ones(2))
    monkeypatch.setattr(tensor_module, "VERIFY", False)
    t = tensor_module.trusted_tensor((2, 2), csr, broken, np.ones(2))  # trusted: not checked, but frozen
    assert not t.levels[1].pos.flags.writeable and not t.vals.flags.writeable
