"""The 17 SAM graphs: import, verify, DOT round trip, and interpretation against a dense numpy gold.

One table (``KERNELS``) drives every test: each SAM graph file, its operands with their index
letters, and the expression of the README table as the gold.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import zeroskip as zs
from zeroskip.dataflow import (
    AluOp, Edge, Op, check_stream, interpret, read_dot, taco_fixups, trace, verify_graph, write_dot,
)
from zeroskip.errors import GraphError, ShapeError, StreamError

GRAPHS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sam-graphs"


@dataclass(frozen=True)
class Kernel:
    operands: dict[str, str]  # tensor -> index letters ("" for a scalar)
    out: str
    gold: Callable[[dict], np.ndarray]
    dense: tuple[str, ...] = ()  # operands that are always fully dense (SDDMM's C and D)
    drops_rows: tuple[str, str] | None = None  # (matrix, vector) whose structurally empty products TACO drops
    by_column: bool = False  # the matrix's rows of the output index are its columns (C(j,i))


def _matmul(t):
    return t["B"] @ t["C"]


KERNELS: dict[str, Kernel] = {
    **{f"matmul_{order}": Kernel({"B": "ik", "C": "kj"}, "X", _matmul)
       for order in ("ijk", "ikj", "jik", "jki", "kij", "kji")},
    "mat_elemmul": Kernel({"B": "ij", "C": "ij"}, "X", lambda t: t["B"] * t["C"]),
    "mat_elemadd": Kernel({"B": "ij", "C": "ij"}, "X", lambda t: t["B"] + t["C"]),
    "mat_elemadd3": Kernel({"B": "ij", "C": "ij", "D": "ij"}, "X", lambda t: t["B"] + t["C"] + t["D"]),
    "mat_identity": Kernel({"B": "ij"}, "X", lambda t: t["B"]),
    "mat_vecmul_ij": Kernel({"B": "ij", "c": "j"}, "x", lambda t: t["B"] @ t["c"]),
    "mat_vecmul_ji": Kernel({"B": "ij", "c": "j"}, "x", lambda t: t["B"] @ t["c"]),
    "mat_sddmm": Kernel({"B": "ij", "C": "ik", "D": "kj"}, "X", lambda t: t["B"] * (t["C"] @ t["D"]), dense=("C", "D")),
    "mat_residual_HAND": Kernel({"b": "i", "C": "ij", "d": "j"}, "x", lambda t: t["b"] - t["C"] @ t["d"]),
    "mat_mattransmul_HAND": Kernel({"b": "", "C": "ji", "d": "j", "e": "", "f": "i"}, "x",
                                   lambda t: t["b"] * (t["C"].T @ t["d"]) + t["e"] * t["f"]),
    # TACO's files: the add's operands come in file order (C*d first), and a coordinate dropper
    # removes every i whose C row (column) meets d nowhere, even where b(i) (f(i)) is nonzero.
    "mat_residual": Kernel({"b": "i", "C": "ij", "d": "j"}, "x", lambda t: t["C"] @ t["d"] - t["b"],
                           drops_rows=("C", "d")),
    "mat_mattransmul": Kernel({"b": "", "C": "ji", "d": "j", "e": "", "f": "i"}, "x",
                              lambda t: t["b"] * (t["C"].T @ t["d"]) + t["e"] * t["f"],
                              drops_rows=("C", "d"), by_column=True),
}
NAMES = sorted(KERNELS)
SIZES = [dict(i=5, j=6, k=4), dict(i=1, j=1, k=1), dict(i=0, j=3, k=2), dict(i=3, j=0, k=2), dict(i=2, j=3, k=0)]
DENSITIES = [0.0, 0.1, 0.5, 1.0]


@functools.cache
def graph_of(name: str, fixups: bool = True):
    return read_dot(GRAPHS / f"{name}.gv", fixups=fixups)


def sub_node(graph):
    return next(n for n in graph.nodes_of(Op.ALU) if n.params.op is AluOp.SUB)


def random_operands(kernel: Kernel, sizes: dict, density: float, rng) -> dict:
    out = {}
    for name, letters in kernel.operands.items():
        if not letters:
            out[name] = float(rng.choice([0.0, -1.5, 2.0])) if density < 1 else 2.0
            continue
        shape = tuple(sizes[c] for c in letters)
        array = np.round(rng.standard_normal(shape), 3) + 0.0
        if name not in kernel.dense:
            array[rng.random(shape) >= density] = 0.0
        out[name] = array
    return out


def drops_a_row(kernel: Kernel, t: dict) -> bool:
    """Whether TACO's coordinate dropper removes an output coordinate that the union gives a value."""
    if kernel.drops_rows is None:
        return False
    matrix, vector = t[kernel.drops_rows[0]], t[kernel.drops_rows[1]]
    rows = matrix.T if kernel.by_column else matrix
    present = (rows != 0).any(axis=1)
    meets = ((rows != 0) & (vector != 0)).any(axis=1)
    return bool((present & ~meets).any())


