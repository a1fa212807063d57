"""Specializing a loop body to one case of a merge: the operands absent at a coordinate become zero.

Inside a union (``B(i) + C(i)``) or beside a sparse operand searched in a dense loop, a coordinate
where some operands store nothing runs a simpler body: their accesses are zero, products with them
vanish, workspaces they fed are empty, and loops below co-iterate only what remains (TACO's
lattice-point cases, Kjolstad et al. OOPSLA 2017, section 6). ``None`` means nothing to do.

Example:
    >>> from zeroskip.lang import parse
    >>> from zeroskip.formats import as_format
    >>> from zeroskip.compiler import build_loopnest
    >>> f = {"x": as_format("s"), "b": as_format("s"), "A": as_format("dcsr"), "y": as_format("d")}
    >>> nest = build_loopnest(parse("x(i) = b(i) + A(i,j) * y(j)"), ("i", "j"), f)
    >>> print(zero_out(nest.body.body, frozenset({"b"}), nest.format_of))
    where
      x(i) = w0
    producer
      forall j [A:1 | locate y:0]
        w0 += A(i,j) * y(j)
    >>> print(zero_out(nest.body.body, frozenset({"A"}), nest.format_of))
    x(i) = b(i)
"""

from __future__ import annotations

from collections.abc import Mapping

from zeroskip.compiler.lattice import merge_lattice
from zeroskip.compiler.loopnest import Assign, Forall, Stmt, Where
from zeroskip.formats.format import Format
from zeroskip.lang.ast import Access, Add, Expr, Literal, Mul, Neg, Sub, accesses, map_expr

ZERO = Literal(0)


def is_zero(expr: Expr) -> bool:
    return isinstance(expr, Literal) and expr.value == 0


def simplify(expr: Expr) -> Expr:
    """Fold the zeros of ``expr``: ``0 * x = 0``, ``0 + x = x``, ``x - 0 = x``, ``-0 = 0``."""

    def fold(e: Expr) -> Expr:
        if isinstance(e, Mul) and (is_zero(e.left) or is_zero(e.right)):
            return ZERO
        if isinstance(e, Add):
            return e.right if is_zero(e.left) else e.left if is_zero(e.right) else e
        if isinstance(e, Sub):
            return e.left if is_zero(e.right) else Neg(e.right) if is_zero(e.left) else e
        if isinstance(e, Neg) and is_zero(e.operand):
            return ZERO
        return e

    return map_expr(fold, expr)


def without(expr: Expr, absent: frozenset[str]) -> Expr:
    """``expr`` with the accesses of ``absent`` tensors replaced by zero, folded."""
    if not absent:
        return expr
    return simplify(map_expr(lambda e: ZERO if isinstance(e, Access) and e.tensor in absent else e, expr))


def stmt_expr(stmt: Stmt) -> Expr:
    """The expression a loop around ``stmt`` co-iterates: its right sides, workspaces read through."""
    if isinstance(stmt, Assign):
        return stmt.rhs
    if isinstance(stmt, Forall):
        return stmt_expr(stmt.body)
    produced = stmt_expr(stmt.producer)
    return map_expr(lambda e: produced if isinstance(e, Access) and e.tensor == stmt.temp.name else e,
                    stmt_expr(stmt.consumer))


def zero_out(stmt: Stmt, absent: frozenset[str], formats: Mapping[str, Format]) -> Stmt | None:
    """``stmt`` where the tensors ``absent`` are zero; loops re-derive their lattices; None if it does nothing."""
    if not absent:
        return stmt
    if isinstance(stmt, Assign):
        rhs = without(stmt.rhs, absent)
        return None if is_zero(rhs) else Assign(stmt.lhs, rhs, stmt.accumulate)
    if isinstance(stmt, Forall):
        body = zero_out(stmt.body, absent, formats)
        if body is None:
            return None
        return Forall(stmt.index, merge_lattice(stmt_expr(body), stmt.index, formats), body)
    producer = zero_out(stmt.producer, absent, formats)
    # An empty producer leaves its workspace zero: the consumer reads zero there.
    consumer_absent = absent if producer is not None else absent | {stmt.temp.name}
    consumer = zero_out(stmt.consumer, consumer_absent, formats)
    if consumer is None:
        return None
    if producer is None:
        return consumer
    return Where(consumer, producer, stmt.temp)


def rhs_accesses(stmt: Stmt) -> list[Access]:
    """Every access read by the assignments of ``stmt`` (workspaces included)."""
    if isinstance(stmt, Assign):
        return list(accesses(stmt.rhs))
    if isinstance(stmt, Forall):
        return rhs_accesses(stmt.body)
    return rhs_accesses(stmt.producer) + rhs_accesses(stmt.consumer)
