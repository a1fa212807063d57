"""Token encoding, the stream invariant checker, each primitive against SAM's own unit-test streams,
and the errors of graph verification and DOT import."""

from __future__ import annotations

import re

import numpy as np
import pytest

from zeroskip.dataflow import (
    ArrayVals, CrdDrop, Edge, Graph, LevelScan, LevelWrite, Node, Op, Reduce, RepSigGen, Stream, StreamKind, TensorSpec, Union,
    ValsWrite, check_stream, decode, encode, interpret, read_dot, verify_graph, write_dot,
)
from zeroskip.dataflow import primitives as prim
from zeroskip.dataflow import values as vals
from zeroskip.dataflow.graph import Alu, AluOp, SpAcc
from zeroskip.dataflow.reader import Reader
from zeroskip.errors import DeadlockError, GraphError, StreamError, ZeroskipError


def R(items, kind="crd"):
    return Reader(encode(items, kind), f"test {kind}")


def as_list(tokens, kind="crd", values=None):
    return decode(Stream(StreamKind(kind), np.array(tokens, dtype=np.int64), values))


# ---- encoding --------------------------------------------------------------------------------

def test_encoding_codes():
    s = encode([0, 5, "S0", "N", "S2", "D"], "ref")
    assert s.tokens.tolist() == [0, 5, -3, -2, -5, -1]
    assert s.tokens.dtype == np.int64 and not s.tokens.flags.writeable
    assert decode(s) == [0, 5, "S0", "N", "S2", "D"]
    v = encode([1.5, "N", "S0", "D"], "val")
    assert v.tokens.tolist() == [0, -2, -3, -1] and v.values[0] == 1.5
    assert decode(encode(["R", "S", "D"], "repsig")) == ["R", "S", "D"]
    assert encode([2.0, "S0", "D"], "val").same_as(encode([2.0, "S0", "D"], "val"))
    assert not encode([2.0, "S0", "D"], "val").same_as(encode([3.0, "S0", "D"], "val"))


@pytest.mark.parametrize("items,kind", [([-1, "D"], "crd"), (["X", "D"], "ref"), ([1.5, "D"], "crd"), (["S", "D"], "crd")])
def test_encoding_refuses_unknown_tokens(items, kind):
    with pytest.raises(StreamError):
        encode(items, kind)


# ---- the invariant checker -------------------------------------------------------------------

GOOD = [
    ([0, "D"], "ref"),  # the root reference: order 0, no stop token
    ([0, 2, "S0", "D"], "crd"),
    ([1, "S0", "S0", 4, "S1", "D"], "crd"),  # an empty fiber in the middle
    (["S1", "D"], "crd"),  # an empty outer fiber
    ([3, 3, "S0", "N", "S1", "D"], "crd"),  # a coordinate holder repeats coordinates
    ([1.0, "N", "S0", "D"], "val"),
    ([2.5, "D"], "val"),
    (["R", "R", "S", "S", "R", "S", "D"], "repsig"),
]

BAD = [  # (stream, kind, token index quoted, what the message says)
    ([0, 1, "S0"], "crd", 2, "does not end with D"),
    ([0, "D", 1, "S0", "D"], "crd", 1, "D must be the last token"),
    ([0, "S1", 2, "S1", "D"], "crd", 1, "appears again"),
    ([0, "S1", 2, "S0", "D"], "crd", 1, "must close the stream right before D"),
    ([3, 1, "S0", "D"], "crd", 1, "must not decrease"),
    (["R", "S1", "D"], "repsig", 1, "only R, S and D"),
    (["R", 4, "D"], "repsig", 1, "only R, S and D"),
]


@pytest.mark.parametrize("items,kind", GOOD)
def test_valid_streams_pass(items, kind):
    assert check_stream(encode(items, kind)).to_list() == items if kind != "repsig" else True


