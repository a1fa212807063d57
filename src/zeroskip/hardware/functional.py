"""The functional pass: a Graph run on tensors by compiled step machines, keeping every stream and step trace.

Blocks run one after another in topological order, each over its complete input streams (they are
Kahn processes, so this yields exactly the streams of any timed run). The result holds each
block's ``StepTrace`` (what the timing pass needs), every stream, the output tensors and the event
counts the energy model prices. A stream the compiled kernels reject (misaligned inputs, a
reference out of range) is re-run in the reference interpreter, whose error names the block.

Example:
    >>> import numpy as np, zeroskip as zs
    >>> A = np.array([[1.0, 0, 2], [0, 0, 0], [0, 3, 0]]); x = np.array([1.0, 2, 3])
    >>> prog = zs.compile("y(i) = A(i,j) * x(j)", A=A, x=x)
    >>> run = functional_pass(prog.graph, {"A": A, "x": x})
    >>> run.outputs["y"].to_numpy().tolist()
    [7.0, 0.0, 6.0]
    >>> run.blocks[0].trace.steps > 0
    True
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from zeroskip.dataflow.graph import AluOp, Graph, Node, Op
from zeroskip.dataflow.interpret import Inputs, assemble_output, trace as reference_trace
from zeroskip.dataflow.ports import signature, verify_graph
from zeroskip.dataflow.tokens import DONE, EMPTY, STOP0, VALUE
from zeroskip.dataflow.values import WrittenLevel
from zeroskip.errors import StreamError
from zeroskip.formats.tensor import SparseTensor
from zeroskip.hardware import steps as st
from zeroskip.hardware.heap import keep_freed_memory

ROOT_TOKENS = np.array([0, DONE], np.int64)
_ALU = {AluOp.ADD: st.ALU_ADD, AluOp.SUB: st.ALU_SUB, AluOp.MUL: st.ALU_MUL}


@dataclass(frozen=True, slots=True)
class Block:
    """One node's run: its kernel ports (``inputs`` may name ``"root"``, fed by no edge) and its trace."""

    node: Node
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    trace: st.StepTrace


@dataclass(frozen=True)
class FunctionalRun:
    """Blocks in topological order, every stream by (node id, output port), and the output tensors.

    The output tensors are assembled from the writers' streams on first use (timing needs none).
    """

    graph: Graph
    blocks: tuple[Block, ...]
    streams: Mapping[tuple[int, str], tuple[np.ndarray, np.ndarray]]
    inputs: Inputs

    @functools.cached_property
    def outputs(self) -> dict[str, SparseTensor]:
        written = {}
        for block in self.blocks:
            if block.node.op in (Op.LEVEL_WRITE, Op.VALS_WRITE):
                written[block.node.id] = _written(block.node, *self.streams[_feed(self.graph, block.node)])
        return {name: assemble_output(self.graph, name, written, self.inputs) for name in self.graph.outputs}

    def events(self) -> dict[str, int]:
        """Event counts summed over blocks (SRAM accesses, ALU ops, comparisons) plus tokens moved."""
        total = np.zeros(len(st.EVENT_NAMES), np.int64)
        for block in self.blocks:
            total += block.trace.events
        counts = dict(zip(st.EVENT_NAMES, total.tolist()))
        counts["tokens"] = sum(len(self.streams[(e.src, e.src_port)][0]) for e in self.graph.edges)
        return counts


def functional_pass(graph: Graph, tensors: Mapping[str, object]) -> FunctionalRun:
    """Run ``graph`` on ``tensors`` with the compiled step machines (see the module docstring)."""
    keep_freed_memory()  # the next run reuses this run's buffers instead of page-faulting them in
    verify_graph(graph)
    ctx = Inputs(graph, tensors)
    streams: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
    blocks: list[Block] = []
    for node in graph.topological_order():
        feeds = {e.dst_port: streams[(e.src, e.src_port)] for e in graph.in_edges(node.id)}
        for names_in, names_out, kernel, extra in _kernels(node, ctx, feeds):
            ins = [feeds[n] if n != "root" else (ROOT_TOKENS, None) for n in names_in]
            try:
                outs, trace = st.run_kernel(kernel, [t for t, _ in ins], [v for _, v in ins], len(names_out),
                                            **extra)
            except RuntimeError:
                reference_trace(graph, tensors)  # raises the interpreter's precise StreamError
                raise StreamError(f"node {node.describe()}: the step machine rejects its input streams, "
                                  f"but the reference interpreter accepts them (a simulator bug)") from None
            for name, out in zip(names_out, outs):
                streams[(node.id, name)] = out
            blocks.append(Block(node, tuple(names_in), tuple(names_out), trace))
    return FunctionalRun(graph, tuple(blocks), streams, ctx)


