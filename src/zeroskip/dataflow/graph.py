"""The dataflow Graph IR: SAM primitives as typed nodes, token streams as typed edges between named ports.

One ``Node`` type: its ``op`` names the primitive and its ``params`` is that primitive's frozen
dataclass (``LevelScan``, ``Intersect``, ...). An ``Edge`` joins an output port to an input port
and says what kind of stream flows (crd, ref, val, repsig). The ports of every primitive come from
the rule table in ``zeroskip.dataflow.ports``; ``verify_graph`` checks a graph against it.

Example:
    >>> from zeroskip.dataflow.graph import *
    >>> from zeroskip.dataflow.tokens import StreamKind
    >>> scan = Node(0, Op.LEVEL_SCAN, LevelScan("B", mode=0, index="i", format="compressed", root=True))
    >>> vals = Node(1, Op.ARRAY_VALS, ArrayVals("B"))
    >>> g = Graph((scan, vals), (Edge(0, "ref", 1, "ref", StreamKind.REF),), (TensorSpec.parse("B=s0"),))
    >>> print(g)
    graph B=s0
      0: fiberlookup i: B mode 0 compressed root
      1: arrayvals B
      0.ref -> 1.ref (ref)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from zeroskip.errors import FormatError, GraphError
from zeroskip.formats.format import Format, as_format
from zeroskip.dataflow.tokens import StreamKind

__all__ = [
    "Alu", "AluOp", "ArrayVals", "CrdDrop", "CrdHold", "Edge", "Graph", "Intersect", "LevelScan",
    "LevelWrite", "Node", "Op", "Reduce", "RepSigGen", "Repeat", "SpAcc", "TensorSpec", "Union", "ValsWrite",
]

LEVEL_FORMATS = ("compressed", "dense")


class Op(enum.Enum):
    """The SAM primitives."""

    LEVEL_SCAN = "fiberlookup"
    LEVEL_WRITE = "fiberwrite"
    VALS_WRITE = "valswrite"
    ARRAY_VALS = "arrayvals"
    INTERSECT = "intersect"
    UNION = "union"
    REPEAT = "repeat"
    REPSIGGEN = "repsiggen"
    ALU = "alu"
    REDUCE = "reduce"
    SPACC = "spaccumulator"
    CRDDROP = "crddrop"
    CRDHOLD = "crdhold"


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise GraphError(message)


def _check_level_format(fmt: str) -> None:
    _need(fmt in LEVEL_FORMATS, f"a level format is one of {LEVEL_FORMATS}, got {fmt!r}")


@dataclass(frozen=True, slots=True)
class LevelScan:
    """Level scanner (SAM ``fiberlookup``): refs into one level of ``tensor`` -> that fiber's crd and ref streams.

    ``root`` scanners read the root reference ``0 D`` and have no input edge.
    """

    tensor: str
    mode: int
    index: str
    format: str
    root: bool

    def __post_init__(self) -> None:
        _check_level_format(self.format)
        _need(self.mode >= 0, f"LevelScan of {self.tensor}: mode must be >= 0, got {self.mode}")


@dataclass(frozen=True, slots=True)
class LevelWrite:
    """Level writer (SAM ``fiberwrite``) of one coordinate level of the output; sizes are SAM's expressions."""

    tensor: str
    mode: int
    index: str
    format: str
    segsize: str = ""
    crdsize: str = ""

    def __post_init__(self) -> None:
        _check_level_format(self.format)
        _need(self.mode >= 0, f"LevelWrite of {self.tensor}: mode must be >= 0, got {self.mode}")


@dataclass(frozen=True, slots=True)
class ValsWrite:
    """Value writer (SAM ``fiberwrite`` with ``mode=vals``) of the output's value array."""

    tensor: str
    size: str = ""


@dataclass(frozen=True, slots=True)
class ArrayVals:
    """Value array read (SAM ``arrayvals``): a ref stream of ``tensor`` -> its value stream."""

    tensor: str


