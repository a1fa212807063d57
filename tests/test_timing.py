"""The timing pass against the cycle-stepped reference, and the functional pass against the interpreter.

* ``time_network`` (longest paths, compiled) and ``simulate_cycles`` (one cycle at a time, plain
  Python) agree cycle for cycle, or both deadlock: on lowered graphs of a kernel table with random
  inputs and random timing models, and on small synthetic networks built directly.
* Hand-checked cycles: producer/consumer chains, a fan-out throttled by its slow consumer, SpMV in
  SAM's timing model.
* A deadlock is reported with the blocks and FIFOs involved, and never hangs.
* ``functional_pass`` yields exactly the interpreter's streams and the numpy gold, on the kernel
  table and on every SAM graph file.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_dataflow import GRAPHS, KERNELS as SAM_KERNELS, drops_a_row, graph_of, random_operands

import zeroskip as zs
from zeroskip.dataflow.interpret import trace
from zeroskip.errors import DeadlockError, StreamError
from zeroskip.hardware.functional import functional_pass
from zeroskip.hardware.reference import simulate_cycles
from zeroskip.hardware.timing import UNBOUNDED, Network, Timing, TimingModel, network, time_network, time_run
from zeroskip.lang import evaluate_dense

# ---- the kernel table ------------------------------------------------------------------------------
# id, expression, {operand: (index letters, format)}, loop order (None: the compiler's choice).
KERNELS = [
    ("spmv", "y(i) = A(i,j) * x(j)", {"A": ("ij", "csr"), "x": ("j", "dense")}, None),
    ("spmspv", "y(i) = A(i,j) * x(j)", {"A": ("ij", "dcsr"), "x": ("j", "sparse")}, None),
    ("spmv_ji", "y(i) = A(i,j) * x(j)", {"A": ("ij", "csc"), "x": ("j", "sparse")}, "ji"),
    ("spgemm_ikj", "C(i,j) = A(i,k) * B(k,j)", {"A": ("ik", "csr"), "B": ("kj", "csr")}, "ikj"),
    ("spgemm_kij", "C(i,j) = A(i,k) * B(k,j)", {"A": ("ik", "csc"), "B": ("kj", "csr")}, "kij"),
    ("spgemm_ijk", "C(i,j) = A(i,k) * B(k,j)", {"A": ("ik", "csr"), "B": ("kj", "csc")}, "ijk"),
    ("add", "x(i) = b(i) + c(i)", {"b": ("i", "sparse"), "c": ("i", "sparse")}, None),
    ("mat_add", "X(i,j) = B(i,j) + C(i,j)", {"B": ("ij", "dcsr"), "C": ("ij", "csr")}, None),
    ("mat_mul", "X(i,j) = B(i,j) * C(i,j)", {"B": ("ij", "dcsr"), "C": ("ij", "dcsr")}, None),
    ("innerprod", "a = B(i,j) * C(i,j)", {"B": ("ij", "dcsr"), "C": ("ij", "csr")}, None),
    ("ttv", "y(i) = B(i,j,k) * c(k)", {"B": ("ijk", "csf"), "c": ("k", "dense")}, None),
    ("ttv_ij", "X(i,j) = B(i,j,k) * c(k)", {"B": ("ijk", "csf"), "c": ("k", "sparse")}, None),
    ("residual", "y(i) = b(i) - A(i,j) * x(j)", {"b": ("i", "sparse"), "A": ("ij", "csr"), "x": ("j", "dense")}, None),
]
KERNEL_IDS = [k[0] for k in KERNELS]


@functools.cache
def graph(kid: str):
    _, text, ops, order = KERNELS[KERNEL_IDS.index(kid)]
    return zs.compile(text, loop_order=order, **{n: f for n, (_, f) in ops.items()}).graph


@st.composite
def kernel_inputs(draw, kernels=tuple(KERNEL_IDS)):
    """A kernel and its operands: sizes 1..6, density 0..1, integer values (exact sums), maybe an empty row."""
    kid = draw(st.sampled_from(kernels))
    _, text, ops, _ = KERNELS[KERNEL_IDS.index(kid)]
    letters = sorted({c for idx, _ in ops.values() for c in idx})
    sizes = {c: draw(st.integers(1, 6), label=f"size {c}") for c in letters}
    density = draw(st.sampled_from([0.0, 0.2, 0.5, 0.8, 1.0]), label="density")
    empty_row = draw(st.booleans(), label="empty row")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    arrays = {}
    for name, (idx, _) in ops.items():
        shape = tuple(sizes[c] for c in idx)
        values = rng.integers(1, 5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        mask = rng.random(shape) < density
        if empty_row and len(shape) >= 2:
            mask[rng.integers(shape[0])] = False
        arrays[name] = values * mask
    return kid, text, arrays


# ---- comparing the two timing engines ---------------------------------------------------------------
def outcome(engine, net: Network) -> Timing | DeadlockError:
    try:
        return engine(net)
    except DeadlockError as error:
        return error


def assert_same_timing(net: Network) -> Timing | DeadlockError:
    """``time_network`` and ``simulate_cycles`` agree on every step's cycle and every total, or both deadlock."""
    fast, slow = outcome(time_network, net), outcome(simulate_cycles, net)
    if isinstance(fast, DeadlockError) or isinstance(slow, DeadlockError):
        assert isinstance(fast, DeadlockError) and isinstance(slow, DeadlockError), (
            f"only one engine deadlocks:\nfast: {fast if isinstance(fast, Exception) else fast.cycles}\n"
            f"slow: {slow if isinstance(slow, Exception) else slow.cycles}")
        return fast
    for b in range(net.nblocks):
        assert fast.start[b].tolist() == slow.start[b].tolist(), f"step cycles of {net.labels[b]}"
    for what in ("busy", "stall_in", "stall_out"):
        assert getattr(fast, what).tolist() == getattr(slow, what).tolist(), what
    assert fast.cycles == slow.cycles
    return fast


