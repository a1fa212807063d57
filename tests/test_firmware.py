"""Firmware: placement, tiling (proved by running every tile and putting the output back), load balance,
the tile schedule, the JSON configuration image and the dense mapping."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import zeroskip as zs
from zeroskip.dataflow.graph import Op
from zeroskip.dataflow.interpret import interpret
from zeroskip.errors import HardwareError, ResourceError
from zeroskip.hardware.arch import default_arch
from zeroskip.hardware.firmware import (
    Mapping, Tile, assign, combine_outputs, dense_plan, max_copies, place, plan, schedule, slice_inputs, tile,
)
from zeroskip.hardware.placement import MEMORY_OPS

ARCH = default_arch()
TINY = ARCH.replace(rows=2, cols=4, mem_columns=(0,))


# ---- the table: kernels x operands, each with a numpy gold ---------------------------------------------


def _matrix(rows, cols, density, seed, *, empty_rows=()):
    m = sp.random(rows, cols, density=density, format="lil", random_state=seed)
    for r in empty_rows:
        m[r, :] = 0
    m = m.tocsr()
    m.eliminate_zeros()
    return m


KERNELS = {
    "spmv": ("y(i)=A(i,j)*x(j)", lambda a, b: {"A": a, "x": np.arange(1.0, a.shape[1] + 1)},
             lambda t: t["A"] @ t["x"]),
    "spmspm": ("C(i,j)=A(i,k)*B(k,j)", lambda a, b: {"A": a, "B": b.T.tocsr() if b.shape[0] != a.shape[1] else b},
               lambda t: (t["A"] @ t["B"]).toarray()),
    "elemmul": ("C(i,j)=A(i,j)*B(i,j)", lambda a, b: {"A": a, "B": _same_shape(a, b)},
                lambda t: t["A"].multiply(t["B"]).toarray()),
    "add": ("C(i,j)=A(i,j)+B(i,j)", lambda a, b: {"A": a, "B": _same_shape(a, b)},
            lambda t: (t["A"] + t["B"]).toarray()),
}


def _same_shape(a, b):
    return b if b.shape == a.shape else _matrix(*a.shape, 0.3, 99)


OPERANDS = {
    "random": (_matrix(23, 17, 0.25, 0), _matrix(17, 19, 0.25, 1)),
    "empty_rows": (_matrix(20, 20, 0.3, 2, empty_rows=range(3, 12)), _matrix(20, 20, 0.3, 3, empty_rows=(0, 19))),
    "all_zero": (sp.csr_matrix((9, 7)), _matrix(7, 9, 0.4, 4)),
    "one_by_one": (sp.csr_matrix(np.array([[2.5]])), sp.csr_matrix(np.array([[4.0]]))),
    "dense_block": (sp.csr_matrix(np.ones((12, 12))), sp.csr_matrix(np.eye(12))),
}
CASES = [(k, o) for k in KERNELS for o in OPERANDS]


def _case(kernel, operands):
    expr, make, gold = KERNELS[kernel]
    tensors = make(*OPERANDS[operands])
    program = zs.compile(expr, **tensors)
    return program, tensors, gold(tensors)


def _run_tiles(program, tiles, shape):
    graph, bound = program.graph, program.bound_tensors()
    outputs = [(t, interpret(graph, slice_inputs(graph, bound, t))[graph.outputs[0]]) for t in tiles]
    return combine_outputs(graph, outputs, shape)


# ---- placement -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_placement_kinds_unique_tiles_and_manhattan_hops(kernel):
    program, _, _ = _case(kernel, "random")
    graph = program.graph
    most = max_copies(graph, ARCH)
    assert most >= 2
    for copies in (1, 2, most):
        p = place(graph, ARCH, copies=copies)
        assert len(p.sites) == copies * len(graph.nodes)
        tiles = [(s.row, s.col) for s in p.sites]
        assert len(set(tiles)) == len(tiles), "a tile holds two nodes"
        for s in p.sites:
            want = "mem" if graph.node(s.node).op in MEMORY_OPS else "pe"
            assert s.kind == want == ARCH.tile_kind(s.row, s.col)
            lo, hi = p.bands[s.copy]
            assert lo <= s.col < hi, "copies stay in their own column band"
        for c in range(copies):
            for e in graph.edges:
                (r0, c0), (r1, c1) = p.tile_of(e.src, c), p.tile_of(e.dst, c)
                assert p.hops(e, c) == abs(r0 - r1) + abs(c0 - c1)
        assert p == place(graph, ARCH, copies=copies), "placement is deterministic"


def test_placement_keeps_neighbours_close():
    graph = _case("spmspm", "random")[0].graph
    p = place(graph, ARCH)
    assert max(p.edge_hops().values()) <= 8
    assert p.total_hops <= 3 * len(graph.edges)


@pytest.mark.parametrize("arch, copies, resource", [
    (TINY, 1, "memory tiles"),
    (ARCH.replace(rows=4, cols=4, mem_columns=(0, 1, 2)), 1, "PE tiles"),
    (ARCH, 10_000, "memory tiles"),
])
def test_resource_errors_name_the_resource(arch, copies, resource):
    graph = _case("spmv", "random")[0].graph
    with pytest.raises(ResourceError, match=resource) as info:
        place(graph, arch, copies=copies)
    assert arch.name in str(info.value) and str(copies) in str(info.value)


def test_too_many_copies_for_the_bands():
    graph = _case("spmv", "random")[0].graph
    most = max_copies(graph, ARCH)
    place(graph, ARCH, copies=most)
    with pytest.raises(ResourceError, match="column bands|memory tiles|PE tiles"):
        place(graph, ARCH, copies=most + 1)


def test_nothing_fits_the_tiny_array():
    program, tensors, _ = _case("spmv", "random")
    assert max_copies(program.graph, TINY) == 0
    with pytest.raises(ResourceError, match="needs 7 memory tiles for 1 copies of the graph but onyx has 2"):
        plan(program.graph, program.bound_tensors(), TINY)
    with pytest.raises(HardwareError, match="copies"):
        place(program.graph, ARCH, copies=0)


# ---- tiling ------------------------------------------------------------------------------------------------


def _level_words(t, level):
    arrays = t.levels[level]
    return sum(len(a) for a in (arrays.pos, arrays.crd) if a is not None)


def _check_fits_and_bytes(graph, bound, tiles, arch):
    """Every sub-tensor fits its memory tiles, and in_bytes is what the memory tiles hold."""
    wb, cap = arch.word_bytes, arch.mem_tile_bytes
    for t in tiles:
        sub = slice_inputs(graph, bound, t)
        held = 0
        for node in graph.nodes:
            if node.op is Op.LEVEL_SCAN:
                level = graph.tensor(node.params.tensor).level_of(node.params.mode)
                nbytes = _level_words(sub[node.params.tensor], level) * wb
            elif node.op is Op.ARRAY_VALS:
                nbytes = len(sub[node.params.tensor].vals) * wb
            else:
                continue
            assert nbytes <= cap, f"{node.describe()} holds {nbytes} bytes in tile {dict(t.ranges)}"
            held += nbytes
        assert held == t.in_bytes


def _check_cover(graph, bound, tiles):
    """The tiles' boxes partition the iteration space: every point in exactly one tile."""
    sizes = {}
    for node in graph.nodes_of(Op.LEVEL_SCAN):
        sizes[node.params.index] = np.shape(bound[node.params.tensor])[node.params.mode]
    order = sorted(sizes)
    count = np.zeros([sizes[i] for i in order], np.int64)
    for t in tiles:
        assert set(t.ranges) == set(order)
        count[tuple(slice(*t.ranges[i]) for i in order)] += 1
    assert (count == 1).all()


