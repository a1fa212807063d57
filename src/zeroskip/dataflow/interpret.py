"""The reference interpreter: a Graph run on tensors, one whole stream per edge, node by node.

Every block is a Kahn process (what it pops and pushes depends only on token values), so running
the nodes in topological order, each over its complete input streams, yields exactly the streams
a cycle-level simulation would. ``trace`` keeps every stream (for timing simulation); ``interpret``
returns the output tensors assembled from the level writers. The semantics of each primitive is
a registered rule binding the node's params to its definition in ``primitives`` or ``values``.

Example (``x(i) = b(i)``: a scanner, a value array and the two writers):
    >>> from zeroskip.dataflow.dot import read_dot
    >>> g = read_dot('''digraph SAM { comment="x=s0,b=s0"
    ...   1 [comment="type=fiberlookup,index=i,tensor=b,mode=0,format=compressed,src=true,root=true"]
    ...   2 [comment="type=arrayvals,tensor=b"]
    ...   3 [comment="type=fiberwrite,index=i,tensor=x,mode=0,format=compressed,sink=true"]
    ...   4 [comment="type=fiberwrite,mode=vals,tensor=x,sink=true"]
    ...   1 -> 3 [type="crd"]  1 -> 2 [type="ref"]  2 -> 4 [type="val"] }''')
    >>> interpret(g, {"b": np.array([0, 2.0, 0, 3.0])})["x"].to_numpy().tolist()
    [0.0, 2.0, 0.0, 3.0]
    >>> trace(g, {"b": np.array([0, 2.0, 0, 3.0])}).streams[(1, "crd")]
    Stream(crd: 1 3 S0 D)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from zeroskip.errors import GraphError, ShapeError, StreamError
from zeroskip.formats.build import LevelArrays, choose_index_dtype
from zeroskip.formats.convert import as_tensor
from zeroskip.formats.tensor import SparseTensor
from zeroskip.dataflow import primitives as prim
from zeroskip.dataflow import values as vals
from zeroskip.dataflow.graph import Edge, Graph, Node, Op
from zeroskip.dataflow.ports import signature, verify_graph
from zeroskip.dataflow.reader import Reader
from zeroskip.dataflow.tokens import DONE, EMPTY, VALUE, Stream, StreamKind, check_stream, encode

CRD, REF, VAL, REPSIG = StreamKind.CRD, StreamKind.REF, StreamKind.VAL, StreamKind.REPSIG
ROOT = encode([0, "D"], "ref")  # the root reference a root scanner or root repeater reads

SEMANTICS: dict[Op, Callable] = {}


def _semantics(op: Op):
    def register(fn):
        SEMANTICS[op] = fn
        return fn
    return register


@dataclass(frozen=True, slots=True)
class Trace:
    """Every stream of a run (keyed by producing node and output port) and the output tensors."""

    graph: Graph
    streams: Mapping[tuple[int, str], Stream]
    outputs: Mapping[str, SparseTensor]

    def stream(self, edge: Edge) -> Stream:
        """The stream that flowed on ``edge``."""
        return self.streams[(edge.src, edge.src_port)]

    def edge_streams(self) -> dict[Edge, Stream]:
        return {edge: self.stream(edge) for edge in self.graph.edges}


def interpret(graph: Graph, tensors: Mapping[str, object], *, check: bool = True) -> dict[str, SparseTensor]:
    """Run ``graph`` on ``tensors`` (name -> SparseTensor, array or scalar) and return the output tensors.

    Inputs are converted to the format the graph's comment gives them; with ``check`` every
    stream is checked against the stream invariants (``check_stream``).
    """
    return dict(trace(graph, tensors, check=check).outputs)


def trace(graph: Graph, tensors: Mapping[str, object], *, check: bool = True) -> Trace:
    """Like ``interpret``, also returning the stream of every edge."""
    verify_graph(graph)
    ctx = Inputs(graph, tensors)
    streams: dict[tuple[int, str], Stream] = {}
    written: dict[int, object] = {}
    for node in graph.topological_order():
        inputs = {e.dst_port: streams[(e.src, e.src_port)] for e in graph.in_edges(node.id)}
        try:
            rule = SEMANTICS[node.op]
        except KeyError:
            raise GraphError(f"node {node.describe()}: primitive {node.op.value!r} has no reference semantics") from None
        ctx.readers = []
        result = rule(node, inputs, ctx)
        for reader in ctx.readers:
            reader.finish()
        for port in signature(node).outputs:
            stream = result[port.name]
            if check:
                check_stream(stream, port.kind, where=_where(graph, node, port.name))
            streams[(node.id, port.name)] = stream
        if "written" in result:
            written[node.id] = result["written"]
    outputs = {name: assemble_output(graph, name, written, ctx) for name in graph.outputs}
    return Trace(graph, streams, outputs)


def _where(graph: Graph, node: Node, port: str) -> str:
    edges = [e for e in graph.out_edges(node.id) if e.src_port == port]
    targets = ", ".join(f"{e.dst}.{e.dst_port}" for e in edges) or "no consumer"
    return f"stream {node.id}.{port} of node {node.describe()} (to {targets})"


class Inputs:
    """The input tensors in the graph's formats, the index dimensions, and reader bookkeeping."""

    def __init__(self, graph: Graph, tensors: Mapping[str, object]) -> None:
        missing = [name for name in graph.inputs if name not in tensors]
        if missing:
            raise GraphError(f"the graph reads tensors {missing}, which were not given (inputs: {list(graph.inputs)})")
        extra = [name for name in tensors if name not in graph.inputs]
        if extra:
            raise GraphError(f"tensors {extra} are not inputs of the graph (inputs: {list(graph.inputs)})")
        self.tensors: dict[str, SparseTensor] = {}
        for name in graph.inputs:
            spec = graph.tensor(name)
            tensor = as_tensor(tensors[name])
            if tensor.ndim != spec.ndim:
                raise ShapeError(f"tensor {name} has shape {tensor.shape} (order {tensor.ndim}) but the graph "
                                 f"stores it as {spec} (order {spec.ndim})")
            self.tensors[name] = tensor.asformat(spec.format)
        self.dims = self._dims(graph)
        self.readers: list[Reader] = []

    def _dims(self, graph: Graph) -> dict[str, tuple[int, str]]:
        dims: dict[str, tuple[int, str]] = {}
        for node in graph.nodes_of(Op.LEVEL_SCAN):
            p = node.params
            size = self.tensors[p.tensor].shape[p.mode]
            seen = dims.setdefault(p.index, (size, f"{p.tensor} mode {p.mode}"))
            if seen[0] != size:
                raise ShapeError(f"index {p.index} has size {seen[0]} in {seen[1]} but {size} in {p.tensor} mode {p.mode}")
        return dims

    def reader(self, node: Node, port: str, stream: Stream) -> Reader:
        reader = Reader(stream, f"node {node.describe()}, input {port}")
        self.readers.append(reader)
        return reader

    def level(self, name: str, mode: int) -> prim.Fiber:
        tensor = self.tensors[name]
        level = tensor.format.mode_order.index(mode)
        label = f"level {level} of {name} ({tensor.format.spec})"
        if tensor.format.levels[level].has_pos:
            arrays = tensor.levels[level]
            return prim.compressed_level(arrays.pos.tolist(), arrays.crd.tolist(), label)
        return prim.dense_level(tensor.format.storage_shape(tensor.shape)[level], label)


