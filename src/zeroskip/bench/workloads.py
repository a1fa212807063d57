"""The suite's workloads: what each computes, its operands, its gold, and each backend's version of it.

A ``Workload`` is a name, a family and JSON parameters (all that defines the problem, so they go
into every result's configuration). ``prepare(workload)`` builds a ``Problem``: the operands, a
check of any backend's answer against the gold, the useful flops and bytes of one run (for the
roofline and the modelled GPU), the measured backends as builders of a timed call, and the
programs the accelerator simulates (one per layer for models).

Families: ``kernel`` (the Onyx kernel set, ``zeroskip.bench.kernels``, on bundled SuiteSparse
matrices and random 3-tensors) and ``sweep`` (a 512x512 matrix product, both operands at one
sparsity) live here; ``dnn``, ``gcn``, ``mlp`` and ``minilm`` in ``zeroskip.bench.model_workloads``.

Example:
    >>> [w.name for w in preset("demo") if w.family == "sweep"][:2]
    ['matmul512/s=0.000', 'matmul512/s=0.500']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from zeroskip.bench.compare import assert_close
from zeroskip.bench.kernels import KERNELS, Tensor3, normalized, out_shape, random_tensor3, zeroskip_inputs
from zeroskip.errors import ZeroskipError
from zeroskip.formats.stats import density_grid

DENSE_LIMIT = 512 << 20  # bytes of dense operands a dense backend may allocate
SWEEP = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)
SPY_GRID = 64  # cells per side of a spy plot's count grid


class Unavailable(ZeroskipError):
    """The backend has no version of this workload here (an optional package, a GPU, a size limit)."""


class WorkloadError(ZeroskipError):
    """A workload name or parameter that the suite does not know."""


@dataclass(frozen=True)
class Workload:
    """A named problem of one family; ``params`` is JSON and defines it completely."""

    name: str
    family: str
    description: str
    params: dict


@dataclass
class Layer:
    """One program the accelerator simulates (bound operands), with what a per-layer table shows."""

    name: str
    program: Any
    op: str = ""
    weight_sparsity: float | None = None
    input_sparsity: float | None = None


@dataclass
class Problem:
    """A prepared workload (see the module docstring)."""

    workload: Workload
    check: Callable[[Any], None]
    flops: float
    bytes: float
    backends: dict[str, Callable[[int], Callable[[], Any]]]  # measured: builder(threads) -> timed call
    layers: Callable[[], list[Layer]]
    info: dict = field(default_factory=dict)
    items: int = 1  # inferences per run (models); throughput counts these
    item_unit: str = "runs"
    dtype: str = "float64"
    kernels: int = 1  # GPU launches of one run (the roofline's overhead term)
    accuracy: Callable[[Any], float] | None = None
    torch_dense: Callable[[str], Callable[[], Any]] | None = None  # device -> timed call (the measured GPU)


def on_device(fn: Callable[[], Any], device: str) -> Callable[[], Any]:
    """The timed call of a torch version: ``fn`` with the device synchronized inside it, answer on the host.

    Example:
        >>> import torch
        >>> on_device(lambda: torch.ones(2) * 3, "cpu")().tolist()
        [3.0, 3.0]
    """
    import torch

    def run():
        out = fn()
        if device != "cpu":  # CUDA returns before the kernel ends: the timing must include it
            torch.cuda.synchronize()
        return out.cpu()

    return run


def spy_grid(matrix, cells: int = SPY_GRID) -> dict:
    """Nonzero counts of ``matrix`` on an at most ``cells`` x ``cells`` grid (what a spy plot draws)."""
    coo = sp.coo_matrix(matrix)
    rows, cols = coo.shape
    grid = density_grid(coo.row, coo.col, coo.shape, min(cells, max(rows, 1)), min(cells, max(cols, 1)))
    return {"shape": [rows, cols], "grid": grid.tolist()}


def operand_info(ops: dict[str, Any]) -> dict:
    """Shape, nonzeros and sparsity of every operand; spy grids of the sparse matrices."""
    out, spy = {}, {}
    for name, value in ops.items():
        if isinstance(value, Tensor3):
            nnz, shape = value.vals.size, value.shape
        elif sp.issparse(value):
            nnz, shape = value.nnz, value.shape
            spy[name] = spy_grid(value)
        else:
            nnz, shape = int(np.count_nonzero(value)), np.shape(value)
        size = int(np.prod(shape))
        out[name] = {"shape": list(shape), "nnz": int(nnz), "sparsity": 1 - nnz / size if size else 0.0}
    return {"operands": out, "spy": spy}


def nbytes(value: Any) -> int:
    """Bytes of an operand as a sparse kernel reads it (values and metadata)."""
    if isinstance(value, Tensor3):
        return value.vals.nbytes + value.coords.size * 4
    if sp.issparse(value):
        m = sp.csr_matrix(value)
        return m.data.nbytes + m.indices.nbytes + m.indptr.nbytes
    return int(np.asarray(value).nbytes)


def _nnz(value: Any) -> int:
    return value.vals.size if isinstance(value, Tensor3) else value.nnz if sp.issparse(value) else np.count_nonzero(value)


def kernel_flops(name: str, ops: dict[str, Any], gold: Any) -> float:
    """Useful floating-point operations of one run of an Onyx kernel (zeros skipped)."""
    if name == "spmspm":
        b, c = sp.csc_matrix(ops["B"]), sp.csr_matrix(ops["C"])
        return 2.0 * float(np.dot(np.diff(b.indptr), np.diff(c.indptr)))
    if name == "spmspv":
        a = sp.csc_matrix(ops["A"])
        return 2.0 * float(np.diff(a.indptr)[np.nonzero(ops["x"])[0]].sum())
    rank = next((np.shape(v)[0 if k == "C" and name == "ttm" else 1] for k, v in ops.items()
                 if np.ndim(v) == 2 and not sp.issparse(v)), 1)
    nnz = _nnz(ops["B"])
    if name == "innerprod":
        return 2.0 * min(nnz, _nnz(ops["C"]))
    return float({"sddmm": nnz * (2 * rank + 1), "ttv": 2 * nnz, "ttm": 2 * nnz * rank, "mttkrp": 3 * nnz * rank}
                 .get(name, sum(_nnz(v) for v in ops.values())))


# -- the Onyx kernel set ------------------------------------------------------------------------

def _kernel_source(params: dict, root) -> Any:
    if "matrix" in params:
        from zeroskip.bench.datasets import data_root
        from zeroskip.formats.io import load

        path = data_root(root) / "suitesparse" / f"{params['matrix']}.mtx"
        return load(path).to_scipy("csr").astype(np.float64)
    if "random" in params:  # a square random matrix (the sweeps' synthetic sources)
        r = params["random"]
        return sp.random(r["n"], r["n"], density=r["density"], format="csr", random_state=r.get("seed", 0),
                         data_rvs=np.random.default_rng(r.get("seed", 0)).standard_normal)
    return random_tensor3(tuple(params["shape"]), params["density"], seed=params.get("seed", 0))


def _graphblas_kernel(name: str, ops: dict[str, Any]) -> Callable[[], Any]:
    try:
        import graphblas as gb  # optional benchmark dependency (the bench extra)
    except ImportError:
        raise Unavailable("python-graphblas is not installed (pip install 'zeroskip[bench]')") from None
    if name not in ("spmspm", "elemadd", "elemadd3", "elemmul"):
        raise Unavailable(f"no GraphBLAS version of {name} in this suite")
    m = {k: gb.io.from_scipy_sparse(v) for k, v in ops.items()}

    def run():
        if name == "spmspm":
            out = m["B"].mxm(m["C"]).new()
        elif name == "elemmul":
            out = m["B"].ewise_mult(m["C"]).new()
        else:
            out = m["B"].ewise_add(m["C"]).new()
            if name == "elemadd3":
                out = out.ewise_add(m["D"]).new()
        out.wait()  # non-blocking mode may defer work: finish it inside the timed call
        return out

    return run


def _prepare_kernel(w: Workload, root) -> Problem:
    kernel = KERNELS[w.params["kernel"]]
    ops = kernel.operands(_kernel_source(w.params, root), np.random.default_rng(0))
    shape = out_shape(kernel, ops)
    gold = normalized(kernel.scipy(**kernel.scipy_inputs(ops)), shape)

    def check(result) -> None:
        assert_close(normalized(result, shape), gold, rtol=1e-9)

    def zeroskip_cpu(threads: int):
        import zeroskip as zs

        inputs = zeroskip_inputs(zs, kernel.formats, ops)
        program = zs.compile(kernel.expr, out=kernel.out, **kernel.formats)
        return lambda: program.run(**inputs, threads=threads)

    def scipy_run(threads: int):
        inputs = kernel.scipy_inputs(ops)
        return lambda: kernel.scipy(**inputs)

    def dense_run(threads: int):
        need = 8 * (sum(int(np.prod(np.shape(v))) for v in ops.values()) + int(np.prod(shape)))
        if need > DENSE_LIMIT:
            raise Unavailable(f"dense operands need {need >> 20} MB, over the suite's {DENSE_LIMIT >> 20} MB")
        inputs = kernel.numpy_inputs(ops)
        return lambda: kernel.numpy(**inputs)

    def layers() -> list[Layer]:
        import zeroskip as zs

        inputs = zeroskip_inputs(zs, kernel.formats, ops)
        return [Layer(kernel.name, zs.compile(kernel.expr, out=kernel.out, **inputs), op=kernel.expr)]

    out_bytes = nbytes(gold) if np.ndim(gold) else 8
    return Problem(w, check, kernel_flops(kernel.name, ops, gold), sum(nbytes(v) for v in ops.values()) + out_bytes,
                   {"cpu-dense": dense_run, "scipy": scipy_run, "zeroskip-cpu": zeroskip_cpu,
                    "graphblas": lambda threads: _graphblas_kernel(kernel.name, ops)},
                   layers, info=operand_info(ops) | {"expr": kernel.expr, "scipy_note": kernel.scipy_note})


# -- the sparsity sweep -------------------------------------------------------------------------

def random_matrix(n: int, sparsity: float, seed: int, dtype=np.float32) -> sp.csr_matrix:
    """An n x n CSR matrix keeping each entry with probability 1 - sparsity (normal values)."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n, n)) >= sparsity
    dense = np.where(mask, rng.standard_normal((n, n)), 0.0).astype(dtype)
    return sp.csr_matrix(dense)


