"""The Onyx kernel set as a table: expression, zeroskip formats, operands, and the scipy and numpy versions.

Used by the suite (`zeroskip.bench.workloads`), benchmarks/bench_kernels and bench_compile (compile
time on small operands). Matrix kernels take a square SuiteSparse matrix B and, as SAM's and
Onyx's evaluations do, shifted copies of it as the other sparse operands (C: columns shifted by
one, D: by two, wrapping), so the patterns overlap partly. Tensor kernels take random 3-tensors.

scipy has no 3-tensors and no SDDMM; their scipy versions are what a scipy user writes: a
tensor unfolded to a CSR matrix (kept as the tensor's scipy storage, built in setup), and SDDMM
as the pattern's rows and columns gathering dense rows (``Kernel.scipy_note`` says which).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from zeroskip.bench.compare import comparable

DENSE_RANK = 32  # columns of the dense factors (SDDMM, TTM, MTTKRP)
X_DENSITY = 0.1  # of the sparse vector of SpM*SpV


@dataclass(frozen=True)
class Tensor3:
    """A sparse 3-tensor: sorted unique coordinates (nnz x 3), values and shape."""

    coords: np.ndarray
    vals: np.ndarray
    shape: tuple[int, int, int]

    def unfold(self, keep: int) -> sp.csr_matrix:
        """CSR of the first ``keep`` modes (row-major) by the rest: (I*J) x K for keep=2, I x (J*K) for keep=1."""
        i, j, k = self.coords.T
        I, J, K = self.shape  # noqa: E741 - the tensor's mode sizes
        if keep == 2:
            return sp.csr_matrix((self.vals, (i * J + j, k)), shape=(I * J, K))
        return sp.csr_matrix((self.vals, (i, j * K + k)), shape=(I, J * K))

    def dense(self) -> np.ndarray:
        out = np.zeros(self.shape)
        out[tuple(self.coords.T)] = self.vals
        return out


def random_tensor3(shape: tuple[int, int, int], density: float, seed: int) -> Tensor3:
    """Uniformly random sparse 3-tensor with normal values."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    flat = np.sort(rng.choice(size, size=max(1, round(density * size)), replace=False))
    return Tensor3(np.stack(np.unravel_index(flat, shape), axis=1), rng.standard_normal(flat.size), shape)


def shifted(b: sp.csr_matrix, by: int) -> sp.csr_matrix:
    """``b`` with every column index moved right by ``by`` (wrapping)."""
    coo = b.tocoo()
    return sp.csr_matrix((coo.data, (coo.row, (coo.col + by) % b.shape[1])), shape=b.shape)


@dataclass(frozen=True)
class Kernel:
    """One kernel: how to build its operands from a source, and each backend's version of it.

    ``operands`` gives scipy/numpy values or ``Tensor3`` by tensor name; ``scipy`` and ``numpy`` take
    the operands as ``scipy_inputs`` / ``numpy_inputs`` return them (converted in setup, untimed).
    """

    name: str
    expr: str
    formats: dict[str, str]  # zeroskip format of every input
    out: str | None  # zeroskip output format (None: a scalar)
    source: str  # "matrix" (a square sparse matrix) or "tensor3"
    operands: Callable[[Any, np.random.Generator], dict[str, Any]]
    scipy: Callable[..., Any]
    numpy: Callable[..., Any]
    scipy_note: str = ""
    scipy_native: bool = True  # scipy has the operation itself (the floor "not slower than scipy" applies)
    unfold: int = 2  # modes kept as rows when a 3-tensor is unfolded for scipy

    def scipy_inputs(self, ops: dict[str, Any]) -> dict[str, Any]:
        """Tensors unfolded to CSR, sparse vectors as CSR columns; the rest as they are."""
        def convert(name: str, v):
            if isinstance(v, Tensor3):
                return v.unfold(self.unfold)
            if np.ndim(v) == 1 and self.formats[name] == "sparse":
                return sp.csr_matrix(v.reshape(-1, 1))
            return v

        return {k: convert(k, v) for k, v in ops.items()}

    def numpy_inputs(self, ops: dict[str, Any]) -> dict[str, np.ndarray]:
        return {k: v.dense() if isinstance(v, Tensor3) else v.toarray() if sp.issparse(v) else v for k, v in ops.items()}


def _sparse_vector(n: int, rng: np.random.Generator) -> np.ndarray:
    x = np.zeros(n)
    idx = rng.choice(n, size=max(1, round(X_DENSITY * n)), replace=False)
    x[idx] = rng.standard_normal(idx.size)
    return x


def _sddmm_scipy(B, C, D):
    """SDDMM over B's pattern: per stored entry, a row of C dotted with a column of D."""
    coo = B.tocoo()
    vals = coo.data * np.einsum("ij,ij->i", C[coo.row], D.T[coo.col])
    return sp.csr_matrix((vals, (coo.row, coo.col)), shape=B.shape)


