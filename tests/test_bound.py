"""``Program.bind``: fixed operands made once, a callable of the others; it must answer as ``run`` does."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_lowering import KERNELS, operand

import zeroskip as zs
import zeroskip.formats.tensor as tensor_module
from zeroskip.backends.cpu import run as cpu_run
from zeroskip.backends.cpu.backend import LEAN_AFTER_RUNS
from zeroskip.errors import ConfigError, ShapeError, ZeroskipError
from zeroskip.formats.tensor import SparseTensor
from zeroskip.lang import evaluate_dense, parse
from zeroskip.testing import assert_tensor_equal


def one_format_each(kernel):
    name, text, ops = kernel
    return name, text, {n: fmts[0] for n, (_, fmts) in ops.items()}, {n: shape for n, (shape, _) in ops.items()}


@settings(max_examples=60, deadline=None)
@given(kernel=st.sampled_from([one_format_each(k) for k in KERNELS]), density=st.sampled_from([0.0, 0.4, 1.0]),
       fixed_bits=st.integers(0, 15), backend=st.sampled_from(["sparse", "dense", "auto"]), seed=st.integers(0, 99))
def test_a_bound_program_answers_as_run(kernel, density, fixed_bits, backend, seed):
    """Every kernel of the compiler's table, any subset of its operands fixed, calls with fresh free operands."""
    name, text, formats, shapes = kernel
    rng = np.random.default_rng(seed)
    program = zs.compile(text, **{n: f or 1.0 for n, f in formats.items()})  # a scalar compiles from a value
    inputs = program.assignment.inputs
    fixed_names = [n for k, n in enumerate(inputs) if fixed_bits >> k & 1]

    def draw():
        return {n: operand(shapes[n], density, rng) if shapes[n] else float(rng.choice([-1.5, 2.0])) for n in inputs}

    first = draw()
    bound = program.bind(threads=1, backend=backend, **{n: first[n] for n in fixed_names})
    assert bound.free == tuple(n for n in inputs if n not in fixed_names)
    for _ in range(LEAN_AFTER_RUNS + 2):  # later calls take the memos and the lean path the first ones made
        arrays = {**draw(), **{n: first[n] for n in fixed_names}}
        out = bound(**{n: arrays[n] for n in bound.free})
        assert_tensor_equal(out, evaluate_dense(parse(text), arrays), check_format=False)
        assert_tensor_equal(out, program.run(threads=1, backend=backend, **arrays))


def test_free_operands_positionally_and_by_name():
    p = zs.compile("X(i,j) = B(i,j) * C(i,k) * D(k,j)", B="csr", C="dense", D="dense")
    rng = np.random.default_rng(0)
    B, C, D = operand((5, 4), 0.5, rng), rng.standard_normal((5, 3)), rng.standard_normal((3, 4))
    sddmm = p.bind(B=B)
    gold = B * (C @ D)
    np.testing.assert_allclose(sddmm(C, D).to_numpy(), gold)
    np.testing.assert_allclose(sddmm(C, D=D).to_numpy(), gold)
    np.testing.assert_allclose(sddmm(D=D, C=C).to_numpy(), gold)
    assert "fixed B" in repr(sddmm) and "free C, D" in repr(sddmm)


def test_a_tensor_read_twice_is_bound_once():
    """``B(i,k) * B(k,j)`` reads B under two names (an alias); fixing B fixes both."""
    p = zs.compile("X(i,j) = B(i,k) * B(k,j)", B="csr", out="csr")
    B = operand((6, 6), 0.4, np.random.default_rng(1))
    square = p.bind(B=B, threads=1, backend="sparse")
    assert square.free == ()
    assert_tensor_equal(square(), B @ B, check_format=False)


def test_fixed_operands_are_converted_once(monkeypatch):
    """A dense array fixed for a CSR kernel is converted at the first call and never again."""
    p = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="dense")
    A = operand((40, 30), 0.2, np.random.default_rng(2))
    mv = p.bind(A=A, threads=1, backend="sparse")
    x = zs.as_tensor(np.ones(30), format="dense")
    mv(x=x)
    conversions = []
    original = SparseTensor.asformat
    monkeypatch.setattr(SparseTensor, "asformat", lambda self, fmt: conversions.append(fmt) or original(self, fmt))
    made = []
    monkeypatch.setattr(cpu_run, "kernel_args", lambda t: made.append(t.shape) or [*original_args(t)])
    for _ in range(3):
        np.testing.assert_allclose(mv(x=x).to_numpy(), A @ np.ones(30))
    assert conversions == []
    assert made == [(30,)] * 3  # only the free operand's arguments are made per call