@_semantics(Op.LEVEL_SCAN)
def _scan(node, ins, ctx):
    p = node.params
    refs = ROOT if p.root else ins["ref"]
    crd, ref = prim.scan(ctx.reader(node, "ref", refs), ctx.level(p.tensor, p.mode))
    return {"crd": Stream(CRD, crd), "ref": Stream(REF, ref)}


@_semantics(Op.REPSIGGEN)
def _repsiggen(node, ins, ctx):
    return {"repsig": Stream(REPSIG, prim.repsiggen(ctx.reader(node, "crd", ins["crd"])))}


@_semantics(Op.REPEAT)
def _repeat(node, ins, ctx):
    refs = ROOT if node.params.root else ins["ref"]
    out = prim.repeat(ctx.reader(node, "ref", refs), ctx.reader(node, "repsig", ins["repsig"]))
    return {"ref": Stream(REF, out)}


@_semantics(Op.INTERSECT)
@_semantics(Op.UNION)
def _join(node, ins, ctx):
    p = node.params
    operands = [(ctx.reader(node, f"crd_in-{t}", ins[f"crd_in-{t}"]), ctx.reader(node, f"ref_in-{t}", ins[f"ref_in-{t}"]))
                for t in p.tensors]
    crd, refs = (prim.intersect if node.op is Op.INTERSECT else prim.union)(operands)
    return {"crd": Stream(CRD, crd), **{f"ref_out-{t}": Stream(REF, r) for t, r in zip(p.tensors, refs)}}


