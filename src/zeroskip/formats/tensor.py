"""SparseTensor: an immutable tensor stored as a tree of levels (TACO's format model).

Example:
    >>> import numpy as np, zeroskip as zs
    >>> t = zs.SparseTensor.from_numpy(np.array([[0, 2.0], [0, 0], [3.0, 0]]), format="csr")
    >>> t
    SparseTensor(shape=(3, 2), format=csr, dtype=float64, nnz=2, sparsity=66.7%, index=int32)
    >>> t.levels[1].pos.tolist(), t.levels[1].crd.tolist(), t.vals.tolist()
    ([0, 1, 1, 2], [1, 0], [2.0, 3.0])
    >>> t.asformat("csc").to_numpy().tolist() == t.to_numpy().tolist()
    True
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

import numpy as np

from zeroskip.errors import StructureError
from zeroskip.formats import build
from zeroskip.formats.build import LevelArrays
from zeroskip.formats.format import Format, as_format
from zeroskip.formats.validate import check_shape, verify_tensor


# Tests set ZEROSKIP_VERIFY=1 so every tensor zeroskip builds itself is verified too. Read once, at import:
# reading the environment costs 25 us per call with cold caches (a bound call runs with them).
VERIFY = os.environ.get("ZEROSKIP_VERIFY", "") not in ("", "0")


@dataclass(frozen=True, slots=True, eq=False)
class SparseTensor:
    """A tensor: ``shape`` (in mode order), ``format``, per-level ``pos``/``crd`` arrays and ``vals``.

    Built by the ``from_*`` constructors (canonical: sorted, unique, no stored zeros unless
    ``keep_zeros=True``) or directly from level arrays, which are verified. Arrays are read-only.
    ``nnz`` counts nonzero values; ``nstored`` counts stored values (dense levels store zeros).
    """

    shape: tuple[int, ...]
    format: Format
    levels: tuple[LevelArrays, ...]
    vals: np.ndarray
    _checked: bool = field(default=True, repr=False)

    def __post_init__(self) -> None:
        shape = check_shape(self.shape)
        fmt = as_format(self.format, ndim=len(shape))
        levels = tuple(LevelArrays(_frozen(a.pos), _frozen(a.crd)) for a in self.levels)
        vals = _frozen(np.asarray(self.vals))
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "format", fmt)
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "vals", vals)
        if self._checked or VERIFY:
            verify_tensor(shape, fmt, levels, vals)

    # ---- construction ------------------------------------------------------------------------
    @classmethod
    def from_coo(
        cls,
        coords,
        vals,
        shape,
        format: str | Format = "coo",
        *,
        sum_duplicates: bool = False,
        keep_zeros: bool = False,
        index_dtype=None,
    ) -> SparseTensor:
        """Build from a coordinate list: ``coords`` is (nnz, ndim), ``vals`` is (nnz,).

        Coordinates may come in any order; duplicates raise unless ``sum_duplicates=True``.

        Example:
            >>> SparseTensor.from_coo([[0, 1], [1, 0]], [1.0, 2.0], (2, 2), "csr").nnz
            2
        """
        from zeroskip.formats.convert import from_coo

        return from_coo(coords, vals, shape, format, sum_duplicates=sum_duplicates,
                        keep_zeros=keep_zeros, index_dtype=index_dtype)

    @classmethod
    def from_numpy(cls, array, format: str | Format | None = None, *, keep_zeros: bool = False,
                   index_dtype=None) -> SparseTensor:
        """Build from a numpy array (default format: CSR for matrices, CSF otherwise)."""
        from zeroskip.formats.convert import from_numpy

        return from_numpy(array, format, keep_zeros=keep_zeros, index_dtype=index_dtype)

    @classmethod
    def from_scipy(cls, matrix, format: str | Format | None = None, *, keep_zeros: bool = False,
                   index_dtype=None) -> SparseTensor:
        """Build from any scipy.sparse matrix or array (duplicates are summed, as scipy does)."""
        from zeroskip.formats.convert import from_scipy

        return from_scipy(matrix, format, keep_zeros=keep_zeros, index_dtype=index_dtype)

    @classmethod
    def from_torch(cls, tensor, format: str | Format | None = None, *, keep_zeros: bool = False,
                   index_dtype=None) -> SparseTensor:
        """Build from a torch tensor: strided, sparse COO, CSR, CSC or BSR."""
        from zeroskip.formats.torch_io import from_torch

        return from_torch(tensor, format, keep_zeros=keep_zeros, index_dtype=index_dtype)

    # ---- conversion out ----------------------------------------------------------------------
    def to_coo(self, *, keep_zeros: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates (nnz, ndim) int64 in mode order, sorted in storage order, and values."""
        storage = build.unpack(self.format.levels, self.levels, self.format.storage_shape(self.shape))
        coords = np.empty_like(storage)
        coords[:, list(self.format.mode_order)] = storage
        vals = self.vals
        if not keep_zeros:
            keep = vals != 0
            if not keep.all():
                coords, vals = coords[keep], vals[keep]
        return coords, np.array(vals)

    def to_numpy(self) -> np.ndarray:
        """A dense numpy array (refused above ``zeroskip.config.get_dense_limit()``)."""
        from zeroskip.formats.convert import to_numpy

        return to_numpy(self)

    def to_scipy(self, kind: str = "csr", *, matrix: bool = False):
        """A scipy.sparse array (``kind`` csr, csc, coo, bsr, dia, dok, lil); ``matrix=True`` for spmatrix."""
        from zeroskip.formats.convert import to_scipy

        return to_scipy(self, kind, matrix=matrix)

    def to_torch(self, layout: str = "coo"):
        """A torch tensor: ``layout`` is ``strided``, ``coo``, ``csr`` or ``csc``."""
        from zeroskip.formats.torch_io import to_torch

        return to_torch(self, layout)

    def asformat(self, format: str | Format, *, mode_order=None, keep_zeros: bool = False,
                 index_dtype=None) -> SparseTensor:
        """The same tensor stored in another format (a new mode order transposes the storage)."""
        fmt = as_format(format, ndim=self.ndim, mode_order=mode_order)
        if index_dtype is None and self.index_dtype == np.int64 and not self.format.is_dense:
            index_dtype = np.int64  # a wide index, chosen or needed, stays wide
        wanted_index = np.dtype(index_dtype) if index_dtype is not None else self.index_dtype
        if fmt == self.format and wanted_index == self.index_dtype:
            return self
        coords, vals = self.to_coo(keep_zeros=keep_zeros)
        from zeroskip.formats.convert import from_sorted_coo

        return from_sorted_coo(coords, vals, self.shape, fmt, index_dtype=index_dtype, keep_zeros=keep_zeros)

    def transpose(self, axes=None) -> SparseTensor:
        """Permute the modes without moving data: CSR transposed is CSC of the transposed shape.

        Example:
            >>> SparseTensor.from_numpy(np.eye(2, 3), "csr").T.format.name
            'csc'
        """
        axes = tuple(reversed(range(self.ndim))) if axes is None else tuple(int(a) for a in axes)
        if sorted(axes) != list(range(self.ndim)):
            raise StructureError(f"axes {axes} are not a permutation of the {self.ndim} modes")
        inverse = np.argsort(axes)
        mode_order = tuple(int(inverse[m]) for m in self.format.mode_order)
        fmt = Format(self.format.levels, mode_order)
        return SparseTensor(tuple(self.shape[a] for a in axes), fmt, self.levels, self.vals, _checked=False)

    @property
    def T(self) -> SparseTensor:
        return self.transpose()

    def astype(self, dtype) -> SparseTensor:
        """The same structure with values cast (values that become zero stay stored)."""
        return SparseTensor(self.shape, self.format, self.levels, self.vals.astype(dtype), _checked=False)

    # ---- facts -------------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.vals.dtype

    @property
    def index_dtype(self) -> np.dtype:
        """int32 or int64: the dtype of every pos and crd array (int32 when there are none)."""
        for arr in self.levels:
            if arr.crd is not None:
                return arr.crd.dtype
        return np.dtype(np.int32)

    @property
    def size(self) -> int:
        total = 1
        for dim in self.shape:
            total *= dim
        return total

    @property
    def nnz(self) -> int:
        """Number of nonzero values (stored zeros do not count)."""
        return int(np.count_nonzero(self.vals))

    @property
    def nstored(self) -> int:
        """Number of stored values, zeros included."""
        return len(self.vals)

    @property
    def density(self) -> float:
        return self.nnz / self.size if self.size else 0.0

    @property
    def sparsity(self) -> float:
        """Fraction of zeros, 1 - density (an empty tensor counts as fully sparse)."""
        return 1.0 - self.density

    @property
    def nbytes(self) -> int:
        """Bytes of all pos, crd and vals arrays."""
        meta = sum(a.nbytes for arr in self.levels for a in (arr.pos, arr.crd) if a is not None)
        return int(meta + self.vals.nbytes)

    def verify(self, *, canonical: bool = False) -> SparseTensor:
        """Check the storage (and, with ``canonical=True``, that no zeros are stored); returns self."""
        verify_tensor(self.shape, self.format, self.levels, self.vals, allow_zeros=not canonical)
        return self

    def __repr__(self) -> str:
        return (
            f"SparseTensor(shape={self.shape}, format={self.format.name}, dtype={self.dtype}, "
            f"nnz={self.nnz}, sparsity={100 * self.sparsity:.1f}%, index={self.index_dtype})"
        )