original_args = cpu_run.kernel_args


def test_split_runs_of_a_bound_matrix_reuse_its_chunks(monkeypatch):
    """Forced splitting: the prange driver's chunks come from the fixed matrix, the same every call."""
    monkeypatch.setattr(cpu_run, "MIN_PARALLEL_SECONDS", 0)
    rng = np.random.default_rng(3)
    W = operand((3000, 200), 0.1, rng).astype(np.float32)
    mv = zs.compile("y(i) = W(i,j) * x(j)", W="csr", x="dense").bind(W=W, threads=2, backend="sparse")
    bounds = []
    original = cpu_run._drive
    monkeypatch.setattr(cpu_run, "_drive", lambda d, b, a, t: bounds.append(b) or original(d, b, a, t))
    for _ in range(3):
        x = rng.standard_normal(200).astype(np.float32)
        np.testing.assert_allclose(mv(x=x).to_numpy(), W @ x, rtol=1e-5, atol=1e-4)
    assert len(bounds) == 3 and len(bounds[0]) > 2 and all(b is bounds[0] for b in bounds)


def test_a_bound_sparse_output_grows_its_buffers():
    """SpGEMM with A fixed and B drawn denser each call: outputs outgrow the sized buffers and resume."""
    rng = np.random.default_rng(4)
    A = operand((60, 50), 0.3, rng)
    mm = zs.compile("C(i,j) = A(i,k) * B(k,j)", A="csr", B="csr", out="csr").bind(A=A, threads=2, backend="sparse")
    for density in (0.01, 0.3, 1.0):
        B = operand((50, 70), density, rng)
        assert_tensor_equal(mm(B=B), A @ B, check_format=False)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda b: b(), ZeroskipError, "no tensor given for x"),
    (lambda b: b(x=np.ones(3), A=np.eye(3)), ZeroskipError, "A fixed by bind"),
    (lambda b: b(x=np.ones(3), z=np.ones(3)), ZeroskipError, "z are not inputs"),
    (lambda b: b(np.ones(3), np.ones(3)), ZeroskipError, "2 operands given positionally but only 1 are free"),
    (lambda b: b(x=np.ones((3, 3))), ShapeError, "x has shape (3, 3)"),
    (lambda b: b(x=np.ones(4)), ShapeError, "index j is 3 in A (mode 1) but 4 in x"),
])
def test_bad_calls_say_what_is_wrong(call, error, message):
    bound = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="dense").bind(A=np.eye(3))
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(bound)


def test_bad_binds_say_what_is_wrong():
    p = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="dense")
    with pytest.raises(ZeroskipError, match="B are not inputs"):
        p.bind(B=np.eye(3))
    with pytest.raises(ShapeError, match="A has shape"):
        p.bind(A=np.ones(3))
    with pytest.raises(ConfigError, match="backend must be one of"):
        p.bind(A=np.eye(3), backend="gpu")
    with pytest.raises(ConfigError):
        p.bind(A=np.eye(3), threads=0)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_lean_path_keeps_the_epilogue_and_the_dtype(monkeypatch, threads):
    """A bound layer with a bias vector, ReLU and clamp, float32, past the runs that build its lean path."""
    monkeypatch.setattr(cpu_run, "MIN_PARALLEL_SECONDS", 0)
    rng = np.random.default_rng(5)
    W = (operand((5000, 40), 0.2, rng) / 3).astype(np.float32)
    bias = rng.standard_normal(5000).astype(np.float32)
    p = zs.compile("y(i) = W(i,j) * x(j)", W="csr", x="dense",
                   epilogue=zs.Epilogue(bias=bias, relu=True, clamp=(None, 2.0)))
    layer = p.bind(W=W, threads=threads, backend="sparse")
    built = []
    original = cpu_run.executor
    monkeypatch.setattr("zeroskip.backends.cpu.backend.executor", lambda *a: built.append(1) or original(*a))
    for _ in range(LEAN_AFTER_RUNS + 3):
        x = rng.standard_normal(40).astype(np.float32)
        out = layer(x=x)
        assert out.dtype == np.float32
        gold = np.clip(np.maximum(W.astype(np.float64) @ x + bias, 0), None, 2.0)
        np.testing.assert_allclose(out.to_numpy(), gold, rtol=1e-4, atol=1e-4)
    assert built == [1]  # built once, then every call took it