def _prepare_sweep(w: Workload, root) -> Problem:
    n, s = w.params["n"], w.params["sparsity"]
    a, b = random_matrix(n, s, 1), random_matrix(n, s, 2)
    gold = (a.astype(np.float64) @ b.astype(np.float64)).toarray()

    def check(result) -> None:
        assert_close(normalized(result, (n, n)), gold, rtol=1e-4)  # float32 sums in other orders

    def zeroskip_cpu(threads: int):
        import zeroskip as zs

        ta, tb = zs.as_tensor(a, format="csr"), zs.as_tensor(b, format="csr")
        program = zs.compile("X(i,j) = A(i,k) * B(k,j)", A=ta, B=tb)
        return lambda: program.run(A=ta, B=tb, threads=threads)

    def dense_run(threads: int):
        da, db = a.toarray(), b.toarray()
        return lambda: da @ db

    def torch_dense(device: str):
        import torch

        da, db = torch.from_numpy(a.toarray()).to(device), torch.from_numpy(b.toarray()).to(device)
        return on_device(lambda: da @ db, device)

    def layers() -> list[Layer]:
        import zeroskip as zs

        program = zs.compile("X(i,j) = A(i,k) * B(k,j)", A=zs.as_tensor(a, format="csr"),
                             B=zs.as_tensor(b, format="csr"), out="csr")
        return [Layer("matmul", program, op="X(i,j) = A(i,k) * B(k,j)", weight_sparsity=s, input_sparsity=s)]

    ops = {"A": a, "B": b}
    return Problem(w, check, kernel_flops("spmspm", {"B": a, "C": b}, gold), nbytes(a) + nbytes(b) + gold.size * 4,
                   {"cpu-dense": dense_run, "scipy": lambda t: lambda: a @ b, "zeroskip-cpu": zeroskip_cpu,
                    "graphblas": lambda t: _graphblas_kernel("spmspm", {"B": a, "C": b})},
                   layers, info=operand_info(ops) | {"sparsity": s}, dtype="float32", torch_dense=torch_dense)


