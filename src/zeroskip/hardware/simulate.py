"""``simulate``: a dataflow Graph on tensors, mapped onto a modelled array, timed to the cycle and priced in joules.

Modes:

* ``"sparse"``: the firmware (``firmware.plan``) tiles the tensors to fit the memory tiles, places
  copies of the graph on the array and assigns tiles to copies; every tile runs through the
  functional pass and the timing pass with the architecture's latencies, initiation intervals,
  FIFO depths, SRAM ports and the placement's wire hops; the tile schedule (double-buffered
  transfers) gives the total.
* ``"dense"``: the same computation as dense arithmetic over the PEs (``firmware.dense_plan``).
* ``"sam"``: the SAM paper's simulator's assumptions (one token per block per cycle, unbounded
  queues, latency 1, no tiling), so cycle counts compare with published SAM numbers.

Everything here is a model: cycles come from the modelled hardware, joules from the energy table
(each entry with its source). The output tensors are the computed results, checkable against
any gold.

Example:
    >>> import numpy as np, zeroskip as zs
    >>> A = np.array([[1.0, 0, 2], [0, 0, 0], [0, 3, 0]]); x = np.array([1.0, 2, 3])
    >>> r = zs.compile("y(i) = A(i,j) * x(j)", A=A, x=x).simulate()
    >>> r.output.to_numpy().tolist(), r.cycles > 0, r.energy["total"] > 0
    ([7.0, 0.0, 6.0], True, True)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from zeroskip.dataflow.graph import Graph, Op
from zeroskip.errors import HardwareError
from zeroskip.formats.tensor import SparseTensor
from zeroskip.hardware.arch import Arch, default_arch, load_arch
from zeroskip.hardware.energy import EnergyTable, default_energy, load_energy
from zeroskip.hardware.firmware import Mapping as FirmwareMapping, plan, schedule
from zeroskip.hardware.functional import FunctionalRun, functional_pass
from zeroskip.hardware.tiling import combine_outputs, problem, slice_inputs
from zeroskip.hardware.timing import TimingModel, time_run

MODES = ("sparse", "dense", "sam")


@dataclass(frozen=True, slots=True)
class BlockStats:
    """One graph node's work over all tiles: steps, busy and stall cycles, utilization of the run."""

    node: int
    label: str
    steps: int
    busy: int
    stall_in: int
    stall_out: int
    utilization: float


