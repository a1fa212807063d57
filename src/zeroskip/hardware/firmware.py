"""Firmware: a dataflow Graph mapped onto the modelled array (what runs where, and in which order).

The stages, each a pure function (the simulator, separate, prices what they decide):

1. ``tile``: cut the iteration space so every sub-tensor fits its memory tile (``tiling``);
2. ``place``: put each node of each copy (unrolled lane) of the graph on a tile (``placement``);
3. ``assign``: give the tiles to the copies, longest-processing-time first or round-robin;
4. ``schedule``: each copy's tiles in order, input transfers double-buffered (``Timeline``);

``plan`` runs 1-3 and returns a ``Mapping``, whose ``to_json`` is the configuration image of the
array and the tile schedule. ``dense_plan`` maps the same computation as dense arithmetic, so
sparse and dense configurations can be compared.

Example (SpMV, 64-byte memory tiles so that it has to be tiled):
    >>> import numpy as np, scipy.sparse as sp, zeroskip as zs
    >>> from zeroskip.hardware.arch import default_arch
    >>> A = sp.random(16, 16, density=0.3, format="csr", random_state=1)
    >>> p = zs.compile("y(i)=A(i,j)*x(j)", A=A, x=np.ones(16))
    >>> m = plan(p.graph, p.bound_tensors(), default_arch().replace(mem_tile_bytes=64))
    >>> m.copies <= len(m.tiles), sorted(k for ks in m.assignment for k in ks) == list(range(len(m.tiles)))
    (True, True)
    >>> t = schedule(m, [tile.est_work for tile in m.tiles], default_arch())
    >>> t.cycles >= max(tile.est_work for tile in m.tiles)
    True
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping as AbcMapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from zeroskip.dataflow.graph import AluOp, Graph, Op
from zeroskip.errors import HardwareError
from zeroskip.hardware.placement import Placement, Site, max_copies, place
from zeroskip.hardware.tiling import Combined, Tile, combine_outputs, problem, slice_inputs, tile

if TYPE_CHECKING:
    from zeroskip.hardware.arch import Arch

__all__ = [
    "BALANCES", "Combined", "DensePlan", "Mapping", "Placement", "Site", "Tile", "TileSlot", "Timeline", "assign",
    "combine_outputs", "dense_plan", "max_copies", "place", "plan", "schedule", "slice_inputs", "tile",
]

BALANCES = ("lpt", "round_robin")
MODES = ("sparse", "dense")


# ---- load balance ----------------------------------------------------------------------------------------


def assign(tiles: Sequence[Tile], copies: int, *, balance: str = "lpt") -> list[list[int]]:
    """Tile indices per copy, in execution order.

    ``"lpt"``: longest processing time first, each tile (largest ``est_work`` first) to the least
    loaded copy; ``"round_robin"``: tile k to copy k % copies, as the published Onyx does.

    >>> tiles = [Tile({"i": (k, k + 1)}, w, 0, 0) for k, w in enumerate([4, 1, 4, 1])]
    >>> assign(tiles, 2), assign(tiles, 2, balance="round_robin")
    ([[0, 1], [2, 3]], [[0, 2], [1, 3]])
    """
    if balance not in BALANCES:
        raise HardwareError(f"balance must be one of {BALANCES}, got {balance!r}")
    if copies < 1:
        raise HardwareError(f"copies must be >= 1, got {copies=}")
    lanes: list[list[int]] = [[] for _ in range(copies)]
    if balance == "round_robin":
        for k in range(len(tiles)):
            lanes[k % copies].append(k)
        return lanes
    load = [0] * copies
    for k in sorted(range(len(tiles)), key=lambda k: (-tiles[k].est_work, k)):
        c = min(range(copies), key=lambda c: (load[c], c))
        lanes[c].append(k)
        load[c] += tiles[k].est_work
    return lanes


# ---- the tile schedule -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TileSlot:
    """One tile on one copy: its input transfer [transfer_start, transfer_start + transfer_cycles), its compute
    [start, end), and ``drain_cycles`` of output drain after it (on the copy's transfer channel)."""

    tile: int
    copy: int
    transfer_start: int
    start: int
    end: int
    transfer_cycles: int
    compute_cycles: int
    drain_cycles: int = 0


@dataclass(frozen=True, slots=True)
class Timeline:
    """When every tile ran; ``cycles`` until the last copy drained; per-copy ``utilization``; run traffic."""

    slots: tuple[TileSlot, ...]
    cycles: int
    utilization: tuple[float, ...]
    dram_byte: int
    glb_byte: int
    bytes_per_cycle: float  # the transfer bandwidth each copy gets


def transfer_bandwidth(arch: Arch, active: int) -> float:
    """Bytes per cycle one of ``active`` copies transfers: an equal share of DRAM and of the GLB tiles, whichever is less."""
    active = max(active, 1)
    dram = arch.dram_bytes_per_s / arch.clock_hz / active
    glb = arch.glb_tiles * arch.glb_bytes_per_cycle / active
    return min(dram, glb)


def transfer_cycles(nbytes: int, bandwidth: float, arch: Arch) -> int:
    """DRAM latency plus the bytes at ``bandwidth`` (nothing to move costs nothing)."""
    return 0 if nbytes <= 0 else arch.dram_latency_cycles + math.ceil(nbytes / bandwidth)


def schedule(mapping, tile_cycles: Sequence[int], arch: Arch) -> Timeline:
    """The timeline of ``mapping``'s tiles (anything with ``tiles`` and ``assignment``) given each tile's compute cycles.

    Model (deterministic): every copy with tiles gets an equal share of DRAM and GLB bandwidth
    (``transfer_bandwidth``) for the whole run. Each memory tile is double-buffered: tile k+1's input
    transfer overlaps tile k's compute, and may start once tile k's transfer is done and the buffer
    tile k-1 used is free (tile k-1 finished computing). A tile computes once its input is in and
    the previous tile is done. The first transfer is exposed. Inputs and outputs share one transfer
    channel per copy: a tile's output drains after its compute, behind the next tile's input fetch,
    and delays the fetch after that; the last tile's drain is exposed. Traffic: every input and output byte
    crosses DRAM once and the GLB once (``dram_byte``, ``glb_byte``).

    >>> from zeroskip.hardware.arch import default_arch
    >>> arch = default_arch().replace(clock_hz=1e9, dram_bytes_per_s=2e9, dram_latency_cycles=0)
    >>> tiles = [Tile({"i": (0, 1)}, 0, in_bytes=10, out_bytes=0), Tile({"i": (1, 2)}, 0, in_bytes=10, out_bytes=2)]
    >>> t = schedule(Mapping.of(tiles, [[0, 1]]), [20, 20], arch)
    >>> [(s.transfer_start, s.start, s.end) for s in t.slots], t.cycles
    ([(0, 5, 25), (5, 25, 45)], 46)
    """
    tiles, lanes = list(mapping.tiles), [list(lane) for lane in mapping.assignment]
    if len(tile_cycles) != len(tiles):
        raise HardwareError(f"{len(tile_cycles)} tile cycle counts for {len(tiles)} tiles")
    flat = sorted(k for lane in lanes for k in lane)
    if flat != list(range(len(tiles))):
        raise HardwareError(f"the assignment {lanes} does not run each of the {len(tiles)} tiles exactly once")
    bandwidth = transfer_bandwidth(arch, sum(1 for lane in lanes if lane))
    slots, ends, busy = [], [], []
    for copy, lane in enumerate(lanes):
        # One transfer channel per copy, used in the order in(0), in(1), out(0), in(2), out(1), ...:
        # a tile's output drains after its compute and after the next tile's input was fetched.
        channel, done, computed, drains = 0, [0, 0], 0, []  # done: compute ends of the last two tiles (buffers)
        for n, k in enumerate(lane):
            xfer = transfer_cycles(tiles[k].in_bytes, bandwidth, arch)
            xfer_start = max(channel, done[0] if n >= 2 else 0)
            channel = xfer_start + xfer
            start = max(channel, done[1] if n >= 1 else 0)
            end = start + int(tile_cycles[k])
            if drains:  # the previous tile's output
                prev_end, prev_drain = drains.pop()
                channel = max(channel, prev_end) + prev_drain
            drain = transfer_cycles(tiles[k].out_bytes, bandwidth, arch)
            drains.append((end, drain))
            slots.append(TileSlot(k, copy, xfer_start, start, end, xfer, int(tile_cycles[k]), drain))
            done, computed = [done[1], end], computed + int(tile_cycles[k])
        if drains:
            last_end, last_drain = drains.pop()
            channel = max(channel, last_end) + last_drain
        ends.append(max(channel, slots[-1].end) if lane else 0)
        busy.append(computed)
    total = max(ends, default=0)
    moved = sum(t.in_bytes + t.out_bytes for t in tiles)
    return Timeline(tuple(slots), total, tuple(b / total if total else 0.0 for b in busy), moved, moved, bandwidth)


# ---- the mapping value -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DensePlan:
    """The computation as dense arithmetic on the PE array, its cycles (the largest of the three bounds) and events."""

    macs: int
    pe_tiles_used: int
    compute_cycles: int
    glb_cycles: int
    dram_cycles: int
    cycles: int
    in_bytes: int
    out_bytes: int
    events: AbcMapping[str, int]

    def to_dict(self) -> dict:
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "events"},
                "events": dict(sorted(self.events.items()))}