@pytest.mark.parametrize("strategy", ["nnz", "coords"])
@pytest.mark.parametrize("kernel, operands", CASES)
def test_tiles_fit_cover_and_recombine_to_the_gold(kernel, operands, strategy):
    program, tensors, gold = _case(kernel, operands)
    arch = ARCH.replace(mem_tile_bytes=48)  # 24 words: every case but 1x1 has to be tiled
    bound = program.bound_tensors()
    tiles = tile(program.graph, bound, arch, strategy=strategy)
    if operands != "one_by_one" and operands != "all_zero":
        assert len(tiles) > 1
    _check_fits_and_bytes(program.graph, bound, tiles, arch)
    _check_cover(program.graph, bound, tiles)
    out, adds = _run_tiles(program, tiles, np.shape(gold))
    np.testing.assert_allclose(out.to_numpy(), gold)
    assert adds >= 0


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_one_tile_when_everything_fits(kernel):
    program, tensors, gold = _case(kernel, "random")
    tiles = tile(program.graph, program.bound_tensors(), ARCH)
    assert len(tiles) == 1
    assert all(t.ranges[i] == (0, n) for t in tiles for i, n in _sizes(program).items())
    out, adds = _run_tiles(program, tiles, np.shape(gold))
    np.testing.assert_allclose(out.to_numpy(), gold)
    assert adds == 0