def _feed(graph: Graph, node: Node) -> tuple[int, str]:
    edge = graph.in_edges(node.id)[0]
    return edge.src, edge.src_port


def _kernels(node: Node, ctx: Inputs, feeds):
    """The step machines of one node: (input names, output names, kernel id, ``run_kernel`` keywords).

    One per node, except the accumulator: the reduced coordinates SAM graphs wire into it are read
    and unused, so each is drained by its own sink; tying them to the points' steps would couple
    streams of unrelated rates and deadlock finite FIFOs, which the hardware does not do.
    """
    if node.op is Op.SPACC:
        p = node.params
        points = tuple(f"crd-{v}" for v in p.indices) + ("val",)
        outs = tuple(port.name for port in signature(node).outputs)
        drains = [((f"crd-{v}",), (), st.WRITE, {}) for v in p.reduced]
        return [(points, outs, st.SPACC, _spacc(node, [feeds[n] for n in points])), *drains]
    return [_kernel(node, ctx, feeds)]


def _kernel(node: Node, ctx: Inputs, feeds):
    p, op = node.params, node.op
    outs = tuple(port.name for port in signature(node).outputs)
    if op is Op.LEVEL_SCAN:
        tensor = ctx.tensors[p.tensor]
        level = tensor.format.mode_order.index(p.mode)
        ins = ("root",) if p.root else ("ref",)
        if tensor.format.levels[level].has_pos:
            arrays = tensor.levels[level]
            return ins, outs, st.SCAN, dict(ipar=(0, 0), a0=arrays.pos, a1=arrays.crd)
        size = tensor.format.storage_shape(tensor.shape)[level]
        return ins, outs, st.SCAN, dict(ipar=(1, size))
    ins = tuple(port.name for port in signature(node).inputs)
    if op is Op.REPEAT:
        return ("root" if p.root else "ref", "repsig"), outs, st.REPEAT, {}
    if op in (Op.INTERSECT, Op.UNION):
        return ins, outs, st.INTERSECT, dict(ipar=(int(op is Op.UNION),))
    if op is Op.ARRAY_VALS:
        return ins, outs, st.ARRAY_VALS, dict(fv=np.asarray(ctx.tensors[p.tensor].vals, np.float64))
    if op is Op.ALU:
        return ins, outs, st.ALU, dict(ipar=(_ALU[p.op],))
    simple = {Op.REPSIGGEN: st.REPSIGGEN, Op.CRDDROP: st.CRDDROP, Op.CRDHOLD: st.CRDHOLD, Op.REDUCE: st.REDUCE,
              Op.LEVEL_WRITE: st.WRITE, Op.VALS_WRITE: st.WRITE}
    return ins, outs, simple[op], {}


def _written(node: Node, tokens: np.ndarray, values) -> tuple:
    """What a writer stores, in the form ``assemble_output`` reads (see ``dataflow.values``)."""
    if node.op is Op.VALS_WRITE:
        stored = values[tokens == VALUE].tolist()
        return (stored, int(np.count_nonzero(tokens == EMPTY))), tokens.tolist()
    data = tokens >= 0
    count = np.cumsum(data)
    stops = np.flatnonzero(tokens <= STOP0)
    at_stop = count[stops]
    before = np.concatenate(([0], at_stop[:-1]))
    ends = at_stop[at_stop > before]
    return WrittenLevel(tokens[data].tolist(), ends.tolist()), tokens.tolist()


def _spacc(node: Node, feeds) -> dict:
    """The accumulator's output streams and the group rank of its points and output tokens."""
    p = node.params
    npt = len(p.indices)
    columns = [t[(t >= 0) | (t == EMPTY)] for t, _ in feeds[:npt]]
    vt, vv = feeds[-1]
    content = (vt == VALUE) | (vt == EMPTY)
    is_value, point_vals = vt[content] == VALUE, vv[content]
    if any(len(c) != len(point_vals) for c in columns) or any((c == EMPTY).any() for c in columns):
        raise StreamError(f"node {node.describe()}: coordinates and values of the accumulator do not pair up")
    cols = columns[::-1]  # outermost index first
    ngroup = npt - p.order
    n = len(point_vals)
    change = np.ones(n, bool)
    if n > 1:
        change[1:] = False
        for c in cols[:ngroup]:  # a point starts a new group when an outer coordinate changes
            change[1:] |= c[1:] != c[:-1]
    point_rank = np.cumsum(change) - 1
    if ngroup and n > 1:
        previous = np.stack([c[change] for c in cols[:ngroup]], axis=1)
        if len(previous) > 1 and (np.lexsort(previous.T[::-1]) != np.arange(len(previous))).any():
            raise StreamError(f"node {node.describe()}: outer coordinates arrive out of order; a sparse "
                              f"accumulator of order {p.order} needs them in increasing runs")
    ukeys, sums, order, starts = _accumulate([c[is_value] for c in cols], point_vals[is_value])
    key_rank = point_rank[is_value][order][starts]
    outs = _scan_keys(ukeys, sums, npt, key_rank if ngroup else None)
    tokens = np.concatenate([t for t, _, _ in outs])
    values = np.concatenate([v for _, v, _ in outs])
    lens = np.array([len(t) for t, _, _ in outs])
    ends = np.cumsum(lens)
    if ngroup:
        ipar = np.concatenate(([npt, 0], ends - lens, ends, np.concatenate([ph for _, _, ph in outs])))
    else:  # one group: everything is pushed when the inputs end, no phases to look up
        ipar = np.concatenate(([npt, 1], ends - lens, ends))
    return dict(ipar=ipar, a0=np.append(point_rank, 0), a1=tokens, fv=values)


