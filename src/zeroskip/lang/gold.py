"""The dense numpy gold: what an ``Assignment`` means, computed the obvious way.

Every kernel zeroskip produces (the reference interpreter, the CPU backend, the simulator) is
tested against ``evaluate_dense``, so this module is the definition of the language's meaning:

- ``+``, ``-`` and unary minus act elementwise, broadcasting a term over the indices it lacks;
  ``*`` multiplies elementwise over shared indices (an outer product over the others).
- **Reductions, term by term.** The right side is split at its top-level ``+``, ``-`` and unary
  minus into signed terms (``Assignment.terms``); each index absent from the left side is summed
  over each term that uses it, and the terms are then added. So
  ``x(i) = b*C(j,i)*d(j) + e*f(i)`` is MatTransMul, ``sum_j b*C(j,i)*d(j) + e*f(i)``, and
  ``y(i) = A(i,j) + z(i)`` is ``sum_j A(i,j) + z(i)``, not ``sum_j (A(i,j) + z(i))``.
  This is TACO's einsum rule (``makeReductionNotation``: "sum every reduction variable over
  each term"), and what SAM's graph ``mat_mattransmul.gv`` computes (reduce, then add ``e*f``).
  One difference: TACO splits only the outermost ``+`` and wraps each side whole, so it reads
  ``A(i,j) + z(i) + w(i)`` as ``sum_j (A(i,j) + z(i)) + w(i)``; zeroskip splits the whole
  chain, so the meaning never depends on how a sum is associated.
- A sum inside a product is part of that product's term: to sum over the whole of
  ``A(i,j) + z(i)`` write it as a product, ``(A(i,j) + z(i)) * 1``, which adds ``J*z(i)``.
- The result dtype is numpy's promotion of the operands; literals are Python numbers (weak
  scalars), so ``2 * A`` keeps A's integer dtype and ``2.5 * A`` is float64.

Example:
    >>> import numpy as np
    >>> A, z = np.ones((2, 3)), np.array([10.0, 20.0])
    >>> evaluate_dense("y(i) = A(i,j) + z(i)", {"A": A, "z": z})  # sum_j A(i,j) + z(i)
    array([13., 23.])
    >>> evaluate_dense("y(i) = (A(i,j) + z(i)) * 1", {"A": A, "z": z})  # sum_j A(i,j) + J*z(i), J = 3
    array([33., 63.])
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

import numpy as np

from zeroskip.errors import ShapeError
from zeroskip.lang.ast import Access, Add, Assignment, Expr, Literal, Mul, Neg, Sub, indices_of, map_expr
from zeroskip.lang.parser import parse
from zeroskip.lang.shapes import infer_dims

Labelled = tuple[Any, tuple[str, ...]]  # an ndarray (or a Python number) and the index of each axis


def evaluate_dense(assign: Assignment | str, operands: Mapping[str, Any], *, blas: bool = False) -> np.ndarray:
    """Evaluate ``assign`` on dense operands (anything ``np.asarray`` takes), as a new ndarray.

    ``blas=True`` lets einsum hand two-factor contractions to BLAS (the dense fallback's speed; the
    summation order then differs, so the gold itself keeps it off).

    >>> import numpy as np
    >>> A, x = np.arange(6).reshape(2, 3), np.array([1, 0, 2])
    >>> evaluate_dense("y(i) = A(i,j) * x(j)", {"A": A, "x": x})
    array([ 4, 13])
    >>> evaluate_dense("y(i) = b(i) - A(i,j) * x(j)", {"A": A, "x": x, "b": [4, 4]})
    array([ 0, -9])
    """
    if isinstance(assign, str):
        assign = parse(assign)
    missing = [name for name in assign.inputs if name not in operands]
    if missing:
        raise ShapeError(f"no operand given for {', '.join(missing)} (the inputs are {', '.join(assign.inputs)})")
    arrays = {name: np.asarray(operands[name]) for name in assign.inputs}
    dims = infer_dims(assign, {name: array.shape for name, array in arrays.items()})
    if len(dims) > len(string.ascii_letters):
        raise ShapeError(f"np.einsum takes at most 52 indices; {len(dims)=}")
    gold = _Gold(arrays, dict(zip(dims, string.ascii_letters)), blas)
    free = assign.free_indices
    total: Any = None
    for term in assign.terms:
        value = _align(*gold.product(term.expr, keep=frozenset(free)), free)
        if total is None:
            total = value if term.sign > 0 else -value
        else:
            total = total + value if term.sign > 0 else total - value
    return np.array(np.broadcast_to(total, tuple(dims[index] for index in free)))


class _Gold:
    """The recursion, with the operands and the einsum letter of every index at hand."""

    def __init__(self, arrays: dict[str, np.ndarray], letters: dict[str, str], blas: bool = False) -> None:
        self.arrays = arrays
        self.letters = letters
        self.blas = blas

    def product(self, expr: Expr, keep: frozenset[str]) -> Labelled:
        """``expr`` summed over its indices not in ``keep``, in one np.einsum over its factors."""
        coefficient, factors = self.factors(expr)
        labels = tuple(dict.fromkeys(index for _, indices in factors for index in indices if index in keep))
        if factors:
            spec = ",".join("".join(self.letters[i] for i in indices) for _, indices in factors)
            spec += "->" + "".join(self.letters[i] for i in labels)
            # The greedy path keeps MTTKRP-like products from looping over every index at once.
            value = np.einsum(spec, *(array for array, _ in factors), optimize=self.blas or len(factors) > 2)
        else:
            value, coefficient = coefficient, 1
        if not (isinstance(coefficient, int) and coefficient == 1):
            value = -value if isinstance(coefficient, int) and coefficient == -1 else value * coefficient
        return value, labels

    def factors(self, expr: Expr) -> tuple[Any, list[Labelled]]:
        """A product as a Python-number coefficient times labelled arrays (sums evaluated whole)."""
        if isinstance(expr, Mul):
            left, left_factors = self.factors(expr.left)
            right, right_factors = self.factors(expr.right)
            return left * right, left_factors + right_factors
        if isinstance(expr, Neg):
            coefficient, found = self.factors(expr.operand)
            return -coefficient, found
        if isinstance(expr, Literal):
            return expr.value, []
        if isinstance(expr, Access):
            return 1, [(self.arrays[expr.tensor], expr.indices)]
        value, labels = self.whole_sum(expr)
        return (1, [(value, labels)]) if labels else (value, [])

    def whole_sum(self, expr: Add | Sub) -> Labelled:
        """A sum inside a product, over the union of its operands' indices, nothing reduced."""
        left = self.product_or_sum(expr.left)
        right = self.product_or_sum(expr.right)
        labels = tuple(dict.fromkeys(left[1] + right[1]))
        a, b = _align(*left, labels), _align(*right, labels)
        return (a + b if isinstance(expr, Add) else a - b), labels

    def product_or_sum(self, expr: Expr) -> Labelled:
        if isinstance(expr, (Add, Sub)):
            return self.whole_sum(expr)
        return self.product(expr, keep=frozenset(indices_of(expr)))


