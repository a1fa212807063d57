"""The small values the lowering passes around: stream ends, join trees, lowered values, signs.

A ``Join`` is the co-iteration of one loop as the expression nests it: a scanner per operand
that stores the index, intersections for products, unions for sums (flattened, so that
``B + C + D`` is one three-way union, as SAM's ``mat_elemadd3`` has it). A product with a factor
that does not bound the loop (``(B(i,j) + c(i)) * d(j)`` over ``j``) unites instead: the loop
then visits a superset of the product's support, and the values there are zeros.

Example:
    >>> from zeroskip.lang import parse, Access
    >>> e = parse("X(i,j) = B(i,j) * C(i,j) + D(i,j)").rhs
    >>> bounded, tree = build_join(e, "j", {"B", "C", "D"})
    >>> bounded, str(tree)
    (True, 'union(intersect(B, C), D)')
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from zeroskip.compiler.loopnest import Forall, Where
from zeroskip.dataflow.tokens import StreamKind
from zeroskip.lang.ast import Access, Add, Expr, Literal, Mul, Neg, Sub

COMPLEX = "several reductions"  # Value.empty when no single stream tells where a value is N


@dataclass(frozen=True, slots=True)
class Out:
    """An output port of a node under construction; its stream kind follows from the port name."""

    node: int
    port: str

    @property
    def kind(self) -> StreamKind:
        for prefix, kind in (("crd", StreamKind.CRD), ("ref", StreamKind.REF), ("val", StreamKind.VAL)):
            if self.port.startswith(prefix):
                return kind
        return StreamKind.REPSIG


@dataclass(frozen=True, slots=True)
class Value:
    """A value stream nested as deep as ``loops``, with its sign and where it may be N.

    ``empty`` is None (never N), a chain of loops below (N exactly where that chain holds no
    coordinate, as a reduction over an empty fiber is), or ``COMPLEX``.
    """

    out: Out
    sign: int
    loops: tuple
    empty: object
    reduced: bool = False  # computed from a reducer's output (which emits N for an empty enclosing fiber)


def either_empty(a: object, b: object) -> object:
    """Where a product is N: where either factor is."""
    if a is None or b is None:
        return b if a is None else a
    return a if a == b else COMPLEX


def both_empty(a: object, b: object) -> object:
    """Where a sum is N: where both terms are."""
    if a is None or b is None:
        return None
    return a if a == b else COMPLEX


@dataclass(frozen=True, slots=True)
class Join:
    """A scanner (``tensor``) or an intersection/union of ``children``."""

    kind: str  # "scan", "intersect" or "union"
    tensor: str = ""
    children: tuple[Join, ...] = ()

    @property
    def tensors(self) -> tuple[str, ...]:
        return (self.tensor,) if self.kind == "scan" else tuple(t for c in self.children for t in c.tensors)

    @property
    def direct(self) -> frozenset[str]:
        """Tensors whose references come out real wherever this join's coordinate is not N."""
        if self.kind == "scan":
            return frozenset([self.tensor])
        if self.kind == "union":
            return frozenset()
        return frozenset(c.tensor for c in self.children if c.kind == "scan")

    def scans(self) -> tuple[Join, ...]:
        return (self,) if self.kind == "scan" else tuple(s for c in self.children for s in c.scans())

    def non_n(self, real: Collection[str], maybe_n: Mapping[str, bool]) -> bool:
        """No coordinate is N, given that the tensors in ``real`` have real references."""
        if self.kind == "scan":
            return self.tensor in real or not maybe_n[self.tensor]
        found = [c.non_n(real, maybe_n) for c in self.children]
        return all(found) if self.kind == "intersect" else any(found)

    def facts(self, maybe_n: Mapping[str, bool], covers: tuple, dense: Collection[str]):
        """After this join: whether its coordinates are never N, which references may be N, and the covers
        (each a tuple of tensor groups, one of which has real references at every point)."""
        non_n = self.non_n((), maybe_n) or any(all(self.non_n(g, maybe_n) for g in c) for c in covers)
        # A dense operand of a union has every coordinate, so its references stay real.
        full = {c.tensor for c in self.children if c.kind == "scan" and c.tensor in dense and not maybe_n[c.tensor]}
        after = dict(maybe_n)
        for t in self.tensors:
            after[t] = not (non_n and t in self.direct or self.kind == "union" and t in full)
        kept = tuple(c for c in covers if not any(g & set(self.tensors) for g in c))
        if self.kind == "union" and non_n and all(c.direct for c in self.children):
            kept += (tuple(c.direct for c in self.children),)
        return non_n, after, kept

    def may_be_n(self, maybe_n: Mapping[str, bool]) -> bool:
        """A fiber may be the single N of an absent operand."""
        if self.kind == "scan":
            return maybe_n[self.tensor]
        found = [c.may_be_n(maybe_n) for c in self.children]
        return any(found) if self.kind == "intersect" else all(found)

    def may_be_empty(self, scan_empty: Callable[[str], bool], maybe_n: Mapping[str, bool]) -> bool:
        """A fiber may hold neither a coordinate nor N (SAM drops after every intersection); a union is
        empty where each operand is empty or N and one is empty."""
        if self.kind == "scan":
            return scan_empty(self.tensor)
        if self.kind == "intersect":
            return True
        empty = [c.may_be_empty(scan_empty, maybe_n) for c in self.children]
        return any(empty) and all(e or c.may_be_n(maybe_n) for e, c in zip(empty, self.children))

    def __str__(self) -> str:
        return self.tensor if self.kind == "scan" else f"{self.kind}({', '.join(map(str, self.children))})"