@st.composite
def timing_models(draw, graph_):
    """Random per-op latency 1..3 and ii 1..2, FIFO depth 1..4 or unbounded, ports, hops and per-edge depths."""
    ops = sorted({n.op.value for n in graph_.nodes})
    edges = sorted(graph_.edges, key=lambda e: e.sort_key())
    latency = {op: draw(st.integers(1, 3), label=f"latency {op}") for op in ops}
    ii = {op: draw(st.integers(1, 2), label=f"ii {op}") for op in ops}
    depth = draw(st.sampled_from([UNBOUNDED, 1, 2, 3, 4]), label="fifo depth")
    hops = draw(st.lists(st.integers(0, 3), min_size=len(edges), max_size=len(edges)), label="hops")
    overrides = draw(st.lists(st.sampled_from([None, 1, 2, 3, 4]), min_size=len(edges), max_size=len(edges)),
                     label="depth overrides")
    return TimingModel(latency, ii, fifo_depth=depth, mem_ports=draw(st.integers(0, 2), label="mem ports"),
                       hop_latency=draw(st.integers(0, 2), label="hop latency"), hops=dict(zip(edges, hops)),
                       depths={e: d for e, d in zip(edges, overrides) if d is not None})


@pytest.mark.parametrize("kid", KERNEL_IDS)
@settings(max_examples=30)
@given(data=st.data())
def test_fast_and_reference_timing_agree_on_lowered_graphs(kid, data):
    _, _, arrays = data.draw(kernel_inputs((kid,)), label="inputs")
    run = functional_pass(graph(kid), arrays)
    assert_same_timing(network(run, data.draw(timing_models(run.graph), label="model")))