def _align(value: Any, labels: tuple[str, ...], target: tuple[str, ...]) -> Any:
    """``value`` with its axes in ``target`` order and a length-1 axis for each index it lacks."""
    if not labels:
        return value
    value = np.transpose(value, [labels.index(index) for index in target if index in labels])
    sizes = iter(value.shape)
    return np.reshape(value, tuple(next(sizes) if index in labels else 1 for index in target))


def reached_entries(assign: Assignment | str, operands: Mapping[str, Any]) -> np.ndarray:
    """Where some product of nonzero entries lands: the output's structural entries, where an
    epilogue applies (``assign`` on the operands' magnitudes, every sign made +, so nothing cancels).

    >>> A = np.array([[1.0, -1.0], [0.0, 0.0]])
    >>> reached_entries("y(i) = A(i,j) * x(j)", {"A": A, "x": np.array([1.0, 1.0])}).tolist()
    [True, False]
    """
    assign = parse(assign) if isinstance(assign, str) else assign

    def plus(e: Expr) -> Expr:
        if isinstance(e, Sub):
            return Add(e.left, e.right)
        if isinstance(e, Neg):
            return e.operand
        return Literal(abs(e.value)) if isinstance(e, Literal) else e

    positive = Assignment(assign.lhs, map_expr(plus, assign.rhs))
    return evaluate_dense(positive, {n: np.abs(np.asarray(a)) for n, a in operands.items()}) != 0
