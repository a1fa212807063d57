"""The CPU backend's entry points: ``run``, ``source`` and ``explain`` of a Program, registered with the compiler.

``run`` picks the sparse kernel or the dense computation (numpy BLAS) by the cost model unless
told, converts the operands to the formats the kernel was generated for, and runs it.

Example:
    >>> import numpy as np, zeroskip as zs
    >>> p = zs.compile("X(i,j) = B(i,k) * C(k,j)", B="csr", C="csr", out="csr")
    >>> B = np.array([[0, 2.0], [1.0, 0]])
    >>> p.run(B=B, C=B, backend="sparse").to_numpy().tolist()
    [[2.0, 0.0], [0.0, 2.0]]
    >>> p.run(B=B, C=B, backend="dense").to_numpy().tolist()
    [[2.0, 0.0], [0.0, 2.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroskip.backends.cpu import costmodel
from zeroskip.backends.cpu.cache import load_kernel
from zeroskip.backends.cpu.codegen import KernelPlan, generate
from zeroskip.backends.cpu.run import execute
from zeroskip.compiler.backend import register_backend
from zeroskip.compiler.loopnest import LoopNest, build_loopnest
from zeroskip.config import check_threads
from zeroskip.config import get_num_threads
from zeroskip.errors import ConfigError
from zeroskip.formats.convert import from_numpy
from zeroskip.formats.format import as_format
from zeroskip.formats.tensor import SparseTensor
from zeroskip.lang.gold import evaluate_dense, reached_entries
from zeroskip.lang.shapes import infer_dims

MODES = ("auto", "sparse", "dense")


@dataclass(frozen=True, slots=True)
class Compiled:
    nest: LoopNest
    plan: KernelPlan


_compiled: dict[tuple, Compiled] = {}


def compiled(program) -> Compiled:
    """The CPU loop nest and generated kernel of ``program`` (memoized in this process)."""
    s = program.schedule
    key = (s.assignment, s.loop_order, s.formats, program.epilogue.key, program.epilogue.bias_index)
    hit = _compiled.get(key)
    if hit is None:
        nest = build_loopnest(s.assignment, s.loop_order, s.format_of, sparse_workspace_order=1)
        hit = _compiled[key] = Compiled(nest, generate(nest, program.epilogue))
    return hit


def run(program, tensors: dict[str, SparseTensor], dtype: np.dtype, threads: int | None = None,
        backend: str = "auto") -> SparseTensor:
    """The output of ``program`` on ``tensors`` (by input name, aliases included), as a SparseTensor."""
    if backend not in MODES:
        raise ConfigError(f"backend must be one of {', '.join(MODES)}, got {backend!r}")
    threads = get_num_threads() if threads is None else check_threads(threads)
    a = program.schedule.assignment
    dims = infer_dims(a, {n: t.shape for n, t in tensors.items() if n in a.inputs})
    out_shape = tuple(dims[i] for i in a.lhs.indices)
    program.epilogue.check(dims, a.lhs.indices)  # a bias vector against this call's shapes
    dtype = _with_epilogue(dtype, program.epilogue)
    if backend == "auto":
        backend = costmodel.choose(program, tensors, dims, threads).backend
    if backend == "dense":
        return _dense(program, tensors, out_shape, dtype)
    c = compiled(program)
    formats = c.nest.format_of
    ready = {n: tensors[n] if tensors[n].format == formats[n] else tensors[n].asformat(formats[n])
             for n in a.inputs}
    fn = load_kernel(c.plan.source)
    out_fmt = formats[a.output]
    out = execute(c.plan, fn, ready, dims, out_shape, out_fmt, dtype, program.epilogue, threads)
    final = program.output_format
    return out if final == out_fmt else out.asformat(final)


def _with_epilogue(dtype: np.dtype, e) -> np.dtype:
    """Integer outputs become float when the epilogue adds or scales by a fraction."""
    values = [v for v in (e.scale, *(np.atleast_1d(e.bias) if e.bias is not None else ()), *(e.clamp or ()))
              if v is not None]
    if dtype.kind in "iub" and any(float(v) != int(v) for v in values):
        return np.dtype(np.float64)
    return np.dtype(dtype)


def _dense(program, tensors: dict[str, SparseTensor], out_shape, dtype) -> SparseTensor:
    """Dense numpy (BLAS through einsum) on the operands made dense; the epilogue on every entry."""
    a = program.assignment
    arrays = {n: _dense_array(tensors[n]) for n in a.inputs}
    result = np.asarray(evaluate_dense(a, arrays, blas=True), dtype=dtype)
    e = program.epilogue
    if not e.empty:
        axis = e.bias_axis(a.lhs.indices)
        if all(lv.full for lv in program.output_format.levels):
            result = e.apply_dense(result, axis)
        else:
            # A sparse output's epilogue touches its stored entries: those some product reaches.
            nz = np.nonzero(result if e.zero_maps_to_zero() else reached_entries(a, arrays))
            result = result.copy()
            result[nz] = e.apply(result[nz], None if axis is None else nz[axis])
    return from_numpy(result, as_format(program.output_format, ndim=len(out_shape)))


def _dense_array(t: SparseTensor) -> np.ndarray:
    """The operand as a numpy array: free for a dense tensor, through scipy's C++ for a matrix."""
    if all(lv.full for lv in t.format.levels):
        return t.to_numpy()
    if t.ndim == 2:
        return t.to_scipy("csr").toarray()
    return t.to_numpy()


def source(program) -> str:
    """The generated numba source of ``program``'s CPU kernel."""
    return compiled(program).plan.source


def explain(program) -> str:
    """Which CPU path ``run`` takes for the operands given at compile time, and why."""
    tensors = program.bound_tensors()
    a = program.schedule.assignment
    unbound = [n for n in a.inputs if n not in tensors]
    if unbound:  # the cost model needs every operand's shape and statistics
        given = "no operands" if not tensors else f"no tensor for {', '.join(unbound)}"
        return f"cpu: sparse kernel ({given} given at compile time; run(backend='auto') decides per call)"
    dims = infer_dims(a, {n: t.shape for n, t in tensors.items() if n in a.inputs})
    return "cpu: " + costmodel.choose(program, tensors, dims, get_num_threads()).reason


register_backend("cpu", run=run, source=source, explain=explain)