@pytest.mark.parametrize("kid", KERNEL_IDS)
@settings(max_examples=15)
@given(data=st.data())
def test_block_by_block_timing_equals_the_event_graph_without_finite_fifos(kid, data):
    """``time_run`` times blocks one by one when no FIFO is finite; it must equal ``time_network`` exactly."""
    _, _, arrays = data.draw(kernel_inputs((kid,)), label="inputs")
    run = functional_pass(graph(kid), arrays)
    drawn = data.draw(timing_models(run.graph), label="model")
    model = TimingModel(drawn.latency, drawn.ii, mem_ports=drawn.mem_ports, hop_latency=drawn.hop_latency,
                        hops=drawn.hops)
    fast, full = time_run(run, model), time_network(network(run, model))
    assert fast.cycles == full.cycles
    assert [s.tolist() for s in fast.start] == [s.tolist() for s in full.start]
    for what in ("busy", "stall_in", "stall_out"):
        assert getattr(fast, what).tolist() == getattr(full, what).tolist(), what


@pytest.mark.parametrize("kid", KERNEL_IDS)
def test_fast_and_reference_timing_agree_in_sams_model(kid):
    _, _, ops, _ = KERNELS[KERNEL_IDS.index(kid)]
    rng = np.random.default_rng(len(kid))
    letters = {c for idx, _ in ops.values() for c in idx}
    sizes = dict(zip(sorted(letters), itertools.cycle([4, 3, 5])))
    arrays = {n: (rng.random(tuple(sizes[c] for c in idx)) < 0.5) * 2.0 for n, (idx, _) in ops.items()}
    run = functional_pass(graph(kid), arrays)
    timing = assert_same_timing(network(run, TimingModel.sam()))
    assert timing.stall_out.sum() == 0  # unbounded queues never push back


def test_inputs_fed_by_no_edge_do_not_overwrite_another_inputs_pop_cycles():
    """A regression: ``time_network`` records the pops of a root input (no tokens in ``tok_in``) in the
    next input's slots. Here the root repeater's root pops overwrote its repsig input's pop cycles, and
    the repsig generator's last push waited for a slot freed two cycles late (6 instead of 5)."""
    A, x = np.eye(2), np.ones(2)
    run = functional_pass(graph("spmv"), {"A": A, "x": x})
    net = network(run, TimingModel(latency={}, ii={}, fifo_depth=3))
    repsiggen = net.labels.index(next(label for label in net.labels if "repsiggen" in label))
    assert simulate_cycles(net).start[repsiggen].tolist() == [2, 3, 4, 5]
    assert_same_timing(net)


def test_a_root_pop_does_not_overwrite_the_pop_cycle_of_a_token_on_another_input():
    """The same regression, minimal: the consumer's root input (global input 0, no token slots) shares
    its slots with input 1, so its root pop at cycle 3 overwrote token 0's pop cycle (1) and the
    producer's third push, which needs token 0 gone from the depth-2 FIFO, waited until 4 instead of 2."""
    net = make_network([producer(3), dict(n_in=2, n_out=0, label="consumer",
                                          steps=[(2, 2, 0, 0), (2, 2, 0, 0), (1, 1, 0, 0), (2, 2, 0, 0)])],
                       [(0, 0, 1, 1, 1, 2)])
    slow = simulate_cycles(net)
    assert [s.tolist() for s in slow.start] == [[0, 1, 2], [1, 2, 3, 4]] and slow.cycles == 5
    assert_same_timing(net)


