"""Test helpers: a structural equality assertion and a random tensor generator.

``assert_tensor_equal`` follows pydata/sparse's ``assert_eq``: it compares values against a dense
gold *and* checks that the tensor under test is in canonical form, walking its levels itself
rather than trusting ``verify`` alone (which it also runs). Failure messages name the level, the
position and the values that differ.

Example:
    >>> import numpy as np
    >>> from zeroskip.testing import assert_tensor_equal, random_tensor
    >>> gold, t = random_tensor((4, 5), 0.3, "csr", np.float64, rng=0)
    >>> assert_tensor_equal(t, gold)
    >>> assert_tensor_equal(t.asformat("coo"), t, check_format=False)
"""

from __future__ import annotations

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.formats.build import INT32_MAX
from zeroskip.formats.convert import as_tensor
from zeroskip.formats.format import Format, as_format
from zeroskip.formats.tensor import SparseTensor

__all__ = ["assert_tensor_equal", "random_tensor"]

_MAX_REPORTED = 5  # differing positions quoted in a failure message


def assert_tensor_equal(
    actual: SparseTensor,
    expected,
    *,
    check_format: bool = True,
    check_index_dtype: bool = False,
    rtol: float = 0,
    atol: float = 0,
) -> None:
    """Assert that ``actual`` holds the values of ``expected`` and is stored canonically.

    ``expected`` may be a SparseTensor, a numpy array (or anything ``np.asarray`` takes), a
    scipy.sparse matrix or array, or a torch tensor (strided or sparse). Checked:

    - shape and dtype kind (``f``, ``i``, ``u``, ``b``) against the dense gold;
    - every value, exactly by default (NaN equals NaN), or with ``rtol``/``atol``;
    - canonical structure of ``actual``: pos arrays start at 0 and never decrease, each
      compressed fiber is sorted and unique, coordinate tuples below a non-unique level (COO)
      are sorted and unique, no stored entry of a compressed or singleton level holds only
      zeros, ``nnz`` equals ``np.count_nonzero`` of the gold, index arrays are all int32 or all
      int64, and ``actual.verify(canonical=True)`` passes;
    - when ``expected`` is a SparseTensor and ``check_format``: the same format and dtype and
      equal pos, crd and vals arrays;
    - with ``check_index_dtype``: the index dtype of ``expected`` (a SparseTensor), or else the
      smallest of int32/int64 that holds every dimension and level size.

    Raises ``AssertionError`` naming what differs.

    Example:
        >>> import numpy as np, zeroskip as zs
        >>> t = zs.as_tensor(np.array([[0, 1.5], [2.0, 0]]), format="csc")
        >>> assert_tensor_equal(t, np.array([[0, 1.5], [2.0, 0]]))
        >>> assert_tensor_equal(t, np.array([[0, 1.5], [2.5, 0]]))
        Traceback (most recent call last):
        ...
        AssertionError: values differ at 1 of 4 positions: at (1, 0) actual 2.0, expected 2.5
        >>> assert_tensor_equal(t, zs.as_tensor(t.to_numpy(), format="csr"))
        Traceback (most recent call last):
        ...
        AssertionError: format differs: actual 'ds[1,0]' (csc), expected 'ds' (csr)
    """
    if not isinstance(actual, SparseTensor):
        raise AssertionError(f"actual is a {type(actual).__name__}, not a SparseTensor")
    gold = _dense_gold(expected)
    if actual.shape != gold.shape:
        raise AssertionError(f"shape differs: actual {actual.shape}, expected {gold.shape}")
    if actual.dtype.kind != gold.dtype.kind:
        raise AssertionError(
            f"dtype kind differs: actual {actual.dtype} (kind {actual.dtype.kind!r}), "
            f"expected {gold.dtype} (kind {gold.dtype.kind!r})"
        )
    _check_structure(actual)
    _check_values(actual.to_numpy(), gold, rtol, atol, "values")
    _check_leaves(actual, gold, rtol, atol)
    gold_nnz = int(np.count_nonzero(gold))
    if actual.nnz != gold_nnz:
        raise AssertionError(f"nnz differs: actual {actual.nnz}, np.count_nonzero(expected) {gold_nnz}")
    if check_index_dtype:
        if isinstance(expected, SparseTensor):
            wanted = expected.index_dtype
        else:
            wanted = np.dtype(np.int32 if _fits_int32(actual) else np.int64)
        if actual.index_dtype != wanted:
            raise AssertionError(f"index dtype differs: actual {actual.index_dtype}, expected {wanted}")
    if isinstance(expected, SparseTensor) and check_format:
        _check_same_storage(actual, expected, rtol, atol)


