"""Scheduling: the loop order and every tensor's format, chosen by a cost model or given by the user.

The cost model estimates, for each candidate loop order, the work of its loop nest: at each loop
a two-finger merge costs the sum of the co-iterated fiber lengths and yields (for a product) the
shortest; fiber lengths come from the operands' measured statistics when tensors are given, else
from a density guess. A loop order discordant with a compressed operand's storage needs that
operand re-sorted, which is priced (n log n) and recorded as a ``Conversion``.

Example:
    >>> from zeroskip.lang import parse
    >>> s = make_schedule(parse("X(i,j) = B(i,k) * C(k,j)"), {"B": "csr", "C": "csr"})
    >>> s.loop_order                      # Gustavson, not the inner product
    ('i', 'k', 'j')
    >>> make_schedule(parse("y(i) = A(i,j) * x(j)"), {"A": "csr", "x": "dense"},
    ...               loop_order=("j", "i")).conversions[0].reason
    'loop order j,i visits A(i,j) against its storage order i,j (ds): convert to ds[1,0]'
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

from zeroskip.compiler.lattice import MergeLattice, merge_lattice
from zeroskip.compiler.loopnest import Assign, Forall, LoopNest, Stmt, Where, build_loopnest
from zeroskip.errors import ZeroskipError
from zeroskip.formats.format import Format, as_format
from zeroskip.formats.level import COMPRESSED, DENSE
from zeroskip.lang.ast import Access, Assignment, accesses

DEFAULT_DIM = 1000  # size assumed for an index no operand shape tells
DEFAULT_DENSITY = 0.01  # density assumed for a sparse operand given only by its format
SORT_COST = 4.0  # work units per element and log2 step of re-sorting an operand (vs one merge step)
DENSE_STEP = 0.25  # a step of a dense loop (contiguous, vectorizable) relative to a sparse merge step
LOCATE_COST = 0.5  # a locate into a dense level, relative to a merge step
MAX_CANDIDATES = 5040  # loop orders tried exhaustively (7 indices)


class ScheduleError(ZeroskipError, ValueError):
    """A schedule that cannot be made: unknown index in the loop order, missing operand."""


@dataclass(frozen=True, slots=True)
class OperandInfo:
    """What the scheduler knows of an operand: its format, and when given, shape and fiber lengths."""

    format: Format
    shape: tuple[int, ...] | None = None
    nnz: int | None = None
    mean_lengths: tuple[float, ...] | None = None  # mean stored fiber length per storage level

    @classmethod
    def of(cls, spec, ndim: int | None = None) -> OperandInfo:
        """From a format (string or Format), a SparseTensor (format, shape and statistics), or an OperandInfo (as is)."""
        if isinstance(spec, OperandInfo):
            return spec
        if hasattr(spec, "levels") and hasattr(spec, "vals"):
            from zeroskip.formats.stats import tensor_stats

            stats = tensor_stats(spec)
            return cls(spec.format, spec.shape, spec.nnz, tuple(lv.mean_length for lv in stats.levels))
        return cls(as_format(spec, ndim=ndim))


@dataclass(frozen=True, slots=True)
class Conversion:
    """An operand re-stored before the loops (or the output after them), and why."""

    tensor: str
    source: Format
    target: Format
    reason: str


@dataclass(frozen=True, slots=True)
class Schedule:
    """The loop order, the formats the loops see, the conversions that make them so, and the estimate."""

    assignment: Assignment
    loop_order: tuple[str, ...]
    formats: tuple[tuple[str, Format], ...]
    conversions: tuple[Conversion, ...]
    dims: tuple[tuple[str, int], ...]
    cost: float
    ranking: tuple[tuple[tuple[str, ...], float], ...]  # every candidate tried, cheapest first
    chosen_by: str  # "user" or "cost model"

    @property
    def format_of(self) -> dict[str, Format]:
        return dict(self.formats)

    def explain(self) -> str:
        """Why this loop order and these formats, in a few lines."""
        lines = [f"loop order {','.join(self.loop_order)} ({self.chosen_by}; estimated work {self.cost:.3g})"]
        for order, cost in self.ranking[1:4]:
            lines.append(f"  next: {','.join(order)} (estimated work {cost:.3g})")
        lines += [f"  {c.reason}" for c in self.conversions]
        lines.append("  formats: " + ", ".join(f"{n}={f.name}" for n, f in self.formats))
        return "\n".join(lines)


def make_schedule(
    assign: Assignment,
    operands: Mapping[str, object],
    *,
    loop_order=None,
    output_format=None,
    sam: bool = False,
) -> Schedule:
    """Choose (or check) the loop order and formats of ``assign`` for ``operands``.

    ``operands`` maps each input to an ``OperandInfo``, a SparseTensor (format, shape and measured
    statistics) or a format (string or ``Format``). ``sam=True`` schedules for a SAM dataflow
    graph, which has only dense and compressed levels: an operand with non-unique or singleton
    levels (COO) is converted to its compressed equivalent (COO to DCSR, CSF for order 3).

    >>> from zeroskip.lang import parse
    >>> s = make_schedule(parse("y(i) = A(i,j) * x(j)"), {"A": "coo", "x": "d"}, sam=True)
    >>> s.conversions[0].reason
    'SAM graphs have no singleton levels: convert A from coo (nq) to dcsr (ss)'
    """
    missing = [name for name in assign.inputs if name not in operands]
    if missing:
        raise ScheduleError(f"no format or tensor given for {', '.join(missing)} in {assign}")
    orders = assign.tensors
    operands = {name: info if isinstance(info, OperandInfo) else OperandInfo.of(info, orders.get(name))
                for name, info in operands.items() if name in orders}
    dims = _dims(assign, operands)
    if loop_order is not None:
        order = parse_loop_order(loop_order)
        if sorted(order) != sorted(assign.all_indices):
            raise ScheduleError(f"loop order {order} must name each index of {assign} once: {assign.all_indices}")
        candidates, chosen_by = [order], "user"
    else:
        candidates = list(itertools.islice(itertools.permutations(assign.all_indices), MAX_CANDIDATES))
        chosen_by = "cost model"
    ranked = []
    for order in candidates:
        formats, conversions = _formats_for(assign, operands, order, output_format, dims, sam)
        nest = build_loopnest(assign, order, formats)
        while sam and (fix := _coordinate_source(nest, order)) is not None:
            formats[fix.tensor] = fix.target
            conversions.append(fix)
            nest = build_loopnest(assign, order, formats)
        # The CPU backend keeps multi-index workspaces dense: an order must be cheap for it too.
        dense_ws = build_loopnest(assign, order, formats, sparse_workspace_order=1)
        work = max(_estimate(nest, operands, dims), _estimate(dense_ws, operands, dims))
        cost = work + sum(_conversion_cost(c, operands, dims) for c in conversions)
        ranked.append((cost, order, formats, conversions))
    # Orders within 1% of each other tie; fewer conversions, then the written order, break the tie.
    ranked.sort(key=lambda r: (round(math.log(r[0] + 1.0) / math.log(1.01)), len(r[3]),
                               r[1] != tuple(assign.all_indices)))
    cost, order, formats, conversions = ranked[0]
    return Schedule(assign, order, tuple(formats.items()), tuple(conversions), tuple(dims.items()), cost,
                    tuple((r[1], r[0]) for r in ranked), chosen_by)


def parse_loop_order(loop_order) -> tuple[str, ...]:
    """A loop order from a sequence of index names, ``"i,k,j"``, or ``"ikj"`` (one-letter indices)."""
    if isinstance(loop_order, str):
        parts = loop_order.split(",") if "," in loop_order else list(loop_order)
        return tuple(part.strip() for part in parts if part.strip())
    return tuple(str(index) for index in loop_order)


def _dims(assign: Assignment, operands: Mapping[str, OperandInfo]) -> dict[str, int]:
    from zeroskip.lang.shapes import infer_dims

    shapes = {n: info.shape for n, info in operands.items() if info.shape is not None}
    if all(n in shapes for n in assign.inputs):
        return infer_dims(assign, {n: shapes[n] for n in assign.inputs})
    dims = {}
    for access in accesses(assign.rhs):
        shape = operands[access.tensor].shape
        for mode, index in enumerate(access.indices):
            if shape is not None:
                dims.setdefault(index, shape[mode])
    return {i: dims.get(i, DEFAULT_DIM) for i in assign.all_indices}


def _concordant(access: Access, fmt: Format, order: tuple[str, ...]) -> Format:
    """``fmt`` with its mode order changed, if needed, to follow ``order``."""
    storage = [access.indices[m] for m in fmt.mode_order]
    wanted = sorted(range(len(access.indices)), key=lambda m: order.index(access.indices[m]))
    if [access.indices[m] for m in wanted] == storage:
        return fmt
    return Format(fmt.levels, tuple(wanted))


def _compressed_equivalent(fmt: Format) -> Format:
    """``fmt`` with every non-unique or singleton level made compressed (COO ``nq`` becomes DCSR ``ss``)."""
    return Format(tuple(lv if lv.full else COMPRESSED for lv in fmt.levels), fmt.mode_order)


def _formats_for(assign, operands, order, output_format, dims, sam=False):
    formats: dict[str, Format] = {}
    conversions: list[Conversion] = []
    for access in accesses(assign.rhs):
        fmt = operands[access.tensor].format
        if fmt.ndim != access.order:
            raise ScheduleError(f"{access} has {access.order} indices but its format {fmt.spec!r} has {fmt.ndim} levels")
        if sam and _compressed_equivalent(fmt) != fmt and access.tensor not in formats:
            compressed = _compressed_equivalent(fmt)
            conversions.append(Conversion(access.tensor, fmt, compressed,
                                          f"SAM graphs have no singleton levels: convert {access.tensor} from "
                                          f"{fmt.name} ({fmt.spec}) to {compressed.name} ({compressed.spec})"))
            fmt = compressed
        target = _concordant(access, fmt, order)
        if target != fmt and access.tensor not in formats:
            storage = ",".join(access.indices[m] for m in fmt.mode_order)
            conversions.append(Conversion(access.tensor, fmt, target,
                                          f"loop order {','.join(order)} visits {access} against its storage order "
                                          f"{storage} ({fmt.spec}): convert to {target.spec}"))
        formats[access.tensor] = target
    out = assign.lhs
    if output_format is None:
        # An output level is dense where the loop over its index visits the whole dimension.
        # Level kinds in storage (loop) order: each level takes the kind of the index it stores.
        storage = sorted(out.indices, key=order.index)
        letters = "".join("d" if merge_lattice(assign.rhs, i, formats).dense else "s" for i in storage)
        modes = tuple(out.indices.index(i) for i in storage)
        formats[out.tensor] = as_format(letters, ndim=out.order, mode_order=modes)
    else:
        wanted = as_format(output_format, ndim=out.order)
        loops = _concordant(out, wanted, order)
        if loops != wanted:
            conversions.append(Conversion(out.tensor, loops, wanted,
                                          f"the output is assembled as {loops.spec} in loop order and then converted to "
                                          f"{wanted.spec}"))
        formats[out.tensor] = loops
    return formats, conversions


def _coordinate_source(nest: LoopNest, order: tuple[str, ...]) -> Conversion | None:
    """For SAM: a loop that visits every coordinate (a sum with a term lacking its index) must scan a dense
    level, as SAM has no coordinate generator. Returns the conversion of the operand that gets one (its
    levels for the loop and the loops above it made dense, so that its references there are never absent),
    or None when every such loop has one."""
    formats = nest.format_of

    def visit(stmt) -> Conversion | None:
        if isinstance(stmt, Where):
            return visit(stmt.producer) or visit(stmt.consumer)
        if not isinstance(stmt, Forall):
            return None
        point = stmt.lattice.points[0]
        if not point.iterators:
            uses = [a for a in accesses(point.expr) if stmt.index in a.indices and a.tensor in nest.assignment.inputs]
            upto = order[:order.index(stmt.index) + 1]
            if uses and not any(all(_full(formats[a.tensor], a, i) for i in a.indices if i in upto) for a in uses):
                access = max(uses, key=lambda a: len(a.indices))  # the one that reaches the most loops
                wanted = {i for i in access.indices if i in upto}
                fmt = formats[access.tensor]
                levels = tuple(DENSE if access.indices[m] in wanted else lv for lv, m in zip(fmt.levels, fmt.mode_order))
                target = Format(levels, fmt.mode_order)
                return Conversion(access.tensor, fmt, target,
                                  f"SAM graphs have no coordinate generator: the loop over {stmt.index} visits every "
                                  f"coordinate ({point.expr}), so {access.tensor} is stored {target.spec} "
                                  f"(dense for {','.join(sorted(wanted, key=order.index))})")
        return visit(stmt.body)

    return visit(nest.body)


def _full(fmt: Format, access: Access, index: str) -> bool:
    return fmt.levels[fmt.mode_order.index(access.indices.index(index))].full


def _conversion_cost(conv: Conversion, operands, dims) -> float:
    info = operands.get(conv.tensor)
    if info is not None and info.nnz is not None:
        stored = info.nnz
    else:  # a guess from the format: all-dense stores every coordinate, else the density guess
        stored = float(DEFAULT_DIM) ** conv.source.ndim * (1.0 if conv.source.is_dense else DEFAULT_DENSITY)
    return SORT_COST * stored * math.log2(stored + 2)


# ---- the work estimate ---------------------------------------------------------------------------
def _estimate(nest: LoopNest, operands, dims, dense_step: float = DENSE_STEP) -> float:
    lengths = _Lengths(nest, operands, dims)
    lengths.dense_step = dense_step
    return _work(nest.body, 1.0, lengths)


def estimate_parts(nest: LoopNest, operands, dims) -> tuple[float, float]:
    """The work estimate split in two: (sparse steps, dense steps), so each can be priced on its own."""
    sparse = _estimate(nest, operands, dims, dense_step=0.0)
    return sparse, _estimate(nest, operands, dims, dense_step=1.0) - sparse


class _Lengths:
    """Expected fiber length of each (tensor, level): measured, guessed from density, or a workspace's fill."""

    def __init__(self, nest: LoopNest, operands, dims) -> None:
        self.dims, self.known, self.formats = dims, {}, nest.format_of
        self.modes = {a.tensor: a.indices for a in (nest.assignment.lhs, *accesses(nest.assignment.rhs))}
        self.density: dict[str, float] = {}  # measured nnz / size, for operands the loops see re-stored
        self.dense_step = DENSE_STEP
        for name, info in operands.items():
            if name in self.formats and info.mean_lengths is not None and info.format == self.formats[name]:
                self.known[name] = info.mean_lengths
            elif info.nnz is not None and info.shape:
                self.density[name] = info.nnz / max(math.prod(info.shape), 1)

    def of(self, tensor: str, level: int) -> float:
        fmt = self.formats[tensor]
        if tensor in self.known:
            return max(self.known[tensor][level], 1e-3)
        sizes = self._sizes(tensor)
        if fmt.levels[level].full:
            return float(sizes[level])
        below = math.prod(sizes[level + 1:])
        density = self.density.get(tensor, DEFAULT_DENSITY)
        occupied = 1.0 - (1.0 - density) ** below  # chance that one child's subtree holds a nonzero
        parent = 1.0 - (1.0 - occupied) ** sizes[level]
        return max(sizes[level] * occupied / max(parent, 1e-12), 1.0)

    def fill(self, tensor: str, per_level: list[float]) -> None:
        self.known[tensor] = tuple(per_level)

    def _sizes(self, tensor: str) -> list[int]:
        indices = self.modes.get(tensor, ())
        fmt = self.formats[tensor]
        return [self.dims.get(indices[m], DEFAULT_DIM) if m < len(indices) else DEFAULT_DIM for m in fmt.mode_order]