@pytest.mark.parametrize("items,kind,index,why", BAD)
def test_malformed_streams_name_edge_index_and_neighbours(items, kind, index, why):
    with pytest.raises(StreamError, match=why) as info:
        check_stream(encode(items, kind), where="edge 4.crd -> 7.crd_in-B (crd)")
    message = str(info.value)
    assert message.startswith("edge 4.crd -> 7.crd_in-B (crd): ")
    assert f"at token {index}: [" in message and ">" in message.split("[", 1)[1]


def test_checker_accepts_bare_arrays_with_a_kind():
    assert check_stream(np.array([0, -3, -1]), "ref").kind is StreamKind.REF
    with pytest.raises(StreamError, match="needs its kind"):
        check_stream(np.array([0, -1]))
    with pytest.raises(StreamError, match="expected a crd stream"):
        check_stream(encode([0, "D"], "ref"), "crd")
    with pytest.raises(StreamError, match="non-empty"):
        check_stream(np.array([], dtype=np.int64), "crd")


def test_errors_are_zeroskip_errors():
    assert issubclass(DeadlockError, StreamError) and issubclass(StreamError, ZeroskipError)
    assert issubclass(GraphError, ValueError)


# ---- primitives against SAM's unit tests (sam/sim/test/primitives) ---------------------------

SCANS = [  # test_rd_scanner.py: seg, crd, in_ref, out_crd, out_ref
    ([0, 2, 3, 4], [0, 2, 2, 2], [0, 1, 2, "S0", "D"], [0, 2, "S0", 2, "S0", 2, "S1", "D"], [0, 1, "S0", 2, "S0", 3, "S1", "D"]),
    ([0, 3, 4, 6], [0, 2, 3, 0, 2, 3], [0, 0, "S0", 1, "S0", 2, "S1", "D"],
     [0, 2, 3, "S0", 0, 2, 3, "S1", 0, "S1", 2, 3, "S2", "D"], [0, 1, 2, "S0", 0, 1, 2, "S1", 3, "S1", 4, 5, "S2", "D"]),
    ([0, 2, 3, 4], [0, 1, 2, 3], [0, 1, "N", 2, "N", "S0", "D"],
     [0, 1, "S0", 2, "S0", "N", "S0", 3, "S0", "N", "S1", "D"], [0, 1, "S0", 2, "S0", "N", "S0", 3, "S0", "N", "S1", "D"]),
    ([0, 4, 5, 5, 7, 10, 11], list(range(11)),
     [0, 1, "N", "N", "S0", 2, 3, "S0", "N", "N", "S0", 4, 5, "S0", "N", "N", "S1", "D"],
     [0, 1, 2, 3, "S0", 4, "S0", "N", "S0", "N", "S1", "S0", 5, 6, "S1", "N", "S0", "N", "S1",
      7, 8, 9, "S0", 10, "S1", "N", "S0", "N", "S2", "D"], None),
]


@pytest.mark.parametrize("seg,crd,refs,out_crd,out_ref", SCANS)
def test_compressed_scan_matches_sam(seg, crd, refs, out_crd, out_ref):
    got_crd, got_ref = prim.scan(R(refs, "ref"), prim.compressed_level(seg, crd))
    assert as_list(got_crd) == out_crd
    assert as_list(got_ref, "ref") == (out_ref or out_crd)


@pytest.mark.parametrize("dim", [1, 3])
def test_dense_scan_matches_sam(dim):
    cnt = list(range(dim))
    got_crd, got_ref = prim.scan(R([0, 1, 2, "S0", 3, 4, "S0", 5, 6, "S1", "D"], "ref"), prim.dense_level(dim))
    gold_crd = (cnt + ["S0"]) * 2 + cnt + ["S1"] + cnt + ["S0"] + cnt + ["S1"] + cnt + ["S0"] + cnt + ["S2", "D"]
    assert as_list(got_crd) == gold_crd
    assert as_list(got_ref, "ref")[: dim + 1] == cnt + ["S0"] and as_list(got_ref, "ref")[-2 - dim:-2] == [6 * dim + c for c in cnt]