@dataclass(frozen=True, slots=True)
class Intersect:
    """Coordinate intersecter on ``index``: one (crd, ref) input pair and one ref output per tensor."""

    index: str
    tensors: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_operands(self.index, self.tensors, "intersect")


@dataclass(frozen=True, slots=True)
class Union:
    """Coordinate unioner on ``index``; a tensor missing a coordinate gets the empty reference ``N``."""

    index: str
    tensors: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_operands(self.index, self.tensors, "union")


def _check_operands(index: str, tensors: tuple[str, ...], what: str) -> None:
    _need(isinstance(tensors, tuple) and len(tensors) >= 2, f"{what} {index}: needs at least two tensors, got {tensors!r}")
    _need(len(set(tensors)) == len(tensors), f"{what} {index}: tensors must be distinct, got {tensors}")


@dataclass(frozen=True, slots=True)
class Repeat:
    """Repeater: replays each reference of ``tensor`` once per ``R`` of its repeat signal (``root``: the root ref)."""

    index: str
    tensor: str
    root: bool


@dataclass(frozen=True, slots=True)
class RepSigGen:
    """Repeat-signal generator on ``index``: a crd stream -> ``R`` per coordinate, ``S`` per stop token."""

    index: str


class AluOp(enum.Enum):
    ADD = "add"
    SUB = "sub"
    MUL = "mul"


@dataclass(frozen=True, slots=True)
class Alu:
    """Elementwise ALU on two aligned value streams: ``in0 op in1``."""

    op: AluOp

    def __post_init__(self) -> None:
        object.__setattr__(self, "op", AluOp(self.op))


@dataclass(frozen=True, slots=True)
class Reduce:
    """Reducer: the sum of each innermost fiber of a value stream (``N`` for an empty fiber)."""


@dataclass(frozen=True, slots=True)
class SpAcc:
    """Sparse accumulator: sums values at equal coordinates of ``indices`` (``in0`` innermost, SAM's names).

    ``order`` levels are accumulated; indices beyond them group the points into runs (Gustavson).
    ``reduced`` names extra coordinate inputs of the reduced index that SAM graphs also wire in.
    """

    order: int
    indices: tuple[str, ...]
    reduced: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _need(self.order >= 1, f"spaccumulator: order must be >= 1, got {self.order}")
        _need(len(self.indices) >= self.order,
              f"spaccumulator order {self.order} needs at least {self.order} indices, got {self.indices}")
        names = (*self.indices, *self.reduced)
        _need(len(set(names)) == len(names), f"spaccumulator: index names must be distinct, got {names}")


@dataclass(frozen=True, slots=True)
class CrdDrop:
    """Coordinate dropper: drops ``outer`` coordinates whose ``inner`` fiber is empty (and those fibers)."""

    outer: str
    inner: str


@dataclass(frozen=True, slots=True)
class CrdHold:
    """Coordinate holder: repeats each ``outer`` coordinate once per ``inner`` coordinate of its fiber."""

    outer: str
    inner: str


Params = (LevelScan | LevelWrite | ValsWrite | ArrayVals | Intersect | Union | Repeat | RepSigGen | Alu | Reduce
          | SpAcc | CrdDrop | CrdHold)

PARAMS_OF: dict[Op, type] = {
    Op.LEVEL_SCAN: LevelScan, Op.LEVEL_WRITE: LevelWrite, Op.VALS_WRITE: ValsWrite, Op.ARRAY_VALS: ArrayVals,
    Op.INTERSECT: Intersect, Op.UNION: Union, Op.REPEAT: Repeat, Op.REPSIGGEN: RepSigGen, Op.ALU: Alu,
    Op.REDUCE: Reduce, Op.SPACC: SpAcc, Op.CRDDROP: CrdDrop, Op.CRDHOLD: CrdHold,
}


@dataclass(frozen=True, slots=True)
class Node:
    """One primitive instance: a graph-unique ``id``, the primitive ``op`` and its typed ``params``."""

    id: int
    op: Op
    params: Params

    def __post_init__(self) -> None:
        op = Op(self.op)
        object.__setattr__(self, "op", op)
        _need(isinstance(self.params, PARAMS_OF[op]),
              f"node {self.id}: {op.value} takes {PARAMS_OF[op].__name__} params, got {type(self.params).__name__}")

    def describe(self) -> str:
        """A short human description: ``12 fiberlookup k: C mode 0``."""
        return f"{self.id} {_summary(self)}"


