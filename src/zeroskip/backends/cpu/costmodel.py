"""The dense fallback's cost model: predicted sparse-kernel and dense-BLAS times, calibrated on this machine.

The sparse prediction is the schedule's work estimate (merge steps, locates, writes; see
``compiler.schedule``) for the operands at hand, times the seconds one unit of work takes here;
the dense prediction is the dense product's flops over the measured BLAS rate, plus making the
operands dense. Both rates come from a short measurement (about a second, once per machine,
thread count and library versions) cached as JSON beside the kernels.

Example:
    >>> import numpy as np, zeroskip as zs
    >>> p = zs.compile("C(i,j) = A(i,k) * B(k,j)", A=np.ones((64, 64)), B=np.ones((64, 64)))
    >>> choose(p, p.bound_tensors(), {"i": 64, "j": 64, "k": 64}, 1).backend
    'dense'
"""

from __future__ import annotations

import functools
import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass

import numba
import numpy as np

from zeroskip.backends.cpu.keys import operand_key
from zeroskip.compiler.schedule import OperandInfo, estimate_parts
from zeroskip.config import cache_dir
from zeroskip.formats.tensor import SparseTensor
from zeroskip.lang.ast import indices_of

PARALLEL_EFFICIENCY = 0.85  # measured speedup per added thread of the nonzero-split kernels, roughly
CALL_OVERHEAD_S = 30e-6  # Python-side cost of one sparse run (argument set-up, assembly)
SCATTER_S = 1.7e-9  # per stored entry of scipy's toarray, measured on the 2-core EPYC VM (4096^2, 1-50%)
SCAN_S = 2e-9  # per dense entry to find and pack the nonzeros of a dense result


@dataclass(frozen=True, slots=True)
class Calibration:
    """Rates measured on this machine."""

    dense_flops: dict  # dtype name -> flop/s of numpy matmul
    sparse_step_s: float  # seconds per sparse step of the schedule's work estimate (merge, locate), one thread
    dense_step_s: float  # seconds per step of a dense inner loop (vectorized), one thread
    copy_bytes_s: float  # bytes/s of a large numpy copy (read + write)


@dataclass(frozen=True, slots=True)
class Decision:
    backend: str
    sparse_s: float
    dense_s: float
    reason: str


_DECISIONS: dict[tuple, tuple] = {}  # a program called again on operands of the same statistics decides alike


def choose(program, tensors: dict[str, SparseTensor], dims: dict[str, int], threads: int) -> Decision:
    """Sparse kernel or dense numpy for these operands, and why (memoized: ``run`` asks on every call).

    The memo key holds what the decision reads, all of it cheap to hash: the program's schedule
    (by identity: the loop nest, the expression and the output format derive from it), the
    calibration (by identity), the thread count, the index sizes, and each operand's
    ``keys.operand_key`` (format, shape, stored entries per level, dtype; never a value).
    Identities are checked against the entry, which holds the objects, so a reused id misses.

    >>> import numpy as np, zeroskip as zs
    >>> p = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="dense")
    >>> A, x = zs.as_tensor(np.eye(3), format="csr"), zs.as_tensor(np.ones(3), format="dense")
    >>> choose(p, {"A": A, "x": x}, {"i": 3, "j": 3}, 1) is choose(p, {"A": A, "x": x}, {"i": 3, "j": 3}, 1)
    True
    """
    cal = calibration()
    schedule, assign = program.schedule, program.assignment
    key = (id(schedule), id(cal), threads, tuple(dims.items()),
           tuple([(n, operand_key(t)) for n, t in tensors.items()]))
    hit = _DECISIONS.get(key)
    if hit is not None and hit[0] is schedule and hit[1] is assign and hit[2] is cal:
        return hit[3]
    if len(_DECISIONS) > 4096:
        _DECISIONS.clear()
    nest = _cpu_nest(program)
    infos = {n: quick_info(t) for n, t in tensors.items()}
    decision = _decide(program, nest, tensors, infos, dims, threads, cal)
    _DECISIONS[key] = (schedule, assign, cal, decision)
    return decision


def _decide(program, nest, tensors, infos, dims, threads, cal) -> Decision:
    steps, dense_steps = estimate_parts(nest, infos, dims)
    work = steps + dense_steps
    parallel = 1.0 + PARALLEL_EFFICIENCY * (threads - 1) if threads > 1 else 1.0
    dtype = np.result_type(*[t.dtype for t in tensors.values()]) if tensors else np.dtype(np.float64)
    vector = np.dtype(dtype).itemsize / 4  # wider values, fewer per vector instruction
    sparse_s = (steps * cal.sparse_step_s + dense_steps * cal.dense_step_s * vector) / parallel + CALL_OVERHEAD_S
    flops = dense_flops(program.schedule.assignment, dims)
    rate = cal.dense_flops.get(np.dtype(dtype).name, cal.dense_flops["float64"])
    dense_s = flops / rate + _densify_s(program, tensors, dims, np.dtype(dtype).itemsize, cal)
    backend = "sparse" if sparse_s <= dense_s else "dense"
    reason = (f"{'sparse kernel' if backend == 'sparse' else 'dense numpy (BLAS)'}: predicted sparse "
              f"{_ms(sparse_s)} ({work:.3g} work units, {threads} thread{'s' * (threads > 1)}) against dense "
              f"{_ms(dense_s)} ({flops:.3g} flops at {rate / 1e9:.3g} GFLOP/s plus densifying)")
    return Decision(backend, sparse_s, dense_s, reason)


