"""The Expr AST of tensor index notation: frozen, slotted dataclasses, one node type per concept.

An ``Assignment`` is a whole statement, ``lhs = rhs``. Its right side is built from tensor
accesses, numeric literals, unary minus and the binary operators ``+``, ``-`` and ``*`` (binary,
left-associative, exactly as the text groups them, so ``B * (C * D)`` keeps its parentheses).
An Assignment is always valid: the rules of the language are checked when it is built.

Reductions follow TACO's einsum rule, applied term by term: every index absent from the left
side is summed over each top-level additive term that uses it (see ``Assignment.terms``), so
``y(i) = A(i,j)*x(j) + z(i)`` is ``sum_j A(i,j)*x(j) + z(i)``.

Example:
    >>> a = Assignment(Access("y", ("i",)), Mul(Access("A", ("i", "j")), Access("x", ("j",))))
    >>> str(a)
    'y(i) = A(i,j) * x(j)'
    >>> a.free_indices, a.reduction_indices, a.tensors
    (('i',), ('j',), {'y': 1, 'A': 2, 'x': 1})
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from zeroskip.errors import ParseError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _check_name(name: object, what: str) -> None:
    if not (isinstance(name, str) and _NAME.match(name)):
        raise ParseError(f"{what} {name!r} is not an identifier ([A-Za-z_][A-Za-z0-9_]*)", str(name), 1)


@dataclass(frozen=True, slots=True)
class Access:
    """A tensor read or written at index variables: ``A(i,j)``; a scalar has no indices (``b``)."""

    tensor: str
    indices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_name(self.tensor, "tensor name")
        if not isinstance(self.indices, tuple):
            raise ParseError(f"indices of {self.tensor} must be a tuple, got {self.indices!r}", self.tensor, 1)
        for index in self.indices:
            _check_name(index, "index name")

    @property
    def order(self) -> int:
        return len(self.indices)

    def __str__(self) -> str:
        return format_expr(self)


@dataclass(frozen=True, slots=True)
class Literal:
    """A numeric constant, finite and not negative (``-2`` is ``Neg(Literal(2))``)."""

    value: float | int

    def __post_init__(self) -> None:
        ok = isinstance(self.value, (int, float)) and not isinstance(self.value, bool)
        if isinstance(self.value, float):
            ok = math.isfinite(self.value) and math.copysign(1.0, self.value) > 0  # -0.0 prints as "-0.0"
        if not (ok and self.value >= 0):
            # Only these print as a number that parses back to the same node.
            raise ParseError(f"literal {self.value!r} is not a finite, non-negative int or float", repr(self.value), 1)

    def __str__(self) -> str:
        return format_expr(self)


def _check_operands(node: object, *operands: object) -> None:
    for operand in operands:
        if not isinstance(operand, (Access, Literal, Neg, Add, Sub, Mul)):
            raise TypeError(f"an operand of {type(node).__name__} must be an Expr node, got {operand!r}")


@dataclass(frozen=True, slots=True)
class Neg:
    """Unary minus."""

    operand: Expr

    def __post_init__(self) -> None:
        _check_operands(self, self.operand)

    def __str__(self) -> str:
        return format_expr(self)


@dataclass(frozen=True, slots=True)
class Add:
    """``left + right``."""

    left: Expr
    right: Expr

    def __post_init__(self) -> None:
        _check_operands(self, self.left, self.right)

    def __str__(self) -> str:
        return format_expr(self)


@dataclass(frozen=True, slots=True)
class Sub:
    """``left - right``."""

    left: Expr
    right: Expr

    def __post_init__(self) -> None:
        _check_operands(self, self.left, self.right)

    def __str__(self) -> str:
        return format_expr(self)


@dataclass(frozen=True, slots=True)
class Mul:
    """``left * right``."""

    left: Expr
    right: Expr

    def __post_init__(self) -> None:
        _check_operands(self, self.left, self.right)

    def __str__(self) -> str:
        return format_expr(self)


Expr = Access | Literal | Neg | Add | Sub | Mul
BINARY = (Add, Sub, Mul)
_SYMBOL = {Add: "+", Sub: "-", Mul: "*"}
_PRECEDENCE = {Add: 1, Sub: 1, Mul: 2, Neg: 3, Access: 4, Literal: 4}


# ---- traversal -----------------------------------------------------------------------------------


def children(expr: Expr) -> tuple[Expr, ...]:
    """The operands of a node, left to right (none for accesses and literals)."""
    if isinstance(expr, BINARY):
        return (expr.left, expr.right)
    if isinstance(expr, Neg):
        return (expr.operand,)
    if isinstance(expr, (Access, Literal)):
        return ()
    raise TypeError(f"not an Expr node: {expr!r}")


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of ``expr`` in pre-order, left to right (the order the text reads).

    >>> [type(node).__name__ for node in walk(Neg(Add(Literal(1), Access("b"))))]
    ['Neg', 'Add', 'Literal', 'Access']
    """
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def map_expr(fn: Callable[[Expr], Expr], expr: Expr) -> Expr:
    """Rebuild ``expr`` bottom-up, replacing each node by ``fn(node with rewritten children)``.

    The base of every rewriting pass; nodes are frozen, so a pass returns a new tree.

    >>> rename = lambda e: Access(e.tensor.lower(), e.indices) if isinstance(e, Access) else e
    >>> str(map_expr(rename, Mul(Access("A", ("i",)), Neg(Access("B", ("i",))))))
    'a(i) * -b(i)'
    """
    if isinstance(expr, BINARY):
        node: Expr = type(expr)(map_expr(fn, expr.left), map_expr(fn, expr.right))
    elif isinstance(expr, Neg):
        node = Neg(map_expr(fn, expr.operand))
    else:
        children(expr)  # raises on anything that is not a node
        node = expr
    return fn(node)