def _summary(node: Node) -> str:
    p = node.params
    match p:
        case LevelScan():
            return f"fiberlookup {p.index}: {p.tensor} mode {p.mode} {p.format}{' root' if p.root else ''}"
        case LevelWrite():
            return f"fiberwrite {p.index}: {p.tensor} mode {p.mode} {p.format}"
        case ValsWrite():
            return f"fiberwrite vals: {p.tensor}"
        case ArrayVals():
            return f"arrayvals {p.tensor}"
        case Intersect() | Union():
            return f"{node.op.value} {p.index}: {','.join(p.tensors)}"
        case Repeat():
            return f"repeat {p.index}: {p.tensor}{' root' if p.root else ''}"
        case RepSigGen():
            return f"repsiggen {p.index}"
        case Alu():
            return p.op.value
        case SpAcc():
            extra = f" reduced={','.join(p.reduced)}" if p.reduced else ""
            return f"spaccumulator order={p.order} indices={','.join(p.indices)}{extra}"
        case CrdDrop() | CrdHold():
            return f"{node.op.value} {p.outer},{p.inner}"
    return node.op.value


@dataclass(frozen=True, slots=True)
class Edge:
    """A stream from output port ``src_port`` of node ``src`` to input port ``dst_port`` of node ``dst``."""

    src: int
    src_port: str
    dst: int
    dst_port: str
    kind: StreamKind

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", StreamKind(self.kind))

    def sort_key(self) -> tuple:
        return (self.src, self.src_port, self.dst, self.dst_port, self.kind.value)

    def __str__(self) -> str:
        return f"{self.src}.{self.src_port} -> {self.dst}.{self.dst_port} ({self.kind.value})"


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A tensor of the graph and its storage as SAM's graph comment spells it: ``B=ss10``, ``b=none``.

    ``levels`` holds one letter per level (``s`` compressed, ``d`` dense); ``mode_order[l]`` is the
    mode level ``l`` stores. A scalar has no levels.

    >>> TensorSpec.parse("B=ss10").format
    Format('ss[1,0]')
    """

    name: str
    levels: str
    mode_order: tuple[int, ...]

    def __post_init__(self) -> None:
        _need(self.name.isidentifier(), f"tensor name {self.name!r} is not an identifier")
        _need(all(ch in "sd" for ch in self.levels), f"tensor {self.name}: levels are 's' or 'd', got {self.levels!r}")
        _need(sorted(self.mode_order) == list(range(len(self.levels))),
              f"tensor {self.name}: mode order {self.mode_order} is not a permutation of its {len(self.levels)} levels")

    @classmethod
    def parse(cls, text: str) -> TensorSpec:
        """Parse ``name=<letters><mode order digits>`` or ``name=none`` (a scalar)."""
        name, sep, spec = text.strip().partition("=")
        _need(bool(sep) and bool(name), f"tensor spec {text!r} is not 'name=format', e.g. 'B=ss01'")
        spec = spec.strip()
        if spec == "none":
            return cls(name.strip(), "", ())
        letters = spec.rstrip("0123456789")
        digits = spec[len(letters):]
        _need(len(digits) == len(letters) and len(letters) <= 10,
              f"tensor spec {text!r}: expected one level letter and one mode digit per level, e.g. 'ss10'")
        return cls(name.strip(), letters, tuple(int(d) for d in digits))

    @property
    def ndim(self) -> int:
        return len(self.levels)

    @property
    def spec(self) -> str:
        """SAM's spelling: ``ss10`` or ``none``."""
        return self.levels + "".join(map(str, self.mode_order)) if self.levels else "none"

    @property
    def format(self) -> Format:
        """The zeroskip ``Format`` of this storage."""
        try:
            return as_format(self.levels, ndim=self.ndim, mode_order=self.mode_order)
        except FormatError as exc:  # pragma: no cover - letters and order are checked above
            raise GraphError(f"tensor {self.name}: {exc}") from exc

    def level_of(self, mode: int) -> int:
        """The storage level that holds ``mode``."""
        _need(0 <= mode < self.ndim, f"tensor {self.name} ({self.spec}) has no mode {mode}")
        return self.mode_order.index(mode)

    def __str__(self) -> str:
        return f"{self.name}={self.spec}"