def warmed_layer(rng, threads=1):
    """A bound SpMV past the runs that build its array path, its weights and a float64 gold."""
    W = operand((300, 200), 0.3, rng)
    layer = zs.compile("y(i) = W(i,j) * x(j)", W="csr", x="dense").bind(W=W, threads=threads, backend="sparse")
    for _ in range(LEAN_AFTER_RUNS + 1):
        layer(rng.standard_normal(200))
    return layer, W


@pytest.mark.parametrize("verify", [True, False])  # False: the trusted construction users get
@pytest.mark.parametrize("threads", [1, 2])
def test_the_array_path_answers_and_leaves_the_array_alone(monkeypatch, threads, verify):
    monkeypatch.setattr(cpu_run, "MIN_PARALLEL_SECONDS", 0)
    monkeypatch.setattr(tensor_module, "VERIFY", verify)
    rng = np.random.default_rng(11)
    layer, W = warmed_layer(rng, threads)
    assert layer._arrays, "a numpy vector like the last ones takes the array path"
    for call in (lambda x: layer(x), lambda x: layer(x=x)):
        x = rng.standard_normal(200)
        keep = x.copy()
        out = call(x)
        np.testing.assert_allclose(out.to_numpy(), W @ keep, rtol=1e-12, atol=1e-12)
        assert x.flags.writeable and np.array_equal(x, keep)
        assert not np.shares_memory(out.vals, x) and not out.vals.flags.writeable
        x[:] = 0  # the output is the kernel's own array: changing the input later changes nothing
        np.testing.assert_allclose(out.to_numpy(), W @ keep, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda x: np.repeat(x, 2)[::2],  # strided, same shape
    lambda x: x.astype(">f8"),  # big-endian
    lambda x: x.astype(np.float32),  # another dtype: a float32 answer
    lambda x: x.astype(np.int64),
    lambda x: zs.as_tensor(x, format="dense"),  # a tensor, not an array
    lambda x: x.tolist(),
    lambda x: _unaligned(x),  # the array path's shape and strides, but no compiled entry for it
])
def test_arrays_the_array_path_does_not_fit_take_the_checked_path(make):
    rng = np.random.default_rng(12)
    layer, W = warmed_layer(rng)
    x = np.round(rng.standard_normal(200) * 4)  # integers: every dtype holds them exactly
    given = make(x)
    out = layer(given)
    expect = np.result_type(W.dtype, np.asarray(given.to_numpy() if isinstance(given, SparseTensor) else given).dtype)
    assert out.dtype == expect.newbyteorder("=")
    np.testing.assert_allclose(out.to_numpy(), W @ x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer(x).to_numpy(), W @ x, rtol=1e-12, atol=1e-12)  # and back to the array path


def _unaligned(x: np.ndarray) -> np.ndarray:
    raw = np.zeros(x.nbytes + 1, np.uint8)
    out = np.frombuffer(raw.data, x.dtype, len(x), offset=1)
    out[:] = x
    assert not out.flags.aligned
    return out


def test_the_array_path_calls_the_compiled_entry(monkeypatch):
    """After its first call, the array path calls the kernel's compiled entry (no type dispatch), with
    fresh arrays each time; an unaligned array in between takes the dispatcher and leaves it so."""
    monkeypatch.setattr(cpu_run, "MIN_PARALLEL_SECONDS", 0)
    rng = np.random.default_rng(14)
    layer, W = warmed_layer(rng, threads=2)
    go = next(iter(layer._arrays.values()))[2]
    entry = dict(zip(go.__code__.co_freevars, (c.cell_contents for c in go.__closure__)))["entry"]
    assert len(entry) == 1 and not hasattr(entry[0], "overloads"), "a compiled entry, not a dispatcher"
    for k in range(6):
        x = rng.standard_normal(200)
        out = layer(_unaligned(x) if k == 3 else x)
        np.testing.assert_allclose(out.to_numpy(), W @ x, rtol=1e-12, atol=1e-12)
    assert len(entry) == 1


def test_the_array_path_refuses_a_wrong_shape():
    layer, _ = warmed_layer(np.random.default_rng(13))
    with pytest.raises(ShapeError):
        layer(np.ones(201))
    with pytest.raises(ShapeError):
        layer(np.ones((200, 1)))
