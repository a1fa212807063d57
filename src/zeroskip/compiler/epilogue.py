"""Epilogues: elementwise operations applied to each entry a contraction writes (scale, bias, ReLU, clamp).

The operations run in a fixed order, ``clamp(relu(scale * v + bias))``, on the entries the loop
nest writes: every entry of a dense output, the structural entries (stored products) of a sparse
one, where an entry the epilogue turns into zero is dropped. That is the Graph Challenge's
"bias added to every stored entry of Y @ W" and a dense layer's ``relu(x @ W + b)``. A bias may be
one number or a vector along one output index (``bias_index``, by default the last).

Example:
    >>> import numpy as np
    >>> e = Epilogue(bias=-0.3, relu=True, clamp=(None, 32.0))
    >>> e.apply(np.array([0.2, 1.0, 40.0]))
    array([ 0. ,  0.7, 32. ])
    >>> str(e)
    'clamp(relu(v + -0.3), max=32)'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroskip.errors import ShapeError, ZeroskipError


class EpilogueError(ZeroskipError, ValueError):
    """An epilogue that cannot apply: a bias vector of the wrong length, an inverted clamp."""


@dataclass(frozen=True, slots=True, eq=False)
class Epilogue:
    """``clamp(relu(scale * v + bias))`` on each written entry; every part optional."""

    scale: float | None = None
    bias: float | np.ndarray | None = None
    relu: bool = False
    clamp: tuple[float | None, float | None] | None = None
    bias_index: str | None = None

    def __post_init__(self) -> None:
        if self.bias is not None and not np.isscalar(self.bias):
            vec = np.ascontiguousarray(self.bias)
            if vec.ndim != 1:
                raise EpilogueError(f"bias must be a number or a 1-d vector, got shape {vec.shape}")
            object.__setattr__(self, "bias", vec)
        if self.clamp is not None:
            lo, hi = self.clamp
            if lo is not None and hi is not None and lo > hi:
                raise EpilogueError(f"clamp minimum {lo} exceeds maximum {hi}")

    @property
    def empty(self) -> bool:
        return self.scale is None and self.bias is None and not self.relu and self.clamp is None

    @property
    def vector_bias(self) -> bool:
        return self.bias is not None and not np.isscalar(self.bias)

    @property
    def key(self) -> str:
        """What the generated code depends on (values are kernel arguments, so changing them reuses it)."""
        lo, hi = self.clamp or (None, None)
        bias = "" if self.bias is None else ("bv" if self.vector_bias else "bs")
        return (f"s{int(self.scale is not None)}{bias}r{int(self.relu)}l{int(lo is not None)}h{int(hi is not None)}"
                f"z{int(self.zero_maps_to_zero())}")

    def zero_maps_to_zero(self) -> bool:
        """Whether an entry the loops never write (zero) stays zero (``relu(0 - 0.3) = 0`` does): then
        dense outputs need no mask and sparse ones need not track which entries a product reached."""
        if self.vector_bias:
            return bool(np.all(self.apply(np.zeros(len(self.bias)), np.arange(len(self.bias))) == 0))
        return bool(self.apply(np.zeros(1))[0] == 0)

    def bias_axis(self, output_indices: tuple[str, ...]) -> int | None:
        """The output mode a vector bias runs along (``bias_index``, else the last); None without one."""
        if not self.vector_bias:
            return None
        index = self.bias_index or (output_indices[-1] if output_indices else None)
        if index not in output_indices:
            raise EpilogueError(f"bias_index {index!r} is not an index of the output {output_indices}")
        return output_indices.index(index)

    def check(self, dims: dict[str, int], output_indices: tuple[str, ...]) -> str | None:
        """The index a vector bias runs along, checked against the output's dimensions (those known)."""
        axis = self.bias_axis(output_indices)
        if axis is None:
            return None
        index = output_indices[axis]
        if index in dims and len(self.bias) != dims[index]:
            raise ShapeError(f"bias has length {len(self.bias)} but output index {index} has size {dims[index]}")
        return index

    def apply_dense(self, array: np.ndarray, axis: int | None) -> np.ndarray:
        """The epilogue on every entry of a dense array whose ``axis`` is the bias's (see ``bias_axis``)."""
        coords = None
        if axis is not None:
            coords = np.arange(array.shape[axis]).reshape([-1 if k == axis else 1 for k in range(array.ndim)])
        return self.apply(array, coords)

    def apply(self, values: np.ndarray, bias_coords: np.ndarray | None = None) -> np.ndarray:
        """The reference semantics on an array of entries (``bias_coords``: each entry's coordinate along the bias index)."""
        out = np.asarray(values)
        if self.scale is not None:
            out = out * self.scale
        if self.bias is not None:
            out = out + (self.bias[bias_coords] if self.vector_bias else self.bias)
        if self.relu:
            out = np.where(out < 0, np.zeros_like(out), out)
        if self.clamp is not None:
            lo, hi = self.clamp
            out = np.where(out < lo, lo, out) if lo is not None else out
            out = np.where(out > hi, hi, out) if hi is not None else out
        return out.astype(np.asarray(values).dtype, copy=False)

    def __str__(self) -> str:
        text = "v"
        if self.scale is not None:
            text = f"{self.scale:g} * {text}"
        if self.bias is not None:
            text = f"{text} + {self.bias:g}" if not self.vector_bias else f"{text} + bias({self.bias_index or 'last'})"
        if self.relu:
            text = f"relu({text})"
        if self.clamp is not None:
            lo, hi = self.clamp
            parts = ([f"min={lo:g}"] if lo is not None else []) + ([f"max={hi:g}"] if hi is not None else [])
            text = f"clamp({text}, {', '.join(parts)})"
        return text