def accesses(expr: Expr) -> tuple[Access, ...]:
    """The tensor accesses of ``expr`` in textual order, repeats included."""
    return tuple(node for node in walk(expr) if isinstance(node, Access))


def indices_of(expr: Expr) -> tuple[str, ...]:
    """The index variables of ``expr`` in order of first appearance."""
    return tuple(dict.fromkeys(index for access in accesses(expr) for index in access.indices))


@dataclass(frozen=True, slots=True)
class Term:
    """One top-level additive term of a right side, its sign, and the indices summed over it."""

    sign: int  # +1 or -1: the product of the minus signs above the term
    expr: Expr  # an Access, a Literal or a Mul (which may hold parenthesized sums)
    reduced: tuple[str, ...]  # indices of this term absent from the left side, first appearance first


def additive_terms(expr: Expr, sign: int = 1) -> tuple[tuple[int, Expr], ...]:
    """Split ``expr`` at its top-level ``+``, ``-`` and unary minus into signed terms.

    >>> [(s, str(t)) for s, t in additive_terms(Sub(Access("b"), Neg(Add(Access("c"), Access("d")))))]
    [(1, 'b'), (1, 'c'), (1, 'd')]
    """
    if isinstance(expr, Add):
        return additive_terms(expr.left, sign) + additive_terms(expr.right, sign)
    if isinstance(expr, Sub):
        return additive_terms(expr.left, sign) + additive_terms(expr.right, -sign)
    if isinstance(expr, Neg):
        return additive_terms(expr.operand, -sign)
    return ((sign, expr),)


# ---- printing ------------------------------------------------------------------------------------


def format_expr(expr: Expr, spans: list[tuple[int, tuple[int, ...]]] | None = None, offset: int = 0) -> str:
    """Index notation for ``expr`` with the fewest parentheses that parse back to the same tree.

    ``spans``, when given, receives for each access in textual order the 0-based offset of its
    name and of each of its indices (from ``offset``), so errors can point into printed text.
    """
    parts: list[str] = []
    _emit(expr, 0, parts, spans, offset)
    return "".join(parts)


def _emit(expr: Expr, least: int, parts: list[str], spans, offset: int) -> None:
    precedence = _PRECEDENCE[type(expr)]
    if precedence < least:
        parts.append("(")
        _emit(expr, 0, parts, spans, offset)
        parts.append(")")
        return
    if isinstance(expr, Access):
        text = expr.tensor if not expr.indices else f"{expr.tensor}({','.join(expr.indices)})"
        if spans is not None:  # error reporting only: the offsets are recounted from the parts so far
            pos = offset + sum(map(len, parts))
            starts, at = [], pos + len(expr.tensor) + 1
            for index in expr.indices:
                starts.append(at)
                at += len(index) + 1
            spans.append((pos, tuple(starts)))
        parts.append(text)
    elif isinstance(expr, Literal):
        parts.append(repr(expr.value))
    elif isinstance(expr, Neg):
        parts.append("-")
        _emit(expr.operand, _PRECEDENCE[Neg], parts, spans, offset)
    else:
        # Left-associative: the right operand needs parentheses at equal precedence.
        _emit(expr.left, precedence, parts, spans, offset)
        parts.append(f" {_SYMBOL[type(expr)]} ")
        _emit(expr.right, precedence + 1, parts, spans, offset)


