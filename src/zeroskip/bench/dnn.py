"""The Graph Challenge sparse DNN: the network, its true categories, and each backend's inference chain.

Per layer ``Y = min(max(Y @ W + b, 0), 32)`` with the bias b = -0.3 added to the *stored* entries
of the product only (see ``shared/data/README.md``). After the layers an input's category is true
when its row of Y has any nonzero; the 30 bundled layers reproduce the truth file exactly (19 of
1200 rows). All chains compute in float32 from the same scipy-loaded matrices; building each
library's operands happens here, outside the timed call each builder returns.

Example:
    >>> net = load_network(inputs=20)  # doctest: +SKIP
    >>> np.array_equal(categories(scipy_chain(net)()), net.truth)  # doctest: +SKIP
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.io
import scipy.sparse as sp

from zeroskip.bench.compare import comparable
from zeroskip.bench.datasets import data_root, graphchallenge_files
from zeroskip.bench.workloads import on_device

BIAS = -0.3  # the Graph Challenge bias for 1024-neuron networks
CAP = 32.0  # activations are clipped at 32
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


def load_network(root=None, *, inputs: int | None = None, layers: int | None = None) -> Network:
    """The bundled network; the first ``inputs`` inputs and ``layers`` layers when given."""
    files = graphchallenge_files(data_root(root))
    x = scipy.io.mmread(files["images"]).tocsr().astype(np.float32)
    weights = [scipy.io.mmread(path).tocsr().astype(np.float32) for path in files["layers"][:layers]]
    truth = np.zeros(x.shape[0], dtype=bool)
    truth[sp.coo_matrix(scipy.io.mmread(files["categories"])).row] = True
    keep = slice(None, inputs)
    return Network(x[keep], weights, truth[keep])


def categories(result) -> np.ndarray:
    """True for each row of the final activations that has a nonzero (any container)."""
    y = comparable(result)
    if sp.issparse(y):
        y = y.copy()
        y.eliminate_zeros()  # a stored zero is not a nonzero
        return np.diff(y.indptr) > 0
    return (y != 0).any(axis=1)


def check_categories(net: Network, result) -> None:
    """Raise AssertionError unless ``result``'s categories equal the truth exactly."""
    found = categories(result)
    if found.shape != net.truth.shape or not np.array_equal(found, net.truth):
        wrong = int((found != net.truth).sum()) if found.shape == net.truth.shape else "all"
        raise AssertionError(f"categories differ from the truth in {wrong} rows "
                             f"({int(found.sum())} true, the truth has {int(net.truth.sum())})")


def numpy_chain(net: Network):
    """Dense numpy inference (the timed call)."""
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

    return run


def layer_inputs(net: Network) -> list[sp.csr_matrix]:
    """The activations entering each layer (scipy), for simulating the layers one by one."""
    out, y = [], net.inputs
    for w in net.layers:
        out.append(y)
        y = _scipy_layer(y, w)
    return out


def _scipy_layer(y: sp.csr_matrix, w: sp.csr_matrix) -> sp.csr_matrix:
    z = y @ w
    z.data += BIAS  # stored entries only
    np.clip(z.data, 0.0, CAP, out=z.data)
    z.eliminate_zeros()
    return z


def scipy_chain(net: Network):
    """scipy.sparse CSR inference (the timed call)."""
    def run():
        y = net.inputs
        for w in net.layers:
            y = _scipy_layer(y, w)
        return y

    return run


def graphblas_chain(net: Network):
    """SuiteSparse:GraphBLAS inference through python-graphblas (the timed call)."""
    import graphblas as gb  # optional benchmark dependency
    from graphblas import binary, select, semiring

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

    return run


def zeroskip_chain(net: Network, threads: int | None = None, backend: str = "sparse"):
    """zeroskip's CSR x CSR program with the bias, ReLU and clamp fused (the timed call)."""
    import zeroskip as zs

    program = zs.compile(EXPRESSION, X="csr", W="csr", out="csr",
                         epilogue=zs.Epilogue(bias=BIAS, relu=True, clamp=(None, CAP)))
    y0 = zs.SparseTensor.from_scipy(net.inputs, format="csr")
    weights = [zs.SparseTensor.from_scipy(w, format="csr") for w in net.layers]

    def run():
        y = y0
        for w in weights:
            y = program.run(X=y, W=w, threads=threads, backend=backend)
        return y

    return run


def torch_chain(net: Network, device: str = "cpu"):
    """Dense torch inference on ``device`` (the measured GPU baseline when it is ``"cuda"``)."""
    import torch

    y0 = torch.from_numpy(net.inputs.toarray()).to(device)
    weights = [torch.from_numpy(w.toarray()).to(device) for w in net.layers]

    def chain():
        y = y0
        for w in weights:
            z = y @ w
            y = torch.where(z != 0, z + BIAS, z).clamp_(0.0, CAP)  # the bias goes on the product's nonzeros only
        return y

    return on_device(chain, device)