# ---- synthetic networks -----------------------------------------------------------------------------
def make_network(blocks, edges) -> Network:
    """A ``Network`` built by hand, laid out as ``timing.network`` lays out a run.

    ``blocks``: dicts with ``n_in``, ``n_out``, ``steps`` (tuples peek, pop, push, mem), optional
    ``ii``, ``ports``, ``label``; ``edges``: (src block, output, dst block, input, latency, depth).
    Inputs fed by no edge are always ready and, as in ``network``, hold no token slots.
    """
    nb = len(blocks)
    nsteps = np.array([len(b["steps"]) for b in blocks], np.int64)
    soff = np.concatenate(([0], np.cumsum(nsteps)[:-1])).astype(np.int64)
    n_in = np.array([b["n_in"] for b in blocks], np.int64)
    n_out = np.array([b["n_out"] for b in blocks], np.int64)
    in_base = np.concatenate(([0], np.cumsum(n_in)[:-1])).astype(np.int64)
    out_base = np.concatenate(([0], np.cumsum(n_out)[:-1])).astype(np.int64)
    steps = [s for b in blocks for s in b["steps"]]
    peek, pop, push, mem = (np.array([s[k] for s in steps], np.uint32 if k < 3 else np.int64) for k in range(4))
    gin, gout = int(n_in.sum()), int(n_out.sum())
    src, lat, depth = np.full(gin, -1, np.int64), np.zeros(gin, np.int64), np.full(gin, UNBOUNDED, np.int64)
    consumers = [[] for _ in range(gout)]
    for sb, q, db, p, latency, d in edges:
        i, o = in_base[db] + p, out_base[sb] + q
        src[i], lat[i], depth[i] = o, latency, d
        consumers[o].append(int(i))
    pushes = np.zeros(gout, np.int64)
    pops = np.zeros(gin, np.int64)
    for b, block in enumerate(blocks):
        for pk, pp, ps, _ in block["steps"]:
            for q in range(block["n_out"]):
                pushes[out_base[b] + q] += (ps >> q) & 1
            for p in range(block["n_in"]):
                pops[in_base[b] + p] += (pp >> p) & 1
                assert not (pp >> p) & 1 or (pk >> p) & 1, "a step pops only inputs it peeks at"
    in_tokens = np.array([pushes[s] if s >= 0 else 0 for s in src], np.int64)
    assert all(pops[i] == in_tokens[i] for i in range(gin) if src[i] >= 0), "every edge: pushes == pops"
    labels = tuple(b.get("label", f"block {k}") for k, b in enumerate(blocks))
    return Network(
        nb, soff, nsteps, peek, pop, push, mem,
        np.array([b.get("ii", 1) for b in blocks], np.int64), np.array([b.get("ports", 0) for b in blocks], np.int64),
        in_base, out_base, src, lat, depth,
        np.concatenate(([0], np.cumsum([len(c) for c in consumers]))).astype(np.int64),
        np.array([i for c in consumers for i in c], np.int64),
        np.concatenate(([0], np.cumsum(in_tokens))).astype(np.int64),
        np.concatenate(([0], np.cumsum(pushes))).astype(np.int64),
        labels,
        tuple(f"input {p} of {labels[b]}" for b in range(nb) for p in range(blocks[b]["n_in"])),
        tuple(f"output {q} of {labels[b]}" for b in range(nb) for q in range(blocks[b]["n_out"])),
    )


def producer(n, **kw):
    return dict(n_in=0, n_out=1, steps=[(0, 0, 1, 0)] * n, label="producer", **kw)


def consumer(n, label="consumer", **kw):
    return dict(n_in=1, n_out=0, steps=[(1, 1, 0, 0)] * n, label=label, **kw)


# Topologies: (number of blocks, inputs and outputs per block, edges as (src, output, dst, input)).
TOPOLOGIES = {
    "chain": ([(0, 1), (1, 1), (1, 1), (1, 0)], [(0, 0, 1, 0), (1, 0, 2, 0), (2, 0, 3, 0)]),
    "fan-out diamond": ([(0, 1), (1, 1), (1, 1), (2, 0)], [(0, 0, 1, 0), (0, 0, 2, 0), (1, 0, 3, 0), (2, 0, 3, 1)]),
    "two-output diamond": ([(1, 2), (1, 1), (1, 1), (2, 0)], [(0, 0, 1, 0), (0, 1, 2, 0), (1, 0, 3, 0), (2, 0, 3, 1)]),
    "skip edge": ([(0, 2), (1, 1), (2, 0)], [(0, 0, 1, 0), (0, 1, 2, 1), (1, 0, 2, 0)]),
}


