"""A plain evaluator of the LoopNest over dense arrays: the meaning of the IR, for tests.

Each ``forall`` visits exactly the coordinates its merge lattice says (the union over lattice
points of the intersection of their iterators' nonempty coordinates, or the whole dimension),
so a wrong lattice, a misplaced workspace or a lost reduction shows up as a wrong answer
against the numpy gold. It is slow and obviously correct, never a backend.

Example:
    >>> import numpy as np
    >>> from zeroskip.lang import parse
    >>> from zeroskip.formats import as_format
    >>> from zeroskip.compiler.loopnest import build_loopnest
    >>> f = {"y": as_format("s"), "A": as_format("csc"), "x": as_format("s")}
    >>> nest = build_loopnest(parse("y(i) = A(i,j) * x(j)"), ("j", "i"), f)
    >>> evaluate_loopnest(nest, {"A": np.array([[1.0, 2], [0, 3]]), "x": np.array([1.0, 0])})
    array([1., 0.])
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from zeroskip.compiler.lattice import Iterator, MergeLattice
from zeroskip.compiler.loopnest import Assign, Forall, LoopNest, LoopNestError, Stmt, Where
from zeroskip.lang.ast import Access, Add, Expr, Literal, Mul, Neg, Sub, accesses
from zeroskip.lang.shapes import infer_dims


def evaluate_loopnest(nest: LoopNest, operands: Mapping[str, np.ndarray]) -> np.ndarray:
    """The output of ``nest`` for dense ``operands`` (numpy arrays keyed by tensor name)."""
    arrays = {name: np.asarray(value) for name, value in operands.items()}
    dims = infer_dims(nest.assignment, {n: a.shape for n, a in arrays.items() if n in nest.assignment.inputs})
    dtype = np.result_type(*[a.dtype for a in arrays.values()], np.float64)
    out = nest.assignment.lhs
    arrays[out.tensor] = np.zeros(tuple(dims[i] for i in out.indices), dtype=dtype)
    index_of = {a.tensor: a.indices for a in (out, *accesses(nest.assignment.rhs))}
    for temp in nest.temporaries:
        index_of[temp.name] = temp.indices
    run = _Run(arrays, dims, nest.format_of, index_of, dtype)
    run.stmt(nest.body, {})
    return arrays[out.tensor]


class _Run:
    def __init__(self, arrays, dims, formats, index_of, dtype) -> None:
        self.arrays, self.dims, self.formats, self.index_of, self.dtype = arrays, dims, formats, index_of, dtype

    def stmt(self, stmt: Stmt, env: dict[str, int]) -> None:
        if isinstance(stmt, Forall):
            for coord in self.coordinates(stmt.lattice, env):
                self.stmt(stmt.body, {**env, stmt.index: coord})
        elif isinstance(stmt, Where):
            temp = stmt.temp
            self.arrays[temp.name] = np.zeros(tuple(self.dims[i] for i in temp.indices), dtype=self.dtype)
            self.stmt(stmt.producer, env)
            self.stmt(stmt.consumer, env)
        elif isinstance(stmt, Assign):
            target = self.arrays[stmt.lhs.tensor]
            where = tuple(env[i] for i in stmt.lhs.indices)
            value = self.expr(stmt.rhs, env)
            target[where] = target[where] + value if stmt.accumulate else value
        else:
            raise LoopNestError(f"unknown statement {stmt!r}")

    def coordinates(self, lattice: MergeLattice, env: dict[str, int]) -> list[int]:
        dim = self.dims[lattice.index]
        visited: set[int] = set()
        for point in lattice.points:
            if not point.iterators:
                return list(range(dim))
            region = set(range(dim))
            for it in point.iterators:
                region &= self.fiber(it, env)
            visited |= region
        return sorted(visited)

    def fiber(self, it: Iterator, env: dict[str, int]) -> set[int]:
        """Coordinates the level ``it`` stores below the bound coordinates of the levels above it."""
        fmt = self.formats[it.tensor]
        storage = np.transpose(self.arrays[it.tensor], fmt.mode_order)
        indices = [self.index_of[it.tensor][m] for m in fmt.mode_order]
        sub = storage[tuple(env[i] for i in indices[: it.level])]
        if it.full:
            return set(range(sub.shape[0]))
        nonzero = sub.reshape(sub.shape[0], -1) != 0 if sub.ndim else sub != 0
        return set(np.flatnonzero(nonzero.any(axis=1)).tolist())

    def expr(self, expr: Expr, env: dict[str, int]):
        if isinstance(expr, Access):
            return self.arrays[expr.tensor][tuple(env[i] for i in expr.indices)]
        if isinstance(expr, Literal):
            return expr.value
        if isinstance(expr, Neg):
            return -self.expr(expr.operand, env)
        left, right = self.expr(expr.left, env), self.expr(expr.right, env)
        if isinstance(expr, Add):
            return left + right
        if isinstance(expr, Sub):
            return left - right
        if isinstance(expr, Mul):
            return left * right
        raise LoopNestError(f"unknown expression {expr!r}")