FINAL = 1 << 60


def _accumulate(cols: list[np.ndarray], vals: np.ndarray):
    """Sum ``vals`` at equal coordinate tuples (``cols``, outermost first): the sorted unique keys (rows),
    their sums, the stable sorting order and where each unique key starts in it."""
    m = len(vals)
    if not cols or m == 0:
        return np.zeros((0, len(cols)), np.int64), vals[:0], np.zeros(0, np.int64), np.zeros(0, np.int64)
    spans = [int(c.max()) + 1 for c in cols]
    if np.prod([float(x) for x in spans]) * m < 2.0 ** 62:  # one int64 per key: 1-d sorts and compares
        flat = np.zeros(m, np.int64)
        for c, size in zip(cols, spans):
            flat = flat * size + c
        order = np.argsort(flat * m + np.arange(m))  # the position breaks ties: stable
        ordered = flat[order]
        new = np.ones(m, bool)
        new[1:] = ordered[1:] != ordered[:-1]
        starts = np.flatnonzero(new)
        ukeys = np.stack(np.unravel_index(ordered[starts], spans), axis=1).astype(np.int64)
    else:
        rows = np.stack(cols, axis=1)
        order = np.lexsort(rows.T[::-1])
        new = np.ones(m, bool)
        new[1:] = (rows[order[1:]] != rows[order[:-1]]).any(axis=1)
        starts = np.flatnonzero(new)
        ukeys = rows[order[starts]]
    return ukeys, np.add.reduceat(vals[order], starts), order, starts


def _scan_keys(keys: np.ndarray, sums: np.ndarray, depth: int, key_rank: np.ndarray):
    """The streams scanners emit over the tensor holding ``sums`` at sorted ``keys``, each token's phase.

    A data token's phase is the group rank of the first key under it; a stop or ``D`` takes the phase
    of the next data token of its stream (the accumulator knows a fiber closes only when the next
    one starts) and trailing ones the final phase. ``key_rank`` None: a single group.
    """
    n = len(keys)
    refs = (ROOT_TOKENS, None)
    outs = []
    new_at = np.zeros(n, bool)
    prev_new = new_at
    for d in range(depth):
        if n:
            new_at[0] = True
            new_at[1:] |= keys[1:, d] != keys[:-1, d]
        firsts = np.flatnonzero(new_at)
        parent = (np.cumsum(prev_new) - 1)[firsts] if d else np.zeros(len(firsts), np.int64)
        n_parent = int(prev_new.sum()) if d else 1
        pos = np.concatenate(([0], np.cumsum(np.bincount(parent, minlength=n_parent))))
        crd = keys[firsts, d] if n else np.zeros(0, np.int64)
        (ct, _), (rt, _) = st.run_kernel(st.SCAN, [refs[0]], [None], 2, ipar=(0, 0), a0=pos, a1=crd)[0]
        outs.append((ct, np.zeros(len(ct)), None if key_rank is None else _phases(ct, key_rank, firsts)))
        refs = (rt, None)
        prev_new = new_at.copy()
    (vt, vv), = st.run_kernel(st.ARRAY_VALS, [refs[0]], [None], 1, fv=sums)[0]
    return [*outs[::-1], (vt, vv, None if key_rank is None else _phases(vt, key_rank, None))]  # innermost first


def _phases(tokens: np.ndarray, key_rank: np.ndarray, firsts: np.ndarray | None) -> np.ndarray:
    data_phase = key_rank if firsts is None else key_rank[firsts]
    data = tokens >= 0
    idx = np.cumsum(data)  # data tokens at or before each token
    phase = np.full(len(tokens), FINAL, np.int64)
    phase[data] = data_phase
    control = ~data & (idx < len(data_phase))
    phase[control] = data_phase[idx[control]]
    return phase