@st.composite
def synthetic_networks(draw):
    """A small network of a topology above with random step masks, consistent token counts per edge."""
    shape, wiring = TOPOLOGIES[draw(st.sampled_from(sorted(TOPOLOGIES)))]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Tokens per output; every consumer of an output pops all of them.
    out_tokens = {(b, q): int(rng.integers(0, 6)) for b, (_, n_out) in enumerate(shape) for q in range(n_out)}
    fed = {(d, p): out_tokens[(s, q)] for s, q, d, p in wiring}
    blocks = []
    for b, (n_in, n_out) in enumerate(shape):
        left_in = [fed.get((b, p), int(rng.integers(0, 3))) for p in range(n_in)]  # unfed inputs: a few root pops
        left_out = [out_tokens[(b, q)] for q in range(n_out)]
        steps = []
        while sum(left_in) + sum(left_out) or not steps:
            pp = sum(1 << p for p in range(n_in) if left_in[p] and rng.random() < 0.6)
            ps = sum(1 << q for q in range(n_out) if left_out[q] and rng.random() < 0.6)
            # Peeking at a head without popping it is fine while the input still has a token to come.
            pk = pp | sum(1 << p for p in range(n_in) if left_in[p] and rng.random() < 0.3)
            for p in range(n_in):
                left_in[p] -= (pp >> p) & 1
            for q in range(n_out):
                left_out[q] -= (ps >> q) & 1
            steps.append((pk, pp, ps, int(rng.integers(0, 4))))
        blocks.append(dict(n_in=n_in, n_out=n_out, steps=steps, ii=int(rng.integers(1, 3)),
                           ports=int(rng.integers(0, 3)), label=f"block {b}"))
    depths = [1, 2, 3, UNBOUNDED]
    edges = [(s, q, d, p, int(rng.integers(1, 4)), depths[rng.integers(4)]) for s, q, d, p in wiring]
    return make_network(blocks, edges)


@settings(max_examples=200)
@given(net=synthetic_networks())
def test_fast_and_reference_timing_agree_on_synthetic_networks(net):
    assert_same_timing(net)


# ---- hand-checked cycles ----------------------------------------------------------------------------
def chain(n, latency, depth, producer_ii=1, consumer_ii=1):
    return make_network([producer(n, ii=producer_ii), consumer(n, ii=consumer_ii)], [(0, 0, 1, 0, latency, depth)])


