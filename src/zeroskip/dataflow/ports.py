"""The port rule table (one signature per primitive) and ``verify_graph``, the check of a Graph against it.

Every primitive registers, beside its params, which input ports it has and which output ports it
drives, each with its stream kind; an output marked ``needs_consumer`` must feed at least one edge
(SAM blocks stall when nobody pops a stream they push). A primitive without a rule fails loudly.

Example:
    >>> from zeroskip.dataflow.graph import Intersect, Node, Op
    >>> [p.name for p in signature(Node(3, Op.INTERSECT, Intersect("k", ("B", "C")))).inputs]
    ['crd_in-B', 'ref_in-B', 'crd_in-C', 'ref_in-C']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from zeroskip.errors import GraphError
from zeroskip.dataflow.graph import Graph, Node, Op
from zeroskip.dataflow.tokens import StreamKind

CRD, REF, VAL, REPSIG = StreamKind.CRD, StreamKind.REF, StreamKind.VAL, StreamKind.REPSIG


@dataclass(frozen=True, slots=True)
class Port:
    """One named port and the kind of stream on it."""

    name: str
    kind: StreamKind
    needs_consumer: bool = True  # outputs only: must feed at least one edge


@dataclass(frozen=True, slots=True)
class Signature:
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]

    def input(self, name: str) -> Port | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> Port | None:
        return next((p for p in self.outputs if p.name == name), None)


SIGNATURES: dict[Op, Callable[[object], Signature]] = {}


def _rule(op: Op):
    def register(fn):
        SIGNATURES[op] = fn
        return fn
    return register


def signature(node: Node) -> Signature:
    """The ports of ``node`` (raises ``GraphError`` for a primitive without a rule)."""
    try:
        rule = SIGNATURES[node.op]
    except KeyError:
        raise GraphError(f"node {node.describe()}: primitive {node.op.value!r} has no port rule") from None
    return rule(node.params)


@_rule(Op.LEVEL_SCAN)
def _scan(p) -> Signature:
    # The coordinates may go unused: a reduction over one operand (x = sum_i b(i)) only needs references.
    return Signature(() if p.root else (Port("ref", REF),), (Port("crd", CRD, needs_consumer=False), Port("ref", REF)))


@_rule(Op.LEVEL_WRITE)
def _level_write(p) -> Signature:
    return Signature((Port("crd", CRD),), ())


@_rule(Op.VALS_WRITE)
def _vals_write(p) -> Signature:
    return Signature((Port("val", VAL),), ())


@_rule(Op.ARRAY_VALS)
def _array_vals(p) -> Signature:
    return Signature((Port("ref", REF),), (Port("val", VAL),))


@_rule(Op.INTERSECT)
@_rule(Op.UNION)
def _joiner(p) -> Signature:
    inputs = tuple(port for t in p.tensors for port in (Port(f"crd_in-{t}", CRD), Port(f"ref_in-{t}", REF)))
    # The joined coordinates may go unused (mat_residual_HAND only needs the references).
    outputs = (Port("crd", CRD, needs_consumer=False), *(Port(f"ref_out-{t}", REF) for t in p.tensors))
    return Signature(inputs, outputs)


@_rule(Op.REPEAT)
def _repeat(p) -> Signature:
    inputs = (Port("repsig", REPSIG),) if p.root else (Port("ref", REF), Port("repsig", REPSIG))
    return Signature(inputs, (Port("ref", REF),))


@_rule(Op.REPSIGGEN)
def _repsiggen(p) -> Signature:
    return Signature((Port("crd", CRD),), (Port("repsig", REPSIG),))


@_rule(Op.ALU)
def _alu(p) -> Signature:
    return Signature((Port("in0", VAL), Port("in1", VAL)), (Port("val", VAL),))


@_rule(Op.REDUCE)
def _reduce(p) -> Signature:
    return Signature((Port("val", VAL),), (Port("val", VAL),))


@_rule(Op.SPACC)
def _spacc(p) -> Signature:
    inputs = tuple(Port(f"crd-{v}", CRD) for v in (*p.indices, *p.reduced)) + (Port("val", VAL),)
    return Signature(inputs, (*(Port(f"crd_out-{v}", CRD) for v in p.indices), Port("val", VAL)))


@_rule(Op.CRDDROP)
@_rule(Op.CRDHOLD)
def _crd_pair(p) -> Signature:
    # The inner output is optional: graphs that only need the surviving outer coordinates leave it open.
    return Signature((Port("crd_outer", CRD), Port("crd_inner", CRD)),
                     (Port("crd_outer", CRD), Port("crd_inner", CRD, needs_consumer=False)))


def port_index(node: Node, port: str) -> str | None:
    """The index variable whose coordinates flow on a crd port (DOT labels name it), or None."""
    p = node.params
    if node.op in (Op.CRDDROP, Op.CRDHOLD):
        return {"crd_outer": p.outer, "crd_inner": p.inner}.get(port)
    if node.op is Op.SPACC:
        return port.split("-", 1)[1] if port.startswith(("crd-", "crd_out-")) else None
    return p.index if port == "crd" and hasattr(p, "index") else None


def verify_graph(graph: Graph) -> Graph:
    """Check ``graph`` against the port rules and its tensors; return it or raise ``GraphError``.

    Checked: every edge joins an existing output port to an existing input port of the same kind;
    every input port is connected exactly once; every output that needs a consumer has one; the
    graph is acyclic; scanners, writers and value arrays name declared tensors, with modes, level
    formats and root flags that agree with the tensor's storage; each output tensor has one writer
    per mode and one value writer; a (tensor, mode) is scanned under a single index variable.

    >>> from zeroskip.dataflow.graph import *
    >>> g = Graph((Node(1, Op.ARRAY_VALS, ArrayVals("B")),), (), (TensorSpec.parse("B=s0"),))
    >>> verify_graph(g)
    Traceback (most recent call last):
    ...
    zeroskip.errors.GraphError: node 1 arrayvals B: input port 'ref' (ref) is not connected
    """
    sigs = {n.id: signature(n) for n in graph.nodes}
    inbound: dict[tuple[int, str], list] = {}
    outbound: dict[tuple[int, str], list] = {}
    for edge in graph.edges:
        src, dst = graph.node(edge.src), graph.node(edge.dst)
        out_port = sigs[src.id].output(edge.src_port)
        in_port = sigs[dst.id].input(edge.dst_port)
        if out_port is None:
            names = [p.name for p in sigs[src.id].outputs]
            raise GraphError(f"edge {edge}: node {src.describe()} has no output port {edge.src_port!r} (it has {names})")
        if in_port is None:
            names = [p.name for p in sigs[dst.id].inputs]
            raise GraphError(f"edge {edge}: node {dst.describe()} has no input port {edge.dst_port!r} (it has {names})")
        for port, node in ((out_port, src), (in_port, dst)):
            if port.kind is not edge.kind:
                raise GraphError(f"edge {edge}: port {port.name!r} of node {node.describe()} carries "
                                 f"{port.kind.value}, not {edge.kind.value}")
        inbound.setdefault((dst.id, edge.dst_port), []).append(edge)
        outbound.setdefault((src.id, edge.src_port), []).append(edge)
    for node in graph.nodes:
        for port in sigs[node.id].inputs:
            edges = inbound.get((node.id, port.name), [])
            if len(edges) != 1:
                what = "is not connected" if not edges else f"is connected {len(edges)} times ({', '.join(map(str, edges))})"
                raise GraphError(f"node {node.describe()}: input port {port.name!r} ({port.kind.value}) {what}")
    for node in graph.nodes:
        for port in sigs[node.id].outputs:
            if port.needs_consumer and not outbound.get((node.id, port.name)):
                raise GraphError(f"node {node.describe()}: output port {port.name!r} ({port.kind.value}) "
                                 f"has no consumer")
    graph.topological_order()
    _verify_tensors(graph)
    return graph


def _verify_tensors(graph: Graph) -> None:
    outputs = set(graph.outputs)
    index_of: dict[tuple[str, int], tuple[str, Node]] = {}
    for node in graph.nodes:
        p = node.params
        if not hasattr(p, "tensor"):
            continue
        spec = graph.tensor(p.tensor)
        if node.op in (Op.LEVEL_SCAN, Op.ARRAY_VALS, Op.REPEAT) and p.tensor in outputs:
            raise GraphError(f"node {node.describe()}: reads {p.tensor}, which the graph also writes")
        if node.op in (Op.LEVEL_SCAN, Op.LEVEL_WRITE):
            try:
                level = spec.level_of(p.mode)
            except GraphError as exc:
                raise GraphError(f"node {node.describe()}: {exc}") from None
            want = "compressed" if spec.levels[level] == "s" else "dense"
            if p.format != want:
                raise GraphError(f"node {node.describe()}: level {level} of {spec} is {want}, not {p.format}")
            if node.op is Op.LEVEL_SCAN:
                if p.root and level != 0:  # a level-0 scanner fed by a repeater of the root is not root
                    raise GraphError(f"node {node.describe()}: a root scanner reads level 0, but mode {p.mode} "
                                     f"is level {level} of {spec}")
                seen = index_of.setdefault((p.tensor, p.mode), (p.index, node))
                if seen[0] != p.index:
                    raise GraphError(f"node {node.describe()}: {p.tensor} mode {p.mode} is scanned as index "
                                     f"{p.index!r} here but as {seen[0]!r} by node {seen[1].describe()}")
    for name in outputs:
        spec = graph.tensor(name)
        writers = [n for n in graph.nodes_of(Op.LEVEL_WRITE) if n.params.tensor == name]
        modes = sorted(n.params.mode for n in writers)
        if modes != list(range(spec.ndim)):
            raise GraphError(f"output {spec}: needs one level writer per mode 0..{spec.ndim - 1}, got modes {modes}")
        vals = [n for n in graph.nodes_of(Op.VALS_WRITE) if n.params.tensor == name]
        if len(vals) != 1:
            raise GraphError(f"output {spec}: needs exactly one value writer, got {len(vals)}")