def check_against_gold(name: str, t: dict, graph=None) -> None:
    kernel = KERNELS[name]
    graph = graph if graph is not None else graph_of(name)
    dense = {k: v.to_numpy() if isinstance(v, zs.SparseTensor) else np.asarray(v, dtype=float) for k, v in t.items()}
    if drops_a_row(kernel, dense):
        with pytest.raises(StreamError, match="do not align"):
            interpret(graph, t)
        return
    out = interpret(graph, t)[kernel.out]
    gold = kernel.gold(dense)
    assert out.shape == gold.shape
    assert out.format == graph.tensor(kernel.out).format
    out.verify()
    np.testing.assert_allclose(out.to_numpy(), gold, rtol=1e-12, atol=1e-12)


def test_the_table_covers_every_graph_file():
    assert sorted(p.stem for p in GRAPHS.glob("*.gv")) == NAMES


# ---- import, verify, export --------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_import_verify_export_reimport(name):
    raw, fixed = graph_of(name, fixups=False), graph_of(name)
    verify_graph(raw)
    verify_graph(fixed)
    assert taco_fixups(raw) == fixed
    assert read_dot(write_dot(raw), fixups=False) == raw
    assert read_dot(write_dot(raw, explicit_ports=False), fixups=False) == raw  # SAM's labels alone suffice
    assert read_dot(write_dot(fixed)) == fixed


@pytest.mark.parametrize("name", NAMES)
def test_import_keeps_every_node_but_broadcasts(name):
    text = (GRAPHS / f"{name}.gv").read_text()
    declared = text.count('[comment="type=')
    broadcasts = text.count('type="broadcast"')
    raw = graph_of(name, fixups=False)
    assert len(raw.nodes) == declared - broadcasts
    assert raw.tensors[0].name == KERNELS[name].out
    assert set(raw.inputs) == set(KERNELS[name].operands)


def test_fixups_rewrite_exactly_the_taco_patterns():
    removed = {name: len(graph_of(name, fixups=False).nodes) - len(graph_of(name).nodes) for name in NAMES}
    assert removed == {name: {"matmul_ikj": 2, "matmul_jki": 2, "matmul_kij": 1, "matmul_kji": 1,
                              "mat_vecmul_ji": 1}.get(name, 0) for name in NAMES}
    assert not graph_of("matmul_ikj").nodes_of(Op.CRDDROP)
    assert all(graph_of(n).nodes_of(Op.REDUCE) == () for n in ("matmul_kij", "mat_vecmul_ji"))


def test_sam_conventions_in_export():
    text = write_dot(graph_of("matmul_ikj"))
    assert 'comment="X=ss01,B=ss01,C=ss01"' in text
    assert 'comment="type=fiberlookup,index=i,tensor=B,mode=0,format=compressed,src=true,root=true"' in text
    assert 'comment="type=spaccumulator,order=1,in0=j,in1=i"' in text
    for label in ('label="crd_in-B"', 'label="ref_out-C"', 'label="crd_outer-i"', 'label="crd_inner-j"',
                  'label="crd_out-j"', 'label="repsig" style=dotted'):
        assert label in text
    assert 'type="broadcast"' not in text
    residual = write_dot(graph_of("mat_residual_HAND"))
    assert 'comment="type=add,sub=1"' in residual and "Add\\nsubtract" in residual


def test_alu_operands_follow_file_order():
    hand, taco = graph_of("mat_residual_HAND"), graph_of("mat_residual")
    sub_inputs = {g: {e.dst_port: g.node(e.src).op for e in g.in_edges(sub_node(g).id)} for g in (hand, taco)}
    assert sub_inputs[hand] == {"in0": Op.ARRAY_VALS, "in1": Op.REDUCE}  # b - C*d
    assert sub_inputs[taco] == {"in0": Op.REDUCE, "in1": Op.ARRAY_VALS}  # C*d first in TACO's file


# ---- interpretation ---------------------------------------------------------------------------

@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("size", range(len(SIZES)), ids=lambda k: "x".join(map(str, SIZES[k].values())))
@pytest.mark.parametrize("name", NAMES)
def test_interpret_matches_numpy(name, size, density):
    rng = np.random.default_rng([NAMES.index(name), size, int(density * 10)])
    check_against_gold(name, random_operands(KERNELS[name], SIZES[size], density, rng))


@pytest.mark.parametrize("name", ["mat_residual", "mat_mattransmul"])
def test_taco_files_are_exact_when_no_product_is_structurally_empty(name):
    rng = np.random.default_rng(7)
    t = random_operands(KERNELS[name], dict(i=6, j=5, k=1), 0.5, rng)
    t["d"] = np.round(rng.standard_normal(t["d"].shape), 3) + 3.0  # every entry nonzero
    assert not drops_a_row(KERNELS[name], t)
    check_against_gold(name, t)