@dataclass(frozen=True, slots=True)
class Mapping:
    """A graph mapped onto an array: placement (None in dense mode), tiles, their assignment to copies."""

    arch: str
    mode: str
    graph: Graph | None
    placement: Placement | None
    tiles: tuple[Tile, ...]
    assignment: tuple[tuple[int, ...], ...]
    strategy: str = "nnz"
    balance: str = "lpt"
    dense: DensePlan | None = None

    @classmethod
    def of(cls, tiles: Sequence[Tile], assignment: Sequence[Sequence[int]], arch: str = "") -> Mapping:
        """A mapping of tiles alone (no graph placed), enough for ``schedule``."""
        return cls(arch, "sparse", None, None, tuple(tiles), tuple(tuple(lane) for lane in assignment))

    @property
    def copies(self) -> int:
        return len(self.assignment)

    def to_dict(self) -> dict:
        """The configuration image of every used array tile, the tiles and the tile schedule (JSON types only)."""
        array = []
        if self.placement is not None:
            p = self.placement
            for site in sorted(p.sites, key=lambda s: (s.copy, s.row, s.col)):
                node = p.graph.node(site.node)
                ins = p.graph.in_edges(site.node)
                array.append({
                    "row": site.row, "col": site.col, "kind": site.kind, "copy": site.copy, "node": site.node,
                    "op": node.op.value, "params": _params(node.params),
                    "inputs": [[list(p.tile_of(e.src, site.copy)), p.hops(e, site.copy)] for e in ins],
                    "input_ports": [f"{e.src}.{e.src_port}->{e.dst_port}" for e in ins],
                })
        return {
            "arch": self.arch, "mode": self.mode, "copies": self.copies, "strategy": self.strategy,
            "balance": self.balance, "array": array,
            "tiles": [{"ranges": {i: list(r) for i, r in t.ranges.items()}, "est_work": t.est_work,
                       "in_bytes": t.in_bytes, "out_bytes": t.out_bytes, "multiplies": t.multiplies} for t in self.tiles],
            "schedule": [list(lane) for lane in self.assignment],
            "dense": None if self.dense is None else self.dense.to_dict(),
        }

    def to_json(self) -> str:
        """``to_dict`` as deterministic JSON (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)


def _params(params) -> dict:
    return {f.name: _plain(getattr(params, f.name)) for f in dataclasses.fields(params)}


def _plain(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def plan(graph: Graph, tensors: AbcMapping[str, object], arch: Arch, *, copies: int | None = None,
         strategy: str = "nnz", balance: str = "lpt", mode: str = "sparse") -> Mapping:
    """Map ``graph`` on ``tensors`` onto ``arch``: tile, place ``copies`` copies, assign tiles to them.

    ``copies=None`` takes as many as fit, but no more than there are tiles. ``mode="dense"`` returns
    the ``dense_plan`` in ``Mapping.dense`` (no placement, no tiles).
    """
    if mode not in MODES:
        raise HardwareError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "dense":
        return Mapping(arch.name, "dense", graph, None, (), (), strategy, balance, dense_plan(graph, tensors, arch))
    wanted = max_copies(graph, arch) if copies is None else copies
    if wanted < 1:
        place(graph, arch, copies=1)  # raises the ResourceError naming what does not fit
    tiles = tile(graph, tensors, arch, strategy=strategy, copies=wanted)
    lanes = wanted if copies is not None else min(wanted, len(tiles))
    placement = place(graph, arch, copies=lanes)
    assignment = assign(tiles, lanes, balance=balance)
    return Mapping(arch.name, "sparse", graph, placement, tuple(tiles), tuple(tuple(a) for a in assignment),
                   strategy, balance)


# ---- dense mode ----------------------------------------------------------------------------------------------


def dense_plan(graph: Graph, tensors: AbcMapping[str, object], arch: Arch) -> DensePlan:
    """The same computation as dense arithmetic over the PE array.

    Work: ``macs`` = the product of all index sizes if the graph multiplies (a product term visits
    its whole iteration space), plus the output size per addition or subtraction ALU (elementwise).
    Words: ``in_words`` = every input stored dense (scalars one word), ``out_words`` = the output's
    size; bytes = words x ``arch.word_bytes``. Cycles = DRAM latency + the largest of
    compute = ceil(macs / (pe_tiles_used x dense_macs_per_pe)), with pe_tiles_used = min(pe_tiles, macs);
    GLB = ceil(bytes / (glb_tiles x glb_bytes_per_cycle)); DRAM = ceil(bytes / (dram_bytes_per_s / clock_hz)).
    Events: ``dense_mac`` = macs; ``mem_write`` = ``mem_read`` = in_words + out_words (each input
    written into and read out of a memory tile once, reused inside the PEs; each output staged
    once); ``glb_byte`` = ``dram_byte`` = in bytes + out bytes; ``hop`` = 2 x macs + out_words (each
    MAC's two operands come one hop from a neighbour, each result goes one hop to memory).

    >>> import zeroskip as zs, numpy as np
    >>> from zeroskip.hardware.arch import default_arch
    >>> g = zs.compile("C(i,j)=A(i,k)*B(k,j)", A="csr", B="csr").graph
    >>> d = dense_plan(g, {"A": np.ones((4, 3)), "B": np.ones((3, 5))}, default_arch())
    >>> d.macs, d.events["dense_mac"], d.events["hop"], d.in_bytes, d.out_bytes
    (60, 60, 140, 54, 40)
    """
    prob = problem(graph, tensors)
    sizes = prob.sizes
    out_words = math.prod(sizes[i] for i in prob.output_modes)
    alus = [n.params.op for n in graph.nodes_of(Op.ALU)]
    macs = (math.prod(sizes.values()) if AluOp.MUL in alus else 0) + out_words * sum(op is not AluOp.MUL for op in alus)
    in_words = sum(math.prod(t.shape) for t in prob.tensors.values())
    in_words += sum(1 for n in graph.inputs if graph.tensor(n).ndim == 0)
    wb = arch.word_bytes
    in_bytes, out_bytes = in_words * wb, out_words * wb
    moved = in_bytes + out_bytes
    pe = max(1, min(arch.pe_tiles, macs))
    compute = math.ceil(macs / (pe * arch.dense_macs_per_pe))
    glb = math.ceil(moved / (arch.glb_tiles * arch.glb_bytes_per_cycle))
    dram = math.ceil(moved / (arch.dram_bytes_per_s / arch.clock_hz))
    events = {"dense_mac": macs, "mem_read": in_words + out_words, "mem_write": in_words + out_words,
              "glb_byte": moved, "dram_byte": moved, "hop": 2 * macs + out_words}
    return DensePlan(macs, pe, compute, glb, dram, arch.dram_latency_cycles + max(compute, glb, dram),
                     in_bytes, out_bytes, MappingProxyType(events))