def _densify_s(program, tensors, dims, itemsize: int, cal: Calibration) -> float:
    """Making the sparse operands dense (zero fill at copy speed plus a scatter per entry) and,
    for a sparse output format, finding the result's nonzeros."""
    seconds = 0.0
    for t in tensors.values():
        if not all(lv.full for lv in t.format.levels):
            seconds += math.prod(t.shape) * itemsize * 2 / cal.copy_bytes_s + len(t.vals) * SCATTER_S
    out = math.prod(dims[i] for i in program.assignment.lhs.indices)
    if not all(lv.full for lv in program.output_format.levels):
        seconds += out * SCAN_S
    return seconds


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"


def _cpu_nest(program):
    from zeroskip.backends.cpu.backend import prepared

    return prepared(program).compiled(program).nest


def quick_info(t: SparseTensor) -> OperandInfo:
    """Format, shape, nnz and mean fiber length per level, read off the level arrays in O(levels)."""
    storage = t.format.storage_shape(t.shape)
    lengths, parents = [], 1
    for level, (lv, arrays) in enumerate(zip(t.format.levels, t.levels)):
        if lv.full:
            lengths.append(float(storage[level]))
            parents *= storage[level]
        else:
            lengths.append(len(arrays.crd) / max(parents, 1))
            parents = len(arrays.crd)
    return OperandInfo(t.format, t.shape, len(t.vals), tuple(lengths))  # stored entries: no scan of the values


def dense_flops(assign, dims: dict[str, int]) -> float:
    """Flops of the dense computation: each term's product over all its indices (two per multiply-add)."""
    total = 0.0
    for term in assign.terms:
        indices = set(indices_of(term.expr)) | set(assign.lhs.indices)
        total += 2.0 * math.prod(dims[i] for i in indices)
    return total


# ---- calibration ---------------------------------------------------------------------------------
_memo: dict[str, Calibration] = {}


@functools.lru_cache(maxsize=1)
def _machine_key() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu}|{os.cpu_count()}|numpy {np.__version__}|numba {numba.__version__}"


def calibration() -> Calibration:
    """The machine's rates: from this process's memo, the cache file, or measured now (about a second)."""
    key = _machine_key()
    if key in _memo:
        return _memo[key]
    path = cache_dir() / "calibration.json"
    stored = {}
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    if key in stored:
        cal = Calibration(**stored[key])
    else:
        cal = measure()
        stored[key] = asdict(cal)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(stored, indent=1))
            os.replace(tmp, path)
        except OSError:
            pass  # an unwritable cache costs a re-measurement next time, nothing more
    _memo[key] = cal
    return cal


def _best(fn, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure() -> Calibration:
    """Time numpy matmul, a copy, and two sparse kernels (SpMV and SpMM) against their work estimates."""
    import zeroskip as zs
    from scipy import sparse

    flops = {}
    for dtype in (np.float64, np.float32, np.float64):  # the first pass wakes the BLAS threads
        a = np.ones((512, 512), dtype)
        flops[np.dtype(dtype).name] = 2 * 512**3 / _best(lambda: a @ a, repeats=9)
    big = np.ones(1 << 23, np.float64)
    dst = np.empty_like(big)
    copy = 2 * big.nbytes / _best(lambda: np.copyto(dst, big))
    rng = np.random.default_rng(0)
    rows, parts = [], []
    # SpMV is nearly all sparse steps, SpMM over 32 dense columns nearly all dense ones: two
    # equations for the two prices.
    f32 = np.float32  # dense steps are priced for 4-byte values and scaled by the value size
    cases = (("y(i) = A(i,j) * x(j)", rng.random(3000, f32), 0.02),
             ("C(i,j) = A(i,k) * B(k,j)", rng.random((3000, 64), f32), 0.1))
    for expr, rhs, density in cases:
        A = sparse.random(3000, 3000, density=density, format="csr", random_state=1, dtype=f32)
        p = zs.compile(expr, A=A, **{"x" if rhs.ndim == 1 else "B": rhs})
        tensors = p.bound_tensors()
        seconds = _best(lambda: p.run(threads=1, backend="sparse"))
        dims = {"i": 3000, "j": 3000} if rhs.ndim == 1 else {"i": 3000, "k": 3000, "j": 64}
        parts.append(estimate_parts(_cpu_nest(p), {n: quick_info(t) for n, t in tensors.items()}, dims))
        rows.append(max(seconds - CALL_OVERHEAD_S, 1e-7))
    prices, *_ = np.linalg.lstsq(np.array(parts), np.array(rows), rcond=None)
    fallback = float(np.sum(rows) / np.sum(parts))  # one price for both if the system is ill-posed
    sparse_step, dense_step = (float(v) if v > 0 else fallback for v in prices)
    return Calibration(flops, sparse_step, dense_step, copy)
