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
from zeroskip.backends.cpu.keys import format_serial, operand_key
from zeroskip.backends.cpu.run import execute, executor, kernel_args
from zeroskip.compiler.backend import register_backend
from zeroskip.compiler.loopnest import LoopNest, build_loopnest
from zeroskip.config import check_threads
from zeroskip.config import get_num_threads
from zeroskip.errors import ConfigError
from zeroskip.formats.convert import from_numpy
from zeroskip.formats.format import Format, as_format
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


class Prepared:
    """What ``run`` needs of a program whatever its operands, made on its first run (see ``prepared``).

    Holds the program's schedule, epilogue and assignment (everything here derives from them),
    the kernel's inputs in order, the output format ``run`` returns, a memo from the operands'
    shapes to the index sizes and output shape (checked against a bias vector once per shape),
    and, once the sparse path first runs, the compiled kernel, its loaded function and the format
    it wants of each input.

    >>> import numpy as np, zeroskip as zs
    >>> p = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="dense")
    >>> ops = {"A": zs.as_tensor(np.ones((2, 3)), format="csr"), "x": zs.as_tensor(np.ones(3), format="dense")}
    >>> prep = prepared(p)
    >>> prep.dims(ops)
    ({'i': 2, 'j': 3}, (2,))
    >>> prep.dims(ops) is prep.dims(ops), prep.backend(p, ops, {"i": 2, "j": 3}, 1) in ("sparse", "dense")
    (True, True)
    """

    __slots__ = ("schedule", "epilogue", "assignment", "inputs", "final", "shapes", "_compiled", "_kernel")

    def __init__(self, program) -> None:
        self.schedule, self.epilogue, self.assignment = program.schedule, program.epilogue, program.assignment
        self.inputs: tuple[str, ...] = program.schedule.assignment.inputs
        self.final = program.output_format
        self.shapes: dict[tuple, tuple[dict[str, int], tuple[int, ...]]] = {}
        self._compiled: Compiled | None = None
        self._kernel: tuple | None = None

    def dims(self, tensors: dict[str, SparseTensor]) -> tuple[dict[str, int], tuple[int, ...]]:
        """Every index's size and the output shape for these operands (memoized by their shapes; read-only)."""
        try:
            key = tuple([tensors[n].shape for n in self.inputs])
        except KeyError:
            key = None  # a missing operand: infer_dims below names it
        hit = self.shapes.get(key)
        if hit is None:
            a = self.schedule.assignment
            dims = infer_dims(a, {n: t.shape for n, t in tensors.items() if n in a.inputs})
            self.epilogue.check(dims, a.lhs.indices)  # a bias vector against these shapes; raises every call it fails
            if len(self.shapes) >= SHAPES_PER_PROGRAM:
                self.shapes.clear()
            hit = self.shapes[key] = (dims, tuple(dims[i] for i in a.lhs.indices))
        return hit

    def backend(self, program, tensors: dict[str, SparseTensor], dims: dict[str, int], threads: int) -> str:
        """The cost model's choice for these operands, ``"sparse"`` or ``"dense"`` (memoized by
        ``costmodel.choose`` on the operands' statistics, the sizes, the threads and the calibration)."""
        return costmodel.choose(program, tensors, dims, threads).backend

    def compiled(self, program) -> Compiled:
        """``compiled(program)``, looked up once (its key hashes the whole schedule)."""
        if self._compiled is None:
            self._compiled = compiled(program)
        return self._compiled

    def kernel(self, program) -> tuple[Compiled, object, tuple[tuple[str, Format, int], ...], Format, bool, object]:
        """The compiled kernel; its function; (name, format, format serial) of each input as the kernel reads
        it; the format the kernel writes; whether that is the format ``run`` returns; its parallel driver
        (None unless the output is dense and the root loop splits)."""
        if self._kernel is None:
            c = self.compiled(program)
            formats = c.nest.format_of
            wanted = tuple((n, formats[n], format_serial(formats[n])) for n in self.inputs)
            out_fmt = formats[self.schedule.assignment.output]
            driver = load_kernel(c.plan.source, "driver") if c.plan.driver else None
            self._kernel = (c, load_kernel(c.plan.source), wanted, out_fmt, out_fmt == self.final, driver)
        return self._kernel


SHAPES_PER_PROGRAM = 256  # distinct operand shapes remembered per program before the memo starts over
MAX_PREPARED = 1024  # programs remembered before the memo starts over
_prepared: dict[int, Prepared] = {}


def prepared(program) -> Prepared:
    """``program``'s Prepared, made once and then found by ``id(program)`` in O(1).

    Safe against reused ids: an entry serves a program only if it holds the very objects (schedule,
    epilogue, assignment) the entry was made from, and everything in it derives from those, so a
    new program at a dead one's address either shares them (and gets a right answer) or misses.

    >>> import zeroskip as zs
    >>> p = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="dense")
    >>> prepared(p) is prepared(p), prepared(p).inputs
    (True, ('A', 'x'))
    """
    hit = _prepared.get(id(program))
    if (hit is not None and hit.schedule is program.schedule and hit.epilogue is program.epilogue
            and hit.assignment is program.assignment):
        return hit
    if len(_prepared) >= MAX_PREPARED:
        _prepared.clear()
    hit = _prepared[id(program)] = Prepared(program)
    return hit