REPEATS = [  # test_repeat.py: in_ref, repeat, gold
    ([0, 1, 2, "S0", "D"], ["R", "R", "S", "R", "S", "R", "S", "D"], [0, 0, "S0", 1, "S0", 2, "S1", "D"]),
    ([0, 1, "S0", 2, "S0", 3, "S1", "D"], list("RRRSRRRSRSRRS") + ["D"], [0, 0, 0, "S0", 1, 1, 1, "S1", 2, "S1", 3, 3, "S2", "D"]),
    ([0, "S0", 1, 2, 3, "S1", "D"], list("RRRSRRRSRSRRS") + ["D"], [0, 0, 0, "S1", 1, 1, 1, "S0", 2, "S0", 3, 3, "S2", "D"]),
    ([0, "D"], ["R", "R", "S", "D"], [0, 0, "S0", "D"]),
]


@pytest.mark.parametrize("refs,signal,gold", REPEATS)
def test_repeat_matches_sam(refs, signal, gold):
    assert as_list(prim.repeat(R(refs, "ref"), R(signal, "repsig")), "ref") == gold


def test_repsiggen_matches_sam():
    got = prim.repsiggen(R([0, 1, 2, "S0", 0, 1, 2, "S1", "S1", 4, 5, "S2", "D"]))
    assert as_list(got, "repsig") == ["R", "R", "R", "S", "R", "R", "R", "S", "S", "R", "R", "S", "D"]


def test_intersect_matches_sam():
    crd, (r1, r2) = prim.intersect([(R([0, "S0", 0, 1, 2, "S1", "D"]), R([0, "S0", 1, 2, 3, "S1", "D"], "ref")),
                                    (R([0, 1, 2, "S0", 0, 1, 2, "S1", "D"]), R([0, 1, 2, "S0", 0, 1, 2, "S1", "D"], "ref"))])
    assert as_list(crd) == [0, "S0", 0, 1, 2, "S1", "D"]
    assert as_list(r1, "ref") == [0, "S0", 1, 2, 3, "S1", "D"] and as_list(r2, "ref") == [0, "S0", 0, 1, 2, "S1", "D"]


def test_union_matches_sam():
    crd, (r1, r2) = prim.union([
        (R([0, 1, "S0", 2, 3, "S0", "S0", 4, 5, "S1", "D"]), R([0, 1, "S0", 2, 3, "S0", "S0", 4, 5, "S1", "D"], "ref")),
        (R([1, 2, 3, "S0", "S0", 0, 1, 2, "S0", "S1", "D"]), R([0, 1, 2, "S0", "S0", 2, 3, 4, "S0", "S1", "D"], "ref"))])
    assert as_list(crd) == [0, 1, 2, 3, "S0", 2, 3, "S0", 0, 1, 2, "S0", 4, 5, "S1", "D"]
    assert as_list(r1, "ref") == [0, 1, "N", "N", "S0", 2, 3, "S0", "N", "N", "N", "S0", 4, 5, "S1", "D"]
    assert as_list(r2, "ref") == ["N", 0, 1, 2, "S0", "N", "N", "S0", 2, 3, 4, "S0", "N", "N", "S1", "D"]


def test_joiners_with_an_absent_operand():
    absent = (R(["N", "S0", "D"]), R(["N", "S0", "D"], "ref"))
    present = (R([1, 4, "S0", "D"]), R([7, 8, "S0", "D"], "ref"))
    crd, refs = prim.union([absent, present])
    assert as_list(crd) == [1, 4, "S0", "D"] and as_list(refs[0], "ref") == ["N", "N", "S0", "D"]
    absent = (R(["N", "S0", "D"]), R(["N", "S0", "D"], "ref"))
    crd, refs = prim.intersect([absent, (R(["S0", "D"]), R(["S0", "D"], "ref"))])
    assert as_list(crd) == ["N", "S0", "D"]  # SAM asserts here; N stays N