@pytest.mark.parametrize(("net", "starts", "cycles", "stall_in", "stall_out", "busy"), [
    # depth 1, latency 1: a slot frees the cycle after its pop, so one token every other cycle
    (chain(4, 1, 1), ([0, 2, 4, 6], [1, 3, 5, 7]), 8, [0, 4], [3, 0], [4, 4]),
    # depth 2 hides the round trip: one token per cycle, behind the latency
    (chain(4, 1, 2), ([0, 1, 2, 3], [1, 2, 3, 4]), 5, [0, 1], [0, 0], [4, 4]),
    # latency 3, depth 2: two tokens per round trip of four cycles
    (chain(4, 3, 2), ([0, 1, 4, 5], [3, 4, 7, 8]), 9, [0, 5], [2, 0], [4, 4]),
    # the producer at ii=2: the consumer waits a cycle for every token
    (chain(4, 1, UNBOUNDED, producer_ii=2), ([0, 2, 4, 6], [1, 3, 5, 7]), 8, [0, 4], [0, 0], [8, 4]),
    # the consumer at ii=2 with depth 1: its pops set the rate
    (chain(3, 1, 1, consumer_ii=2), ([0, 2, 4], [1, 3, 5]), 6, [0, 1], [2, 0], [3, 6]),
    # a slow fan-out consumer (ii=3, depth 1) throttles the producer and so the fast consumer
    (make_network([producer(4), consumer(4, "fast"), consumer(4, "slow", ii=3)],
                  [(0, 0, 1, 0, 1, 1), (0, 0, 2, 0, 1, 1)]),
     ([0, 2, 5, 8], [1, 3, 6, 9], [1, 4, 7, 10]), 11, [0, 6, 1], [5, 0, 0], [4, 4, 12]),
    # three SRAM accesses per step on two ports: every step takes two cycles
    (make_network([dict(producer(3, ports=2), steps=[(0, 0, 1, 3)] * 3), consumer(3)], [(0, 0, 1, 0, 1, UNBOUNDED)]),
     ([0, 2, 4], [1, 3, 5]), 6, [0, 3], [0, 0], [6, 3]),
], ids=["depth1", "depth2", "latency3-depth2", "producer-ii2", "consumer-ii2", "slow-fan-out", "ports"])
def test_hand_checked_chains(net, starts, cycles, stall_in, stall_out, busy):
    for engine in (time_network, simulate_cycles):
        t = engine(net)
        assert tuple(s.tolist() for s in t.start) == starts, engine.__name__
        assert (t.cycles, t.stall_in.tolist(), t.stall_out.tolist(), t.busy.tolist()) == (cycles, stall_in, stall_out, busy)


def test_sam_model_spmv_on_a_one_by_one_matrix_by_hand():
    """SAM's model (latency 1, ii 1, unbounded queues), ``y(i) = A(i,j) * x(j)``, A = [[2]] csr, x = [3].

    Each stream is ``0 S D`` (three tokens). The root i scanner loads, emits, closes, ends at 0..3;
    every consumer sees a token one cycle after its push. The root repeater waits for the repsig R
    (3), pops the S (4), closes (5) and ends on D (6), so x's j scanner starts at 4 and the
    intersecter, waiting for x's side, fires at 6, 7, 8; the value path follows one cycle a stage,
    the reducer takes an extra step to emit its sum before the stop.
    """
    A, x = np.array([[2.0]]), np.array([3.0])
    run = functional_pass(graph("spmv"), {"A": A, "x": x})
    assert run.outputs["y"].to_numpy().tolist() == [6.0]
    net = network(run, TimingModel.sam())
    expect = {  # block: (start cycles, input stall)
        "fiberlookup i": ([0, 1, 2, 3], 0),
        "repsiggen i": ([2, 3, 4], 2),
        "repeat i": ([3, 4, 5, 6], 3),
        "fiberlookup j: A": ([2, 3, 4, 5], 2),
        "fiberlookup j: x": ([4, 5, 6, 7], 4),
        "intersect j": ([6, 7, 8], 6),
        "arrayvals A": ([7, 8, 9], 7),
        "arrayvals x": ([7, 8, 9], 7),
        "mul": ([8, 9, 10], 8),
        "reduce": ([9, 10, 11, 12], 9),
        "fiberwrite i": ([2, 3, 4], 2),
        "fiberwrite vals": ([11, 12, 13], 11),
    }
    for engine in (time_network, simulate_cycles):
        t = engine(net)
        assert t.cycles == 14
        got = {label: (t.start[b].tolist(), int(t.stall_in[b])) for b, label in enumerate(net.labels)}
        for key, want in expect.items():
            (label,) = [label for label in got if key in label]
            assert got[label] == want, (engine.__name__, label)
        assert t.stall_out.sum() == 0 and t.busy.tolist() == net.nsteps.tolist()


