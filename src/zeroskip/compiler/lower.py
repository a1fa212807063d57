"""Lowering: the LoopNest to a dataflow Graph of SAM primitives (Custard's construction).

Each ``forall`` becomes, per tensor that stores its index at the next level, a level scanner
(dense or compressed; root scanners read level 0), joined by an intersecter for products and a
unioner for sums (nested as the expression nests); every tensor used below that lacks the index
has its reference repeated once per coordinate (repeater + repeat-signal generator). At the
bottom, value arrays feed ALUs that follow the expression tree; a scalar temporary is a reducer
per loop it sums over, a vector or matrix workspace a sparse accumulator fed with coordinates
held down to its points (coordinate holders). Output levels get coordinate droppers where an
intersection or a reduction may leave an output coordinate without anything below it, then a
level writer each and a value writer (Hsu et al., "The Sparse Abstract Machine", ASPLOS 2023).

Negation has no ALU: signs travel with values and resolve into ``sub`` (``b - A*x``); literals
and a final ``-1`` are scalar input tensors (``constants(nest)`` gives their names and values).
Streams are tracked for two facts: whether a fiber may be empty (where droppers go) and whether
a coordinate may be ``N`` (absent); a shape the SAM primitives cannot express raises
``LoweringError`` naming the construct, never a wrong graph.

Example:
    >>> from zeroskip.lang import parse
    >>> from zeroskip.compiler import build_loopnest, make_schedule
    >>> s = make_schedule(parse("y(i) = A(i,j) * x(j)"), {"A": "dcsr", "x": "sparse"})
    >>> g = lower_to_graph(build_loopnest(s.assignment, s.loop_order, s.format_of), dict(s.dims))
    >>> sorted(n.op.value for n in g.nodes)  # doctest: +NORMALIZE_WHITESPACE
    ['alu', 'arrayvals', 'arrayvals', 'crddrop', 'fiberlookup', 'fiberlookup', 'fiberlookup', 'fiberwrite',
     'intersect', 'reduce', 'repeat', 'repsiggen', 'valswrite']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from zeroskip.compiler.lower_values import COMPLEX, Join, Out, Value, both_empty, build_join, either_empty, signs_of
from zeroskip.compiler.loopnest import Assign, Forall, LoopNest, Stmt, Where
from zeroskip.dataflow.graph import (
    Alu, ArrayVals, CrdDrop, CrdHold, Edge, Graph, Intersect, LevelScan, LevelWrite, Node, Op, Reduce, RepSigGen,
    Repeat, SpAcc, TensorSpec, Union, ValsWrite,
)
from zeroskip.dataflow.ports import verify_graph
from zeroskip.errors import ZeroskipError
from zeroskip.lang.ast import Access, Add, Expr, Literal, Mul, Neg, Sub, accesses, walk


class LoweringError(ZeroskipError, ValueError):
    """A LoopNest shape that SAM's primitives cannot express; the message names the construct."""


@dataclass(frozen=True, slots=True)
class Loop:
    """A lowered ``forall``: its coordinate stream and what may happen in it."""

    index: str
    crd: Out
    may_be_empty: bool  # a fiber may hold no coordinate below a coordinate of the loop above
    non_n: bool  # no coordinate is N (an absent operand)
    full: bool = True  # every fiber holds every coordinate of the dimension (a dense output level may take it)


@dataclass(frozen=True, slots=True)
class _Env:
    loops: tuple[Loop, ...]
    refs: Mapping[str, Out | None]  # None: the root reference
    maybe_n: Mapping[str, bool]  # the reference may be N (an operand absent from a union)
    covers: tuple[tuple[frozenset, ...], ...]  # at every point, one group of each cover has real references
    values: Mapping[str, Value]  # scalar temporaries computed so far


