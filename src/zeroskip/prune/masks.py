"""Pruning masks on weight arrays: pure numpy functions, each returning a boolean keep-mask.

A mask has the weight's shape; ``True`` keeps a weight, ``False`` prunes it. Every method ranks
weights by a score and prunes the lowest. Ties are broken deterministically: among equal scores the
one with the lower flat (row-major) index is pruned first (a stable sort), so the same weights always
give the same mask. The number pruned is Python's ``round(sparsity * count)`` (half to even).

Example:
    >>> import numpy as np
    >>> w = np.array([[0.1, -3.0, 0.2, 4.0], [1.0, 0.0, -0.5, 2.0]])
    >>> magnitude_mask(w, 0.5).astype(int)
    array([[0, 1, 0, 1],
           [1, 0, 0, 1]])
    >>> nm_mask(w, 2, 4).astype(int)
    array([[0, 1, 0, 1],
           [1, 0, 0, 1]])
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from zeroskip.errors import ConfigError, DTypeError, ShapeError


def _check_sparsity(sparsity, name: str = "sparsity") -> float:
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name} must be a number in [0, 1), got {sparsity!r}")
    value = float(sparsity)
    if not 0.0 <= value < 1.0:  # also rejects NaN
        raise ConfigError(f"{name}={value!r} is outside [0, 1)")
    return value


def _as_weights(w, name: str = "w") -> np.ndarray:
    arr = np.asarray(w)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DTypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise DTypeError(f"{name} must be real, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise ConfigError(f"{name} contains NaN ({int(np.isnan(arr).sum())} entries); a NaN weight has no rank")
    return arr


def _count(sparsity: float, size: int) -> int:
    return int(round(sparsity * size))


def _lowest(scores: np.ndarray, k: int) -> np.ndarray:
    """A flat keep-mask that prunes the k lowest scores (ties: lower index pruned first)."""
    flat = scores.reshape(-1)
    keep = np.ones(flat.size, dtype=bool)
    if k:
        keep[np.argsort(flat, kind="stable")[:k]] = False
    return keep.reshape(scores.shape)


def _lowest_per_row(scores: np.ndarray, k: int) -> np.ndarray:
    """A keep-mask over a 2-D array pruning the k lowest scores of every row."""
    keep = np.ones(scores.shape, dtype=bool)
    if k:
        order = np.argsort(scores, axis=1, kind="stable")[:, :k]
        np.put_along_axis(keep, order, False, axis=1)
    return keep


def score_mask(scores, sparsity: float) -> np.ndarray:
    """Keep the largest scores, pruning exactly ``round(sparsity * size)`` of them (the lowest).

    The building block of the other methods; scores may be negative or ``-inf`` (pruned first).

    Example:
        >>> score_mask([3.0, -np.inf, 1.0, 2.0], 0.5)
        array([ True, False, False,  True])
    """
    s = _as_weights(scores, "scores").astype(np.float64)
    return _lowest(s, _count(_check_sparsity(sparsity), s.size))


def magnitude_mask(w, sparsity: float) -> np.ndarray:
    """Unstructured magnitude pruning: keep the largest ``|w|``, prune exactly ``round(sparsity * w.size)``.

    Example:
        >>> magnitude_mask(np.array([1.0, -5.0, 0.5, 2.0]), 0.25)
        array([ True,  True, False,  True])
        >>> magnitude_mask(np.zeros(4), 0.5)  # ties: the lower index is pruned first
        array([False, False,  True,  True])
    """
    return score_mask(np.abs(_as_weights(w)), sparsity)


def global_score_masks(scores: Mapping[str, object], sparsity: float) -> dict[str, np.ndarray]:
    """One threshold over all arrays' scores: exactly ``round(sparsity * total)`` pruned in all.

    Ties across arrays: the earlier array (in mapping order), then the lower index, is pruned first.
    """
    sp = _check_sparsity(sparsity)
    if not isinstance(scores, Mapping):
        raise ConfigError(f"expected a mapping of name -> array, got {type(scores).__name__}")
    arrays = {name: _as_weights(s, f"scores[{name!r}]").astype(np.float64) for name, s in scores.items()}
    if not arrays:
        return {}
    flat = np.concatenate([a.reshape(-1) for a in arrays.values()])
    keep = _lowest(flat, _count(sp, flat.size))
    out, start = {}, 0
    for name, a in arrays.items():
        out[name] = keep[start : start + a.size].reshape(a.shape)
        start += a.size
    return out


def global_magnitude_masks(weights: Mapping[str, object], sparsity: float) -> dict[str, np.ndarray]:
    """Global magnitude pruning: one ``|w|`` threshold over every layer, so layers of small weights lose more.

    Example:
        >>> masks = global_magnitude_masks({"a": np.array([1.0, 2.0]), "b": np.array([10.0, 20.0])}, 0.5)
        >>> masks["a"], masks["b"]
        (array([False, False]), array([ True,  True]))
    """
    if not isinstance(weights, Mapping):
        raise ConfigError(f"expected a mapping of name -> weight array, got {type(weights).__name__}")
    return global_score_masks({k: np.abs(_as_weights(v, f"weights[{k!r}]")) for k, v in weights.items()}, sparsity)


def _check_nm(n, m) -> tuple[int, int]:
    for name, v in (("n", n), ("m", m)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ConfigError(f"{name} must be an integer, got {v!r}")
    n, m = int(n), int(m)
    if m < 1:
        raise ConfigError(f"N:M needs m >= 1, got {m=}")
    if not 1 <= n <= m:
        raise ConfigError(f"N:M keeps n of every m weights and needs 1 <= n <= m, got {n=}, {m=}")
    return n, m


def _nm_scores(scores: np.ndarray, n: int, m: int, axis: int) -> np.ndarray:
    if scores.ndim == 0:
        raise ShapeError("N:M pruning needs an array with at least one dimension, got a scalar")
    if not -scores.ndim <= axis < scores.ndim:
        raise ShapeError(f"{axis=} is out of range for an array of {scores.ndim} dimensions")
    length = scores.shape[axis]
    if length % m:
        raise ShapeError(f"N:M along axis {axis}: its length {length} is not a multiple of {m=}")
    moved = np.moveaxis(scores, axis, -1)
    keep = _lowest_per_row(moved.reshape(-1, m), m - n).reshape(moved.shape)
    return np.moveaxis(keep, -1, axis)


def nm_mask(w, n: int, m: int, axis: int = -1) -> np.ndarray:
    """N:M structured sparsity: of every ``m`` consecutive weights along ``axis`` keep the ``n`` largest ``|w|``.

    For a Linear weight (out, in) the input dimension is ``axis=-1`` (the default), as sparse tensor
    cores expect; 2:4 and 4:8 are the usual choices and any ``1 <= n <= m`` works. The axis length
    must be a multiple of ``m``.

    Example:
        >>> nm_mask(np.array([[4.0, 1.0, 3.0, 2.0, 0.0, 1.0, 0.0, 2.0]]), 1, 4).astype(int)
        array([[1, 0, 0, 0, 0, 0, 0, 1]])
    """
    n, m = _check_nm(n, m)
    return _nm_scores(np.abs(_as_weights(w)).astype(np.float64), n, m, axis)


def block_mask(w, block: tuple[int, ...] = (4, 4), sparsity: float = 0.5) -> np.ndarray:
    """Block sparsity: prune whole blocks of shape ``block``, the ``round(sparsity * blocks)`` of lowest L2 norm.

    The blocks tile the array: ``len(block) == w.ndim`` and each block side divides its dimension.
    The norm is the L2 (Frobenius) norm of the block's weights. The mask is constant on every block.

    Example:
        >>> w = np.array([[1.0, 1.0, 0.1, 0.1], [1.0, 1.0, 0.1, 0.1]])
        >>> block_mask(w, (2, 2), 0.5).astype(int)
        array([[1, 1, 0, 0],
               [1, 1, 0, 0]])
    """
    sp = _check_sparsity(sparsity)
    arr = np.abs(_as_weights(w)).astype(np.float64)
    block = tuple(block) if isinstance(block, (tuple, list)) else (block,)
    if len(block) != arr.ndim:
        raise ShapeError(f"{block=} has {len(block)} sides but the weight has {arr.ndim} dimensions {arr.shape}")
    for side, dim in zip(block, arr.shape, strict=True):
        if isinstance(side, bool) or not isinstance(side, (int, np.integer)) or side < 1:
            raise ConfigError(f"block sides must be positive integers, got {block=}")
        if dim % side:
            raise ShapeError(f"{block=} does not tile the weight shape {arr.shape}: {dim} % {side} != 0")
    grid = tuple(d // b for d, b in zip(arr.shape, block, strict=True))
    # (g0, b0, g1, b1, ...) -> norms per block over the b axes
    split = arr.reshape(tuple(x for pair in zip(grid, block, strict=True) for x in pair))
    norms = np.sqrt(np.square(split).sum(axis=tuple(range(1, 2 * arr.ndim, 2))))
    keep_blocks = _lowest(norms, _count(sp, norms.size))
    for ax, side in enumerate(block):
        keep_blocks = np.repeat(keep_blocks, side, axis=ax)
    return keep_blocks.reshape(arr.shape)


def wanda_scores(w, act_norm) -> np.ndarray:
    """Wanda's score ``|W_ij| * ||X_j||_2`` for a weight (out, in) and per-input-feature norms (in,)."""
    arr = _as_weights(w)
    norms = _as_weights(act_norm, "act_norm").astype(np.float64)
    if arr.ndim != 2:
        raise ShapeError(f"Wanda needs a 2-D weight (out, in), got shape {arr.shape}")
    if norms.shape != (arr.shape[1],):
        raise ShapeError(f"act_norm must have shape ({arr.shape[1]},) (one norm per input feature), got {norms.shape}")
    if (norms < 0).any():
        raise ConfigError(f"act_norm must be non-negative, got min {norms.min()!r}")
    return np.abs(arr).astype(np.float64) * norms[None, :]