def _sizes(program):
    bound = program.bound_tensors()
    return {n.params.index: np.shape(bound[n.params.tensor])[n.params.mode] for n in program.graph.nodes_of(Op.LEVEL_SCAN)}


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_multiplies_count_the_intersections(kernel):
    program, tensors, _ = _case(kernel, "empty_rows")
    tiles = tile(program.graph, program.bound_tensors(), ARCH.replace(mem_tile_bytes=64))
    a = tensors["A"].astype(bool).astype(np.int64)
    if kernel == "spmv":
        want = a.nnz  # x is dense: every stored A entry meets an x entry
    elif kernel == "spmspm":
        b = tensors["B"].astype(bool).astype(np.int64)
        want = int(np.asarray(a.sum(axis=0)).ravel() @ np.asarray(b.sum(axis=1)).ravel())
    elif kernel == "elemmul":
        want = a.multiply(tensors["B"].astype(bool)).nnz
    else:
        want = 0
    assert sum(t.multiplies for t in tiles) == want
    assert all(t.est_work >= t.multiplies for t in tiles)


def test_splitting_for_copies_prefers_output_indices():
    program, tensors, gold = _case("spmv", "random")
    tiles = tile(program.graph, program.bound_tensors(), ARCH, copies=4)
    assert len(tiles) >= 4
    assert {t.ranges["j"] for t in tiles} == {(0, 17)}, "no partial sums when the output index can be split"
    out, adds = _run_tiles(program, tiles, np.shape(gold))
    np.testing.assert_allclose(out.to_numpy(), gold)
    assert adds == 0


def test_split_reduction_counts_partial_sums():
    program, tensors, gold = _case("spmv", "random")
    # x (17 words) alone overflows 16-word tiles, so j, the reduction index, must be cut.
    tiles = tile(program.graph, program.bound_tensors(), ARCH.replace(mem_tile_bytes=32))
    assert len({t.ranges["j"] for t in tiles}) > 1
    out, adds = _run_tiles(program, tiles, np.shape(gold))
    np.testing.assert_allclose(out.to_numpy(), gold)
    i_rows = [(t.ranges["i"], t.ranges["j"]) for t in tiles]
    # A dense output gets one entry per row of every tile; all but the first contribution per row are additions.
    rows_covered = sum(hi - lo for (lo, hi), _ in i_rows)
    assert adds == rows_covered - gold.shape[0]


def test_nnz_strategy_needs_fewer_tiles_on_skewed_rows():
    dense_top = np.zeros((64, 64))
    dense_top[:8] = 1.0
    dense_top[8:, 0] = 1.0
    program = zs.compile("y(i)=A(i,j)*x(j)", A=sp.csr_matrix(dense_top), x=np.ones(64))
    arch = ARCH.replace(mem_tile_bytes=256)
    by_nnz = tile(program.graph, program.bound_tensors(), arch, strategy="nnz")
    by_coords = tile(program.graph, program.bound_tensors(), arch, strategy="coords")
    assert len(by_nnz) < len(by_coords)
    for tiles in (by_nnz, by_coords):
        _check_fits_and_bytes(program.graph, program.bound_tensors(), tiles, arch)