@_semantics(Op.CRDDROP)
@_semantics(Op.CRDHOLD)
def _crd_pair(node, ins, ctx):
    fn = prim.crddrop if node.op is Op.CRDDROP else prim.crdhold
    outer, inner = fn(ctx.reader(node, "crd_outer", ins["crd_outer"]), ctx.reader(node, "crd_inner", ins["crd_inner"]))
    return {"crd_outer": Stream(CRD, outer), "crd_inner": Stream(CRD, inner)}


@_semantics(Op.ARRAY_VALS)
def _array_vals(node, ins, ctx):
    name = node.params.tensor
    tokens, values = vals.array_vals(ctx.reader(node, "ref", ins["ref"]), ctx.tensors[name].vals, f"the values of {name}")
    return {"val": Stream(VAL, tokens, values)}


@_semantics(Op.ALU)
def _alu(node, ins, ctx):
    tokens, values = vals.alu(ctx.reader(node, "in0", ins["in0"]), ctx.reader(node, "in1", ins["in1"]), node.params.op)
    return {"val": Stream(VAL, tokens, values)}


@_semantics(Op.REDUCE)
def _reduce(node, ins, ctx):
    tokens, values = vals.reduce(ctx.reader(node, "val", ins["val"]))
    return {"val": Stream(VAL, tokens, values)}


@_semantics(Op.SPACC)
def _spacc(node, ins, ctx):
    p = node.params
    crds = [ctx.reader(node, f"crd-{v}", ins[f"crd-{v}"]) for v in p.indices]
    reduced = [ctx.reader(node, f"crd-{v}", ins[f"crd-{v}"]) for v in p.reduced]
    streams, (tokens, values) = vals.spacc(p.order, crds, reduced, ctx.reader(node, "val", ins["val"]))
    out = {f"crd_out-{v}": Stream(CRD, s) for v, s in zip(p.indices, streams)}
    return {**out, "val": Stream(VAL, tokens, values)}


@_semantics(Op.LEVEL_WRITE)
def _level_write(node, ins, ctx):
    # The raw tokens too: below a dense level, empty fibers are found from the stop tokens.
    return {"written": (vals.level_write(ctx.reader(node, "crd", ins["crd"])), ins["crd"].tokens.tolist())}


@_semantics(Op.VALS_WRITE)
def _vals_write(node, ins, ctx):
    # The raw tokens too: a dense last level stores an N (an empty reduction) as 0 at its position.
    return {"written": (vals.vals_write(ctx.reader(node, "val", ins["val"])), ins["val"].tokens.tolist())}


