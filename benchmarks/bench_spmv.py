"""SpMV with cold weights: W (4096 x 4096 float32, 50-99% sparse) times a vector, against the bandwidth bound.

The backends and W are those of bench_linear at batch 1. Before every call (untimed) the caches are
evicted by writing a buffer several times larger than the last-level cache, so W comes from memory.
The memory-bandwidth bound of a call is the bytes a CSR kernel must move (float32 values, int32
crd and pos, x and y) over the copy bandwidth measured in the same process at the same thread
count (numpy copies on that many threads, read + write bytes, best of 20, before and after the
timed calls: the better of the two). Reported:
``% of bound`` = bound time / measured time, and the achieved GB/s of those CSR bytes. Dense
backends move far more than the CSR bytes, so their percentage says how far dense is from the
sparse bound, not how well they use the memory.

    .venv/bin/python benchmarks/bench_spmv.py
    .venv/bin/python benchmarks/bench_spmv.py --quick --backends scipy-csr,torch-csr-int32
"""

from __future__ import annotations

import sys

from common import find, ran
from matmul import LEVELS, Operands, backends
from zeroskip.bench.runner import Benchmark, Context, Finding, floor, main
from zeroskip.bench.timing import CacheEvictor, copy_bandwidth


def cold(ops: Operands, ctx: Context) -> dict:
    """Evict before every call; metrics against the copy bandwidth measured here, before and after the calls.

    The memory bandwidth of a shared (virtual) machine drifts by tens of percent; the better of the
    two measurements is the bound, so a dip in bandwidth cannot flatter the fraction.
    """
    before = copy_bandwidth(ctx.threads, repeats=20)  # bytes/s
    evict = CacheEvictor()

    def metrics(t):
        bandwidth = max(before, copy_bandwidth(ctx.threads, repeats=20))
        bound_s = ops.csr_bytes / bandwidth
        return {"csr bytes": ops.csr_bytes, "copy GB/s": bandwidth / 1e9, "bound ms": 1e3 * bound_s,
                "GB/s": ops.csr_bytes / t.median_s / 1e9, "% of bound": 100 * bound_s / t.median_s}

    return {"before_each": evict, "metrics": metrics}


def summarize(records: list[dict]) -> list:
    findings = []
    for threads in sorted({r["threads"] for r in records}):
        for backend, limit in (("zeroskip", 80.0), ("torch-csr-int32", None)):
            if not ran(records, backend):
                continue
            r = find(records, backend, "90%", threads)
            value = r["metrics"]["% of bound"] if r else None
            label = f"threads={threads}: {backend} at 90% reaches % of the bandwidth bound"
            if limit is None:  # context for the floor, not a floor
                findings.append(Finding(f"{label}: {'not measured' if value is None else f'{value:.3g}%'}"))
            else:
                findings.append(floor(label, value, limit, unit="%"))
    return findings


BENCH = Benchmark(
    name="spmv",
    title=__doc__.splitlines()[0],
    cases=lambda quick: ["90%"] if quick else [f"{lvl}%" for lvl in LEVELS],
    backends=backends(1, cold),
    anchors=("torch-dense", "scipy-csr", "torch-csr-int32"),
    columns=("GB/s", "copy GB/s", "% of bound"),
    repeats=30,
    warmup=3,
    quick_repeats=5,
    summarize=summarize,
)

if __name__ == "__main__":
    sys.exit(main(BENCH, __file__))