def _frozen(arr: np.ndarray | None) -> np.ndarray | None:
    if arr is None:
        return None
    if not isinstance(arr, np.ndarray):
        raise StructureError(f"level arrays must be numpy arrays, got {type(arr).__name__}")
    if arr.flags.writeable:
        arr = arr.view()
        arr.flags.writeable = False
    return arr


_TENSOR_FIELDS = ("shape", "format", "levels", "vals", "_checked")
# The fast path below fills these slots itself: should SparseTensor grow another field, it falls back to the constructor.
_CAN_TRUST = (tuple(f.name for f in fields(SparseTensor)) == _TENSOR_FIELDS
              and getattr(SparseTensor, "__slots__", None) == _TENSOR_FIELDS)
# The slots' own setters: a frozen dataclass refuses setattr, and these are cheaper than object.__setattr__.
_SET_SHAPE, _SET_FORMAT, _SET_LEVELS, _SET_VALS, _SET_CHECKED = (
    (SparseTensor.__dict__[name].__set__ for name in _TENSOR_FIELDS) if _CAN_TRUST else (None,) * 5)


def trusted_tensor(shape: tuple[int, ...], fmt: Format, levels: tuple[LevelArrays, ...], vals: np.ndarray) -> SparseTensor:
    """A SparseTensor of arrays zeroskip just built (a kernel's output), which are valid by construction:
    its arrays are made read-only in place and it skips the constructor's checks (about 3 us).

    ``shape`` must be a tuple of ints and ``fmt`` a Format of as many levels, and no one else may
    hold the arrays. With ``ZEROSKIP_VERIFY`` set (the test suite sets it) it goes through the
    constructor instead, which verifies every level, so kernel bugs still surface in the tests.
    Data from users never comes this way: their tensors are built and checked by the constructors.

    >>> import numpy as np
    >>> from zeroskip.formats.format import as_format
    >>> t = trusted_tensor((3,), as_format("d"), (LevelArrays(),), np.array([1.0, 0, 2]))
    >>> t.to_numpy().tolist(), t.vals.flags.writeable
    ([1.0, 0.0, 2.0], False)
    """
    if not _CAN_TRUST or VERIFY:
        return SparseTensor(shape, fmt, levels, vals, _checked=False)
    for arrays in levels:
        if arrays.pos is not None:
            arrays.pos.setflags(write=False)
        if arrays.crd is not None:
            arrays.crd.setflags(write=False)
    vals.setflags(write=False)  # one call, where .flags builds a flags object first
    t = object.__new__(SparseTensor)
    _SET_SHAPE(t, shape)
    _SET_FORMAT(t, fmt)
    _SET_LEVELS(t, levels)
    _SET_VALS(t, vals)
    _SET_CHECKED(t, False)
    return t
