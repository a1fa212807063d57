"""Conversions between SparseTensor and coordinate lists, numpy arrays and scipy.sparse.

Every path goes coordinates -> ``build.pack`` and ``build.unpack`` -> coordinates, so round trips
are exact: values are copied bit for bit, never recomputed.

Example:
    >>> import numpy as np, scipy.sparse as sp
    >>> t = as_tensor(sp.random_array((50, 40), density=0.1, random_state=0), format="dcsc")
    >>> np.array_equal(t.to_scipy("csr").toarray(), t.to_numpy())
    True
"""

from __future__ import annotations

import numpy as np

from zeroskip.config import check_dense_alloc
from zeroskip.errors import DTypeError, FormatError, ShapeError, StructureError
from zeroskip.formats import build
from zeroskip.formats.format import Format, as_format
from zeroskip.formats.tensor import SparseTensor, trusted_tensor
from zeroskip.formats.validate import VALUE_TYPE_NUMS, check_shape, check_value_dtype, native_values


def default_format(ndim: int) -> Format:
    """CSR for matrices, a compressed vector, CSF for higher orders, a scalar for order 0."""
    return as_format("csr" if ndim == 2 else "csf", ndim=ndim)


def from_coo(coords, vals, shape, format="coo", *, sum_duplicates=False, keep_zeros=False,
             index_dtype=None) -> SparseTensor:
    """Canonical tensor from a coordinate list in any order (see ``SparseTensor.from_coo``)."""
    shape = check_shape(shape)
    coords = np.asarray(coords)
    if coords.size == 0 and (coords.ndim != 2 or coords.shape[1] != len(shape)):
        coords = coords.reshape(0, len(shape))  # keep (n, 0): n entries of a scalar
    if coords.ndim == 1 and len(shape) == 1:
        coords = coords.reshape(-1, 1)
    if coords.dtype.kind not in "iu":
        if coords.dtype.kind == "f" and np.all(np.isfinite(coords)) and np.all(coords == np.floor(coords)):
            coords = coords.astype(np.int64)
        else:
            raise DTypeError(f"coordinates must be integers, got dtype {coords.dtype}")
    vals = native_values(vals)
    if vals.ndim == 0:
        vals = np.full(len(coords), vals)
    check_value_dtype(vals.dtype)
    build.check_coords(coords, shape)
    if vals.shape != (len(coords),):
        raise ShapeError(f"{len(coords)} coordinates but values of shape {vals.shape}")
    fmt = as_format(format, ndim=len(shape))
    coords = coords.astype(np.int64, copy=False)
    storage = coords[:, list(fmt.mode_order)]
    storage_shape = fmt.storage_shape(shape)
    storage, vals = build.canonical_coo(storage, vals, storage_shape, sum_duplicates=sum_duplicates,
                                        keep_zeros=keep_zeros, mode_order=fmt.mode_order)
    return _from_storage(storage, vals, shape, fmt, index_dtype)


def from_sorted_coo(coords, vals, shape, fmt: Format, *, index_dtype=None, keep_zeros=False) -> SparseTensor:
    """Canonical tensor from unique coordinates (mode order) that may need re-sorting for ``fmt``."""
    storage = coords[:, list(fmt.mode_order)]
    storage_shape = fmt.storage_shape(shape)
    # canonical_coo sorts only when the keys are out of order, so already-sorted input costs O(n).
    storage, vals = build.canonical_coo(storage, vals, storage_shape, keep_zeros=keep_zeros)
    return _from_storage(storage, vals, shape, fmt, index_dtype)


def _from_storage(storage, vals, shape, fmt: Format, index_dtype) -> SparseTensor:
    if index_dtype is not None:
        index_dtype = np.dtype(index_dtype)
        if index_dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
            raise DTypeError(f"index_dtype must be int32 or int64, got {index_dtype}")
        sizes = build.level_sizes(storage, fmt.storage_shape(shape), fmt.levels)
        if index_dtype == np.int32 and build.choose_index_dtype(fmt.storage_shape(shape), sizes) != np.int32:
            raise DTypeError(f"index_dtype int32 cannot hold shape {shape} with level sizes {sizes}")
    arrays, out_vals = build.pack(storage, vals, fmt.storage_shape(shape), fmt.levels, index_dtype)
    return SparseTensor(shape, fmt, arrays, out_vals, _checked=False)