@dataclass(frozen=True, slots=True)
class Graph:
    """Nodes (sorted by id), edges (sorted) and the tensors' storage, all immutable."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    tensors: tuple[TensorSpec, ...]
    _by_id: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        nodes = tuple(sorted(self.nodes, key=lambda n: n.id))
        ids = [n.id for n in nodes]
        _need(len(set(ids)) == len(ids), f"node ids must be unique, got duplicates {sorted({i for i in ids if ids.count(i) > 1})}")
        edges = tuple(sorted(self.edges, key=Edge.sort_key))
        for edge in edges:
            _need(edge.src in ids and edge.dst in ids, f"edge {edge} names a node that is not in the graph")
        names = [t.name for t in self.tensors]
        _need(len(set(names)) == len(names), f"tensor names must be unique, got {names}")
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "tensors", tuple(self.tensors))
        object.__setattr__(self, "_by_id", {n.id: n for n in nodes})

    def node(self, node_id: int) -> Node:
        try:
            return self._by_id[node_id]
        except KeyError:
            raise GraphError(f"no node {node_id} in the graph") from None

    def in_edges(self, node_id: int) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.dst == node_id)

    def out_edges(self, node_id: int) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.src == node_id)

    def tensor(self, name: str) -> TensorSpec:
        for spec in self.tensors:
            if spec.name == name:
                return spec
        raise GraphError(f"tensor {name!r} is not among the graph's tensors {[t.name for t in self.tensors]}")

    def nodes_of(self, op: Op) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.op is op)

    @property
    def outputs(self) -> tuple[str, ...]:
        """Names of the tensors the graph writes, in the order of ``tensors``."""
        written = {n.params.tensor for n in self.nodes if n.op in (Op.LEVEL_WRITE, Op.VALS_WRITE)}
        return tuple(t.name for t in self.tensors if t.name in written)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the tensors the graph reads, in the order of ``tensors``."""
        read = {n.params.tensor for n in self.nodes if n.op in (Op.LEVEL_SCAN, Op.ARRAY_VALS, Op.REPEAT)}
        return tuple(t.name for t in self.tensors if t.name in read)

    def topological_order(self) -> tuple[Node, ...]:
        """Nodes so that every edge goes forward (ties by id); a cycle raises ``GraphError`` naming its nodes."""
        indegree = {n.id: 0 for n in self.nodes}
        for edge in self.edges:
            indegree[edge.dst] += 1
        ready = sorted(i for i, d in indegree.items() if d == 0)
        order: list[int] = []
        while ready:
            current = ready.pop(0)
            order.append(current)
            for edge in self.out_edges(current):
                indegree[edge.dst] -= 1
                if indegree[edge.dst] == 0:
                    ready.append(edge.dst)
                    ready.sort()
        if len(order) != len(self.nodes):
            stuck = sorted(i for i, d in indegree.items() if d > 0)
            raise GraphError(f"the graph has a cycle through nodes {stuck}: "
                             + "; ".join(self.node(i).describe() for i in stuck[:6]))
        return tuple(self.node(i) for i in order)

    def replace(self, *, nodes=None, edges=None, tensors=None) -> Graph:
        """A new graph with some parts replaced."""
        return Graph(self.nodes if nodes is None else tuple(nodes), self.edges if edges is None else tuple(edges),
                     self.tensors if tensors is None else tuple(tensors))

    def __str__(self) -> str:
        lines = [f"graph {','.join(map(str, self.tensors))}"]
        lines += [f"  {n.id}: {_summary(n)}" for n in self.nodes]
        lines += [f"  {e}" for e in self.edges]
        return "\n".join(lines)