CRDDROPS = [  # test_crd_drop.py: outer, inner, gold outer; then our inner output
    ([0, 1, "S0", "D"], [1, "S0", "S1", "D"], [0, "S0", "D"], [1, "S1", "D"]),
    ([0, 1, "S0", "D"], [1, "S0", 1, "S1", "D"], [0, 1, "S0", "D"], [1, "S0", 1, "S1", "D"]),
    ([0, 1, 2, 3, "S0", "D"], [1, "S0", 1, "S0", "S0", 1, "S1", "D"], [0, 1, 3, "S0", "D"], [1, "S0", 1, "S0", 1, "S1", "D"]),
    (["S0", "D"], ["S1", "D"], ["S0", "D"], ["S1", "D"]),
    ([0, 1, "S0", 2, "S1", "D"], ["S0", "S1", 5, "S2", "D"], ["S0", 2, "S1", "D"], ["S1", 5, "S2", "D"]),
]


@pytest.mark.parametrize("outer,inner,gold,gold_inner", CRDDROPS)
def test_crddrop_matches_sam_and_drops_the_empty_fibers(outer, inner, gold, gold_inner):
    out_outer, out_inner = prim.crddrop(R(outer), R(inner))
    assert as_list(out_outer) == gold
    assert as_list(out_inner) == gold_inner
    check_stream(encode(gold_inner, "crd"))


def test_crdhold_repeats_outer_per_inner():
    held, inner = prim.crdhold(R([0, 2, "S0", "D"]), R([1, 3, "S0", 4, "S1", "D"]))
    assert as_list(held) == [0, 0, "S0", 2, "S1", "D"] and as_list(inner) == [1, 3, "S0", 4, "S1", "D"]


def test_reduce_gives_n_for_empty_fibers():
    toks, values = vals.reduce(R([5.0, 5.0, "S0", "S0", 4.0, 8.0, "S0", 4.0, 3.0, "S0", "S1", "D"], "val"))
    assert as_list(toks, "val", np.array(values)) == [10.0, "N", 12.0, 7.0, "N", "S0", "D"]  # SAM: 0 where N


@pytest.mark.parametrize("op,a,b,gold", [
    (AluOp.ADD, [1.0, "N", "N", "S0", "D"], [2.0, 3.0, "N", "S0", "D"], [3.0, 3.0, "N", "S0", "D"]),
    (AluOp.SUB, [1.0, "N", "S0", "D"], [2.0, 3.0, "S0", "D"], [-1.0, -3.0, "S0", "D"]),
    (AluOp.MUL, [2.0, "N", "S0", "D"], [4.0, 3.0, "S0", "D"], [8.0, "N", "S0", "D"]),
    (AluOp.ADD, ["N", "S0", "D"], ["S0", "D"], ["N", "S0", "D"]),  # a reduced empty outer fiber
])
def test_alu(op, a, b, gold):
    toks, values = vals.alu(R(a, "val"), R(b, "val"), op)
    assert as_list(toks, "val", np.array(values)) == gold


def test_alu_refuses_misaligned_operands():
    with pytest.raises(StreamError, match="do not align"):
        vals.alu(R([1.0, 2.0, "S0", "D"], "val"), R([1.0, "S0", "D"], "val"), AluOp.ADD)


def test_spacc_sums_points_in_runs():
    crds, (toks, values) = vals.spacc(1, [R([2, 0, "S0", 2, "S1", "D"]), R([1, 1, "S0", 3, "S1", "D"])], [],
                                      R([1.0, 2.0, "S0", 4.0, "S1", "D"], "val"))
    assert as_list(crds[1]) == [1, 3, "S0", "D"] and as_list(crds[0]) == [0, 2, "S0", 2, "S1", "D"]
    assert as_list(toks, "val", np.array(values)) == [2.0, 1.0, "S0", 4.0, "S1", "D"]
    with pytest.raises(StreamError, match="increasing runs"):
        vals.spacc(1, [R([0, "S0", 0, "S1", "D"]), R([3, "S0", 1, "S1", "D"])], [], R([1.0, "S0", 1.0, "S1", "D"], "val"))