def from_numpy(array, format=None, *, keep_zeros=False, index_dtype=None) -> SparseTensor:
    """Tensor from a numpy array (or anything ``np.asarray`` takes)."""
    array = native_values(array)
    check_value_dtype(array.dtype)
    fmt = default_format(array.ndim) if format is None else as_format(format, ndim=array.ndim)
    if fmt.is_dense and index_dtype is None:
        # Dense storage is the array itself, in storage order.
        storage = np.ascontiguousarray(array.transpose(fmt.mode_order)).reshape(-1).copy()
        return SparseTensor(array.shape, fmt, tuple(build.LevelArrays() for _ in fmt.levels), storage, _checked=False)
    mask = np.ones(array.shape, dtype=bool) if keep_zeros else array != 0
    coords = np.argwhere(mask)
    return from_sorted_coo(coords, array[mask], array.shape, fmt, index_dtype=index_dtype, keep_zeros=keep_zeros)


def dense_view(array: np.ndarray, fmt: Format) -> SparseTensor | None:
    """A dense tensor that is a read-only view of ``array``, for one call's operand: no copy, no checks.

    ``fmt`` must be ``is_plain_dense`` with as many levels as the array has dimensions (the caller
    checks that, once per format where it can). None unless the array can be taken as it
    stands: a C-contiguous numpy array of a supported dtype in native byte order. The tensor shares
    the array's memory, so it must not outlive the call it is made for (a tensor a user keeps comes
    from ``from_numpy``, which copies). With cold caches this takes a tenth of ``from_numpy``'s time.

    >>> a = np.arange(3.0)
    >>> t = dense_view(a, as_format("d"))
    >>> t.to_numpy().tolist(), np.shares_memory(t.vals, a), a.flags.writeable
    ([0.0, 1.0, 2.0], True, True)
    >>> dense_view(a[::2], as_format("d")) is None  # strided: from_numpy makes it contiguous
    True
    """
    if not array.flags.c_contiguous or array.dtype.num not in VALUE_TYPE_NUMS or not array.dtype.isnative:
        return None
    return trusted_tensor(array.shape, fmt, build.no_arrays(array.ndim), array.reshape(-1))  # reshape: a view of its own


def to_numpy(tensor: SparseTensor) -> np.ndarray:
    """Dense numpy array of a tensor, refused above the configured dense limit."""
    check_dense_alloc(tensor.size, tensor.dtype.itemsize, f"a dense array of shape {tensor.shape} ({tensor.dtype})")
    fmt = tensor.format
    if fmt.is_dense:
        storage = tensor.vals.reshape(fmt.storage_shape(tensor.shape))
        # A fresh writeable copy (np.ascontiguousarray would hand back the read-only vals, and 1-d for a scalar).
        return np.array(storage.transpose(np.argsort(fmt.mode_order)), order="C")
    out = np.zeros(tensor.shape, dtype=tensor.dtype)
    coords, vals = tensor.to_coo(keep_zeros=True)
    out[tuple(coords.T)] = vals
    return out


_SCIPY_FORMATS = {"csr": "csr", "csc": "csc", "coo": "coo"}


def from_scipy(matrix, format=None, *, keep_zeros=False, index_dtype=None) -> SparseTensor:
    """Tensor from any scipy.sparse matrix or array; default format follows the input's (CSR else)."""
    import scipy.sparse as sp

    if not sp.issparse(matrix):
        raise FormatError(f"expected a scipy.sparse matrix or array, got {type(matrix).__name__}")
    if matrix.ndim == 1 or (hasattr(matrix, "format") and matrix.format == "coo" and matrix.ndim != 2):
        coo = matrix.tocoo()
        coords = np.stack([np.asarray(c) for c in coo.coords], axis=1)
        fmt = default_format(matrix.ndim) if format is None else format
        return from_coo(coords, coo.data, coo.shape, fmt, sum_duplicates=True, keep_zeros=keep_zeros,
                        index_dtype=index_dtype)
    fmt = as_format(_SCIPY_FORMATS.get(matrix.format, "csr") if format is None else format, ndim=2)
    fast = _from_compressed(matrix, fmt, keep_zeros, index_dtype)
    if fast is not None:
        return fast
    coo = matrix.tocoo()
    coords = np.stack([np.asarray(coo.row), np.asarray(coo.col)], axis=1)
    return from_coo(coords, np.asarray(coo.data), coo.shape, fmt, sum_duplicates=True, keep_zeros=keep_zeros,
                    index_dtype=index_dtype)


