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
from dataclasses import dataclass

import numpy as np
import scipy.io
import scipy.sparse as sp

from common import speedup_floors, torch_csr, torch_quiet, zeroskip_api
from zeroskip.bench.compare import comparable
from zeroskip.bench.datasets import data_root, graphchallenge_files
from zeroskip.bench.runner import Benchmark, Context, Prepared, main, require

BIAS = -0.3  # the Graph Challenge bias for 1024-neuron networks
CAP = 32.0  # activations are clipped at 32
CASE = "n1024-l30-x1200"
EXPRESSION = "Y(i,j) = X(i,k) * W(k,j)"


@dataclass(frozen=True)
class Network:
    """The inputs, the weight layers (float32 CSR) and the true categories."""

    inputs: sp.csr_matrix
    layers: list[sp.csr_matrix]
    truth: np.ndarray  # bool per input

    @property
    def edges(self) -> int:
        """Inputs x nonzeros of all layers: the numerator of the challenge's edges/second."""
        return self.inputs.shape[0] * sum(w.nnz for w in self.layers)


def load(ctx: Context) -> Network:
    files = graphchallenge_files(data_root(ctx.data))
    inputs = scipy.io.mmread(files["images"]).tocsr().astype(np.float32)
    layers = [scipy.io.mmread(path).tocsr().astype(np.float32) for path in files["layers"]]
    truth = np.zeros(inputs.shape[0], dtype=bool)
    truth[sp.coo_matrix(scipy.io.mmread(files["categories"])).row] = True
    return Network(inputs, layers, truth)


def categories(result) -> np.ndarray:
    """True for each row of the final activations that has a nonzero (any container)."""
    y = comparable(result)
    if sp.issparse(y):
        y = y.copy()
        y.eliminate_zeros()  # a stored zero is not a nonzero
        return np.diff(y.indptr) > 0
    return (y != 0).any(axis=1)


def prepared(net: Network, run, note: str = "") -> Prepared:
    """The timed ``run`` with the category check and the edges/second metric."""
    def check(result) -> None:
        found = categories(result)
        if found.shape != net.truth.shape or not np.array_equal(found, net.truth):
            wrong = int((found != net.truth).sum()) if found.shape == net.truth.shape else "all"
            raise AssertionError(f"categories differ from the truth in {wrong} rows "
                                 f"({int(found.sum())} true, the truth has {int(net.truth.sum())})")

    return Prepared(run, check=check, note=note,
                    metrics=lambda t: {"edges": net.edges, "Gedges/s": net.edges / t.median_s / 1e9})


def numpy_dense(case: str, ctx: Context) -> Prepared:
    net = load(ctx)
    y0 = net.inputs.toarray()
    weights = [w.toarray() for w in net.layers]

    def run():
        y = y0
        for w in weights:
            z = y @ w
            np.add(z, BIAS, out=z, where=z != 0)  # the bias goes on the product's nonzeros only
            np.clip(z, 0.0, CAP, out=z)
            y = z
        return y

    return prepared(net, run)


def scipy_csr(case: str, ctx: Context) -> Prepared:
    net = load(ctx)

    def run():
        y = net.inputs
        for w in net.layers:
            z = y @ w
            z.data += BIAS  # stored entries only
            np.clip(z.data, 0.0, CAP, out=z.data)
            z.eliminate_zeros()
            y = z
        return y

    return prepared(net, run)


def graphblas(case: str, ctx: Context) -> Prepared:
    gb = require("graphblas", "python-graphblas (pip install 'zeroskip[bench]')")
    from graphblas import binary, select, semiring

    net = load(ctx)
    y0 = gb.io.from_scipy_sparse(net.inputs)
    weights = [gb.io.from_scipy_sparse(w) for w in net.layers]

    def run():
        y = y0
        for w in weights:
            z = y.mxm(w, semiring.plus_times).new()
            z << z.apply(binary.plus, right=BIAS)  # in place keeps FP32 (a .new() would promote to FP64)
            z << select.valuegt(z, 0)
            z << z.apply(binary.min, right=CAP)
            y = z
        y.wait()  # non-blocking mode may defer work: finish it inside the timed call
        return y

    return prepared(net, run, note="SuiteSparse:GraphBLAS " + ".".join(map(str, gb.ss.about["library_version"])))


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
    zs = zeroskip_api("Epilogue")
    net = load(ctx)
    program = zs.compile(EXPRESSION, X="csr", W="csr", out="csr",
                         epilogue=zs.Epilogue(bias=BIAS, relu=True, clamp=(None, CAP)))
    y0 = zs.SparseTensor.from_scipy(net.inputs, format="csr")
    weights = [zs.SparseTensor.from_scipy(w, format="csr") for w in net.layers]

    def run():
        y = y0
        for w in weights:
            y = program.run(X=y, W=w, threads=ctx.threads, backend="sparse")
        return y

    return prepared(net, run)


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