def test_tiling_errors():
    program, _, _ = _case("spmv", "random")
    with pytest.raises(ResourceError, match="cut as far as it can be.*hold 4 bytes"):
        tile(program.graph, program.bound_tensors(), ARCH.replace(mem_tile_bytes=4))
    with pytest.raises(HardwareError, match="strategy"):
        tile(program.graph, program.bound_tensors(), ARCH, strategy="rows")
    with pytest.raises(HardwareError, match="no tensor was given"):
        tile(program.graph, {"A": program.bound_tensors()["A"]}, ARCH)
    with pytest.raises(HardwareError, match="lo <= hi"):
        Tile({"i": (3, 1)}, 0, 0, 0)


@st.composite
def _problems(draw):
    kernel = draw(st.sampled_from(["spmv", "spmspm", "elemmul"]))
    n, k, m = (draw(st.integers(1, 10)) for _ in range(3))
    density = draw(st.sampled_from([0.0, 0.1, 0.4, 1.0]))
    seed = draw(st.integers(0, 2**16))
    a = _matrix(n, k, density, seed)
    b = _matrix(k, m, density, seed + 1) if kernel == "spmspm" else _matrix(n, k, 0.5, seed + 2)
    return kernel, a, b, draw(st.integers(8, 80)) * 2, draw(st.sampled_from(["nnz", "coords"]))


@settings(max_examples=30)
@given(_problems())
def test_random_tilings_recombine_to_the_gold(problem):
    kernel, a, b, cap, strategy = problem
    expr, make, gold_of = KERNELS[kernel]
    tensors = make(a, b)
    program, gold = zs.compile(expr, **tensors), gold_of(tensors)
    arch = ARCH.replace(mem_tile_bytes=cap)
    tiles = tile(program.graph, program.bound_tensors(), arch, strategy=strategy, copies=2)
    _check_fits_and_bytes(program.graph, program.bound_tensors(), tiles, arch)
    _check_cover(program.graph, program.bound_tensors(), tiles)
    out, _ = _run_tiles(program, tiles, np.shape(gold))
    np.testing.assert_allclose(out.to_numpy(), gold)


# ---- load balance ----------------------------------------------------------------------------------------------


def _tiles(work):
    return [Tile({"i": (k, k + 1)}, w, 0, 0) for k, w in enumerate(work)]


def _makespan(tiles, lanes):
    return max(sum(tiles[k].est_work for k in lane) for lane in lanes)


def test_lpt_beats_round_robin_on_a_constructed_case():
    tiles = _tiles([4, 1, 4, 1])
    assert _makespan(tiles, assign(tiles, 2)) == 5
    assert _makespan(tiles, assign(tiles, 2, balance="round_robin")) == 8


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=40), st.integers(1, 8), st.booleans())
def test_lpt_no_worse_than_round_robin_on_skewed_tiles(work, copies, ascending):
    tiles = _tiles(sorted(work, reverse=not ascending))  # skew: the heavy tiles all at one end
    lpt, rr = assign(tiles, copies), assign(tiles, copies, balance="round_robin")
    for lanes in (lpt, rr):
        assert sorted(k for lane in lanes for k in lane) == list(range(len(tiles)))
        assert len(lanes) == copies
    assert _makespan(tiles, lpt) <= _makespan(tiles, rr)
    # Graham's bound for list scheduling.
    assert _makespan(tiles, lpt) <= sum(work) / copies + max(work)


def test_lpt_no_worse_on_a_power_law_matrix():
    rng = np.random.default_rng(5)
    counts = np.minimum((rng.pareto(1.1, 300) * 2).astype(int) + 1, 300)
    rows = np.repeat(np.arange(300), counts)
    a = sp.csr_matrix((np.ones(len(rows)), (rows, rng.integers(0, 300, len(rows)))), shape=(300, 300))
    program = zs.compile("y(i)=A(i,j)*x(j)", A=a, x=np.ones(300))
    tiles = tile(program.graph, program.bound_tensors(), ARCH.replace(mem_tile_bytes=512), strategy="coords")
    assert len(tiles) > 8
    assert _makespan(tiles, assign(tiles, 4)) <= _makespan(tiles, assign(tiles, 4, balance="round_robin"))