# -- registry and presets -----------------------------------------------------------------------

def _families() -> dict[str, Callable[[Workload, Any], Problem]]:
    from zeroskip.bench import model_workloads

    return {"kernel": _prepare_kernel, "sweep": _prepare_sweep, **model_workloads.FAMILIES}


def needs_data(workload: Workload) -> bool:
    """Whether preparing ``workload`` reads the data folder (a bundled matrix, the DNN or a GCN graph).

    Example:
        >>> needs_data(Workload("spmv/west0067", "kernel", "", {"kernel": "spmv", "matrix": "west0067"}))
        True
        >>> needs_data(Workload("spmv/random", "kernel", "", {"kernel": "spmv", "random": {"n": 8}}))
        False
    """
    return "matrix" in workload.params or workload.family in ("dnn", "gcn")


def prepare(workload: Workload, root=None) -> Problem:
    """The ``Problem`` of ``workload`` (operands read from the data folder ``root``)."""
    families = _families()
    if workload.family not in families:
        raise WorkloadError(f"workload {workload.name!r} has unknown family {workload.family!r}; "
                            f"known: {', '.join(sorted(families))}")
    return families[workload.family](workload, root)


def kernel_workloads(matrices, tensors) -> list[Workload]:
    """Every Onyx kernel on each matrix (matrix kernels) or 3-tensor (tensor kernels)."""
    out = []
    for k in KERNELS.values():
        if k.source == "matrix":
            out += [Workload(f"{k.name}/{m}", "kernel", f"{k.expr} on {m}", {"kernel": k.name, "matrix": m})
                    for m in matrices]
        else:
            out += [Workload(f"{k.name}/{label}", "kernel", f"{k.expr} on a random {shape} tensor at {d:.1%}",
                             {"kernel": k.name, "shape": list(shape), "density": d, "seed": 0})
                    for label, (shape, d) in tensors.items()]
    return out