def assemble_output(graph: Graph, name: str, written: dict, ctx: Inputs) -> SparseTensor:
    """The output tensor from its writers' arrays, in the output's format, shape from the index sizes."""
    spec = graph.tensor(name)
    writers = {n.params.mode: n for n in graph.nodes_of(Op.LEVEL_WRITE) if n.params.tensor == name}
    shape = []
    for mode in range(spec.ndim):
        index = writers[mode].params.index
        if index not in ctx.dims:
            raise GraphError(f"output {spec}: no input scans index {index!r}, so the size of mode {mode} is unknown")
        shape.append(ctx.dims[index][0])
    fmt = spec.format
    storage = fmt.storage_shape(tuple(shape))
    arrays, count, tree, trees = [], 1, None, [None]
    for level in range(spec.ndim):
        node = writers[spec.mode_order[level]]
        got, tokens = written[node.id]
        got: vals.WrittenLevel
        if not fmt.levels[level].has_pos:
            if len(got.crd) != count * storage[level] or got.crd != list(range(storage[level])) * count:
                raise StreamError(f"output {spec}: dense level {level} (node {node.describe()}) must receive every "
                                  f"coordinate 0..{storage[level] - 1} of each of its {count} fibers")
            arrays.append(((), ()))
            tree = _grow(tree, level, [list(range(storage[level]))] * count)
            trees.append(tree)
            count *= storage[level]
            continue
        if level and not fmt.levels[level - 1].has_pos:
            # Below a dense level a fiber may be empty (a row without entries): read them from the stops.
            fibers = _parse_fibers(tokens, tree, level, node, spec)
            pos = [0, *np.cumsum([len(f) for f in fibers]).tolist()]
        else:
            pos = [0, len(got.crd)] if level == 0 else [0, *got.fiber_ends]
        if len(pos) - 1 != count:
            raise StreamError(f"output {spec}: level {level} writer (node {node.describe()}) closed {len(pos) - 1} "
                              f"non-empty fibers but level {level - 1} holds {count} coordinates; an output "
                              f"coordinate has an empty fiber (a coordinate dropper is missing or misplaced)")
        arrays.append((pos, got.crd))
        count = len(got.crd)
        tree = _grow(tree, level, [got.crd[pos[k]:pos[k + 1]] for k in range(len(pos) - 1)])
        trees.append(tree)
    vals_node = next(n for n in graph.nodes_of(Op.VALS_WRITE) if n.params.tensor == name)
    (values, skipped), val_tokens = written[vals_node.id]
    if skipped and spec.ndim and not fmt.levels[-1].has_pos:
        # Below a dense level every position holds a value: find which positions the N stand for.
        tokens = _parse_fibers(val_tokens, trees[-2], spec.ndim - 1, vals_node, spec, values=True)
        stored = iter(values)
        values = [next(stored) if t == VALUE else 0.0 for fiber in tokens for t in fiber]
    if spec.ndim == 0 and not values:
        values = [0.0]  # a scalar whose reduction was empty holds zero
    if len(values) != count:
        raise StreamError(f"output {spec}: the value writer stored {len(values)} values (skipping {skipped} N) but "
                          f"the last level holds {count} positions; values and coordinates do not align")
    sizes = [len(crd) for _, crd in arrays]
    index_dtype = choose_index_dtype(storage, sizes + [count])
    levels = tuple(LevelArrays() if not fmt.levels[l].has_pos else
                   LevelArrays(np.array(pos, dtype=index_dtype), np.array(crd, dtype=index_dtype))
                   for l, (pos, crd) in enumerate(arrays))
    return SparseTensor(tuple(shape), fmt, levels, np.array(values, dtype=np.float64))


def _grow(tree, level: int, fibers: list[list[int]]):
    """The coordinate tree of ``level``: the tree above with each of its coordinates replaced by its fiber."""
    if level == 0:
        return fibers[0] if fibers else []
    feed = iter(fibers)

    def down(node, depth):
        return [next(feed) if depth == 1 else down(sub, depth - 1) for sub in node]
    return down(tree, level)


def _parse_fibers(tokens: list[int], parent, level: int, node: Node, spec, values: bool = False) -> list[list[int]]:
    """The fiber of each coordinate of the level above (``parent``, a tree of depth ``level``), empty ones included.

    A fiber ends with ``Sk`` closing ``k`` enclosing fibers too; an enclosing fiber without coordinates
    is one bare stop (the convention of scanners). In a value stream (``values``) ``N`` is a token
    of its fiber, except the ``N`` a reducer emits before the bare stop of an empty enclosing fiber.
    """
    fibers: list[list[int]] = []
    at = 0

    def fail(why: str) -> StreamError:
        return StreamError(f"output {spec}: level {level} writer (node {node.describe()}): {why} at token {at}")

    def stop_at() -> int:
        nonlocal at
        if at >= len(tokens) or tokens[at] > -3:
            raise fail("expected a stop token")
        at += 1
        return -3 - tokens[at - 1]

    def read(sub, height: int) -> int:
        nonlocal at
        if height == 0:
            fiber = []
            while at < len(tokens) and (tokens[at] >= 0 or values and tokens[at] == EMPTY):
                fiber.append(tokens[at])
                at += 1
            fibers.append(fiber)
            return stop_at()
        if not sub:
            at += values and at < len(tokens) and tokens[at] == EMPTY
            extra = stop_at() - height
            if extra < 0:
                raise fail(f"an empty fiber of height {height} must close with a stop of at least S{height}")
            return extra
        for k, child in enumerate(sub):
            extra = read(child, height - 1)
            if k + 1 < len(sub) and extra:
                raise fail("a stop token closes more fibers than the level above holds")
            if k + 1 == len(sub):
                if extra < 1:
                    raise fail("a fiber is not closed where the level above ends one")
                return extra - 1
        raise AssertionError("unreachable")

    if read(parent, level) != 0 or tokens[at:] != [DONE]:
        raise fail("the stream does not end where the level above does")
    return fibers