# ---- deadlock ---------------------------------------------------------------------------------------
def test_gustavson_spgemm_with_depth_one_fifos_deadlocks_and_says_where():
    A = np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 4.0], [5.0, 0.0, 6.0]])
    run = functional_pass(graph("spgemm_ikj"), {"A": A, "B": A.T})
    assert_same_timing(network(run, TimingModel(latency={}, ii={}, fifo_depth=2)))  # depth 2 runs
    net = network(run, TimingModel(latency={}, ii={}, fifo_depth=1))
    for engine in (time_network, simulate_cycles):
        with pytest.raises(DeadlockError) as info:
            engine(net)
        message = str(info.value)
        assert message.startswith("deadlock: no block can take its next step")
        blocked = [line for line in message.splitlines()[1:]]
        assert blocked and all(any(label in line for label in net.labels) for line in blocked)
        assert "waits for room in the FIFO of depth 1 to input" in message
        assert "waits for a token on input" in message


def test_spmspv_into_a_sparse_output_needs_two_fifo_slots_before_the_dropper():
    """y(i) = A(i,j) * x(j), A CSR, x and y sparse (the Onyx SpM*SpV). Depth 1 deadlocking is a property of
    the graph, not of the model: the row scanner pushes coordinate i (to the dropper and the repeat-signal
    generator) in the same step as reference i (to A's column scanner); the dropper holds i until the first
    token of i's intersection, and a scanner closes fiber i (S0 or S1) only on seeing reference i+1. An empty
    intersection needs i+1 pushed while i is held: two slots on the edge into the dropper. So depth 1 runs
    when every row meets x, deadlocks (both engines, any latencies) when one does not, and runs again with
    those two slots on that one edge alone."""
    g = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="sparse", out="sparse").graph
    (edge,) = [e for e in g.edges if e.dst_port == "crd_outer"]
    A = np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 4.0], [5.0, 0.0, 6.0]])
    onyx = TimingModel(latency={"fiberlookup": 2, "arrayvals": 2, "fiberwrite": 2, "valswrite": 2}, ii={},
                       mem_ports=1, fifo_depth=1)
    for x, meets in [(np.ones(3), True), (np.array([0.0, 0.0, 1.0]), False)]:  # row 0 of A misses x: empty
        run = functional_pass(g, {"A": zs.as_tensor(A, format="csr"), "x": zs.as_tensor(x, format="sparse")})
        for model in (TimingModel(latency={}, ii={}, fifo_depth=1), onyx):
            net = network(run, model)
            if meets:
                assert_same_timing(net)
                continue
            for engine in (time_network, simulate_cycles):
                with pytest.raises(DeadlockError, match=r"fiberlookup i: A mode 0 dense root at step 2 of \d+: "
                                                        r"waits for room in the FIFO of depth 1 to input crd_outer"):
                    engine(net)
            timing = assert_same_timing(network(run, dataclasses.replace(model, depths={edge: 2})))
            assert not isinstance(timing, DeadlockError)


def test_a_token_that_never_comes_and_a_cycle_of_full_fifos_deadlock_both_engines():
    # The consumer peeks at its input again after popping the only token the producer pushes.
    net = make_network([producer(1), dict(consumer(1), steps=[(1, 1, 0, 0), (1, 0, 0, 0)])],
                       [(0, 0, 1, 0, 2, UNBOUNDED)])
    for engine in (time_network, simulate_cycles):
        with pytest.raises(DeadlockError, match=r"consumer at step 1 of 2: waits for a token on input 0 of "
                                                r"consumer \(from output 0 of producer\)"):
            engine(net)
    # A cycle of full FIFOs: each of two blocks pushes to the other before popping.
    ping = dict(n_in=1, n_out=1, steps=[(0, 0, 1, 0), (0, 0, 1, 0), (1, 1, 0, 0), (1, 1, 0, 0)], label="ping")
    pong = dict(ping, label="pong")
    net = make_network([ping, pong], [(0, 0, 1, 0, 1, 1), (1, 0, 0, 0, 1, 1)])
    for engine in (time_network, simulate_cycles):
        with pytest.raises(DeadlockError, match=r"ping at step 1 of 4: waits for room in the FIFO of depth 1"):
            engine(net)