@dataclass(frozen=True)
class SimResult:
    """Cycles, seconds, joules by category, event counts, per-block statistics, the tile timeline."""

    mode: str
    arch: Arch
    energy_table: str
    cycles: int
    seconds: float
    energy: Mapping[str, float]
    events: Mapping[str, float]
    blocks: tuple[BlockStats, ...]
    timeline: tuple[dict, ...]
    mapping: FirmwareMapping | None
    assemble: Callable[[], Mapping[str, SparseTensor]] = field(repr=False)
    notes: str = ""

    @functools.cached_property
    def outputs(self) -> Mapping[str, SparseTensor]:
        """The output tensors the simulated blocks computed (assembled on first use; none in dense mode)."""
        return self.assemble()

    @property
    def output(self) -> SparseTensor:
        """The single output tensor."""
        if self.mode == "dense":
            raise HardwareError("dense mode models cycles and energy only and computes no output; "
                                "use mode='sparse' or mode='sam' for the result")
        if len(self.outputs) != 1:
            raise HardwareError(f"the graph has outputs {sorted(self.outputs)}; use .outputs[name]")
        return next(iter(self.outputs.values()))

    def summary(self) -> str:
        """A plain-text report: totals, the energy breakdown and the busiest blocks."""
        lines = [f"{self.mode} on {self.arch.name} ({self.arch.clock_hz / 1e6:g} MHz, modelled): "
                 f"{self.cycles} cycles = {self.seconds * 1e6:.3f} us, {self.energy['total'] * 1e6:.4f} uJ "
                 f"(energy table {self.energy_table})"]
        total = self.energy["total"] or 1.0
        lines.append("  energy: " + ", ".join(f"{k} {v / total:.1%}" for k, v in self.energy.items() if k != "total"))
        for b in sorted(self.blocks, key=lambda b: -b.busy)[:8]:
            lines.append(f"  {b.label:<48} steps {b.steps:>9}  util {b.utilization:6.1%}  "
                         f"stall in {b.stall_in:>8}  out {b.stall_out:>8}")
        if self.notes:
            lines.append("  " + self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain JSON types: what a results store keeps."""
        return {
            "mode": self.mode, "arch": self.arch.name, "energy_table": self.energy_table, "cycles": self.cycles,
            "seconds": self.seconds, "energy": dict(self.energy), "events": dict(self.events),
            "blocks": [vars(b) if hasattr(b, "__dict__") else {f: getattr(b, f) for f in b.__slots__}
                       for b in self.blocks],
            "timeline": list(self.timeline), "notes": self.notes,
        }


def simulate(graph: Graph, tensors: Mapping[str, object], arch: Arch | str | None = None,
             energy: EnergyTable | str | None = None, *, mode: str = "sparse", copies: int | None = None,
             tiling: str = "nnz", balance: str = "lpt") -> SimResult:
    """Simulate ``graph`` on ``tensors`` (see the module docstring for ``mode``).

    ``arch`` and ``energy`` are values, TOML paths or text (default: the Onyx model and its 12 nm
    table); ``copies`` (default: as many as fit), ``tiling`` ("nnz" or "coords") and ``balance``
    ("lpt" or "round_robin") steer the firmware.
    """
    if mode not in MODES:
        raise HardwareError(f"mode must be one of {MODES}, got {mode!r}")
    arch = default_arch() if arch is None else arch if isinstance(arch, Arch) else load_arch(arch)
    table = default_energy() if energy is None else energy if isinstance(energy, EnergyTable) else load_energy(energy)
    if mode == "dense":
        return _dense(graph, tensors, arch, table)
    if mode == "sam":
        run = functional_pass(graph, tensors)
        timing = time_run(run, TimingModel.sam())
        events = _events(run, {})
        seconds = timing.cycles * arch.period_s
        return SimResult("sam", arch, table.name, timing.cycles, seconds, table.price(events, arch, seconds), events,
                         _block_stats(run, timing), (), None, lambda: run.outputs,
                         "SAM-compatible: one token per block per cycle, unbounded queues, latency 1, no tiling")
    mapping = plan(graph, tensors, arch, copies=copies, strategy=tiling, balance=balance)
    lane_of = {k: c for c, lane in enumerate(mapping.assignment) for k in lane}
    tile_cycles, parts, stats = [], [], {}
    events: dict[str, float] = {}
    many = len(mapping.tiles) > 1
    for k, tile in enumerate(mapping.tiles):
        copy = lane_of[k]
        run = functional_pass(graph, slice_inputs(graph, tensors, tile))
        timing = time_run(run, _model(arch, mapping.placement.edge_hops(copy)))
        _tally(stats, run, timing)
        tile_cycles.append(timing.cycles)
        _add(events, _events(run, mapping.placement.edge_hops(copy)))
        parts.append((tile, run.outputs if many else run))  # keep a tile's output, not its streams and traces
    timeline = schedule(mapping, tile_cycles, arch)
    outputs, adds = {}, 0
    if many:  # tiles' outputs are placed and partial sums added (priced: they cost energy)
        prob = problem(graph, tensors)
        shape = tuple(prob.sizes[i] for i in prob.output_modes)
        for name in graph.outputs:
            combined = combine_outputs(graph, [(t, out[name]) for t, out in parts], shape)
            outputs[name], adds = combined.tensor, adds + combined.partial_sum_adds
    else:
        outputs = None
    _add(events, {"alu_add": adds, "dram_byte": timeline.dram_byte, "glb_byte": timeline.glb_byte})
    seconds = timeline.cycles * arch.period_s
    slots = tuple({"tile": s.tile, "copy": s.copy, "transfer_start": s.transfer_start, "start": s.start,
                   "end": s.end, "transfer_cycles": s.transfer_cycles, "compute_cycles": s.compute_cycles,
                   "drain_cycles": s.drain_cycles} for s in timeline.slots)
    notes = (f"{len(mapping.tiles)} tiles on {mapping.copies} copies ({tiling} tiling, {balance} balance); "
             f"partial sums of split reductions added on the host: {adds}")
    return SimResult("sparse", arch, table.name, timeline.cycles, seconds, table.price(events, arch, seconds),
                     events, _stats(stats, timeline.cycles * max(1, sum(1 for lane in mapping.assignment if lane))),
                     slots, mapping,
                     (lambda: outputs) if outputs is not None else (lambda: parts[0][1].outputs), notes)


def _model(arch: Arch, hops: Mapping) -> TimingModel:
    ops = arch.primitives
    return TimingModel(latency={op: t.latency for op, t in ops.items()}, ii={op: t.ii for op, t in ops.items()},
                       fifo_depth=arch.fifo_depth, mem_ports=arch.mem_tile_ports, hop_latency=arch.hop_latency,
                       hops=hops)


def _events(run: FunctionalRun, hops: Mapping) -> dict[str, float]:
    """The energy model's events: the blocks' counts, a FIFO push and pop per token, a hop per token per hop."""
    counts = {k: v for k, v in run.events().items() if k != "tokens"}
    fifo = hop = 0
    for e in run.graph.edges:
        n = len(run.streams[(e.src, e.src_port)][0])
        fifo += 2 * n
        hop += n * hops.get(e, 0)
    counts["fifo"], counts["hop"] = fifo, hop
    return counts


def _add(total: dict, more: Mapping) -> None:
    for k, v in more.items():
        total[k] = total.get(k, 0) + v


def _tally(stats: dict, run: FunctionalRun, timing) -> None:
    """Add one tile's per-block steps, busy and stall cycles to ``stats``."""
    for k, block in enumerate(run.blocks):
        drain = not block.outputs and block.node.op is Op.SPACC  # an accumulator's unused-input sink
        label = block.node.describe() + (f" (drains {block.inputs[0]})" if drain else "")
        s = stats.setdefault((block.node.id, block.inputs), [label, 0, 0, 0, 0])
        s[1] += block.trace.steps
        s[2] += int(timing.busy[k])
        s[3] += int(timing.stall_in[k])
        s[4] += int(timing.stall_out[k])


def _stats(stats: dict, cycles: int) -> tuple[BlockStats, ...]:
    """Per node over all tiles; utilization is busy cycles over ``cycles`` (the run's cycles x copies)."""
    return tuple(BlockStats(node, label, steps, busy, s_in, s_out, busy / cycles if cycles else 0.0)
                 for (node, _), (label, steps, busy, s_in, s_out) in stats.items())


def _block_stats(run: FunctionalRun, timing) -> tuple[BlockStats, ...]:
    """The statistics of a single untiled run."""
    stats: dict = {}
    _tally(stats, run, timing)
    return _stats(stats, timing.cycles)


def _dense(graph: Graph, tensors, arch: Arch, table: EnergyTable) -> SimResult:
    mapping = plan(graph, tensors, arch, mode="dense")
    d = mapping.dense
    seconds = d.cycles * arch.period_s
    events = dict(d.events)
    notes = (f"dense mapping: {d.macs} multiply-adds over {d.pe_tiles_used} PEs; analytical cycles "
             f"(max of compute, global buffer and DRAM), outputs not computed")
    return SimResult("dense", arch, table.name, d.cycles, seconds, table.price(events, arch, seconds), events,
                     (), (), mapping, dict, notes)
