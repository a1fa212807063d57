"""Merge lattices: how the loop over one index co-iterates the operands that have it.

Multiplication intersects (a product is nonzero only where every factor is), addition unites;
a dense level is not iterated where a sparse one drives the loop but located into (Kjolstad et
al., "The Tensor Algebra Compiler", OOPSLA 2017, section 5).

Example:
    >>> from zeroskip.lang import parse
    >>> from zeroskip.formats import as_format
    >>> formats = {"A": as_format("dcsr"), "x": as_format("d"), "z": as_format("s")}
    >>> print(merge_lattice(parse("y(i) = A(i,j) * x(j)").rhs, "j", formats))
    j: [A:1 | locate x:0]
    >>> print(merge_lattice(parse("y(i) = A(i,j) * x(j) + z(i)").rhs, "i", formats))
    i: [A:0 z:0 | ], [A:0 | ], [z:0 | ]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zeroskip.errors import ZeroskipError
from zeroskip.formats.format import Format
from zeroskip.lang.ast import Access, Add, Expr, Literal, Mul, Neg, Sub


class LatticeError(ZeroskipError, ValueError):
    """An operand level that cannot take part in the loop (e.g. a dense level that cannot locate)."""


@dataclass(frozen=True, slots=True)
class Iterator:
    """One operand's level for the loop's index: ``tensor`` stores the index at ``level``."""

    tensor: str
    level: int
    full: bool  # the level stores every coordinate (dense)
    locate: bool  # the level can find a coordinate without a search

    def __str__(self) -> str:
        return f"{self.tensor}:{self.level}"


@dataclass(frozen=True, slots=True)
class LatticePoint:
    """A region of the loop: where exactly ``iterators`` have coordinates, compute ``expr``.

    ``iterators`` are walked together (two-finger merge); ``locators`` are looked up at each
    coordinate. No iterators means the loop walks the whole dimension.
    """

    iterators: tuple[Iterator, ...]
    locators: tuple[Iterator, ...]
    expr: Expr

    def __str__(self) -> str:
        its = " ".join(map(str, self.iterators))
        locs = " ".join(map(str, self.locators))
        return f"[{its} | {'locate ' + locs if locs else ''}]".replace("|  ]", "| ]")


@dataclass(frozen=True, slots=True)
class MergeLattice:
    """The points of one index's loop, from the top (all operands present) down."""

    index: str
    points: tuple[LatticePoint, ...]

    @property
    def dense(self) -> bool:
        """The loop visits every coordinate of the dimension (no sparse operand bounds it)."""
        return not self.points[0].iterators or all(it.full for it in self.points[0].iterators)

    @property
    def intersection(self) -> bool:
        """One point: the loop ends when any iterator ends."""
        return len(self.points) == 1

    @property
    def iterators(self) -> tuple[Iterator, ...]:
        return self.points[0].iterators

    @property
    def locators(self) -> tuple[Iterator, ...]:
        return self.points[0].locators

    def __str__(self) -> str:
        return f"{self.index}: " + ", ".join(map(str, self.points))


# A lattice under construction: list of (iterator set, expr); None stands for "everywhere" (no bound).
_Points = list[tuple[frozenset, Expr]] | None


def merge_lattice(expr: Expr, index: str, formats: Mapping[str, Format]) -> MergeLattice:
    """The merge lattice of ``index`` over ``expr`` given each tensor's format (temporaries too)."""
    points = _build(expr, index, formats)
    if points is None:
        return MergeLattice(index, (LatticePoint((), (), expr),))
    return MergeLattice(index, tuple(_finish(its, sub, formats) for its, sub in _prune(points)))


def _build(expr: Expr, index: str, formats) -> _Points:
    if isinstance(expr, Access):
        if index not in expr.indices:
            return None
        fmt = formats[expr.tensor]
        mode = expr.indices.index(index)
        level = fmt.mode_order.index(mode)
        lv = fmt.levels[level]
        return [(frozenset([Iterator(expr.tensor, level, lv.full, lv.locate)]), expr)]
    if isinstance(expr, Literal):
        return None
    if isinstance(expr, Neg):
        inner = _build(expr.operand, index, formats)
        return None if inner is None else [(its, Neg(sub)) for its, sub in inner]
    left, right = _build(expr.left, index, formats), _build(expr.right, index, formats)
    if isinstance(expr, Mul):
        if left is None:
            return None if right is None else [(its, Mul(expr.left, sub)) for its, sub in right]
        if right is None:
            return [(its, Mul(sub, expr.right)) for its, sub in left]
        return [(a | b, Mul(x, y)) for a, x in left for b, y in right]
    if isinstance(expr, (Add, Sub)):
        if left is None or right is None:
            return None  # a sum with an unbounded operand is nonzero everywhere
        node = type(expr)
        both = [(a | b, node(x, y)) for a, x in left for b, y in right]
        only_right = [(b, Neg(y) if node is Sub else y) for b, y in right]
        return both + left + only_right
    raise LatticeError(f"no lattice rule for {type(expr).__name__}")


def _prune(points: list[tuple[frozenset, Expr]]) -> list[tuple[frozenset, Expr]]:
    """Drop duplicate points; give every point the top point's full iterators.

    A dense iterator never runs out, so it is present in every region: a point built without it
    (``T2(i)`` of ``T2(i) + T0(i,j) * T1(i,j)`` with T0 dense) covers the coordinates where the
    sparse operands are absent but the dense one still is. Its expression stays the point's own.
    """
    full = {it for it in points[0][0] if it.full}
    seen, out = set(), []
    for its, sub in points:
        its = its | full
        if its not in seen:
            seen.add(its)
            out.append((its, sub))
    return out


def _finish(its: frozenset, sub: Expr, formats) -> LatticePoint:
    ordered = sorted(its, key=lambda it: (it.tensor, it.level))
    sparse = tuple(it for it in ordered if not it.full)
    dense = tuple(it for it in ordered if it.full)
    if not sparse:
        return LatticePoint(dense, (), sub)
    for it in dense:
        if not it.locate:
            raise LatticeError(f"level {it.level} of {it.tensor} is full but cannot locate")
    return LatticePoint(sparse, dense, sub)