def _from_compressed(matrix, fmt: Format, keep_zeros: bool, index_dtype) -> SparseTensor | None:
    """A canonical scipy CSR (CSC) matrix wrapped as our CSR (CSC) without a sort: None when it does not apply.

    The arrays are copied and verified (sorted, unique, in range); unsorted or duplicate indices and
    stored zeros take the general path, which sorts, sums and drops them. 10x faster per call.
    """
    kind = matrix.format if matrix.ndim == 2 else None
    if kind not in ("csr", "csc") or fmt != as_format(kind, ndim=2):
        return None
    data = native_values(matrix.data)
    if not keep_zeros and (data == 0).any():
        return None
    indptr, indices = np.asarray(matrix.indptr), np.asarray(matrix.indices)
    storage = fmt.storage_shape(matrix.shape)
    dtype = index_dtype or build.choose_index_dtype(storage, [len(indices)])
    try:
        return SparseTensor(tuple(matrix.shape), fmt,
                            (build.LevelArrays(), build.LevelArrays(indptr.astype(dtype), indices.astype(dtype))),
                            np.array(data))
    except StructureError:
        return None


def to_scipy(tensor: SparseTensor, kind: str = "csr", *, matrix: bool = False):
    """scipy.sparse array of a vector or matrix; CSR/CSC keep this tensor's index dtype."""
    import scipy.sparse as sp

    if tensor.ndim not in (1, 2):
        raise ShapeError(f"scipy.sparse holds vectors and matrices, not a tensor of order {tensor.ndim}")
    if tensor.ndim == 1 and kind not in ("coo", "csr", "dok"):
        raise FormatError(f"scipy holds sparse vectors as coo, csr or dok, not {kind!r}")
    if tensor.ndim == 2 and kind in ("csr", "csc"):
        # CSR/CSC built straight from our own levels: no sort, no copy of the index type.
        target = tensor.asformat(kind)
        cls = (sp.csr_matrix if kind == "csr" else sp.csc_matrix) if matrix else (
            sp.csr_array if kind == "csr" else sp.csc_array)
        arrays = target.levels[1]
        return cls((np.array(target.vals), np.array(arrays.crd), np.array(arrays.pos)), shape=tensor.shape)
    coords, vals = tensor.to_coo()
    if tensor.ndim == 1:
        out = sp.coo_array((vals, (coords[:, 0],)), shape=tensor.shape)
        return out.asformat(kind)
    cls = sp.coo_matrix if matrix else sp.coo_array
    coo = cls((vals, (coords[:, 0], coords[:, 1])), shape=tensor.shape)
    try:
        return coo.asformat(kind)
    except (ValueError, NotImplementedError) as exc:
        raise FormatError(f"scipy cannot give a {kind!r} matrix: {exc}") from exc


def as_tensor(obj, format=None, *, keep_zeros=False, index_dtype=None) -> SparseTensor:
    """A SparseTensor from whatever the user has: SparseTensor, numpy, scipy.sparse or torch.

    Example:
        >>> as_tensor([[1, 0], [0, 2]]).format.name
        'csr'
    """
    if isinstance(obj, SparseTensor):
        return obj if format is None else obj.asformat(format, keep_zeros=keep_zeros, index_dtype=index_dtype)
    import scipy.sparse as sp

    if sp.issparse(obj):
        return from_scipy(obj, format, keep_zeros=keep_zeros, index_dtype=index_dtype)
    if type(obj).__module__.split(".")[0] == "torch":
        from zeroskip.formats.torch_io import from_torch

        return from_torch(obj, format, keep_zeros=keep_zeros, index_dtype=index_dtype)
    try:
        array = np.asarray(obj)
    except Exception as exc:
        raise DTypeError(f"cannot make a tensor from a {type(obj).__name__}: {exc}") from exc
    if array.dtype == object:
        raise DTypeError(f"cannot make a tensor from a {type(obj).__name__} of Python objects")
    return from_numpy(array, format, keep_zeros=keep_zeros, index_dtype=index_dtype)
