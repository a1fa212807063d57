"""SAM DOT import and export.

``read_dot`` parses the DOT that SAM's TACO fork prints (``taco ... --print-sam-graph``) with
``pydot`` (version 2 or later parses these files as written, multi-line labels included) and
builds a ``Graph``:

- node ``type`` and the ``key=value`` pairs of the node ``comment`` give the primitive and its
  params; the graph ``comment`` (``"X=ss01,B=ss10"``) gives the tensors' storage;
- edge ``type`` gives the stream kind, and the edge ``label`` (``crd_in-B``, ``ref_out-C``,
  ``crd_outer-i``, ``crd_j``) names the port at whichever end needs a name; the two inputs of an
  ALU are ``in0`` and ``in1`` in the order their edges appear in the file (SAM's app generator
  makes the same choice, ``set_in1`` for the first);
- ``broadcast`` nodes (invisible fan-out points) are folded into fan-out edges, as SAM's app
  generator does: a Graph output port may feed any number of edges;
- with ``fixups=True`` (the default) the two TACO-emitted patterns that SAM's own simulator tests
  replace are rewritten (``zeroskip.dataflow.fixups``).

``write_dot`` prints a Graph in the same convention (node comment and attributes, edge type,
style and label) and adds ``src_port``/``dst_port`` attributes so any graph reads back exactly.

Example:
    >>> text = '''digraph SAM {
    ...     comment="x=s0,b=s0"
    ...     1 [comment="type=fiberlookup,index=i,tensor=b,mode=0,format=compressed,src=true,root=true"]
    ...     2 [comment="type=arrayvals,tensor=b"]
    ...     3 [comment="type=fiberwrite,index=i,tensor=x,mode=0,format=compressed,segsize=2,crdsize=b0_dim,sink=true"]
    ...     4 [comment="type=fiberwrite,mode=vals,tensor=x,size=1*b0_dim,sink=true"]
    ...     1 -> 3 [label="crd" type="crd"]
    ...     1 -> 2 [label="ref" type="ref"]
    ...     2 -> 4 [label="val" type="val"]
    ... }'''
    >>> g = read_dot(text)
    >>> print(g)
    graph x=s0,b=s0
      1: fiberlookup i: b mode 0 compressed root
      2: arrayvals b
      3: fiberwrite i: x mode 0 compressed
      4: fiberwrite vals: x
      1.crd -> 3.crd (crd)
      1.ref -> 2.ref (ref)
      2.val -> 4.val (val)
    >>> read_dot(write_dot(g)) == g
    True
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from zeroskip.errors import GraphError, MissingDependencyError
from zeroskip.dataflow.graph import (
    Alu, AluOp, ArrayVals, CrdDrop, CrdHold, Edge, Graph, Intersect, LevelScan, LevelWrite, Node, Op, Reduce,
    RepSigGen, Repeat, SpAcc, TensorSpec, Union, ValsWrite,
)
from zeroskip.dataflow.ports import signature
from zeroskip.dataflow.tokens import StreamKind

_JOINERS = ("intersect", "union")


@dataclass(frozen=True, slots=True)
class _RawEdge:
    src: str
    dst: str
    kind: StreamKind
    label: str
    seq: int
    src_port: str | None  # explicit ports, written by write_dot
    dst_port: str | None


def read_dot(source: str | os.PathLike, *, fixups: bool = True) -> Graph:
    """Parse SAM DOT (a path or the DOT text) into a Graph; see the module docstring.

    ``fixups=False`` keeps TACO's graph exactly as printed (broadcasts are always folded).

    >>> read_dot('digraph SAM { comment="b=none" 3 [comment="type=arrayvals,tensor=b"] }').nodes
    (Node(id=3, op=<Op.ARRAY_VALS: 'arrayvals'>, params=ArrayVals(tensor='b')),)
    """
    text = _read_source(source)
    try:
        import pydot
    except ImportError as exc:  # pragma: no cover - pydot is a core dependency
        raise MissingDependencyError("reading DOT needs pydot: pip install 'pydot>=2'") from exc
    try:
        with warnings.catch_warnings():  # pydot still calls pyparsing's camelCase names, deprecated in 3.3
            warnings.simplefilter("ignore", DeprecationWarning)
            parsed = pydot.graph_from_dot_data(text)
    except Exception as exc:  # pydot reports parse errors as assorted exceptions
        raise GraphError(f"cannot parse DOT: {exc}") from exc
    if not parsed:
        raise GraphError("cannot parse DOT: no graph found in the text")
    dot = parsed[0]
    tensors = _tensors(_unquote(dot.get_attributes().get("comment", "")))
    infos = {}
    for node in dot.get_nodes():
        name = node.get_name().strip('"')
        if name in ("node", "edge", "graph"):
            continue
        infos[name] = _node_info(name, node.get_attributes())
    raw = []
    for seq, edge in enumerate(dot.get_edges()):
        attrs = {k: _unquote(v) for k, v in edge.get_attributes().items()}
        src, dst = str(edge.get_source()).strip('"'), str(edge.get_destination()).strip('"')
        for end in (src, dst):
            if end not in infos:
                raise GraphError(f"edge {src} -> {dst} names node {end}, which is not declared")
        kind_text = attrs.get("type", attrs.get("label", "").split("_")[0])
        try:
            kind = StreamKind(kind_text)
        except ValueError:
            raise GraphError(f"edge {src} -> {dst}: stream type {kind_text!r} is not supported "
                             f"(crd, ref, val, repsig)") from None
        order = edge.obj_dict.get("sequence", seq)  # file order, which names ALU inputs
        raw.append(_RawEdge(src, dst, kind, attrs.get("label", ""), order, attrs.get("src_port"), attrs.get("dst_port")))
    raw.sort(key=lambda e: e.seq)
    graph = _build(infos, _fold_broadcasts(infos, raw), tensors)
    if fixups:
        from zeroskip.dataflow.fixups import taco_fixups

        graph = taco_fixups(graph)
    return graph


def _read_source(source) -> str:
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "{" not in source):
        path = Path(source)
        try:
            return path.read_text()
        except OSError as exc:
            raise GraphError(f"cannot read DOT file {str(path)!r}: {exc.strerror}") from exc
    return str(source)


def _unquote(value) -> str:
    text = str(value).strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    return text.replace('\\"', '"')


def _tensors(comment: str) -> tuple[TensorSpec, ...]:
    if not comment.strip():
        raise GraphError("the graph comment must list the tensors and formats, e.g. comment=\"X=ss01,B=ss01\"")
    return tuple(TensorSpec.parse(part) for part in comment.split(",") if part.strip())


def _node_info(name: str, attrs: dict) -> dict:
    attrs = {k: _unquote(v) for k, v in attrs.items()}
    info = {}
    for pair in attrs.get("comment", "").split(","):
        key, sep, value = pair.partition("=")
        if sep:
            info[key.strip()] = value.strip()
    for key, value in attrs.items():  # the separate attributes repeat the comment; fill gaps only
        if key not in ("comment", "label", "color", "shape", "style"):
            info.setdefault(key, value)
    if "type" not in info:
        raise GraphError(f"node {name}: no type (expected comment=\"type=...\" or type=...)")
    return info


def _fold_broadcasts(infos: dict, raw: list[_RawEdge]) -> list[tuple[_RawEdge, _RawEdge]]:
    """(edge leaving a real node, edge entering a real node) pairs, broadcast nodes removed."""
    out_of: dict[str, list[_RawEdge]] = {}
    for edge in raw:
        out_of.setdefault(edge.src, []).append(edge)

    def ends(edge: _RawEdge, depth: int = 0) -> list[_RawEdge]:
        if infos[edge.dst]["type"] != "broadcast":
            return [edge]
        if depth > len(infos):
            raise GraphError(f"broadcast node {edge.dst} is on a cycle")
        return [last for nxt in out_of.get(edge.dst, []) for last in ends(nxt, depth + 1)]

    pairs = []
    for edge in raw:
        if infos[edge.src]["type"] == "broadcast":
            continue
        pairs += [(edge, last) for last in ends(edge)]
    pairs.sort(key=lambda pair: pair[1].seq)  # file order of the edges entering each node
    return pairs


def _suffix(label: str) -> str | None:
    """The tensor or index name a label ends with: ``crd_in-B`` -> B, ``crd_i`` -> i, ``crd`` -> None."""
    if "-" in label:
        return label.rsplit("-", 1)[1]
    if "_" in label:
        return label.split("_", 1)[1]
    return None


def _need_suffix(name: str, label: str) -> str:
    suffix = _suffix(label)
    if not suffix:
        raise GraphError(f"node {name}: edge label {label!r} does not say which tensor or index it carries")
    return suffix


def _src_port(name: str, info: dict, edge: _RawEdge) -> str:
    if edge.src_port:
        return edge.src_port
    kind, label, node_type = edge.kind, edge.label, info["type"]
    if node_type == "fiberlookup":
        return kind.value
    if node_type in _JOINERS:
        return "crd" if kind is StreamKind.CRD else f"ref_out-{_need_suffix(name, label)}"
    if node_type in ("crddrop", "crdhold"):
        return _pair_port(name, info, _need_suffix(name, label))
    if node_type == "spaccumulator":
        return "val" if kind is StreamKind.VAL else f"crd_out-{_need_suffix(name, label)}"
    return {"repeat": "ref", "repsiggen": "repsig"}.get(node_type, "val")


def _dst_port(name: str, info: dict, edge: _RawEdge) -> str:
    if edge.dst_port:
        return edge.dst_port
    kind, label, node_type = edge.kind, edge.label, info["type"]
    if node_type in _JOINERS:
        return f"{kind.value}_in-{_need_suffix(name, label)}"
    if node_type in ("crddrop", "crdhold"):
        return _pair_port(name, info, _need_suffix(name, label))
    if node_type == "spaccumulator":
        return "val" if kind is StreamKind.VAL else f"crd-{_need_suffix(name, label)}"
    if node_type in ("mul", "add"):
        return ""  # named in0, in1 by file order in _build
    return {"fiberlookup": "ref", "arrayvals": "ref", "repsiggen": "crd", "reduce": "val"}.get(
        node_type, kind.value)


def _pair_port(name: str, info: dict, index: str) -> str:
    if index == info.get("outer"):
        return "crd_outer"
    if index == info.get("inner"):
        return "crd_inner"
    raise GraphError(f"node {name} ({info['type']} outer={info.get('outer')}, inner={info.get('inner')}): "
                     f"an edge carries index {index!r}, which is neither")


def _build(infos: dict, pairs: list, tensors: tuple[TensorSpec, ...]) -> Graph:
    edges_by_dst: dict[str, list[tuple[str, str, str, StreamKind]]] = {}
    for first, last in pairs:
        src, dst = first.src, last.dst
        port_in = _dst_port(dst, infos[dst], last)
        edges_by_dst.setdefault(dst, []).append((src, _src_port(src, infos[src], first), port_in, first.kind))
    nodes, edges = [], []
    for name, info in infos.items():
        if info["type"] == "broadcast":
            continue
        incoming = edges_by_dst.get(name, [])
        if info["type"] in ("mul", "add"):
            incoming = [(s, sp, f"in{k}", kind) for k, (s, sp, _, kind) in enumerate(incoming)]
        node_id = _node_id(name)
        nodes.append(Node(node_id, *_params(name, info, incoming)))
        edges += [Edge(_node_id(s), sp, node_id, dp, kind) for s, sp, dp, kind in incoming]
    return Graph(tuple(nodes), tuple(edges), tensors)


def _node_id(name: str) -> int:
    try:
        return int(name)
    except ValueError:
        raise GraphError(f"node name {name!r} is not an integer; SAM numbers its nodes") from None


def _get(name: str, info: dict, key: str) -> str:
    if key not in info:
        raise GraphError(f"node {name} ({info['type']}): attribute {key!r} is missing")
    return info[key]


def _params(name: str, info: dict, incoming: list) -> tuple[Op, object]:
    t = info["type"]
    get = lambda key: _get(name, info, key)  # noqa: E731
    try:
        if t == "fiberlookup":
            return Op.LEVEL_SCAN, LevelScan(get("tensor"), int(get("mode")), get("index"), get("format"),
                                            info.get("root", "false") == "true")
        if t == "fiberwrite" and info.get("mode") == "vals":
            return Op.VALS_WRITE, ValsWrite(get("tensor"), info.get("size", ""))
        if t == "fiberwrite":
            return Op.LEVEL_WRITE, LevelWrite(get("tensor"), int(get("mode")), get("index"), get("format"),
                                              info.get("segsize", ""), info.get("crdsize", ""))
        if t == "arrayvals":
            return Op.ARRAY_VALS, ArrayVals(get("tensor"))
        if t in _JOINERS:
            operands = tuple(dict.fromkeys(p.split("-", 1)[1] for _, _, p, _ in incoming if "_in-" in p))
            cls = Intersect if t == "intersect" else Union
            return Op(t), cls(get("index"), operands)
        if t == "repeat":
            return Op.REPEAT, Repeat(get("index"), get("tensor"), info.get("root", "false") == "true")
        if t == "repsiggen":
            return Op.REPSIGGEN, RepSigGen(get("index"))
        if t == "mul":
            return Op.ALU, Alu(AluOp.MUL)
        if t == "add":
            return Op.ALU, Alu(AluOp.SUB if info.get("sub", "0") == "1" else AluOp.ADD)
        if t == "reduce":
            return Op.REDUCE, Reduce()
        if t == "spaccumulator":
            indices = tuple(info[f"in{k}"] for k in range(len(info)) if f"in{k}" in info)
            crds = [p.split("-", 1)[1] for _, _, p, kind in incoming if p.startswith("crd-")]
            reduced = tuple(dict.fromkeys(v for v in crds if v not in indices))
            return Op.SPACC, SpAcc(int(get("order")), indices, reduced)
        if t == "crddrop":
            return Op.CRDDROP, CrdDrop(get("outer"), get("inner"))
        if t == "crdhold":
            return Op.CRDHOLD, CrdHold(get("outer"), get("inner"))
    except ValueError as exc:
        raise GraphError(f"node {name} ({t}): {exc}") from exc
    raise GraphError(f"node {name}: SAM primitive type {t!r} is not supported")


_COLORS = {
    Op.LEVEL_SCAN: "green4", Op.LEVEL_WRITE: "green3", Op.VALS_WRITE: "green3", Op.ARRAY_VALS: "green2",
    Op.INTERSECT: "purple", Op.UNION: "purple", Op.REPEAT: "cyan2", Op.REPSIGGEN: "cyan3", Op.ALU: "brown",
    Op.REDUCE: "brown", Op.SPACC: "brown", Op.CRDDROP: "orange", Op.CRDHOLD: "orange",
}
_STYLES = {StreamKind.CRD: "dashed", StreamKind.REF: "bold", StreamKind.REPSIG: "dotted"}


def write_dot(graph: Graph, *, explicit_ports: bool = True) -> str:
    """The graph as SAM DOT: node comment and attributes, edge type/style/label, as TACO prints them.

    Edges are written grouped by destination in port order, so ALU operands and joiner operands
    read back in the same order; ``explicit_ports`` adds ``src_port``/``dst_port`` attributes.

    >>> from zeroskip.dataflow.graph import *
    >>> g = Graph((Node(7, Op.ARRAY_VALS, ArrayVals("b")),), (), (TensorSpec.parse("b=none"),))
    >>> print(write_dot(g))
    digraph SAM {
        comment="b=none"
        7 [comment="type=arrayvals,tensor=b" label="Array Vals: b" color=green2 shape=box style=filled type="arrayvals" tensor="b"]
    }
    """
    lines = ["digraph SAM {", f'    comment="{",".join(map(str, graph.tensors))}"']
    order = _write_order(graph)
    for node in order:
        pairs, label = _node_attrs(node)
        comment = ",".join(f"{k}={v}" for k, v in pairs)
        extra = " ".join(f'{k}="{v}"' for k, v in pairs)
        lines.append(f'    {node.id} [comment="{comment}" label="{label}" color={_COLORS[node.op]} '
                     f'shape=box style=filled {extra}]')
    rank = {node.id: k for k, node in enumerate(order)}
    for edge in sorted(graph.edges, key=lambda e: (rank[e.dst], _port_rank(graph.node(e.dst), e.dst_port), rank[e.src])):
        label = _edge_label(graph, edge)
        comment = label.split("_", 1)[1] if "_" in label else ""
        style = f" style={_STYLES[edge.kind]}" if edge.kind in _STYLES else ""
        ports = f' src_port="{edge.src_port}" dst_port="{edge.dst_port}"' if explicit_ports else ""
        lines.append(f'    {edge.src} -> {edge.dst} [label="{label}"{style} type="{edge.kind.value}" '
                     f'comment="{comment}"{ports}]')
    lines.append("}")
    return "\n".join(lines)


def _write_order(graph: Graph) -> tuple[Node, ...]:
    try:
        return graph.topological_order()
    except GraphError:  # a cyclic graph is still printable, for debugging
        return graph.nodes


def _port_rank(node: Node, port: str) -> int:
    names = [p.name for p in signature(node).inputs]
    return names.index(port) if port in names else len(names)


def _node_attrs(node: Node) -> tuple[list[tuple[str, str]], str]:
    p, op = node.params, node.op
    if op is Op.LEVEL_SCAN:
        pairs = [("type", "fiberlookup"), ("index", p.index), ("tensor", p.tensor), ("mode", str(p.mode)),
                 ("format", p.format), ("src", "true"), ("root", str(p.root).lower())]
        return pairs, f"FiberLookup {p.index}: {p.tensor}{p.mode}\\n{p.format}"
    if op is Op.LEVEL_WRITE:
        pairs = [("type", "fiberwrite"), ("index", p.index), ("tensor", p.tensor), ("mode", str(p.mode)),
                 ("format", p.format)]
        pairs += [(k, v) for k, v in (("segsize", p.segsize), ("crdsize", p.crdsize)) if v] + [("sink", "true")]
        return pairs, f"FiberWrite {p.index}: {p.tensor}{p.mode}\\n{p.format}"
    if op is Op.VALS_WRITE:
        pairs = [("type", "fiberwrite"), ("mode", "vals"), ("tensor", p.tensor)]
        return pairs + ([("size", p.size)] if p.size else []) + [("sink", "true")], f"FiberWrite Vals: {p.tensor}"
    if op is Op.ARRAY_VALS:
        return [("type", "arrayvals"), ("tensor", p.tensor)], f"Array Vals: {p.tensor}"
    if op in (Op.INTERSECT, Op.UNION):
        return [("type", op.value), ("index", p.index)], f"{op.value} {p.index}"
    if op is Op.REPEAT:
        pairs = [("type", "repeat"), ("index", p.index), ("tensor", p.tensor), ("root", str(p.root).lower())]
        return pairs, f"Repeat {p.index}: {p.tensor}"
    if op is Op.REPSIGGEN:
        return [("type", "repsiggen"), ("index", p.index)], f"RepeatSignalGenerator {p.index}"
    if op is Op.ALU and p.op is AluOp.MUL:
        return [("type", "mul")], "Mul"
    if op is Op.ALU:
        sub = p.op is AluOp.SUB
        return [("type", "add"), ("sub", "1" if sub else "0")], "Add\\nsubtract" if sub else "Add"
    if op is Op.REDUCE:
        return [("type", "reduce")], "Reduce"
    if op is Op.SPACC:
        pairs = [("type", "spaccumulator"), ("order", str(p.order))] + [(f"in{k}", v) for k, v in enumerate(p.indices)]
        names = " ".join(f"{k}={v}" for k, v in enumerate(p.indices))
        return pairs, f"SparseAccumulator {p.order} \\n{names} "
    pairs = [("type", op.value), ("outer", p.outer), ("inner", p.inner)]
    if op is Op.CRDHOLD:
        return pairs, f"CrdHold {p.outer},{p.inner}\\nouter={p.outer},inner={p.inner}"
    return pairs, f"CrdDrop {p.outer},{p.inner}"


def _edge_label(graph: Graph, edge: Edge) -> str:
    """SAM's label: the joiner port (crd_in-B, ref_out-C), the pair port (crd_outer-i) or the index (crd_j)."""
    from zeroskip.dataflow.ports import port_index

    src, dst = graph.node(edge.src), graph.node(edge.dst)
    if dst.op in (Op.INTERSECT, Op.UNION):
        return edge.dst_port
    if src.op in (Op.INTERSECT, Op.UNION) and edge.src_port.startswith("ref_out-"):
        return edge.src_port
    if src.op in (Op.CRDDROP, Op.CRDHOLD):
        return f"{edge.src_port}-{port_index(src, edge.src_port)}"
    if src.op is Op.SPACC and edge.src_port.startswith("crd_out-"):
        return edge.src_port
    if edge.kind is StreamKind.CRD and dst.op in (Op.CRDDROP, Op.CRDHOLD, Op.SPACC):
        return f"crd_{port_index(dst, edge.dst_port)}"
    return edge.kind.value