def test_writers():
    written = vals.level_write(R([1, 3, "S0", "S0", 2, "S1", "D"]))
    assert written.crd == [1, 3, 2] and written.fiber_ends == [2, 3]  # the empty fiber records nothing
    assert vals.vals_write(R([1.0, "N", 2.0, "S0", "D"], "val")) == ([1.0, 2.0], 1)


def test_misaligned_inputs_and_reading_past_the_end():
    with pytest.raises(StreamError, match="repeat signal ended"):
        prim.repeat(R([0, 1, "S0", "D"], "ref"), R(["R", "S", "D"], "repsig"))
    unterminated = Reader(Stream(StreamKind.REF, np.array([0])), "node 5, input ref")  # no D: never checked
    with pytest.raises(DeadlockError, match="node 5, input ref: .* block forever"):
        prim.scan(unterminated, prim.compressed_level([0, 1], [0]))


# ---- graph verification and DOT errors -------------------------------------------------------

def identity(**scan_params):
    """x(i) = b(i): scan, value array and the two writers, with the scanner's params overridden."""
    p = dict(tensor="b", mode=0, index="i", format="compressed", root=True) | scan_params
    nodes = (Node(1, Op.LEVEL_SCAN, LevelScan(**p)), Node(2, Op.ARRAY_VALS, ArrayVals("b")),
             Node(3, Op.LEVEL_WRITE, LevelWrite("x", 0, "i", "compressed")), Node(4, Op.VALS_WRITE, ValsWrite("x")))
    edges = (Edge(1, "crd", 3, "crd", "crd"), Edge(1, "ref", 2, "ref", "ref"), Edge(2, "val", 4, "val", "val"))
    return Graph(nodes, edges, (TensorSpec.parse("x=s0"), TensorSpec.parse("b=s0")))


def test_the_identity_graph_verifies_and_runs():
    graph = verify_graph(identity())
    assert interpret(graph, {"b": np.array([0.0, 2.0, 0.0, 3.0])})["x"].to_numpy().tolist() == [0, 2, 0, 3]


def _drop_edge(graph, port):
    return graph.replace(edges=[e for e in graph.edges if e.src_port != port])


@pytest.mark.parametrize("graph,message", [
    (_drop_edge(identity(), "ref"), "node 2 arrayvals b: input port 'ref' (ref) is not connected"),
    (identity().replace(nodes=[*identity().nodes, Node(6, Op.REPSIGGEN, RepSigGen("i"))],
                        edges=[*identity().edges, Edge(1, "crd", 6, "crd", "crd")]),
     "node 6 repsiggen i: output port 'repsig' (repsig) has no consumer"),
    (identity().replace(edges=[*identity().edges, Edge(1, "ref", 2, "ref", "ref")]), "is connected 2 times"),
    (identity().replace(edges=[Edge(1, "crd", 3, "crd", "ref"), *identity().edges[1:]]), "carries crd, not ref"),
    (identity().replace(edges=[Edge(1, "val", 3, "crd", "crd"), *identity().edges[1:]]), "has no output port 'val'"),
    (identity(mode=1), "has no mode 1"),
    (identity(format="dense"), "level 0 of b=s0 is compressed, not dense"),
    (identity(tensor="z"), "tensor 'z' is not among"),
    (identity(tensor="x"), "reads x, which the graph also writes"),
    (identity().replace(nodes=[*identity().nodes, Node(5, Op.VALS_WRITE, ValsWrite("x"))],
                        edges=[*identity().edges, Edge(2, "val", 5, "val", "val")]), "needs exactly one value writer, got 2"),
    (Graph((Node(1, Op.REDUCE, Reduce()), Node(2, Op.REDUCE, Reduce())),
           (Edge(1, "val", 2, "val", "val"), Edge(2, "val", 1, "val", "val")), ()), "cycle through nodes"),
])
def test_verify_names_node_and_port(graph, message):
    with pytest.raises(GraphError, match=re.escape(message)):
        verify_graph(graph)


