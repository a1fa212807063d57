"""A sparse linear layer: W (4096 x 4096 float32) at 50-99% sparsity times X (4096 x 64 float32).

Backends: dense torch and numpy (BLAS), scipy CSR, torch CSR with int32 indices, and zeroskip
(``C(i,j) = W(i,k) * X(k,j)``, W CSR, X and C dense) with the sparse kernel forced and with its
cost model choosing (``zeroskip-auto``). Reported: median seconds, useful GFLOP/s (2 x nonzeros x
64 over the time, the same numerator for every backend), speedups over the dense backends, and
for each sparse backend the crossover: the lowest sparsity from which it beats the best dense.

    .venv/bin/python benchmarks/bench_linear.py
    .venv/bin/python benchmarks/bench_linear.py --quick --backends numpy-dense,scipy-csr
"""

from __future__ import annotations

import sys

from matmul import LEVELS, Operands, backends, crossover, crossover_findings, over_best_dense
from zeroskip.bench.runner import Benchmark, Context, floor, main

BATCH = 64


def metrics(ops: Operands, ctx: Context) -> dict:
    return {"metrics": lambda t: {"nnz": ops.w.nnz, "GFLOP/s": ops.flops / t.median_s / 1e9}}


def summarize(records: list[dict]) -> list:
    findings = crossover_findings(records, ("zeroskip", "zeroskip-auto", "torch-csr-int32", "scipy-csr"))
    if any(r["backend"] == "zeroskip" for r in records):
        for threads in sorted({r["threads"] for r in records}):
            findings.append(floor(f"threads={threads}: zeroskip speedup over the best dense at 90%",
                                  over_best_dense(records, "zeroskip", "90%", threads), 2.5))
            at, measured = crossover(records, "zeroskip", threads)
            if set(LEVELS) <= set(measured):  # a crossover needs every level, not a quick subset
                findings.append(floor(f"threads={threads}: zeroskip crossover sparsity", at, 70, at_least=False,
                                      unit="%"))
    return findings


BENCH = Benchmark(
    name="linear",
    title=__doc__.splitlines()[0],
    cases=lambda quick: ["50%", "90%"] if quick else [f"{lvl}%" for lvl in LEVELS],
    backends=backends(BATCH, metrics),
    anchors=("torch-dense", "numpy-dense", "scipy-csr", "torch-csr-int32"),
    columns=("GFLOP/s",),
    repeats=20,
    warmup=3,
    summarize=summarize,
)

if __name__ == "__main__":
    sys.exit(main(BENCH, __file__))