def _loop(lattice: MergeLattice, lengths: _Lengths, dim: int) -> tuple[float, float]:
    """(iterations, merge work) of one execution of a loop."""
    its = lattice.iterators
    if not its or all(it.full for it in its):
        count = float(dim)
        return count, count * lengths.dense_step * (1 + len(lattice.locators) + max(len(its) - 1, 0))
    fibers = [lengths.of(it.tensor, it.level) for it in its]
    count = min(float(dim), min(fibers) if lattice.intersection else sum(fibers))
    return count, sum(fibers) + count * LOCATE_COST * len(lattice.locators)


def _work(stmt: Stmt, mult: float, lengths: _Lengths, dense: bool = False) -> float:
    """Work of ``stmt`` run ``mult`` times; ``dense``: its innermost loop is a dense (vectorizable) one."""
    if isinstance(stmt, Forall):
        count, work = _loop(stmt.lattice, lengths, lengths.dims.get(stmt.index, DEFAULT_DIM))
        its = stmt.lattice.iterators
        return mult * work + _work(stmt.body, mult * count, lengths, not its or all(it.full for it in its))
    if isinstance(stmt, Where):
        produced = _work(stmt.producer, mult, lengths, dense)
        writes = _writes(stmt.producer, mult, lengths) / max(mult, 1e-12)
        if stmt.temp.indices:
            per_level = writes ** (1.0 / len(stmt.temp.indices))
            lengths.fill(stmt.temp.name, [min(per_level, lengths.dims.get(i, DEFAULT_DIM)) for i in stmt.temp.indices])
        return produced + _work(stmt.consumer, mult, lengths, dense)
    if isinstance(stmt, Assign):
        # In a dense loop the statement is vector work, priced like the loop's own steps.
        scale = lengths.dense_step / DENSE_STEP if dense else 1.0
        return mult * (1 + len(accesses(stmt.rhs))) * scale
    raise ScheduleError(f"unknown statement {stmt!r}")


def _writes(stmt: Stmt, mult: float, lengths: _Lengths) -> float:
    if isinstance(stmt, Forall):
        count, _ = _loop(stmt.lattice, lengths, lengths.dims.get(stmt.index, DEFAULT_DIM))
        return _writes(stmt.body, mult * count, lengths)
    if isinstance(stmt, Where):
        return _writes(stmt.consumer, mult, lengths)
    return mult
