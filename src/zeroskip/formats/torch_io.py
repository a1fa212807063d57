"""Conversions between SparseTensor and PyTorch tensors (strided, sparse COO, CSR, CSC, BSR, BSC).

torch is imported inside the functions only, so ``import zeroskip`` stays light. Every path goes
through numpy views of the torch data and ``convert.from_coo``/``from_numpy``, so values are
copied bit for bit, never recomputed.

Example:
    >>> import torch, zeroskip as zs
    >>> dense = torch.tensor([[0.0, 2.0], [3.0, 0.0]])
    >>> t = zs.SparseTensor.from_torch(dense.to_sparse_csr())
    >>> t.format.name, t.nnz
    ('csr', 2)
    >>> torch.equal(t.to_torch("strided"), dense)
    True
"""

from __future__ import annotations

import numpy as np

from zeroskip.errors import DTypeError, FormatError, MissingDependencyError, ShapeError
from zeroskip.formats.convert import from_coo, from_numpy
from zeroskip.formats.format import as_format
from zeroskip.formats.tensor import SparseTensor

TO_TORCH_LAYOUTS = ("strided", "coo", "csr", "csc")
_SUPPORTED_DTYPES = ("float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                     "uint64", "bool")


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError(
            "PyTorch is needed to convert to or from torch tensors; install the `torch` extra "
            "(pip install 'zeroskip[torch]')"
        ) from exc
    return torch


def from_torch(tensor, format=None, *, keep_zeros=False, index_dtype=None) -> SparseTensor:
    """A SparseTensor from a torch tensor: strided, sparse COO, CSR, CSC, BSR or BSC.

    The default format follows the input: strided -> ``default_format(ndim)`` (CSR for matrices),
    COO -> coo, CSR and BSR -> csr, CSC and BSC -> csc. Uncoalesced COO duplicates are summed by
    torch's own ``coalesce``; zeros (also those inside BSR blocks) are dropped unless
    ``keep_zeros``. CSR/CSC/BSR/BSC inputs keep their int32/int64 index dtype when neither
    ``format`` nor ``index_dtype`` is given. Grad is detached and GPU data copied to the CPU.

    Example:
        >>> import torch
        >>> from_torch(torch.tensor([[0, 1], [2, 0]]).to_sparse()).format.name
        'coo'
        >>> from_torch(torch.eye(3, dtype=torch.float64)).nnz
        3
    """
    torch = _import_torch()
    if not isinstance(tensor, torch.Tensor):
        raise DTypeError(f"expected a torch.Tensor, got {type(tensor).__name__}")
    t = tensor.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    _check_torch_dtype(t.dtype)
    layout = t.layout
    if layout == torch.strided:
        array = t.resolve_neg().resolve_conj().numpy()  # numpy() refuses tensors with lazy neg/conj bits
        return from_numpy(array, format, keep_zeros=keep_zeros, index_dtype=index_dtype)
    if layout not in (torch.sparse_coo, torch.sparse_csr, torch.sparse_csc, torch.sparse_bsr, torch.sparse_bsc):
        raise FormatError(
            f"torch layout {layout} is not supported; expected strided, sparse_coo, sparse_csr, sparse_csc, "
            f"sparse_bsr or sparse_bsc"
        )
    _check_sparse_dims(t)
    if t.ndim == 0:
        # An order-0 sparse tensor is a scalar; its (summed) value says everything.
        return from_numpy(t.to_dense().numpy(), format, keep_zeros=keep_zeros, index_dtype=index_dtype)
    if layout == torch.sparse_coo:
        coo = t if t.is_coalesced() else t.coalesce()  # torch's own summation, so sums match torch bit for bit
        coords = coo.indices().numpy().T
        vals = coo.values().numpy()
        fmt = "coo" if format is None else format
        return from_coo(coords, vals, tuple(t.shape), as_format(fmt, ndim=t.ndim), keep_zeros=keep_zeros,
                        index_dtype=index_dtype)
    coords, vals, natural, torch_index = _compressed_to_coo(t, torch)
    if format is None and index_dtype is None:
        index_dtype = torch_index  # int32 metadata stays int32 and int64 stays int64
    fmt = natural if format is None else format
    # sum_duplicates: torch does not validate compressed indices, and its to_dense() adds repeats.
    return from_coo(coords, vals, tuple(t.shape), as_format(fmt, ndim=2), sum_duplicates=True,
                    keep_zeros=keep_zeros, index_dtype=index_dtype)


def _check_torch_dtype(dtype) -> None:
    if str(dtype).removeprefix("torch.") not in _SUPPORTED_DTYPES:
        raise DTypeError(
            f"torch dtype {dtype} is not supported; cast it first, e.g. tensor.to(torch.float32) "
            f"(supported: float32, float64, integers, bool)"
        )


def _check_sparse_dims(t) -> None:
    """Refuse hybrid (dense_dim > 0) and batched sparse tensors, naming the layout and dims."""
    layout = str(t.layout).removeprefix("torch.")
    if t.dense_dim() > 0:
        raise FormatError(
            f"hybrid {layout} tensors are not supported: shape {tuple(t.shape)} has "
            f"sparse_dim={t.sparse_dim()}, dense_dim={t.dense_dim()}; use .to_dense() or a tensor with dense_dim=0"
        )
    batch = t.ndim - t.sparse_dim() - t.dense_dim()
    if batch > 0:
        raise ShapeError(
            f"batched {layout} tensors are not supported: shape {tuple(t.shape)} has {batch} batch dim(s) "
            f"and sparse_dim={t.sparse_dim()}; convert each batch entry separately"
        )


def _compressed_to_coo(t, torch):
    """Coordinates and values of a CSR/CSC/BSR/BSC matrix, expanded with numpy; plus its natural format."""
    layout = t.layout
    by_rows = layout in (torch.sparse_csr, torch.sparse_bsr)
    pos, crd = (t.crow_indices(), t.col_indices()) if by_rows else (t.ccol_indices(), t.row_indices())
    index_dtype = np.dtype(np.int32) if pos.dtype == torch.int32 else np.dtype(np.int64)
    pos, crd = pos.numpy().astype(np.int64), crd.numpy().astype(np.int64)
    outer = np.repeat(np.arange(len(pos) - 1, dtype=np.int64), np.diff(pos))
    major, minor = (outer, crd) if by_rows else (crd, outer)  # (block) row and column of each stored entry
    values = t.values().numpy()
    if values.ndim == 3:  # blocked: expand every R x C block to its entries
        _, rb, cb = values.shape
        rows = (major[:, None, None] * rb + np.arange(rb)[None, :, None]).repeat(cb, axis=2)
        cols = (minor[:, None, None] * cb + np.arange(cb)[None, None, :]).repeat(rb, axis=1)
        major, minor, values = rows.reshape(-1), cols.reshape(-1), values.reshape(-1)
    natural = "csr" if by_rows else "csc"
    return np.stack([major, minor], axis=1), values, natural, index_dtype


def to_torch(tensor: SparseTensor, layout="coo"):
    """A torch tensor of ``tensor``: ``layout`` is ``strided``, ``coo``, ``csr`` or ``csc``.

    COO is coalesced (sorted, unique) and of any order; CSR and CSC are for matrices and keep the
    tensor's index dtype (int32 metadata gives int32 crow/col indices). Values are copied, so the
    result never aliases zeroskip's read-only arrays. Zeros stored in a sparse innermost level
    (``keep_zeros=True``) stay stored; ``strided`` respects the dense limit.

    Example:
        >>> import numpy as np, zeroskip as zs
        >>> t = zs.as_tensor(np.array([[0, 1.5], [2.5, 0]]), format="csr", index_dtype=np.int32)
        >>> to_torch(t, "csr").crow_indices()
        tensor([0, 1, 2], dtype=torch.int32)
        >>> to_torch(t).indices().tolist()
        [[0, 1], [1, 0]]
    """
    torch = _import_torch()
    if not isinstance(tensor, SparseTensor):
        raise DTypeError(f"expected a zeroskip SparseTensor, got {type(tensor).__name__}")
    name = str(layout).removeprefix("torch.").removeprefix("sparse_")  # accept torch.sparse_csr etc. too
    if name not in TO_TORCH_LAYOUTS:
        raise FormatError(f"unknown torch layout {layout!r}; expected one of {', '.join(TO_TORCH_LAYOUTS)}")
    # Dense innermost levels store zeros as padding; sparse ones store zeros only when asked to keep them.
    keep_zeros = tensor.ndim > 0 and not tensor.format.levels[-1].locate
    if name == "strided":
        return torch.from_numpy(_owned(tensor.to_numpy()))
    if name == "coo":
        coords, vals = tensor.to_coo(keep_zeros=keep_zeros)
        if tensor.format.mode_order != tuple(range(tensor.ndim)) and len(coords) > 1:
            order = np.lexsort(coords.T[::-1])  # storage order is not row-major: sort for the coalesced flag
            coords, vals = coords[order], vals[order]
        # Verified and sorted above, so torch's invariant check would only cost time (and warn).
        indices = torch.from_numpy(np.ascontiguousarray(coords.T, dtype=np.int64))
        return torch.sparse_coo_tensor(indices, torch.from_numpy(_owned(vals)), tensor.shape, is_coalesced=True,
                                       check_invariants=False)
    if tensor.ndim != 2:
        raise ShapeError(f"torch {name.upper()} holds matrices, not a tensor of order {tensor.ndim} "
                         f"(shape {tensor.shape}); use layout='coo'")
    has_index = any(arr.crd is not None for arr in tensor.levels)
    target = tensor.asformat(name, keep_zeros=keep_zeros, index_dtype=tensor.index_dtype if has_index else None)
    level = target.levels[1]
    pos, crd, vals = (torch.from_numpy(np.array(a)) for a in (level.pos, level.crd, target.vals))
    build = torch.sparse_csr_tensor if name == "csr" else torch.sparse_csc_tensor
    # Our levels are verified already: skip torch's O(nnz) invariant check (and its warning).
    return build(pos, crd, vals, size=tensor.shape, check_invariants=False)


def _owned(array: np.ndarray) -> np.ndarray:
    """``array`` itself when it is a fresh writable buffer, else a copy (never a view of zeroskip's data)."""
    return array if array.flags.owndata and array.flags.writeable else array.copy()
