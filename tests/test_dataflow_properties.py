"""Hypothesis: the SAM matmul graphs in all six loop orders compute B @ C on any sparse inputs (empty,
all-zero, cancelling, any input format), and streams of scanned tensors obey the invariants."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import zeroskip as zs
from zeroskip.dataflow import Stream, StreamKind, check_stream, decode, encode, interpret, read_dot, trace
from zeroskip.dataflow import primitives as prim
from zeroskip.dataflow.reader import Reader

GRAPHS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sam-graphs"
ORDERS = ("ijk", "ikj", "jik", "jki", "kij", "kji")
FORMATS = ("csr", "csc", "dcsr", "dcsc", "coo", "dense")


@functools.cache
def graph(name: str):
    return read_dot(GRAPHS / f"{name}.gv")


@st.composite
def sparse_matrix(draw, rows, cols):
    # Small integers keep float sums exact, so results compare with ==; -1/1 pairs cancel to stored zeros.
    values = draw(st.lists(st.sampled_from([0, 0, 0, 0, 1, -1, 2, 3]), min_size=rows * cols, max_size=rows * cols))
    return np.array(values, dtype=np.float64).reshape(rows, cols)


@st.composite
def matmul_operands(draw):
    m, k, n = (draw(st.integers(0, 6)) for _ in range(3))
    return draw(sparse_matrix(m, k)), draw(sparse_matrix(k, n)), draw(st.sampled_from(FORMATS)), draw(st.sampled_from(FORMATS))


@given(matmul_operands())
def test_matmul_all_loop_orders_give_b_at_c(operands):
    B, C, fmt_b, fmt_c = operands
    inputs = {"B": zs.as_tensor(B, format=fmt_b), "C": zs.as_tensor(C, format=fmt_c)}
    gold = B @ C
    for order in ORDERS:
        out = interpret(graph(f"matmul_{order}"), inputs)["X"]
        assert out.shape == gold.shape
        np.testing.assert_array_equal(out.to_numpy(), gold, err_msg=f"matmul_{order}")
        # Every stored coordinate is one some k reaches: an explicit zero only where products cancel.
        reached = (B != 0).astype(int) @ (C != 0).astype(int) > 0
        coords, _ = out.to_coo(keep_zeros=True)
        assert all(reached[tuple(c)] for c in coords)


@st.composite
def same_shape_pair(draw):
    m, n = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    return draw(sparse_matrix(m, n)), draw(sparse_matrix(m, n))


@given(same_shape_pair())
def test_elementwise_graphs(pair):
    B, C = pair
    np.testing.assert_array_equal(interpret(graph("mat_elemadd"), {"B": B, "C": C})["X"].to_numpy(), B + C)
    np.testing.assert_array_equal(interpret(graph("mat_elemmul"), {"B": B, "C": C})["X"].to_numpy(), B * C)
    out = interpret(graph("mat_elemmul"), {"B": B, "C": C})["X"]
    assert out.nstored == int(((B != 0) & (C != 0)).sum())  # the coordinate droppers leave no empty fiber


@given(same_shape_pair(), st.integers(0, 2**32 - 1))
def test_every_stream_of_a_run_is_valid(pair, seed):
    B, C = pair
    vector = np.random.default_rng(seed).integers(-1, 2, size=B.shape[0]).astype(float)
    run = trace(graph("mat_residual_HAND"), {"b": vector, "C": B, "d": C[0] if len(C) else np.zeros(B.shape[1])},
                check=False)
    for edge, stream in run.edge_streams().items():
        check_stream(stream, edge.kind, where=str(edge))
        assert len(stream.tokens) >= 1 and stream.tokens[-1] == -1


@given(st.lists(st.lists(st.integers(0, 9), max_size=5), max_size=6))
def test_scanning_a_level_and_repeating_round_trip(fibers):
    fibers = [sorted(set(f)) for f in fibers]
    pos = np.cumsum([0] + [len(f) for f in fibers]).tolist()
    crd = [c for f in fibers for c in f]
    refs = encode([*range(len(fibers)), "S0", "D"], "ref")
    out_crd, out_ref = prim.scan(Reader(refs, "refs"), prim.compressed_level(pos, crd))
    crd_stream = check_stream(Stream(StreamKind.CRD, np.array(out_crd)))
    check_stream(Stream(StreamKind.REF, np.array(out_ref)))
    # the coordinates between stop tokens are exactly the fibers
    decoded, current, got = decode(crd_stream), [], []
    for token in decoded:
        if isinstance(token, str):
            if token != "D":
                got.append(current)
            current = []
        else:
            current.append(token)
    assert got == fibers or (not fibers and got == [[]])
    # a repeater driven by this stream's signal holds each reference once per coordinate
    signal = Stream(StreamKind.REPSIG, np.array(prim.repsiggen(Reader(crd_stream, "crd"))))
    held = prim.repeat(Reader(refs, "refs"), Reader(signal, "signal"))
    assert [t for t in held if t >= 0] == [r for r, f in enumerate(fibers) for _ in f]