def test_taco_residual_drops_rows_and_says_so():
    t = {"b": np.array([1.0, 2.0]), "C": np.array([[1.0, 0.0], [0.0, 1.0]]), "d": np.array([0.0, 5.0])}
    with pytest.raises(StreamError, match=r"value writer stored 2 values .* last level holds 1 positions"):
        interpret(graph_of("mat_residual"), t)
    hand = interpret(graph_of("mat_residual_HAND"), t)["x"].to_numpy()
    np.testing.assert_array_equal(hand, [1.0, -3.0])


def test_swapping_the_residual_operands_gives_b_minus_cd():
    graph = graph_of("mat_residual")
    sub = sub_node(graph).id
    swap = {"in0": "in1", "in1": "in0"}
    edges = [Edge(e.src, e.src_port, e.dst, swap[e.dst_port], e.kind) if e.dst == sub else e for e in graph.edges]
    t = {"b": np.array([1.0, 2.0, 0.0]), "C": np.arange(9.0).reshape(3, 3) + 1, "d": np.array([1.0, -1.0, 2.0])}
    out = interpret(graph.replace(edges=edges), t)["x"].to_numpy()
    np.testing.assert_allclose(out, t["b"] - t["C"] @ t["d"])


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dense", "dcsc"])
def test_inputs_in_any_format_are_converted(fmt):
    rng = np.random.default_rng(3)
    t = random_operands(KERNELS["matmul_ijk"], dict(i=4, j=3, k=5), 0.5, rng)
    converted = {k: zs.as_tensor(v, format=fmt) for k, v in t.items()}
    np.testing.assert_allclose(interpret(graph_of("matmul_ijk"), converted)["X"].to_numpy(), t["B"] @ t["C"])


def test_scalars_are_zero_order_tensors_or_plain_numbers():
    graph = graph_of("mat_mattransmul_HAND")
    assert {t.name: t.spec for t in graph.tensors}["b"] == "none"
    C, d, f = np.array([[1.0, 0.0], [2.0, 3.0]]), np.array([1.0, 1.0]), np.array([0.0, 4.0])
    for b, e in [(2.0, 0.5), (zs.as_tensor(np.float64(2.0)), zs.as_tensor(np.array(0.5)))]:
        out = interpret(graph, {"b": b, "C": C, "d": d, "e": e, "f": f})["x"].to_numpy()
        np.testing.assert_allclose(out, 2.0 * C.T @ d + 0.5 * f)


def test_trace_keeps_every_edge_stream_and_they_satisfy_the_invariants():
    graph = graph_of("matmul_ijk")
    B = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    run = trace(graph, {"B": B, "C": B.T})
    streams = run.edge_streams()
    assert set(streams) == set(graph.edges)
    for edge, stream in streams.items():
        check_stream(stream, edge.kind, where=str(edge))
    i_scan = next(n for n in graph.nodes_of(Op.LEVEL_SCAN) if n.params.root and n.params.tensor == "B")
    assert run.streams[(i_scan.id, "crd")].to_list() == [0, 2, "S0", "D"]
    reduce = graph.nodes_of(Op.REDUCE)[0]
    # one value per (i, j); the pair (2, 0) meets no k, so it is N, not SAM's 0
    assert run.streams[(reduce.id, "val")].to_list() == [5.0, 'N', "S0", 'N', 9.0, "S1", "D"]
    np.testing.assert_allclose(run.outputs["X"].to_numpy(), B @ B.T)
    assert run.outputs["X"].nstored == 2


def test_wrong_or_missing_inputs_are_named():
    graph = graph_of("matmul_ijk")
    with pytest.raises(GraphError, match=r"reads tensors \['C'\]"):
        interpret(graph, {"B": np.eye(2)})
    with pytest.raises(GraphError, match=r"\['Z'\] are not inputs"):
        interpret(graph, {"B": np.eye(2), "C": np.eye(2), "Z": np.eye(2)})
    with pytest.raises(ShapeError, match="index k has size 2 in B mode 1 but 3 in C mode 0"):
        interpret(graph, {"B": np.eye(2), "C": np.ones((3, 2))})
    with pytest.raises(ShapeError, match="stores it as C=ss10"):
        interpret(graph, {"B": np.eye(2), "C": np.ones(2)})


@pytest.mark.parametrize("matrix", ["karate", "west0067", "west0479"])
@pytest.mark.parametrize("name", NAMES)
def test_suitesparse(name, matrix, data_dir):
    A = zs.load(data_dir / "suitesparse" / f"{matrix}.mtx").astype(np.float64)
    n = A.shape[0]
    kernel = KERNELS[name]
    rng = np.random.default_rng(11)
    shifted = zs.as_tensor(np.roll(A.to_numpy(), 1, axis=1))
    t = {}
    for k, (operand, letters) in enumerate(kernel.operands.items()):
        if not letters:
            t[operand] = 1.5
        elif len(letters) == 1:
            t[operand] = np.where(rng.random(n) < 0.6, np.round(rng.standard_normal(n), 2) + 3.0, 0.0)
        elif operand in kernel.dense:
            t[operand] = np.round(rng.standard_normal(tuple(n if c != "k" else 3 for c in letters)), 2)
        else:
            t[operand] = A if k % 2 == 0 else shifted
    check_against_gold(name, t)