def test_assign_errors():
    with pytest.raises(HardwareError, match="balance"):
        assign(_tiles([1]), 1, balance="greedy")
    with pytest.raises(HardwareError, match="copies"):
        assign(_tiles([1]), 0)


# ---- the tile schedule ---------------------------------------------------------------------------------------------


SCHED_ARCH = ARCH.replace(clock_hz=1e9, dram_bytes_per_s=8e9, dram_latency_cycles=3)


def test_schedule_two_copies_three_tiles_by_hand():
    tiles = [Tile({"i": (0, 1)}, 0, in_bytes=40, out_bytes=8), Tile({"i": (1, 2)}, 0, in_bytes=20, out_bytes=4),
             Tile({"i": (2, 3)}, 0, in_bytes=80, out_bytes=12)]
    t = schedule(Mapping.of(tiles, [[0, 2], [1]]), [100, 30, 50], SCHED_ARCH)
    # Two copies share 8 B/cycle of DRAM: 4 B/cycle each (the GLB's 16 x 8 B/cycle is not the limit).
    assert t.bytes_per_cycle == 4.0
    slots = {s.tile: s for s in t.slots}
    # Copy 0: tile 0 in 3 + 40/4 = 13 cycles (exposed), computes 13..113; tile 2's 3 + 80/4 = 23 cycles
    # transfer runs 13..36 under tile 0's compute; tile 0 drains 3 + 8/4 = 5 cycles on the channel (113..118)
    # under tile 2's compute (113..163); tile 2 drains 3 + 12/4 = 6 -> 169.
    assert (slots[0].transfer_start, slots[0].transfer_cycles, slots[0].start, slots[0].end) == (0, 13, 13, 113)
    assert (slots[2].transfer_start, slots[2].transfer_cycles, slots[2].start, slots[2].end) == (13, 23, 113, 163)
    assert (slots[0].drain_cycles, slots[2].drain_cycles) == (5, 6)
    # Copy 1: tile 1 in 3 + 20/4 = 8, computes 8..38, drains 3 + 4/4 = 4 -> 42.
    assert (slots[1].start, slots[1].end, slots[1].drain_cycles) == (8, 38, 4)
    assert t.cycles == 169
    assert t.utilization == pytest.approx((150 / 169, 30 / 169))
    assert t.dram_byte == t.glb_byte == 140 + 24


def test_a_big_output_costs_its_drain_wherever_it_runs():
    big = Tile({"i": (0, 1)}, 0, in_bytes=0, out_bytes=8000)
    small = Tile({"i": (1, 2)}, 0, in_bytes=16, out_bytes=0)
    # One copy, 8 B/cycle: the big drain is 3 + 1000 cycles on the channel, first or last.
    first = schedule(Mapping.of([big, small], [[0, 1]]), [10, 10], SCHED_ARCH).cycles
    last = schedule(Mapping.of([big, small], [[1, 0]]), [10, 10], SCHED_ARCH).cycles
    assert first >= 1003 and last >= 1003 and abs(first - last) <= 20  # the order changes only the computes


def test_schedule_double_buffer_waits_for_the_buffer():
    tiles = [Tile({"i": (k, k + 1)}, 0, in_bytes=16, out_bytes=0) for k in range(3)]
    t = schedule(Mapping.of(tiles, [[0, 1, 2]]), [100, 100, 100], SCHED_ARCH)
    # One copy: 8 B/cycle, so each transfer is 3 + 2 = 5 cycles. Tile 2 reuses tile 0's buffer: its transfer
    # waits until tile 0 has computed (105), not just until tile 1's transfer is done (10).
    assert [(s.transfer_start, s.start, s.end) for s in t.slots] == [(0, 5, 105), (5, 105, 205), (105, 205, 305)]
    assert t.cycles == 305 and t.utilization == pytest.approx((300 / 305,))


