"""Rewrites of two patterns TACO's SAM printer emits but SAM's own simulator tests do not run.

1. **A reducer in front of a sparse accumulator.** TACO places a ``reduce`` between the multiply
   and every ``spaccumulator`` (mat_vecmul_ji, matmul_ikj/jki/kij/kji). A reducer sums the
   innermost fiber, which there is the *output's* inner index (j in ikj), so it would collapse
   each row before the accumulator sees it. SAM's simulator tests for these kernels feed the
   multiply straight into the accumulator (``sam/sim/test/apps/test_matmul_ikj.py``,
   ``test_mat_vecmul_ji.py``: ``spaccumulator1_3_drop_val.set_in_stream(mul_6.out_val())``).
   The rewrite removes such a reducer.
2. **A coordinate dropper in front of a coordinate holder.** In matmul_ikj/jki TACO drops the
   outer coordinates (i) whose intersected fiber (k) is empty before holding them, but the
   innermost coordinates (j) reach the second holder without passing that dropper, so the two
   holders see different numbers of fibers and cannot align. SAM's test holds the undropped
   streams (``crdhold_5.set_outer_crd(fiberlookup_Bi_19.out_crd())``,
   ``crdhold_5.set_inner_crd(intersectk_13.out_crd())``). The rewrite bypasses a dropper whose
   every output feeds a holder; the accumulator already skips coordinates without values.

Example (on the shared SAM graphs; a graph without either pattern comes back unchanged):
    >>> from zeroskip.dataflow.dot import read_dot
    >>> raw = read_dot("../shared/data/sam-graphs/matmul_ikj.gv", fixups=False)  # doctest: +SKIP
    >>> len(raw.nodes) - len(taco_fixups(raw).nodes)  # doctest: +SKIP
    2
    >>> from zeroskip.dataflow.graph import ArrayVals, Graph, Node, Op, TensorSpec
    >>> g = Graph((Node(1, Op.ARRAY_VALS, ArrayVals("b")),), (), (TensorSpec.parse("b=s0"),))
    >>> taco_fixups(g) == g
    True
"""

from __future__ import annotations

from zeroskip.dataflow.graph import Edge, Graph, Op


def taco_fixups(graph: Graph) -> Graph:
    """``graph`` with both rewrites applied wherever their pattern occurs (else unchanged)."""
    for node in graph.nodes_of(Op.REDUCE):
        consumers = graph.out_edges(node.id)
        if consumers and all(graph.node(e.dst).op is Op.SPACC for e in consumers):
            graph = _bypass(graph, node.id, {"val": "val"})
    for node in graph.nodes_of(Op.CRDDROP):
        consumers = graph.out_edges(node.id)
        if consumers and all(graph.node(e.dst).op is Op.CRDHOLD for e in consumers):
            graph = _bypass(graph, node.id, {"crd_outer": "crd_outer", "crd_inner": "crd_inner"})
    return graph


def _bypass(graph: Graph, node_id: int, through: dict[str, str]) -> Graph:
    """Remove a node, connecting the source of each input port to the consumers of its ``through`` output."""
    source = {e.dst_port: e for e in graph.in_edges(node_id)}
    edges = [e for e in graph.edges if node_id not in (e.src, e.dst)]
    for edge in graph.out_edges(node_id):
        feed = source[through[edge.src_port]]
        edges.append(Edge(feed.src, feed.src_port, edge.dst, edge.dst_port, edge.kind))
    return graph.replace(nodes=[n for n in graph.nodes if n.id != node_id], edges=edges)