def run(program, tensors: dict[str, SparseTensor], dtype: np.dtype, threads: int | None = None,
        backend: str = "auto") -> SparseTensor:
    """The output of ``program`` on ``tensors`` (by input name, aliases included), as a SparseTensor:
    ``bind`` with nothing fixed, called once.

    >>> import numpy as np, zeroskip as zs
    >>> p = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="dense")
    >>> A, x = zs.as_tensor(np.array([[1.0, 0], [2, 3]]), format="csr"), zs.as_tensor(np.ones(2), format="dense")
    >>> run(p, {"A": A, "x": x}, np.dtype(np.float64), threads=1).to_numpy().tolist()
    [1.0, 5.0]
    """
    return bind(program, _NOTHING, threads, backend)(tensors, dtype)


_NOTHING: dict[str, SparseTensor] = {}


def bind(program, fixed: dict[str, SparseTensor], threads: int | None = None, backend: str = "auto"):
    """A function of (all the input tensors by name, the output dtype) that runs ``program``, with the
    ``fixed`` tensors converted to the kernel's formats and their kernel arguments made here, once.

    What does not depend on the operands is made on the first use (``prepared``); index sizes are
    memoized by the operands' shapes and the cost model's choice by their statistics. The kernel
    is loaded (or compiled) on the first sparse call, so a program the cost model runs dense never compiles.

    >>> import numpy as np, zeroskip as zs
    >>> p = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="dense")
    >>> A = zs.as_tensor(np.array([[1.0, 0], [2, 3]]), format="csr")
    >>> call = bind(p, {"A": A}, threads=1, backend="sparse")
    >>> call({"A": A, "x": zs.as_tensor(np.ones(2), format="dense")}, np.dtype(np.float64)).to_numpy().tolist()
    [1.0, 5.0]
    """
    if backend not in MODES:
        raise ConfigError(f"backend must be one of {', '.join(MODES)}, got {backend!r}")
    threads = get_num_threads() if threads is None else check_threads(threads)
    prep = prepared(program)
    ready_fixed: dict[str, SparseTensor] = {}  # fixed input -> it in the kernel's format (made on the first sparse call)
    fixed_args: dict[str, list] = {}  # fixed input -> its kernel arguments
    free = tuple(n for n in prep.inputs if n not in fixed) if fixed else prep.inputs
    lean: dict[tuple, object] = {}  # (output dtype, free operands' keys) -> run.executor's call
    runs = 0

    def call(tensors: dict[str, SparseTensor], dtype: np.dtype) -> SparseTensor:
        nonlocal runs
        key = None
        if fixed_args:
            key = (dtype, *[operand_key(tensors[n]) for n in free])  # all the cost model's choice reads
            go = lean.get(key)
            if go is not None:
                return go(tensors)
        dims, out_shape = prep.dims(tensors)
        out_dtype = _with_epilogue(dtype, program.epilogue)
        mode = backend if backend != "auto" else prep.backend(program, tensors, dims, threads)
        if mode == "dense":
            return _dense(program, tensors, out_shape, out_dtype)
        c, fn, wanted, out_fmt, returned_as_written, driver = prep.kernel(program)
        if fixed and not ready_fixed:
            ready_fixed.update({n: _in_format(fixed[n], fmt, serial) for n, fmt, serial in wanted if n in fixed})
            fixed_args.update({n: kernel_args(t) for n, t in ready_fixed.items()})
        ready = {}
        for n, fmt, serial in wanted:
            ready[n] = ready_fixed[n] if n in ready_fixed else _in_format(tensors[n], fmt, serial)
        out = execute(c.plan, fn, ready, dims, out_shape, out_fmt, out_dtype, program.epilogue, threads, driver,
                      fixed_args or None)
        runs += 1
        if (key is not None and c.plan.dense_output and runs >= LEAN_AFTER_RUNS and len(lean) < LEAN_SHAPES
                and returned_as_written and all(ready[n] is tensors[n] for n in free)):
            go = executor(c.plan, fn, ready, dims, out_shape, out_fmt, out_dtype, program.epilogue, threads, driver,
                          fixed_args)
            if go is not None:
                lean[key] = go
        return out if returned_as_written else out.asformat(prep.final)

    def array_call(tensors: dict[str, SparseTensor], dtype: np.dtype):
        """The lean path's call on the one free operand's array (``run.executor``), for operands like
        ``tensors``; None until that path exists or where it does not apply."""
        if not lean:  # no lean path yet (or a sparse output, which never gets one)
            return None
        return getattr(lean.get((dtype, *[operand_key(tensors[n]) for n in free])), "array_call", None)

    call.array_call = array_call
    return call


LEAN_AFTER_RUNS = 3  # bound runs before the lean path: the kernel's profile has timed it by then
LEAN_SHAPES = 64  # lean paths kept per bound program (one per distinct free operands' shapes and dtypes)


def _in_format(t: SparseTensor, fmt: Format, serial: int) -> SparseTensor:
    return t if format_serial(t.format) == serial else t.asformat(fmt)


def _with_epilogue(dtype: np.dtype, e) -> np.dtype:
    """Integer outputs become float when the epilogue adds or scales by a fraction."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iub" or e.empty:  # the common case, without reading the epilogue's values
        return dtype
    values = [v for v in (e.scale, *(np.atleast_1d(e.bias) if e.bias is not None else ()), *(e.clamp or ()))
              if v is not None]
    if any(float(v) != int(v) for v in values):
        return np.dtype(np.float64)
    return dtype


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


register_backend("cpu", run=run, source=source, explain=explain, bind=bind)
