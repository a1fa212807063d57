"""The workload of bench_linear and bench_spmv: sparse weights W times dense activations, every backend.

W is 4096 x 4096 float32 with each entry kept with probability 1 - sparsity (fixed seed, the same W
for every backend and both benchmarks); the activations are X (4096 x batch) or, for batch 1, a
vector x. A case is a sparsity level in percent (``"90%"``). Each backend's answer is checked
against the float64 product (tolerance relative to its largest entry), so all backends agree
with each other within float32 rounding.

zeroskip fixes W with ``Program.bind`` (a layer's weights, made once, as torch's and scipy's CSR
tensors are built once before the timed calls) and is called with the activations' numpy array;
``zeroskip-run`` passes both to ``program.run`` on every call, for the price of that path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from common import find, random_weights, torch_csr, torch_quiet, zeroskip_api
from zeroskip.bench.compare import assert_close
from zeroskip.bench.runner import Context, Finding, Prepared, Setup

N = 4096
LEVELS = (50, 70, 80, 90, 95, 99)  # sparsity in percent
DENSE = ("torch-dense", "numpy-dense")  # the "best dense" is the faster of these at each level
RTOL = 1e-4  # float32 sums of up to 4096 products, against the float64 product


@dataclass(frozen=True)
class Operands:
    """W (float32 CSR, int32 indices), the activations, and the float64 gold."""

    w: sp.csr_matrix
    x: np.ndarray  # (N, batch), or (N,) for batch 1
    gold: np.ndarray

    @property
    def batch(self) -> int:
        return 1 if self.x.ndim == 1 else self.x.shape[1]

    @property
    def flops(self) -> int:
        """Useful multiply-adds x 2: what a kernel skipping every zero must do."""
        return 2 * self.w.nnz * self.batch

    @property
    def csr_bytes(self) -> int:
        """Bytes a CSR kernel must move at least: values, int32 crd and pos, the activations in and out."""
        n = self.w.shape[0]
        return self.w.nnz * (4 + 4) + (n + 1) * 4 + 2 * n * self.batch * 4


def level(case: str) -> int:
    """``"90%"`` -> 90."""
    return int(case.rstrip("%"))


def operands(case: str, batch: int) -> Operands:
    w = random_weights(N, level(case) / 100, seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, batch) if batch > 1 else N, dtype=np.float32)
    gold = w.astype(np.float64) @ x.astype(np.float64)
    return Operands(w, x, gold)


# Extra Prepared fields (before_each, metrics) a benchmark adds to every backend's run.
Hooks = Callable[[Operands, Context], Mapping[str, Any]]


def backends(batch: int, hooks: Hooks) -> dict[str, Setup]:
    """Every backend of W times the activations at this batch, each with the benchmark's hooks."""

    def setup(make: Callable[[Operands, Context], tuple[Callable[[], Any], str]]) -> Setup:
        def prepare(case: str, ctx: Context) -> Prepared:
            ops = operands(case, batch)
            run, note = make(ops, ctx)
            return Prepared(run, check=lambda out: assert_close(out, ops.gold, rtol=RTOL), note=note, **hooks(ops, ctx))

        return prepare

    return {
        "torch-dense": setup(_torch_dense),
        "numpy-dense": setup(_numpy_dense),
        "scipy-csr": setup(_scipy_csr),
        "torch-csr-int32": setup(_torch_csr),
        "zeroskip": setup(lambda ops, ctx: _zeroskip(ops, ctx, "sparse")),
        "zeroskip-auto": setup(lambda ops, ctx: _zeroskip(ops, ctx, "auto")),
        "zeroskip-run": setup(lambda ops, ctx: _zeroskip(ops, ctx, "sparse", bound=False)),
    }


def _torch_dense(ops: Operands, ctx: Context):
    torch = torch_quiet()
    w, x = torch.from_numpy(ops.w.toarray()), torch.from_numpy(ops.x)
    return (lambda: torch.mv(w, x)) if ops.batch == 1 else (lambda: torch.mm(w, x)), ""


def _numpy_dense(ops: Operands, ctx: Context):
    w = ops.w.toarray()
    return (lambda: w @ ops.x), ""


def _scipy_csr(ops: Operands, ctx: Context):
    return (lambda: ops.w @ ops.x), "single-threaded"


def _torch_csr(ops: Operands, ctx: Context):
    torch = torch_quiet()
    w, x = torch_csr(ops.w, np.int32), torch.from_numpy(ops.x)
    return (lambda: torch.mv(w, x)) if ops.batch == 1 else (lambda: torch.mm(w, x)), ""


def _zeroskip(ops: Operands, ctx: Context, backend: str, bound: bool = True):
    zs = zeroskip_api()
    if ops.batch == 1:
        program = zs.compile("y(i) = W(i,j) * x(j)", W="csr", x="dense", out="dense")
        name = "x"
    else:
        program = zs.compile("C(i,j) = W(i,k) * X(k,j)", W="csr", X="dense", out="dense")
        name = "X"
    w = zs.SparseTensor.from_scipy(ops.w, format="csr")
    x = zs.as_tensor(ops.x, format="dense")
    if bound:  # called as a layer is: on the activations' numpy array
        layer = program.bind(W=w, threads=ctx.threads, backend=backend)
        return (lambda: layer(ops.x)), f"backend={backend}, W bound"
    operands = {"W": w, name: x}
    return (lambda: program.run(**operands, threads=ctx.threads, backend=backend)), f"backend={backend}"


def crossover(records: list[dict], backend: str, threads: int) -> tuple[int | None, list[int]]:
    """The lowest measured sparsity from which ``backend`` beats the best dense at every higher level.

    Returns (that level or None, the levels where both it and a dense backend were measured).
    """
    levels = sorted({level(r["case"]) for r in records})
    beats = {}
    for lvl in levels:
        mine = find(records, backend, f"{lvl}%", threads)
        dense = [r["median_s"] for b in DENSE if (r := find(records, b, f"{lvl}%", threads))]
        if mine and dense:
            beats[lvl] = mine["median_s"] < min(dense)
    measured = sorted(beats)
    from_here = None
    for lvl in reversed(measured):
        if not beats[lvl]:
            break
        from_here = lvl
    return from_here, measured


def over_best_dense(records: list[dict], backend: str, case: str, threads: int) -> float | None:
    """``backend``'s speedup over the faster dense backend on ``case`` (None if either is missing)."""
    mine = find(records, backend, case, threads)
    dense = [r["median_s"] for b in DENSE if (r := find(records, b, case, threads))]
    return min(dense) / mine["median_s"] if mine and dense else None


def crossover_findings(records: list[dict], backends_: tuple[str, ...]) -> list[Finding]:
    """One line per backend and thread count: where it crosses the best dense."""
    lines = []
    for threads in sorted({r["threads"] for r in records}):
        for backend in backends_:
            if not any(r["backend"] == backend for r in records):
                continue
            at, measured = crossover(records, backend, threads)
            where = f"from {at}% up" if at is not None else "at no measured level"
            lines.append(Finding(f"threads={threads}: {backend} beats the best dense {where} "
                                 f"(levels measured: {', '.join(map(str, measured)) or 'none'})"))
    return lines
