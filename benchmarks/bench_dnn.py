"""Graph Challenge sparse DNN inference: 1200 inputs through 30 layers of 1024 neurons.

Per layer ``Y = min(max(Y @ W + b, 0), 32)`` with the bias b = -0.3 added to the *stored* entries
of the product only (see ``shared/data/README.md``). After the 30 layers an input's category is
true when its row of Y has any nonzero; every backend's categories must equal the truth file
exactly (19 of 1200 rows), or the run fails.

Reported: seconds for all 30 layers (median) and the challenge's throughput, inputs x (nonzeros
of all weight layers) / seconds. Ratios against python-graphblas (SuiteSparse:GraphBLAS), scipy
and dense numpy. All backends compute in float32 from the same scipy-loaded matrices; converting
them to each library's own format is setup, not timed.

    .venv/bin/python benchmarks/bench_dnn.py                       # all backends
    .venv/bin/python benchmarks/bench_dnn.py --backends numpy,scipy,graphblas,torch --quick
"""

from __future__ import annotations

import sys

from common import speedup_floors, torch_csr, torch_quiet, zeroskip_api
from zeroskip.bench.dnn import (BIAS, CAP, Network, check_categories, graphblas_chain, load_network, numpy_chain,
                                scipy_chain, zeroskip_chain)
from zeroskip.bench.runner import Benchmark, Context, Prepared, main, require

CASE = "n1024-l30-x1200"


def load(ctx: Context) -> Network:
    return load_network(ctx.data)


def prepared(net: Network, run, note: str = "") -> Prepared:
    """The timed ``run`` with the category check and the edges/second metric."""
    return Prepared(run, check=lambda result: check_categories(net, result), note=note,
                    metrics=lambda t: {"edges": net.edges, "Gedges/s": net.edges / t.median_s / 1e9})


def numpy_dense(case: str, ctx: Context) -> Prepared:
    net = load(ctx)
    return prepared(net, numpy_chain(net))


def scipy_csr(case: str, ctx: Context) -> Prepared:
    net = load(ctx)
    return prepared(net, scipy_chain(net))


def graphblas(case: str, ctx: Context) -> Prepared:
    gb = require("graphblas", "python-graphblas (pip install 'zeroskip[bench]')")
    net = load(ctx)
    return prepared(net, graphblas_chain(net),
                    note="SuiteSparse:GraphBLAS " + ".".join(map(str, gb.ss.about["library_version"])))


def torch_sparse(case: str, ctx: Context) -> Prepared:
    torch = torch_quiet()
    net = load(ctx)
    y0 = torch_csr(net.inputs)
    weights = [torch_csr(w) for w in net.layers]

    def drop_zeros(z):
        """z without its stored zeros (torch has no eliminate_zeros for CSR)."""
        crow, col, vals = z.crow_indices(), z.col_indices(), z.values()
        keep = vals != 0
        rows = torch.repeat_interleave(torch.arange(z.shape[0]), crow.diff())
        counts = torch.bincount(rows[keep], minlength=z.shape[0])
        new_crow = torch.zeros(z.shape[0] + 1, dtype=crow.dtype)
        torch.cumsum(counts, 0, out=new_crow[1:])
        return torch.sparse_csr_tensor(new_crow, col[keep], vals[keep], size=z.shape)

    def run():
        y = y0
        for w in weights:
            z = y @ w
            z.values().add_(BIAS).clamp_(0.0, CAP)
            y = drop_zeros(z)
        return y

    return prepared(net, run, note="CSR int32 inputs; torch's CSR product has int64 indices")


def zeroskip(case: str, ctx: Context) -> Prepared:
    zeroskip_api("Epilogue")
    net = load(ctx)
    return prepared(net, zeroskip_chain(net, ctx.threads))


BENCH = Benchmark(
    name="dnn",
    title=__doc__.splitlines()[0],
    cases=lambda quick: [CASE],
    backends={"numpy": numpy_dense, "scipy": scipy_csr, "graphblas": graphblas, "torch": torch_sparse,
              "zeroskip": zeroskip},
    anchors=("graphblas", "scipy", "numpy"),
    columns=("Gedges/s",),
    repeats=10,
    warmup=2,
    summarize=lambda records: speedup_floors(records, "zeroskip", CASE, {"graphblas": 1.25, "scipy": 2.0, "numpy": 8.0}),
)

if __name__ == "__main__":
    sys.exit(main(BENCH, __file__))