def wanda_mask(w, act_norm, sparsity: float | None = None, *, nm: tuple[int, int] | None = None) -> np.ndarray:
    """Wanda (Sun et al. 2023): prune by ``|W_ij| * ||X_j||_2``, per output row.

    Every row of the weight (out, in) loses ``round(sparsity * in)`` weights, the lowest scores of
    that row. With ``nm=(n, m)`` the scores pick n of every m along the input dimension instead
    (then ``sparsity`` must be left out). ``act_norm`` is the L2 norm of each input feature over
    the calibration inputs.

    Example:
        >>> w = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]])
        >>> wanda_mask(w, np.array([100.0, 1.0, 1.0, 1.0]), 0.5).astype(int)
        array([[1, 0, 0, 1],
               [1, 1, 0, 0]])
        >>> wanda_mask(w, np.ones(4), nm=(1, 2)).astype(int)
        array([[0, 1, 0, 1],
               [1, 0, 1, 0]])
    """
    scores = wanda_scores(w, act_norm)
    if nm is not None:
        if sparsity is not None:
            raise ConfigError(f"give either sparsity or nm to wanda_mask, not both ({sparsity=}, {nm=})")
        if not isinstance(nm, (tuple, list)) or len(nm) != 2:
            raise ConfigError(f"nm must be a pair (n, m), got {nm!r}")
        n, m = _check_nm(*nm)
        return _nm_scores(scores, n, m, -1)
    if sparsity is None:
        raise ConfigError("wanda_mask needs a sparsity or nm=(n, m)")
    return _lowest_per_row(scores, _count(_check_sparsity(sparsity), scores.shape[1]))


def mask_sparsity(mask) -> float:
    """The fraction of pruned (False) entries; 0.0 for an empty mask.

    Example:
        >>> mask_sparsity(np.array([True, False, False, True]))
        0.5
    """
    arr = np.asarray(mask, dtype=bool)
    return 0.0 if arr.size == 0 else (arr.size - int(arr.sum())) / arr.size
