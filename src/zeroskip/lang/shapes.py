"""Index sizes from operand shapes: every use of an index must agree on one size.

Example:
    >>> from zeroskip.lang import parse
    >>> spmv = parse("y(i) = A(i,j) * x(j)")
    >>> infer_dims(spmv, {"A": (40, 30), "x": (30,)})
    {'i': 40, 'j': 30}
    >>> output_shape(spmv, {"A": (40, 30), "x": (30,)})
    (40,)
    >>> infer_dims(spmv, {"A": (40, 40), "x": (30,)})
    Traceback (most recent call last):
    ...
    zeroskip.errors.ShapeError: index j is 40 in A (mode 1) but 30 in x (mode 0)
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence

from zeroskip.errors import ShapeError
from zeroskip.lang.ast import Access, Assignment, accesses


def infer_dims(assign: Assignment, shapes: Mapping[str, Sequence[int]]) -> dict[str, int]:
    """The size of every index of ``assign`` (free indices first), from the shapes of its tensors.

    Every input needs a shape; the output's shape, when given, is checked too. Raises
    ``ShapeError`` naming the tensors, modes and sizes that disagree.
    """
    found: dict[str, tuple[int, str, int]] = {}  # index -> (size, tensor, mode) of its first use
    uses: list[Access] = list(accesses(assign.rhs))
    if assign.output in shapes:
        uses.insert(0, assign.lhs)
    for access in uses:
        if access.tensor not in shapes:
            raise ShapeError(f"no shape given for operand {access.tensor} "
                             f"(the inputs are {', '.join(assign.inputs)}; got shapes for {', '.join(shapes)})")
        shape = _as_shape(access.tensor, shapes[access.tensor])
        if len(shape) != access.order:
            raise ShapeError(f"{access} has {access.order} indices but {access.tensor} has shape {shape} "
                             f"of {len(shape)} modes")
        for mode, (index, size) in enumerate(zip(access.indices, shape)):
            first = found.setdefault(index, (size, access.tensor, mode))
            if first[0] != size:
                raise ShapeError(f"index {index} is {first[0]} in {first[1]} (mode {first[2]}) "
                                 f"but {size} in {access.tensor} (mode {mode})")
    return {index: found[index][0] for index in assign.all_indices}


def output_shape(assign: Assignment, shapes: Mapping[str, Sequence[int]]) -> tuple[int, ...]:
    """The shape of the output of ``assign`` given the shapes of its inputs."""
    dims = infer_dims(assign, shapes)
    return tuple(dims[index] for index in assign.free_indices)


def _as_shape(name: str, shape: Sequence[int]) -> tuple[int, ...]:
    try:
        sizes = tuple(operator.index(size) for size in shape)
    except TypeError:
        raise ShapeError(f"the shape of {name} must be a sequence of ints, got {shape!r}") from None
    if any(size < 0 for size in sizes):
        raise ShapeError(f"the shape of {name} has a negative size: {sizes}")
    return sizes