def sweep_workloads(n: int = 512, sparsities=SWEEP) -> list[Workload]:
    """The n x n matrix product with both operands at each sparsity."""
    return [Workload(f"matmul{n}/s={s:.3f}", "sweep", f"{n}x{n} times {n}x{n}, both {s:.1%} sparse",
                     {"n": n, "sparsity": s, "sweep": f"matmul{n}"}) for s in sparsities]


def preset(name: str) -> list[Workload]:
    """The workloads of a preset: ``demo`` (a few minutes on 2 cores) or ``full``."""
    from zeroskip.bench.model_workloads import model_workloads

    if name == "demo":
        return (kernel_workloads(("dwt_878", "west0479"), {"rand64": ((64, 64, 64), 0.02)})
                + sweep_workloads() + model_workloads("demo"))
    if name == "full":
        return (kernel_workloads(("dwt_878", "west0479", "bcsstk13", "cryg2500", "rajat01"),
                                 {"rand64": ((64, 64, 64), 0.02), "rand128": ((128, 128, 128), 0.005)})
                + sweep_workloads() + model_workloads("full"))
    raise WorkloadError(f"unknown preset {name!r}; known: demo, full")


def select(workloads: list[Workload], patterns: list[str] | None) -> list[Workload]:
    """The workloads whose name or family matches any of ``patterns`` (shell-style, e.g. ``spmspm/*``)."""
    import fnmatch

    if not patterns:
        return workloads
    chosen = [w for w in workloads if any(fnmatch.fnmatch(w.name, p) or p in (w.family, w.name.split("/")[0])
                                          for p in patterns)]
    if not chosen:
        raise WorkloadError(f"no workload matches {', '.join(patterns)}; "
                            f"known families: {', '.join(sorted({w.family for w in workloads}))}")
    return chosen