def random_tensor(
    shape: tuple[int, ...],
    density: float,
    format: str | Format | None = None,
    dtype=np.float64,
    rng: np.random.Generator | int | None = None,
    *,
    index_dtype=None,
) -> tuple[np.ndarray, SparseTensor]:
    """A random dense gold with about ``density`` nonzeros, and the same tensor in ``format``.

    Nonzero values are never zero: floats have magnitude in [0.5, 2) and either sign, signed
    integers lie in [-100, 100] without 0, unsigned in [1, 255], bools are True. ``rng`` is a
    ``numpy.random.Generator`` or a seed. Density 1.0 fills every position, 0 none.

    Example:
        >>> gold, t = random_tensor((3, 4, 5), 0.2, "csf", np.int32, rng=1)
        >>> t.shape, t.dtype.name, t.nnz == int(np.count_nonzero(gold))
        ((3, 4, 5), 'int32', True)
    """
    rng = np.random.default_rng(rng)
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    mask = rng.random(shape) < density
    gold = np.zeros(shape, dtype=dtype)
    count = int(np.count_nonzero(mask))
    gold[mask] = _nonzero_values(count, dtype, rng)
    fmt = None if format is None else as_format(format, ndim=len(shape))
    return gold, as_tensor(gold, fmt, index_dtype=index_dtype)


