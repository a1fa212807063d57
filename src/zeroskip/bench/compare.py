"""Checking a benchmark's answer: any backend's result against a gold, whatever its container.

A result may be a numpy array or scalar, a scipy.sparse matrix, a torch tensor (strided, COO or
CSR), a python-graphblas Matrix/Vector or a zeroskip SparseTensor. Sparse results stay sparse
(no dense copy of a large matrix); the tolerance is scaled by the gold's largest magnitude, since
float32 sums in a different order differ by a few ulps of the largest terms, not of each entry.

Example:
    >>> import numpy as np, scipy.sparse as sp
    >>> assert_close(sp.csr_matrix(np.eye(3)), np.eye(3))
    >>> assert_close(np.float32(1.0 + 1e-7), 1.0, rtol=1e-6)
    >>> assert_close(np.zeros(2), np.ones(2))
    Traceback (most recent call last):
    ...
    AssertionError: max |actual - expected| = 1 exceeds 0 + 1e-09 * max |expected| (= 1); shape (2,)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def comparable(value):
    """``value`` as a numpy array or a scipy CSR matrix (sparse stays sparse)."""
    module = type(value).__module__.split(".")[0]
    if module == "torch":
        return _from_torch(value)
    if module == "graphblas":
        from graphblas import io as gb_io  # optional benchmark dependency, imported only for its results

        if value.ndim == 1:
            indices, vals = value.to_coo()
            out = np.zeros(value.size, dtype=vals.dtype)
            out[indices] = vals
            return out
        return gb_io.to_scipy_sparse(value, format="csr")
    if hasattr(value, "levels") and hasattr(value, "to_scipy"):  # a zeroskip SparseTensor
        return value.to_scipy("csr") if value.ndim == 2 and value.format.name != "dense" else value.to_numpy()
    if sp.issparse(value):
        return sp.csr_matrix(value)
    return np.asarray(value)


def _from_torch(tensor):
    import torch  # only reached with a torch tensor in hand

    if tensor.layout == torch.sparse_csr:
        return sp.csr_matrix((tensor.values().numpy(), tensor.col_indices().numpy(), tensor.crow_indices().numpy()),
                             shape=tuple(tensor.shape))
    if tensor.layout == torch.sparse_coo:
        tensor = tensor.coalesce()
        if tensor.ndim == 2:
            rows, cols = tensor.indices().numpy()
            return sp.csr_matrix((tensor.values().numpy(), (rows, cols)), shape=tuple(tensor.shape))
        return tensor.to_dense().numpy()
    return tensor.detach().numpy()


def assert_close(actual, expected, *, rtol: float = 1e-9, atol: float = 0.0) -> None:
    """Assert ``max|actual - expected| <= atol + rtol * max|expected|`` and equal shapes."""
    a, e = comparable(actual), comparable(expected)
    if np.shape(a) != np.shape(e):
        raise AssertionError(f"shape {np.shape(a)} differs from the expected {np.shape(e)}")
    if sp.issparse(a) and sp.issparse(e):
        diff = abs(a - e).max() if a.nnz or e.nnz else 0.0
        scale = abs(e).max() if e.nnz else 0.0
    else:
        a = a.toarray() if sp.issparse(a) else a
        e = e.toarray() if sp.issparse(e) else e
        diff = float(np.max(np.abs(np.asarray(a, np.float64) - e), initial=0.0))
        scale = float(np.max(np.abs(np.asarray(e, np.float64)), initial=0.0))
    bound = atol + rtol * scale
    if not diff <= bound:  # also fails on NaN
        raise AssertionError(f"max |actual - expected| = {float(diff):.6g} exceeds {atol:g} + {rtol:g} * max |expected| "
                             f"(= {float(scale):.6g}); shape {np.shape(e)}")