def constants(nest: LoopNest) -> dict[str, float]:
    """The scalar input tensors the graph of ``nest`` reads for its literals (and a ``-1`` for a negation).

    >>> from zeroskip.lang import parse
    >>> from zeroskip.compiler import build_loopnest
    >>> from zeroskip.formats import as_format
    >>> f = {"y": as_format("s"), "x": as_format("s")}
    >>> constants(build_loopnest(parse("y(i) = -(2 * x(i))"), ("i",), f))
    {'_c0': 2.0, '_c1': -1.0}
    """
    _, negate = signs_of(nest)
    values = [float(e.value) for a in _assigns(nest.body) for e in walk(a.rhs) if isinstance(e, Literal)]
    if negate:
        values.append(-1.0)
    taken, out = set(dict(nest.formats)) | set(nest.assignment.tensors), {}
    prefix = "_c"
    while any(name.startswith(prefix) for name in taken):
        prefix = "_" + prefix
    for value in dict.fromkeys(values):
        out[f"{prefix}{len(out)}"] = value
    return out


def lower_to_graph(nest: LoopNest, dims: Mapping[str, int]) -> Graph:
    """The SAM dataflow graph of ``nest``; ``dims`` (index sizes) fill the writers' size fields."""
    return _Lowering(nest, dims).run()


def _assigns(stmt: Stmt):
    if isinstance(stmt, Forall):
        yield from _assigns(stmt.body)
    elif isinstance(stmt, Where):
        yield from _assigns(stmt.producer)
        yield from _assigns(stmt.consumer)
    else:
        yield stmt