# ---- the statement -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assignment:
    """``lhs = rhs``: the output access and the expression that defines it.

    Building one checks the rules of the language and raises ``ParseError`` (pointing into
    ``str(self)``) if one is broken: see ``check_assignment``.
    """

    lhs: Access
    rhs: Expr
    _inputs: tuple[str, ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.lhs, Access):
            raise ParseError(f"the left side must be a tensor access, got {self.lhs!r}", str(self.lhs), 1)
        children(self.rhs)  # raises TypeError on anything that is not a node
        problem = check_assignment(self.lhs, self.rhs)
        if problem is not None:
            spans: list[tuple[int, tuple[int, ...]]] = []
            text = self._format(spans)
            reason, occurrence, index_position = problem
            start, index_starts = spans[occurrence]
            column = start if index_position is None else index_starts[index_position]
            raise ParseError(reason, text, column + 1)
        # Read on every run of a program: walked once here.
        object.__setattr__(self, "_inputs", tuple(dict.fromkeys(a.tensor for a in accesses(self.rhs))))

    def _format(self, spans=None) -> str:
        lhs = format_expr(self.lhs, spans)
        return f"{lhs} = {format_expr(self.rhs, spans, len(lhs) + 3)}"

    def __str__(self) -> str:
        return self._format()

    @property
    def output(self) -> str:
        return self.lhs.tensor

    @property
    def free_indices(self) -> tuple[str, ...]:
        """The indices of the output, in its mode order."""
        return self.lhs.indices

    @property
    def reduction_indices(self) -> tuple[str, ...]:
        """Indices of the right side absent from the left, in order of first appearance."""
        return tuple(index for index in indices_of(self.rhs) if index not in self.lhs.indices)

    @property
    def all_indices(self) -> tuple[str, ...]:
        return self.free_indices + self.reduction_indices

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the input tensors, in order of first appearance."""
        return self._inputs

    @property
    def tensors(self) -> dict[str, int]:
        """Every tensor's name and order: the output first, then the inputs as they appear."""
        found = {self.lhs.tensor: self.lhs.order}
        for access in accesses(self.rhs):
            found.setdefault(access.tensor, access.order)
        return found

    @property
    def terms(self) -> tuple[Term, ...]:
        """The signed top-level additive terms of the right side, each with the indices summed over it.

        This is where reductions go: an index absent from the left side is summed over each
        term that uses it, and nowhere else (TACO's einsum rule, applied to the flattened sum).

        >>> from zeroskip.lang import parse
        >>> [(t.sign, str(t.expr), t.reduced) for t in parse("x(i) = b*C(j,i)*d(j) - e*f(i)").terms]
        [(1, 'b * C(j,i) * d(j)', ('j',)), (-1, 'e * f(i)', ())]
        """
        return tuple(
            Term(sign, term, tuple(i for i in indices_of(term) if i not in self.lhs.indices))
            for sign, term in additive_terms(self.rhs)
        )


def check_assignment(lhs: Access, rhs: Expr) -> tuple[str, int, int | None] | None:
    """The first broken rule of ``lhs = rhs`` as (reason, access occurrence, index position), or None.

    Access occurrences count the left side as 0 and then the right side's accesses in textual
    order; the index position (or None for the whole access) says where to point.
    """
    for position, index in enumerate(lhs.indices):
        if index in lhs.indices[:position]:
            return f"index {index} appears twice on the left side", 0, position
    rhs_accesses = accesses(rhs)
    orders: dict[str, int] = {}
    for occurrence, access in enumerate(rhs_accesses, start=1):
        if access.tensor == lhs.tensor:
            return f"the output {lhs.tensor} is also used as an input", occurrence, None
        for position, index in enumerate(access.indices):
            if index in access.indices[:position]:
                return (f"index {index} appears twice in {access} (diagonal access is not supported)",
                        occurrence, position)
        order = orders.setdefault(access.tensor, access.order)
        if order != access.order:
            return (f"tensor {access.tensor} is used with {access.order} indices here "
                    f"but with {order} at its first use", occurrence, None)
    used = indices_of(rhs)
    for position, index in enumerate(lhs.indices):
        if index not in used:
            if not rhs_accesses:
                return (f"the right side has only literals but the left side has index {index}; "
                        "an output's indices must appear on the right side", 0, position)
            return f"index {index} of the left side appears nowhere on the right side", 0, position
    return None