KERNELS: dict[str, Kernel] = {k.name: k for k in [
    Kernel("spmspv", "y(i) = A(i,j) * x(j)", {"A": "csr", "x": "sparse"}, "sparse", "matrix",
           lambda b, rng: {"A": b, "x": _sparse_vector(b.shape[1], rng)},
           scipy=lambda A, x: A @ x, numpy=lambda A, x: A @ x, scipy_note="x is a CSR column"),
    Kernel("spmspm", "X(i,j) = B(i,k) * C(k,j)", {"B": "csr", "C": "csr"}, "csr", "matrix",
           lambda b, rng: {"B": b, "C": shifted(b, 1)},
           scipy=lambda B, C: B @ C, numpy=lambda B, C: B @ C),
    Kernel("sddmm", "X(i,j) = B(i,j) * C(i,k) * D(k,j)", {"B": "csr", "C": "dense", "D": "dense"}, "csr", "matrix",
           lambda b, rng: {"B": b, "C": rng.standard_normal((b.shape[0], DENSE_RANK)),
                           "D": rng.standard_normal((DENSE_RANK, b.shape[1]))},
           scipy=_sddmm_scipy, numpy=lambda B, C, D: B * (C @ D),
           scipy_note="no SDDMM in scipy: B's pattern gathers rows of C and D (numpy)", scipy_native=False),
    Kernel("elemadd", "X(i,j) = B(i,j) + C(i,j)", {"B": "csr", "C": "csr"}, "csr", "matrix",
           lambda b, rng: {"B": b, "C": shifted(b, 1)},
           scipy=lambda B, C: B + C, numpy=lambda B, C: B + C),
    Kernel("elemadd3", "X(i,j) = B(i,j) + C(i,j) + D(i,j)", {"B": "csr", "C": "csr", "D": "csr"}, "csr", "matrix",
           lambda b, rng: {"B": b, "C": shifted(b, 1), "D": shifted(b, 2)},
           scipy=lambda B, C, D: B + C + D, numpy=lambda B, C, D: B + C + D),
    Kernel("elemmul", "X(i,j) = B(i,j) * C(i,j)", {"B": "csr", "C": "csr"}, "csr", "matrix",
           lambda b, rng: {"B": b, "C": shifted(b, 1)},
           scipy=lambda B, C: B.multiply(C), numpy=lambda B, C: B * C),
    Kernel("ttv", "X(i,j) = B(i,j,k) * c(k)", {"B": "csf", "c": "dense"}, "csr", "tensor3",
           lambda t, rng: {"B": t, "c": rng.standard_normal(t.shape[2])},
           scipy=lambda B, c: B @ c, numpy=lambda B, c: B @ c,
           scipy_note="B unfolded to (I*J) x K CSR times c", scipy_native=False),
    Kernel("ttm", "X(i,j,k) = B(i,j,l) * C(k,l)", {"B": "csf", "C": "dense"}, "csf", "tensor3",
           lambda t, rng: {"B": t, "C": rng.standard_normal((DENSE_RANK, t.shape[2]))},
           scipy=lambda B, C: B @ C.T, numpy=lambda B, C: np.einsum("ijl,kl->ijk", B, C, optimize=True),
           scipy_note="B unfolded to (I*J) x L CSR times C^T", scipy_native=False),
    Kernel("innerprod", "x = B(i,j,k) * C(i,j,k)", {"B": "csf", "C": "csf"}, None, "tensor3",
           lambda t, rng: {"B": t, "C": random_tensor3(t.shape, t.vals.size / np.prod(t.shape), seed=99)},
           scipy=lambda B, C: B.multiply(C).sum(), numpy=lambda B, C: np.vdot(B, C),
           scipy_note="B and C unfolded to (I*J) x K CSR", scipy_native=False),
    Kernel("mttkrp", "X(i,j) = B(i,k,l) * C(k,j) * D(l,j)", {"B": "csf", "C": "dense", "D": "dense"}, "dense",
           "tensor3",
           lambda t, rng: {"B": t, "C": rng.standard_normal((t.shape[1], DENSE_RANK)),
                           "D": rng.standard_normal((t.shape[2], DENSE_RANK))},
           scipy=lambda B, C, D: B @ scipy.linalg.khatri_rao(C, D),
           numpy=lambda B, C, D: np.einsum("ikl,kj,lj->ij", B, C, D, optimize=True),
           scipy_note="B unfolded to I x (K*L) CSR times the Khatri-Rao product of C and D",
           scipy_native=False, unfold=1),
]}


def out_shape(kernel: Kernel, ops: dict[str, Any]) -> tuple[int, ...]:
    """Shape of the kernel's answer, from the sizes its operands give each index."""
    lhs, rhs = kernel.expr.split("=")
    sizes = {}
    for name, indices in re.findall(r"(\w+)\(([^)]*)\)", rhs):
        sizes.update(zip((i.strip() for i in indices.split(",")), ops[name].shape))
    written = re.search(r"\(([^)]*)\)", lhs)
    return tuple(sizes[i.strip()] for i in written.group(1).split(",")) if written else ()


def normalized(result, shape: tuple[int, ...]):
    """Any backend's answer in one form: a scalar, a CSR matrix (2-D sparse answers) or an array of ``shape``.

    The scipy versions give TTV and TTM flattened and SpM*SpV as a column; this undoes that.
    """
    value = comparable(result)
    if sp.issparse(value) and value.shape == shape:
        return value
    dense = value.toarray() if sp.issparse(value) else np.asarray(value, dtype=np.float64)
    return dense.reshape(shape)


def zeroskip_inputs(zs, formats: dict[str, str], ops: dict[str, Any]) -> dict[str, Any]:
    """Operands as zeroskip SparseTensors in the given formats (built once, outside the timing)."""
    out = {}
    for name, value in ops.items():
        fmt = formats[name]
        if isinstance(value, Tensor3):
            out[name] = zs.SparseTensor.from_coo(value.coords, value.vals, value.shape, fmt)
        else:
            out[name] = zs.as_tensor(value, format=fmt)
    return out
