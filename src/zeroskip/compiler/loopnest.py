"""The LoopNest IR (concrete index notation): foralls with merge lattices, where-workspaces, assignments.

``build_loopnest`` turns an assignment, a loop order and formats into the nest; a reduction
index that comes before an output index it does not bind makes a workspace (TACO's ``where``),
so every output is written in order: scalar temporaries for innermost reductions, vector and
matrix workspaces for Gustavson and outer-product orders.

Example:
    >>> from zeroskip.lang import parse
    >>> from zeroskip.formats import as_format
    >>> f = {"X": as_format("dcsr"), "B": as_format("dcsr"), "C": as_format("dcsr")}
    >>> print(build_loopnest(parse("X(i,j) = B(i,k) * C(k,j)"), ("i", "k", "j"), f).body)
    forall i [B:0 | ]
      where
        forall j [w0:0 | ]
          X(i,j) = w0(j)
      producer
        forall k [B:1 C:0 | ]
          forall j [C:1 | ]
            w0(j) += B(i,k) * C(k,j)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zeroskip.errors import ZeroskipError
from zeroskip.formats.format import Format, as_format
from zeroskip.compiler.lattice import MergeLattice, merge_lattice
from zeroskip.lang.ast import Access, Add, Assignment, Expr, Neg, Sub, accesses, indices_of


class LoopNestError(ZeroskipError, ValueError):
    """A loop nest that breaks an invariant (unbound index, discordant access, unknown tensor)."""


@dataclass(frozen=True, slots=True)
class Temporary:
    """A workspace: a scalar (no indices) or a tensor indexed by output indices, local to a ``Where``."""

    name: str
    indices: tuple[str, ...]
    format: Format


@dataclass(frozen=True, slots=True)
class Assign:
    """``lhs = rhs`` or ``lhs += rhs`` (inside the loops of a reduction) at the innermost point."""

    lhs: Access
    rhs: Expr
    accumulate: bool

    def __str__(self) -> str:
        return "\n".join(self.lines(0))

    def lines(self, depth: int) -> list[str]:
        return [f"{'  ' * depth}{self.lhs} {'+=' if self.accumulate else '='} {self.rhs}"]


@dataclass(frozen=True, slots=True)
class Forall:
    """Loop over ``index``, co-iterating as ``lattice`` says."""

    index: str
    lattice: MergeLattice
    body: Stmt

    def __str__(self) -> str:
        return "\n".join(self.lines(0))

    def lines(self, depth: int) -> list[str]:
        head = f"{'  ' * depth}forall {self.index} {self.lattice.points[0]}"
        if len(self.lattice.points) > 1:
            head += f" (+{len(self.lattice.points) - 1} union points)"
        return [head, *self.body.lines(depth + 1)]


@dataclass(frozen=True, slots=True)
class Where:
    """Run ``producer`` to fill ``temp``, then ``consumer``, which reads it (TACO's where)."""

    consumer: Stmt
    producer: Stmt
    temp: Temporary

    def __str__(self) -> str:
        return "\n".join(self.lines(0))

    def lines(self, depth: int) -> list[str]:
        pad = "  " * depth
        return [f"{pad}where", *self.consumer.lines(depth + 1), f"{pad}producer", *self.producer.lines(depth + 1)]


Stmt = Forall | Where | Assign


@dataclass(frozen=True, slots=True)
class LoopNest:
    """The whole program in concrete index notation, with every tensor's format."""

    assignment: Assignment
    loop_order: tuple[str, ...]
    body: Stmt
    formats: tuple[tuple[str, Format], ...]  # inputs, output and temporaries
    temporaries: tuple[Temporary, ...]

    @property
    def format_of(self) -> dict[str, Format]:
        return dict(self.formats)

    def __str__(self) -> str:
        return "\n".join(self.body.lines(0))


def build_loopnest(assign: Assignment, loop_order: tuple[str, ...], formats: Mapping[str, Format],
                   sparse_workspace_order: int | None = None) -> LoopNest:
    """Concrete index notation for ``assign`` looping in ``loop_order`` over tensors in ``formats``.

    ``sparse_workspace_order`` caps the order of sparse workspaces: larger ones are made dense
    (the CPU backend keeps a sparse accumulator for vectors only).
    """
    if sorted(loop_order) != sorted(assign.all_indices):
        raise LoopNestError(f"loop order {loop_order} must list each index of {assign} once: {assign.all_indices}")
    state = _State(dict(formats), [], sparse_workspace_order)
    terms = [(term.sign, term.expr) for term in assign.terms]
    body = state.build(tuple(loop_order), assign.lhs, terms, accumulate=False)
    fmts = tuple(state.formats.items())
    nest = LoopNest(assign, tuple(loop_order), body, fmts, tuple(state.temps))
    verify_loopnest(nest)
    return nest


@dataclass
class _State:
    formats: dict[str, Format]
    temps: list[Temporary]
    sparse_order: int | None = None

    def build(self, order: tuple[str, ...], target: Access, terms, accumulate: bool) -> Stmt:
        if not order:
            return Assign(target, _sum(terms), accumulate)
        index, rest = order[0], order[1:]
        if index in target.indices:
            body = self.build(rest, target, terms, accumulate)
            return Forall(index, merge_lattice(_sum(terms), index, self.formats), body)
        inside = [(s, e) for s, e in terms if index in indices_of(e)]
        outside = [(s, e) for s, e in terms if index not in indices_of(e)]
        used = {i for _, e in inside for i in indices_of(e)}
        if accumulate and not outside:
            # Already summing into a workspace: a further reduction scatters into the same one.
            body = self.build(tuple(i for i in rest if i in used or i in target.indices), target, inside, True)
            return Forall(index, merge_lattice(_sum(inside), index, self.formats), body)
        ws = tuple(i for i in rest if i in target.indices and i in used)
        temp = self._temporary(ws, inside)
        temp_access = Access(temp.name, ws)
        producer_order = tuple(i for i in rest if i in used)
        producer = Forall(index, merge_lattice(_sum(inside), index, self.formats),
                          self.build(producer_order, temp_access, inside, accumulate=True))
        consumer_terms = [*outside, (1, temp_access)]
        consumer_used = set(target.indices) | {i for _, e in outside for i in indices_of(e)}
        consumer = self.build(tuple(i for i in rest if i in consumer_used), target, consumer_terms, accumulate)
        return Where(consumer, producer, temp)

    def _temporary(self, ws: tuple[str, ...], inside) -> Temporary:
        number = len(self.temps)
        while f"w{number}" in self.formats:  # never take the name of a user's tensor
            number += 1
        name = f"w{number}"
        # A workspace level is dense where its producer fills the whole dimension, else sparse.
        letters = "".join("d" if merge_lattice(_sum(inside), i, self.formats).dense else "s" for i in ws)
        if self.sparse_order is not None and len(ws) > self.sparse_order:
            letters = "d" * len(ws)
        fmt = as_format(letters, ndim=len(ws)) if ws else Format((), ())
        temp = Temporary(name, ws, fmt)
        self.temps.append(temp)
        self.formats[name] = fmt
        return temp


def _sum(terms) -> Expr:
    (sign, expr), *rest = terms
    out = expr if sign > 0 else Neg(expr)
    for sign, expr in rest:
        out = Add(out, expr) if sign > 0 else Sub(out, expr)
    return out


def verify_loopnest(nest: LoopNest) -> None:
    """Check the invariants every later stage relies on; raise ``LoopNestError`` naming the culprit.

    Every access is to a known tensor, uses bound indices only, and visits its levels in storage
    order along the loops above it (concordance); every temporary is read only after its producer.
    """
    formats = nest.format_of
    _verify(nest.body, (), formats, set(), nest)


def _verify(stmt: Stmt, bound: tuple[str, ...], formats, temps: set[str], nest: LoopNest) -> None:
    if isinstance(stmt, Forall):
        if stmt.index in bound:
            raise LoopNestError(f"index {stmt.index} is looped over twice (loops above: {bound})")
        _verify(stmt.body, (*bound, stmt.index), formats, temps, nest)
    elif isinstance(stmt, Where):
        _verify(stmt.producer, bound, formats, temps | {stmt.temp.name}, nest)
        _verify(stmt.consumer, bound, formats, temps | {stmt.temp.name}, nest)
    elif isinstance(stmt, Assign):
        for access in (stmt.lhs, *accesses(stmt.rhs)):
            _verify_access(access, bound, formats, temps, nest)
    else:
        raise LoopNestError(f"unknown statement {stmt!r}")


def _verify_access(access: Access, bound: tuple[str, ...], formats, temps: set[str], nest: LoopNest) -> None:
    if access.tensor not in formats:
        raise LoopNestError(f"{access} refers to {access.tensor}, which has no format")
    if access.tensor in {t.name for t in nest.temporaries} and access.tensor not in temps:
        raise LoopNestError(f"temporary {access.tensor} is read outside the where that produces it")
    unbound = [i for i in access.indices if i not in bound]
    if unbound:
        raise LoopNestError(f"{access} uses {unbound} outside their loops (loops: {bound})")
    fmt = formats[access.tensor]
    storage = [access.indices[m] for m in fmt.mode_order]
    positions = [bound.index(i) for i in storage]
    if positions != sorted(positions):
        raise LoopNestError(
            f"{access} is stored in order {storage} ({fmt.spec}) but the loops run {bound}: discordant access"
        )
