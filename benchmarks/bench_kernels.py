"""The Onyx kernel set on bundled SuiteSparse matrices and random 3-tensors: zeroskip, scipy, dense numpy.

Kernels (see onyx.py): SpM*SpV, SpM*SpM, SDDMM, elementwise add (two and three operands),
elementwise multiply, TTV, TTM, InnerProd, MTTKRP. A case is ``kernel:source``; every backend's
answer is checked against the scipy version's (float64, tolerance relative to the largest entry).
Dense numpy is skipped where its operands would exceed 512 MB. The floor "zeroskip is not slower
than scipy" applies where scipy has the operation itself; the composed scipy versions (SDDMM, the
unfolded tensor kernels) are reported for context.

    .venv/bin/python benchmarks/bench_kernels.py
    .venv/bin/python benchmarks/bench_kernels.py --quick --cases spmspm:bcsstk13,ttv:rand64
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from common import find, zeroskip_api
from zeroskip.bench.kernels import KERNELS, Kernel, Tensor3, normalized, out_shape, random_tensor3, zeroskip_inputs
from zeroskip.bench.compare import assert_close
from zeroskip.bench.datasets import data_root
from zeroskip.bench.runner import Benchmark, Context, Finding, Prepared, Unavailable, floor, main

MATRICES = ("bcsstk13", "cryg2500", "rajat01")  # square; a mesh-like, a lattice and a circuit matrix
QUICK_MATRICES = ("bcsstk13",)
TENSORS = {"rand256": ((256, 256, 256), 0.005), "rand64": ((64, 64, 64), 0.02)}  # shape, density
DENSE_LIMIT = 512 << 20  # bytes of dense operands and answer the numpy backend may use
RTOL = 1e-9  # float64, summed in different orders


def cases(quick: bool) -> list[str]:
    matrices = QUICK_MATRICES if quick else MATRICES
    tensors = ("rand64",) if quick else ("rand256",)
    return [f"{k.name}:{s}" for k in KERNELS.values() for s in (matrices if k.source == "matrix" else tensors)]


@dataclass(frozen=True)
class Problem:
    """One case: the kernel, its operands, the checked answer and its shape."""

    kernel: Kernel
    ops: dict[str, Any]
    shape: tuple[int, ...]
    gold: Any

    def check(self, result) -> None:
        assert_close(normalized(result, self.shape), self.gold, rtol=RTOL)

    def prepared(self, run, note: str = "") -> Prepared:
        first = next(iter(self.ops.values()))  # the sparse operand the kernel iterates
        nnz = first.vals.size if isinstance(first, Tensor3) else first.nnz
        return Prepared(run, check=self.check, note=note, metrics=lambda t: {"nnz": nnz})


def problem(case: str, ctx: Context) -> Problem:
    kernel_name, source_name = case.split(":")
    kernel = KERNELS[kernel_name]
    if source_name in TENSORS:
        shape, density = TENSORS[source_name]
        source = random_tensor3(shape, density, seed=0)
    else:
        from zeroskip import load

        source = load(data_root(ctx.data) / "suitesparse" / f"{source_name}.mtx").to_scipy("csr").astype(np.float64)
    ops = kernel.operands(source, np.random.default_rng(0))
    shape = out_shape(kernel, ops)
    return Problem(kernel, ops, shape, normalized(kernel.scipy(**kernel.scipy_inputs(ops)), shape))


def scipy_backend(case: str, ctx: Context) -> Prepared:
    p = problem(case, ctx)
    inputs = p.kernel.scipy_inputs(p.ops)
    return p.prepared(lambda: p.kernel.scipy(**inputs), note=p.kernel.scipy_note)


def numpy_backend(case: str, ctx: Context) -> Prepared:
    p = problem(case, ctx)
    nbytes = 8 * (sum(int(np.prod(v.shape)) for v in p.ops.values()) + int(np.prod(p.shape)))
    if nbytes > DENSE_LIMIT:
        raise Unavailable(f"dense operands need {nbytes >> 20} MB, over this benchmark's {DENSE_LIMIT >> 20} MB")
    inputs = p.kernel.numpy_inputs(p.ops)
    return p.prepared(lambda: p.kernel.numpy(**inputs))


def zeroskip_backend(case: str, ctx: Context) -> Prepared:
    zs = zeroskip_api()
    p = problem(case, ctx)
    program = zs.compile(p.kernel.expr, out=p.kernel.out, **p.kernel.formats)
    inputs = zeroskip_inputs(zs, p.kernel.formats, p.ops)
    return p.prepared(lambda: program.run(**inputs, threads=ctx.threads, backend="sparse"))


def summarize(records: list[dict]) -> list[Finding]:
    """Per thread count: zeroskip's slowest ratio to scipy over the kernels scipy has (a floor of 1)."""
    if not any(r["backend"] == "zeroskip" for r in records):
        return []
    findings = []
    for threads in sorted({r["threads"] for r in records}):
        ratios, missing = {}, []
        for case in dict.fromkeys(r["case"] for r in records):
            if not KERNELS[case.split(":")[0]].scipy_native:
                continue
            mine, theirs = find(records, "zeroskip", case, threads), find(records, "scipy", case, threads)
            if mine and theirs:
                ratios[case] = theirs["median_s"] / mine["median_s"]
            else:
                missing.append(case)
        slower = sorted(c for c, r in ratios.items() if r < 1)
        worst = min(ratios, key=ratios.get) if ratios and not missing else None
        label = f"threads={threads}: zeroskip speedup over scipy on its slowest kernel" + (f" ({worst})" if worst else "")
        findings.append(floor(label, ratios[worst] if worst else None, 1.0))
        if slower:
            findings.append(Finding(f"  slower than scipy: {', '.join(slower)}"))
        if missing:
            findings.append(Finding(f"  not measured: {', '.join(missing)}"))
    return findings


BENCH = Benchmark(
    name="kernels",
    title=__doc__.splitlines()[0],
    cases=cases,
    backends={"scipy": scipy_backend, "numpy": numpy_backend, "zeroskip": zeroskip_backend},
    anchors=("scipy", "numpy"),
    columns=("nnz",),
    repeats=10,
    warmup=2,
    summarize=summarize,
)

if __name__ == "__main__":
    sys.exit(main(BENCH, __file__))