def test_the_reference_stops_at_max_cycles_and_refuses_zero_latency():
    with pytest.raises(DeadlockError, match="max_cycles=5"):
        simulate_cycles(chain(10, 1, 1), max_cycles=5)
    assert simulate_cycles(chain(10, 1, 1), max_cycles=20).cycles == 20
    with pytest.raises(ValueError, match="latency 0"):
        simulate_cycles(chain(2, 0, 1))


# ---- the functional pass against the reference interpreter ---------------------------------------------
def assert_streams_equal(run, reference) -> None:
    assert set(run.streams) <= set(reference.streams)
    for key, (tokens, values) in run.streams.items():
        want = reference.streams[key]
        assert tokens.tolist() == want.tokens.tolist(), f"tokens of stream {key}"
        if want.values is not None:
            at = tokens == 0  # VALUE tokens carry the values; the others' slots are unspecified
            np.testing.assert_allclose(values[at], want.values[at], rtol=1e-12, atol=1e-12, err_msg=f"{key}")
    for block in run.blocks:  # the timing pass waits only for heads a step peeks at: each popped token was
        seen = 0              # peeked at by its pop's step or an earlier one (a repeater's held reference)
        for pk, pp in zip(block.trace.peek.tolist(), block.trace.pop.tolist()):
            seen |= pk
            assert pp & ~seen == 0, f"{block.node.describe()} pops a token it never peeked at"
            seen &= ~pp


@pytest.mark.parametrize("kid", KERNEL_IDS)
@settings(max_examples=10)
@given(data=st.data())
def test_functional_pass_streams_equal_the_interpreters(kid, data):
    _, text, arrays = data.draw(kernel_inputs((kid,)), label="inputs")
    g = graph(kid)
    run = functional_pass(g, arrays)
    assert_streams_equal(run, trace(g, arrays))
    (name,) = g.outputs
    np.testing.assert_allclose(run.outputs[name].to_numpy(), evaluate_dense(text, arrays), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(SAM_KERNELS))
def test_functional_pass_on_every_sam_graph_file(name, data_dir):
    assert (data_dir / "sam-graphs").resolve() == GRAPHS.resolve()
    g = graph_of(name)
    rng = np.random.default_rng(len(name))
    for sizes, density in [(dict(i=4, j=5, k=3), 0.5), (dict(i=1, j=1, k=1), 1.0), (dict(i=3, j=2, k=4), 0.0)]:
        t = random_operands(SAM_KERNELS[name], sizes, density, rng)
        if drops_a_row(SAM_KERNELS[name], t):  # TACO's file misaligns the union: both refuse to assemble X
            with pytest.raises(StreamError, match="do not align"):
                trace(g, t)
            with pytest.raises(StreamError, match="do not align"):
                functional_pass(g, t).outputs  # noqa: B018 (assembled on first use)
            continue
        run = functional_pass(g, t)
        reference = trace(g, t)
        assert_streams_equal(run, reference)
        for out in g.outputs:
            np.testing.assert_allclose(run.outputs[out].to_numpy(), reference.outputs[out].to_numpy())
        assert_same_timing(network(run, TimingModel(latency={}, ii={}, fifo_depth=2)))


def test_a_timing_model_with_latency_or_depth_below_one_is_refused():
    import zeroskip as zs
    from zeroskip.errors import HardwareError
    from zeroskip.hardware.functional import functional_pass
    from zeroskip.hardware.timing import network
    A, x = np.eye(2), np.ones(2)
    run = functional_pass(zs.compile("y(i) = A(i,j) * x(j)", A=A, x=x).graph, {"A": A, "x": x})
    with pytest.raises(HardwareError, match="latency 0"):
        network(run, TimingModel(latency={"fiberlookup": 0}, ii={}))
    with pytest.raises(HardwareError, match="FIFO depth 0"):
        network(run, TimingModel(latency={}, ii={}, fifo_depth=0))