def test_root_scanners_read_level_zero():
    g = identity().replace(tensors=(TensorSpec.parse("x=s0"), TensorSpec.parse("b=ss10")))
    with pytest.raises(GraphError, match="a root scanner reads level 0, but mode 0 is level 1 of b=ss10"):
        verify_graph(g)


def test_params_and_nodes_are_typed():
    with pytest.raises(GraphError, match="takes LevelScan params"):
        Node(1, Op.LEVEL_SCAN, ArrayVals("B"))
    with pytest.raises(GraphError, match="level format"):
        LevelScan("B", 0, "i", "sparse", True)
    with pytest.raises(GraphError, match="at least two tensors"):
        Union("i", ("B",))
    with pytest.raises(GraphError, match="order 2 needs at least 2 indices"):
        SpAcc(2, ("j",))
    with pytest.raises(ValueError):
        Alu("div")
    with pytest.raises(GraphError, match="not a permutation"):
        TensorSpec.parse("B=ss00")
    assert CrdDrop("i", "j") == CrdDrop("i", "j") and hash(identity()) == hash(identity())


@pytest.mark.parametrize("text,message", [
    ("digraph SAM { 1 [comment=\"type=arrayvals,tensor=B\"] }", "graph comment must list the tensors"),
    ('digraph SAM { comment="B=s0" 1 [comment="type=bvscan,tensor=B"] }', "'bvscan' is not supported"),
    ('digraph SAM { comment="B=s0" 1 [comment="type=arrayvals"] }', "attribute 'tensor' is missing"),
    ('digraph SAM { comment="B=s0" 1 [comment="type=arrayvals,tensor=B"] 2 -> 1 [type="crd"] }', "not declared"),
    ('digraph SAM { comment="B=s0" 1 [comment="type=arrayvals,tensor=B"] 1 -> 1 [type="bv"] }', "'bv' is not supported"),
    ("digraph SAM { comment=", "cannot parse DOT"),
    ("no-such-file.gv", "cannot read DOT file"),
])
def test_dot_errors(text, message):
    with pytest.raises(GraphError, match=message):
        read_dot(text)


def test_dot_accepts_paths_and_text(tmp_path):
    path = tmp_path / "g.gv"
    graph = Graph((Node(3, Op.ARRAY_VALS, ArrayVals("b")),), (), (TensorSpec.parse("b=none"),))
    path.write_text(write_dot(graph))
    assert read_dot(path) == graph == read_dot(str(path)) == read_dot(path.read_text())


def test_a_primitive_without_rules_fails_loudly(monkeypatch):
    import sys

    from zeroskip.dataflow import ports

    interpret_module = sys.modules["zeroskip.dataflow.interpret"]  # the package's name is the function

    graph = identity()
    monkeypatch.delitem(interpret_module.SEMANTICS, Op.ARRAY_VALS)
    with pytest.raises(GraphError, match="'arrayvals' has no reference semantics"):
        interpret(graph, {"b": np.ones(2)})
    monkeypatch.delitem(ports.SIGNATURES, Op.ARRAY_VALS)
    with pytest.raises(GraphError, match="'arrayvals' has no port rule"):
        verify_graph(graph)


def test_graph_prints_nodes_and_edges():
    text = str(identity())
    assert text.splitlines()[0] == "graph x=s0,b=s0"
    assert "  1: fiberlookup i: b mode 0 compressed root" in text and "  1.crd -> 3.crd (crd)" in text