def test_schedule_of_a_plan_and_errors():
    program, _, _ = _case("spmspm", "random")
    m = plan(program.graph, program.bound_tensors(), ARCH.replace(mem_tile_bytes=64))
    t = schedule(m, [tl.est_work for tl in m.tiles], ARCH)
    assert sorted(s.tile for s in t.slots) == list(range(len(m.tiles)))
    assert t.cycles >= max(s.end for s in t.slots)
    assert all(0 < u <= 1 for u in t.utilization)
    with pytest.raises(HardwareError, match="tile cycle counts"):
        schedule(m, [1], ARCH)
    with pytest.raises(HardwareError, match="exactly once"):
        schedule(Mapping.of(_tiles([1, 1]), [[0, 0]]), [1, 1], ARCH)


# ---- the mapping and its JSON ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_plan_json_round_trip_and_configuration_image(kernel):
    program, _, _ = _case(kernel, "empty_rows")
    arch = ARCH.replace(mem_tile_bytes=96)
    m = plan(program.graph, program.bound_tensors(), arch)
    assert 1 <= m.copies <= min(len(m.tiles), max_copies(program.graph, arch))
    text = m.to_json()
    assert json.loads(text) == m.to_dict()
    assert text == plan(program.graph, program.bound_tensors(), arch).to_json(), "deterministic"
    image = json.loads(text)
    assert len(image["array"]) == m.copies * len(program.graph.nodes)
    for entry in image["array"]:
        node = program.graph.node(entry["node"])
        assert entry["op"] == node.op.value and entry["kind"] == arch.tile_kind(entry["row"], entry["col"])
        assert [hops for _, hops in entry["inputs"]] == [m.placement.hops(e, entry["copy"])
                                                         for e in program.graph.in_edges(node.id)]
    assert sorted(k for lane in image["schedule"] for k in lane) == list(range(len(m.tiles)))


def test_plan_with_given_copies_and_round_robin():
    program, _, _ = _case("spmv", "random")
    m = plan(program.graph, program.bound_tensors(), ARCH, copies=3, balance="round_robin", strategy="coords")
    assert m.copies == 3 and len(m.tiles) >= 3
    assert [list(a) for a in m.assignment] == assign(m.tiles, 3, balance="round_robin")
    with pytest.raises(ResourceError):
        plan(program.graph, program.bound_tensors(), ARCH, copies=max_copies(program.graph, ARCH) + 1)
    with pytest.raises(HardwareError, match="mode"):
        plan(program.graph, program.bound_tensors(), ARCH, mode="analog")


# ---- dense mode ---------------------------------------------------------------------------------------------------


def test_dense_plan_matmul_by_hand():
    program = zs.compile("C(i,j)=A(i,k)*B(k,j)", A="csr", B="csr")
    arch = ARCH.replace(rows=2, cols=4, mem_columns=(0,), clock_hz=1e9, dram_bytes_per_s=1e9, glb_tiles=2,
                        glb_bytes_per_cycle=1, dram_latency_cycles=7, dense_macs_per_pe=1)
    d = dense_plan(program.graph, {"A": np.ones((4, 3)), "B": sp.random(3, 5, density=0.2, random_state=0)}, arch)
    assert d.macs == 4 * 3 * 5
    assert d.pe_tiles_used == 6  # 2 rows x 3 PE columns
    assert d.compute_cycles == 10  # 60 MACs / 6 PEs
    assert (d.in_bytes, d.out_bytes) == ((12 + 15) * 2, 20 * 2)
    assert d.glb_cycles == 47  # 94 bytes / (2 GLB tiles x 1 B/cycle)
    assert d.dram_cycles == 94  # 94 bytes at 1 B/cycle
    assert d.cycles == 7 + 94
    assert dict(d.events) == {"dense_mac": 60, "mem_read": 27 + 20, "mem_write": 27 + 20, "glb_byte": 94,
                              "dram_byte": 94, "hop": 2 * 60 + 20}


def test_dense_plan_elementwise_counts_the_output_and_plan_dense_mode():
    program, _, gold = _case("add", "random")
    d = dense_plan(program.graph, program.bound_tensors(), ARCH)
    assert d.macs == math.prod(gold.shape)
    m = plan(program.graph, program.bound_tensors(), ARCH, mode="dense")
    assert m.mode == "dense" and m.placement is None and m.dense == d
    assert json.loads(m.to_json())["dense"]["events"]["dense_mac"] == d.macs