def _nonzero_values(count: int, dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    if dtype.kind == "b":
        return np.ones(count, dtype=bool)
    if dtype.kind == "u":
        high = min(255, int(np.iinfo(dtype).max))
        return rng.integers(1, high, endpoint=True, size=count).astype(dtype)
    if dtype.kind == "i":
        magnitude = rng.integers(1, 100, endpoint=True, size=count)
        return (magnitude * rng.choice([-1, 1], size=count)).astype(dtype)
    magnitude = rng.uniform(0.5, 2.0, size=count)
    return (magnitude * rng.choice([-1.0, 1.0], size=count)).astype(dtype)


# ---- the dense gold ----------------------------------------------------------------------------
def _dense_gold(expected) -> np.ndarray:
    if isinstance(expected, SparseTensor):
        return expected.to_numpy()
    module = type(expected).__module__.split(".")[0]
    if module == "scipy":
        import scipy.sparse as sp

        if sp.issparse(expected):
            return np.asarray(expected.toarray())
    if module == "torch":
        tensor = expected.detach().cpu()
        if tensor.layout != _torch_strided():
            tensor = tensor.to_dense()
        return tensor.numpy()
    return np.asarray(expected)


def _torch_strided():
    import torch  # only reached for torch inputs, so torch is already imported

    return torch.strided


def _check_values(actual: np.ndarray, gold: np.ndarray, rtol: float, atol: float, what: str) -> None:
    if actual.shape != gold.shape:
        raise AssertionError(f"{what} differ in shape: actual {actual.shape}, expected {gold.shape}")
    differ = _differ(actual, gold, rtol, atol)
    if not differ.any():
        return
    where = np.argwhere(differ)[:_MAX_REPORTED]
    quoted = []
    for index in where:
        key = tuple(int(i) for i in index)
        label = f"[{key[0]}]" if len(key) == 1 else str(key)
        quoted.append(f"at {label} actual {actual[key].item()!r}, expected {gold[key].item()!r}")
    raise AssertionError(
        f"{what} differ at {int(differ.sum())} of {differ.size} positions: " + "; ".join(quoted)
    )


def _differ(actual: np.ndarray, gold: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    inexact = actual.dtype.kind == "f" or gold.dtype.kind == "f"
    if rtol or atol:
        a, b = actual.astype(np.float64), gold.astype(np.float64)
        return ~np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
    differ = actual != gold
    if inexact:
        differ &= ~(np.isnan(actual.astype(np.float64)) & np.isnan(gold.astype(np.float64)))
    return np.asarray(differ)


# ---- canonical structure, walked independently of validate.py -------------------------------------
def _walk(t: SparseTensor) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per level: (parent position, coordinate) of every position, in position order."""
    out, count = [], 1
    for depth, (level, arr) in enumerate(zip(t.format.levels, t.levels, strict=True)):
        size = t.format.storage_shape(t.shape)[depth]
        if level.locate:
            parent = np.repeat(np.arange(count, dtype=np.int64), size)
            crd = np.tile(np.arange(size, dtype=np.int64), count)
        elif level.branchless:
            parent = np.arange(count, dtype=np.int64)
            crd = arr.crd.astype(np.int64)
        else:
            parent = np.repeat(np.arange(count, dtype=np.int64), np.diff(arr.pos.astype(np.int64)))
            crd = arr.crd.astype(np.int64)
        out.append((parent, crd))
        count = len(crd)
    return out


def _check_structure(t: SparseTensor) -> None:
    fmt = t.format
    try:
        t.verify(canonical=True)
    except ZeroskipError as exc:
        raise AssertionError(f"verify(canonical=True) failed: {type(exc).__name__}: {exc}") from exc
    dtypes = {a.dtype for arr in t.levels for a in (arr.pos, arr.crd) if a is not None}
    if not dtypes <= {np.dtype(np.int32), np.dtype(np.int64)} or len(dtypes) > 1:
        raise AssertionError(f"index arrays must all be int32 or all int64, got {sorted(map(str, dtypes))}")
    for depth, (level, arr) in enumerate(zip(fmt.levels, t.levels, strict=True)):
        if level.has_pos:
            pos = arr.pos
            if len(pos) == 0 or pos[0] != 0 or np.any(np.diff(pos.astype(np.int64)) < 0):
                raise AssertionError(f"pos of level {depth} does not start at 0 and rise: {pos[:10].tolist()}...")
    walked = _walk(t)
    # Within each fiber of a compressed level, the coordinate tuple it starts (its own crd, plus
    # those of the singleton levels hanging below it) must strictly increase.
    for depth, level in enumerate(fmt.levels):
        if level.locate or level.branchless:
            continue
        parent, crd = walked[depth]
        chain = [crd]
        below = depth + 1
        while below < fmt.ndim and fmt.levels[below].branchless:
            chain.append(walked[below][1])
            below += 1
        cols = np.stack(chain, axis=1) if len(crd) else np.zeros((0, len(chain)), dtype=np.int64)
        same_fiber = parent[1:] == parent[:-1]
        rising = _lex_greater(cols[1:], cols[:-1])
        bad = np.flatnonzero(same_fiber & ~rising)
        if len(bad):
            k = int(bad[0])
            kind = "compressed" if level.unique else "non-unique compressed"
            raise AssertionError(
                f"level {depth} ({kind}): fiber {int(parent[k])} is not sorted and unique at positions "
                f"{k} and {k + 1}: {_tuple(cols[k])} then {_tuple(cols[k + 1])}"
            )
    # No stored zeros: every position of a compressed or singleton level has a nonzero below it.
    occupied = np.asarray(t.vals != 0)
    for depth in range(fmt.ndim - 1, -1, -1):
        level = fmt.levels[depth]
        parent, crd = walked[depth]
        if not level.locate:
            empty = np.flatnonzero(~occupied)
            if len(empty):
                k = int(empty[0])
                raise AssertionError(
                    f"level {depth} ({level.kind.value}) stores coordinate {int(crd[k])} at position {k} "
                    f"with only zeros below it (not canonical)"
                )
        parents = len(walked[depth - 1][1]) if depth else 1
        occupied = np.bincount(parent, weights=occupied, minlength=parents)[:parents] > 0


def _lex_greater(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise a > b in lexicographic order."""
    greater = np.zeros(len(a), dtype=bool)
    decided = np.zeros(len(a), dtype=bool)
    for col in range(a.shape[1]):
        greater |= ~decided & (a[:, col] > b[:, col])
        decided |= a[:, col] != b[:, col]
    return greater


def _tuple(row: np.ndarray) -> tuple[int, ...] | int:
    values = tuple(int(v) for v in row)
    return values[0] if len(values) == 1 else values


def _check_leaves(t: SparseTensor, gold: np.ndarray, rtol: float, atol: float) -> None:
    """Each stored value sits at its coordinate in the gold (catches values at wrong positions)."""
    coords, vals = t.to_coo(keep_zeros=True)
    if len(vals) != len(t.vals):
        raise AssertionError(f"{len(t.vals)} stored values but {len(vals)} coordinates")
    at = gold[tuple(coords.T)] if gold.ndim else np.broadcast_to(gold, vals.shape)
    differ = _differ(vals, np.asarray(at), rtol, atol)
    if differ.any():
        k = int(np.flatnonzero(differ)[0])
        raise AssertionError(
            f"stored value {k} at coordinate {tuple(int(c) for c in coords[k])} is {vals[k].item()!r}, "
            f"expected {at[k].item()!r}"
        )


def _fits_int32(t: SparseTensor) -> bool:
    sizes = [len(arr.crd) for arr in t.levels if arr.crd is not None]
    return max([0, *t.shape, *sizes]) <= INT32_MAX


def _check_same_storage(actual: SparseTensor, expected: SparseTensor, rtol: float, atol: float) -> None:
    if actual.format != expected.format:
        raise AssertionError(
            f"format differs: actual {actual.format.spec!r} ({actual.format.name}), "
            f"expected {expected.format.spec!r} ({expected.format.name})"
        )
    if actual.dtype != expected.dtype:
        raise AssertionError(f"dtype differs: actual {actual.dtype}, expected {expected.dtype}")
    for depth, (mine, theirs) in enumerate(zip(actual.levels, expected.levels, strict=True)):
        for name in ("pos", "crd"):
            a, b = getattr(mine, name), getattr(theirs, name)
            if (a is None) != (b is None):
                raise AssertionError(f"{name} of level {depth}: actual {a is not None}, expected {b is not None}")
            if a is None:
                continue
            if len(a) != len(b):
                raise AssertionError(f"{name} of level {depth} has {len(a)} entries, expected {len(b)}")
            _check_values(a, b, 0, 0, f"{name} of level {depth}")
    if len(actual.vals) != len(expected.vals):
        raise AssertionError(f"vals has {len(actual.vals)} entries, expected {len(expected.vals)}")
    _check_values(actual.vals, expected.vals, rtol, atol, "vals")