def _combine(kind: str, a: Join | None, b: Join | None) -> Join | None:
    if a is None or b is None:
        return b if a is None else a
    kids = (a.children if a.kind == kind else (a,)) + (b.children if b.kind == kind else (b,))
    return Join(kind, children=kids)


def build_join(e: Expr, index: str, inputs: Collection[str]) -> tuple[bool, Join | None]:
    """(whether ``e`` is zero outside the join's coordinates, the join) for the loop over ``index``."""
    if isinstance(e, Access):
        return (True, Join("scan", e.tensor)) if e.tensor in inputs and index in e.indices else (False, None)
    if isinstance(e, Literal):
        return False, None
    if isinstance(e, Neg):
        return build_join(e.operand, index, inputs)
    (ba, ta), (bb, tb) = build_join(e.left, index, inputs), build_join(e.right, index, inputs)
    if isinstance(e, Mul):
        return (True, _combine("intersect", ta, tb)) if ba and bb else (ba or bb, _combine("union", ta, tb))
    assert isinstance(e, (Add, Sub))
    return ba and bb, _combine("union", ta, tb)


def _sign(e: Expr, signs: Mapping[str, int]) -> int:
    if isinstance(e, Access):
        return signs.get(e.tensor, 1)
    if isinstance(e, Literal):
        return 1
    if isinstance(e, Neg):
        return -_sign(e.operand, signs)
    a, b = _sign(e.left, signs), _sign(e.right, signs)
    if isinstance(e, Mul):
        return a * b
    b = -b if isinstance(e, Sub) else b
    return a if a == b else 1  # mixed signs become a subtraction


def signs_of(nest) -> tuple[dict[str, int], set[int]]:
    """Each temporary's sign (a scalar carries its own; a workspace is made positive), and the ids of the
    assignments whose value must be multiplied by -1 (the output's and workspaces')."""
    scalar = {t.name for t in nest.temporaries if not t.indices}
    signs: dict[str, int] = {}
    negate: set[int] = set()

    def visit(stmt) -> None:
        if isinstance(stmt, Forall):
            visit(stmt.body)
        elif isinstance(stmt, Where):
            visit(stmt.producer)
            visit(stmt.consumer)
        else:
            sign = _sign(stmt.rhs, signs)
            if stmt.lhs.tensor in scalar:
                signs[stmt.lhs.tensor] = sign
            elif sign < 0:
                negate.add(id(stmt))
            signs.setdefault(stmt.lhs.tensor, 1)

    visit(nest.body)
    return signs, negate