class _Lowering:
    def __init__(self, nest: LoopNest, dims: Mapping[str, int]) -> None:
        self.nest, self.dims, self.formats = nest, dict(dims), nest.format_of
        self.out = nest.assignment.lhs
        self.access: dict[str, Access] = {}
        for a in accesses(nest.assignment.rhs):
            if a.tensor in self.access:
                raise LoweringError(f"{a.tensor} is read twice in {nest.assignment}; a SAM joiner names each "
                                    f"operand once: give the second use its own name")
            self.access[a.tensor] = a
            bad = [lv.char for lv in self.formats[a.tensor].levels if not (lv.full or lv.has_pos and lv.unique)]
            if bad:
                raise LoweringError(f"{a.tensor} is stored as {self.formats[a.tensor].name}: SAM graphs have no "
                                    f"singleton levels; schedule with make_schedule(..., sam=True) to convert it")
        self.temps = {t.name: t for t in nest.temporaries}
        self.consts = constants(nest)
        self.const_of = {v: k for k, v in self.consts.items()}
        _, self.negate = signs_of(nest)
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.repsigs: dict[Out, Out] = {}
        self.via_spacc = False
        self.written: str | None = None  # the output's level kinds as the writers store them
        self._uses: dict[int, frozenset[str]] = {}

    # ---- graph building ------------------------------------------------------------------------
    def node(self, op: Op, params) -> int:
        self.nodes.append(Node(len(self.nodes), op, params))
        return len(self.nodes) - 1

    def edge(self, src: Out, dst: int, port: str) -> None:
        self.edges.append(Edge(src.node, src.port, dst, port, src.kind))

    def run(self) -> Graph:
        names = [*self.access, *self.consts]
        env = _Env((), {n: None for n in names}, {n: False for n in names}, (), {})
        self.stmt(self.nest.body, env)
        return verify_graph(Graph(tuple(self.nodes), tuple(self.edges), self.specs()))

    def specs(self) -> tuple[TensorSpec, ...]:
        def spec(name, letters=None):
            fmt = self.formats[name]
            letters = letters or "".join("d" if lv.full else "s" for lv in fmt.levels)
            return TensorSpec(name, letters, fmt.mode_order)
        out_fmt = self.formats[self.out.tensor]
        # A sparse accumulator emits compressed scans: its output levels are written compressed.
        out = spec(self.out.tensor, "s" * out_fmt.ndim if self.via_spacc else self.written)
        return (out, *(spec(n) for n in self.access), *(TensorSpec(n, "", ()) for n in self.consts))

    def uses(self, stmt: Stmt) -> frozenset[str]:
        """Input tensors and constants read anywhere in ``stmt``."""
        if id(stmt) not in self._uses:
            found: set[str] = set()
            for a in _assigns(stmt):
                found |= {e.tensor for e in accesses(a.rhs) if e.tensor in self.access}
                found |= {self.const_of[float(e.value)] for e in walk(a.rhs) if isinstance(e, Literal)}
                if id(a) in self.negate:
                    found.add(self.const_of[-1.0])
            self._uses[id(stmt)] = frozenset(found)
        return self._uses[id(stmt)]

    # ---- statements ----------------------------------------------------------------------------
    def stmt(self, stmt: Stmt, env: _Env) -> Value | None:
        if isinstance(stmt, Forall):
            return self.forall(stmt, env)
        if isinstance(stmt, Where):
            return self.scalar_where(stmt, env) if not stmt.temp.indices else self.workspace(stmt, env)
        return self.assign(stmt, env)

    def forall(self, loop: Forall, env: _Env) -> Value | None:
        index, expr = loop.index, loop.lattice.points[0].expr
        temps = sorted({a.tensor for a in accesses(expr) if a.tensor in self.temps})
        if temps:
            raise LoweringError(f"the loop over {index} iterates workspace {temps[0]} together with other operands "
                                f"({expr}); SAM's sparse accumulator emits coordinates and values, not references, "
                                f"so a workspace can only be copied to the output")
        bounded, tree = build_join(expr, index, self.access)
        if tree is None:
            raise LoweringError(f"no operand of {expr} stores index {index}: nothing makes its coordinates")
        if not bounded:
            tree = self.everywhere(tree, index, env, expr)
        crd, refs = self.emit_join(tree, index, env)
        dense = {t for t in tree.tensors if self.dense(t, index)}
        non_n, maybe_n, covers = tree.facts(env.maybe_n, env.covers, dense)
        refs = {**env.refs, **refs}
        for t in sorted(self.uses(loop.body) - set(tree.tensors), key=list(env.refs).index):
            rep = self.node(Op.REPEAT, Repeat(index, t, env.refs[t] is None))
            if env.refs[t] is not None:
                self.edge(env.refs[t], rep, "ref")
            self.edge(self.repsig(crd, index), rep, "repsig")
            refs[t] = Out(rep, "ref")
        here = Loop(index, crd, tree.may_be_empty(lambda t: self.scan_empty(t, index), env.maybe_n), non_n,
                    self.full(tree, index, env.maybe_n))
        return self.stmt(loop.body, _Env((*env.loops, here), refs, maybe_n, covers, env.values))

    def everywhere(self, tree: Join, index: str, env: _Env, expr: Expr) -> Join:
        """A loop over every coordinate (a sum with a term lacking the index): a union with a dense level."""
        scans = tree.scans()
        if not any(self.dense(s.tensor, index) and not env.maybe_n[s.tensor] for s in scans):
            raise LoweringError(f"the loop over {index} visits every coordinate ({expr} has a term without {index}) "
                                f"but no operand stores {index} in a dense level present at every coordinate above "
                                f"it; SAM has no coordinate generator: store one of "
                                f"{', '.join(s.tensor for s in scans)} densely down to {index}")
        return scans[0] if len(scans) == 1 else Join("union", children=scans)

    def scan_empty(self, tensor: str, index: str) -> bool:
        """A compressed fiber may be empty at level 0 (an empty tensor) or below a dense level (a CSR row);
        below a compressed level it holds a coordinate (canonical storage stores no empty subtree)."""
        levels, level = self.formats[tensor].levels, self.level(tensor, index)
        return not levels[level].full and (level == 0 or levels[level - 1].full)

    def full(self, tree: Join, index: str, maybe_n) -> bool:
        """The join's fibers hold every coordinate: a dense scan of a real reference, an intersection of
        such, or a union with one."""
        if tree.kind == "scan":
            return self.dense(tree.tensor, index) and not maybe_n[tree.tensor]
        found = [self.full(c, index, maybe_n) for c in tree.children]
        return all(found) if tree.kind == "intersect" else any(found)

    def dense(self, tensor: str, index: str) -> bool:
        return self.formats[tensor].levels[self.level(tensor, index)].full

    def level(self, tensor: str, index: str) -> int:
        return self.formats[tensor].mode_order.index(self.access[tensor].indices.index(index))

    def emit_join(self, tree: Join, index: str, env: _Env) -> tuple[Out, dict[str, Out]]:
        if tree.kind == "scan":
            t = tree.tensor
            fmt, mode = self.formats[t], self.access[t].indices.index(index)
            kind = "dense" if fmt.levels[fmt.mode_order.index(mode)].full else "compressed"
            scan = self.node(Op.LEVEL_SCAN, LevelScan(t, mode, index, kind, env.refs[t] is None))
            if env.refs[t] is not None:
                self.edge(env.refs[t], scan, "ref")
            return Out(scan, "crd"), {t: Out(scan, "ref")}
        kids = [self.emit_join(child, index, env) for child in tree.children]
        tensors = tuple(t for _, refs in kids for t in refs)
        params = (Intersect if tree.kind == "intersect" else Union)(index, tensors)
        join = self.node(Op.INTERSECT if tree.kind == "intersect" else Op.UNION, params)
        for crd, refs in kids:
            for t, ref in refs.items():
                self.edge(crd, join, f"crd_in-{t}")
                self.edge(ref, join, f"ref_in-{t}")
        return Out(join, "crd"), {t: Out(join, f"ref_out-{t}") for t in tensors}

    def repsig(self, crd: Out, index: str) -> Out:
        if crd not in self.repsigs:
            gen = self.node(Op.REPSIGGEN, RepSigGen(index))
            self.edge(crd, gen, "crd")
            self.repsigs[crd] = Out(gen, "repsig")
        return self.repsigs[crd]

    def scalar_where(self, where: Where, env: _Env) -> Value | None:
        produced = self.stmt(where.producer, env)
        reduced = produced.loops[len(env.loops):]
        out = produced.out
        for _ in reduced:
            out = self.alu_like(Op.REDUCE, Reduce(), out)
        empty = COMPLEX if produced.empty is COMPLEX else (*reduced, *(produced.empty or ()))
        value = Value(out, produced.sign, env.loops, empty or None, reduced=True)
        if isinstance(where.consumer, Forall):
            raise LoweringError(f"scalar temporary {where.temp.name} is computed outside the loop over "
                                f"{where.consumer.index} and read inside it; SAM repeats references, not values: "
                                f"choose a loop order with the reduction innermost")
        return self.stmt(where.consumer, replace(env, values={**env.values, where.temp.name: value}))

    def alu_like(self, op: Op, params, *ins: Out) -> Out:
        n = self.node(op, params)
        for port, src in zip(("val",) if op is Op.REDUCE else ("in0", "in1"), ins):
            self.edge(src, n, port)
        return Out(n, "val")

    def assign(self, stmt: Assign, env: _Env) -> Value | None:
        out, sign, empty = self.expr(stmt.rhs, env)
        if id(stmt) in self.negate:
            out, sign = self.alu_like(Op.ALU, Alu("mul"), out, self.vals(self.const_of[-1.0], env)), 1
        reduced = any(a.tensor in self.temps for a in accesses(stmt.rhs))
        value = Value(out, sign, env.loops, empty, reduced)
        if stmt.lhs.tensor in self.temps:
            return value
        self.write(value, env)
        return None

    def vals(self, tensor: str, env: _Env) -> Out:
        if env.refs[tensor] is None:
            shown = self.consts.get(tensor, tensor)
            raise LoweringError(f"scalar {shown} is read outside every loop; SAM reads values through references "
                                f"that a scanner or repeater makes, so a term needs an index")
        n = self.node(Op.ARRAY_VALS, ArrayVals(tensor))
        self.edge(env.refs[tensor], n, "ref")
        return Out(n, "val")

    def expr(self, e: Expr, env: _Env) -> tuple[Out, int, object]:
        """The value stream of ``e``, its sign, and where it may be N (see ``Value.empty``)."""
        if isinstance(e, Access) and e.tensor in self.temps:
            v = env.values[e.tensor]
            return v.out, v.sign, v.empty
        if isinstance(e, (Access, Literal)):
            return self.vals(e.tensor if isinstance(e, Access) else self.const_of[float(e.value)], env), 1, None
        if isinstance(e, Neg):
            out, sign, empty = self.expr(e.operand, env)
            return out, -sign, empty
        (a, sa, ea), (b, sb, eb) = self.expr(e.left, env), self.expr(e.right, env)
        if isinstance(e, Mul):
            return self.alu_like(Op.ALU, Alu("mul"), a, b), sa * sb, either_empty(ea, eb)
        sb = -sb if isinstance(e, Sub) else sb
        assert isinstance(e, (Add, Sub))
        if sa == sb:
            return self.alu_like(Op.ALU, Alu("add"), a, b), sa, both_empty(ea, eb)
        first, second = (a, b) if sa > 0 else (b, a)
        return self.alu_like(Op.ALU, Alu("sub"), first, second), 1, both_empty(ea, eb)

    # ---- outputs -------------------------------------------------------------------------------
    def storage(self) -> list[str]:
        fmt = self.formats[self.out.tensor]
        return [self.out.indices[m] for m in fmt.mode_order]

    def write(self, value: Value, env: _Env) -> None:
        """Droppers where an output coordinate may have nothing below it, then the writers."""
        loops, fmt = env.loops, self.formats[self.out.tensor]
        if [lp.index for lp in loops] != self.storage():
            raise LoweringError(f"the output {self.out} is assigned inside loops {[lp.index for lp in loops]}, "
                                f"not exactly its own indices in storage order {self.storage()}")
        for lp in loops:
            if not lp.non_n:
                raise LoweringError(f"coordinates of output index {lp.index} may be N (an operand absent from a "
                                    f"union feeds an intersection); SAM has no block that removes N coordinates")
        # A dense level stores every coordinate: where its loop skips some (it scans a compressed level),
        # the level is written compressed and the output converted after the graph.
        dense = [lv.full and lp.full for lv, lp in zip(fmt.levels, loops)]
        self.written = "".join("d" if d else "s" for d in dense)
        cur = [lp.crd for lp in loops]
        empty = [lp.may_be_empty and not d for lp, d in zip(loops, dense)]
        if loops and value.empty is COMPLEX and not dense[-1]:
            raise LoweringError(f"whether {self.out} holds a value depends on several reductions of "
                                f"{self.nest.assignment}; a coordinate dropper follows one stream")
        if loops and isinstance(value.empty, tuple) and not dense[-1]:
            inner, inner_empty = self.drop_chain(value.empty)
            if inner_empty:
                cur[-1], _ = self.drop(cur[-1], inner, loops[-1].index, value.empty[0].index)
                empty[-1] = True
        for k in range(len(loops) - 2, -1, -1):
            if empty[k + 1] and not dense[k]:
                cur[k], cur[k + 1] = self.drop(cur[k], cur[k + 1], loops[k].index, loops[k + 1].index)
                empty[k] = True
        self.writers([(lp.index, c, "dense" if d else "compressed") for lp, c, d in zip(loops, cur, dense)],
                     value.out)

    def drop_chain(self, chain: tuple[Loop, ...]) -> tuple[Out, bool]:
        """The outermost coordinates of ``chain`` without those whose subtree below is empty, and whether any may be."""
        crd, empty = chain[-1].crd, chain[-1].may_be_empty
        for k in range(len(chain) - 2, -1, -1):
            if empty:
                crd, _ = self.drop(chain[k].crd, crd, chain[k].index, chain[k + 1].index)
            else:
                crd, empty = chain[k].crd, chain[k].may_be_empty
        return crd, empty

    def drop(self, outer: Out, inner: Out, outer_index: str, inner_index: str) -> tuple[Out, Out]:
        n = self.node(Op.CRDDROP, CrdDrop(outer_index, inner_index))
        self.edge(outer, n, "crd_outer")
        self.edge(inner, n, "crd_inner")
        return Out(n, "crd_outer"), Out(n, "crd_inner")

    def writers(self, levels: list[tuple[str, Out, str]], vals: Out) -> None:
        sizes = [self.dims.get(index, 0) for index, _, _ in levels]
        for k, (index, crd, kind) in enumerate(levels):
            seg = "2" if k == 0 else str(math.prod(sizes[:k]) + 1)
            w = self.node(Op.LEVEL_WRITE, LevelWrite(self.out.tensor, self.out.indices.index(index), index, kind,
                                                     seg, str(math.prod(sizes[:k + 1]))))
            self.edge(crd, w, "crd")
        self.edge(vals, self.node(Op.VALS_WRITE, ValsWrite(self.out.tensor, str(math.prod(sizes)))), "val")

    def workspace(self, where: Where, env: _Env) -> None:
        """A vector or matrix workspace: a sparse accumulator whose scan is copied to the output."""
        temp, consumer, looped = where.temp, where.consumer, []
        while isinstance(consumer, Forall):
            looped.append(consumer.index)
            consumer = consumer.body
        copy = (isinstance(consumer, Assign) and consumer.lhs.tensor == self.out.tensor
                and consumer.rhs == Access(temp.name, temp.indices) and tuple(looped) == temp.indices)
        if not copy:
            raise LoweringError(f"workspace {temp.name}({','.join(temp.indices)}) is combined with other operands in "
                                f"its consumer ({consumer}); SAM's sparse accumulator emits coordinates and values, "
                                f"not references, so a workspace can only be copied to the output")
        keys = [lp.index for lp in env.loops] + list(temp.indices)
        if keys != self.storage():
            raise LoweringError(f"workspace {temp.name}({','.join(temp.indices)}) sits inside loops "
                                f"{[lp.index for lp in env.loops]} that are not the output's outer indices")
        produced = self.stmt(where.producer, env)
        if produced.reduced:
            raise LoweringError(f"the points of workspace {temp.name} come from a nested reduction; a reducer's N "
                                f"for an empty fiber would misalign the sparse accumulator's coordinates and values")
        # No reducer in front: the accumulator sums the points of equal coordinates (as taco_fixups does).
        points, out = produced.loops, produced.out
        keyed = [lp for lp in points if lp.index in keys]
        for lp in keyed:
            if not lp.non_n:
                raise LoweringError(f"coordinates of {lp.index} may be N where they enter the sparse accumulator of "
                                    f"{temp.name}; SAM's accumulator takes coordinates only")
        reduced = [lp for lp in points if lp.index not in keys and lp.non_n]
        acc = self.node(Op.SPACC, SpAcc(len(temp.indices), tuple(lp.index for lp in reversed(keyed)),
                                        tuple(lp.index for lp in reduced)))
        passed: dict[str, Out] = {}  # a loop's coordinates as a holder passes them on (SAM wires these)
        for lp in keyed:
            held = lp.crd
            for deeper in points[points.index(lp) + 1:]:  # one coordinate per point
                hold = self.node(Op.CRDHOLD, CrdHold(lp.index, deeper.index))
                self.edge(held, hold, "crd_outer")
                self.edge(deeper.crd, hold, "crd_inner")
                held = Out(hold, "crd_outer")
                passed.setdefault(deeper.index, Out(hold, "crd_inner"))
            self.edge(passed.get(lp.index, held) if held == lp.crd else held, acc, f"crd-{lp.index}")
        for lp in reduced:
            self.edge(passed.get(lp.index, lp.crd), acc, f"crd-{lp.index}")
        self.edge(out, acc, "val")
        self.via_spacc = True
        self.writers([(i, Out(acc, f"crd_out-{i}"), "compressed") for i in keys], Out(acc, "val"))
        return None
