"""The timing pass: the cycle of every step as the longest path through the event graph.

The rules (the cycle-stepped reference simulator, ``reference.py``, applies the same ones cycle by
cycle, and tests hold the two equal step for step):

* step ``s`` of a block starts no earlier than step ``s-1`` plus its duration: the block's
  initiation interval, or ``ceil(SRAM accesses / ports)`` of step ``s-1`` when that is longer;
* a step that peeks at token ``k`` of an input waits until that token arrives: the producer's
  push cycle plus the producer's latency plus the wire latency of the edge;
* a step that pushes token ``k`` into a FIFO of depth ``d`` waits for the consumer to have popped
  token ``k-d`` in an earlier cycle (a FIFO slot frees the cycle after its pop); with fan-out,
  every consumer's FIFO must have room;
* inputs fed by no edge (a root scanner's root reference) are always ready.

Every step starts at the earliest cycle these allow (blocks never idle by choice), so the result is
what a cycle-stepped simulator computes, in time linear in the steps. When no block can take its
next step the run is deadlocked: ``DeadlockError`` names the blocks and the FIFOs they wait on.

Example:
    >>> import numpy as np, zeroskip as zs
    >>> from zeroskip.hardware.functional import functional_pass
    >>> A = np.eye(4); x = np.ones(4)
    >>> run = functional_pass(zs.compile("y(i) = A(i,j) * x(j)", A=A, x=x).graph, {"A": A, "x": x})
    >>> t = time_run(run, TimingModel.sam())
    >>> t.cycles > 0, t.cycles == time_run(run, TimingModel.sam()).cycles
    (True, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from zeroskip.jit import cached_njit
from zeroskip.dataflow.graph import Edge, Op
from zeroskip.errors import DeadlockError, HardwareError
from zeroskip.hardware.functional import FunctionalRun
from zeroskip.hardware.placement import MEMORY_OPS

UNBOUNDED = 1 << 40


@dataclass(frozen=True, slots=True)
class TimingModel:
    """Per-op latency and initiation interval, FIFO depth, memory ports, wire latency per edge.

    ``latency``/``ii``: op name (``Op.value``) -> cycles; ``mem_ports``: SRAM ports of memory-side
    blocks (0: unlimited); ``hops``: Edge -> interconnect hops, each adding ``hop_latency`` cycles.
    """

    latency: Mapping[str, int]
    ii: Mapping[str, int]
    fifo_depth: int = UNBOUNDED
    mem_ports: int = 0
    hop_latency: int = 0
    hops: Mapping[Edge, int] = field(default_factory=dict)
    depths: Mapping[Edge, int] = field(default_factory=dict)  # per-edge overrides of fifo_depth

    @staticmethod
    def sam() -> TimingModel:
        """SAM's simulator's assumptions: one token per block per cycle, unbounded queues, latency 1."""
        return TimingModel(latency={}, ii={})

    def op_latency(self, op: str) -> int:
        return int(self.latency.get(op, 1))

    def op_ii(self, op: str) -> int:
        return int(self.ii.get(op, 1))

    def depth(self, edge: Edge) -> int:
        return int(self.depths.get(edge, self.fifo_depth))


@dataclass(frozen=True, slots=True)
class Timing:
    """Cycle of every step (``start[b]`` per block, topological order), totals and stalls."""

    cycles: int
    start: tuple[np.ndarray, ...]
    busy: np.ndarray         # cycles each block spent stepping (steps x duration)
    stall_in: np.ndarray     # cycles each block waited for input tokens
    stall_out: np.ndarray    # cycles each block waited for FIFO room downstream


@dataclass(frozen=True, slots=True)
class Network:
    """The flat arrays both timing engines read: ports, edges, step masks."""

    nblocks: int
    soff: np.ndarray      # step offset of block b
    nsteps: np.ndarray
    peek: np.ndarray
    pop: np.ndarray
    push: np.ndarray
    mem: np.ndarray
    ii: np.ndarray
    ports: np.ndarray     # SRAM ports of block b (0: unlimited)
    in_base: np.ndarray   # global index of block b's input 0
    out_base: np.ndarray
    src: np.ndarray       # per global input: the global output feeding it, or -1
    lat: np.ndarray       # per global input: producer latency + wire latency
    depth: np.ndarray     # per global input: FIFO depth
    cons_ptr: np.ndarray  # per global output: its consumers are cons_idx[cons_ptr[o]:cons_ptr[o+1]]
    cons_idx: np.ndarray
    tok_in: np.ndarray    # per global input: offset of its pop times; tokens = tok_in[i+1]-tok_in[i]
    tok_out: np.ndarray   # per global output: offset of its push times
    labels: tuple[str, ...]         # block descriptions
    in_labels: tuple[str, ...]      # global input port descriptions
    out_labels: tuple[str, ...]


def _edge_latency(model: TimingModel, producer_op: str, e: Edge) -> int:
    """Cycles from a push on ``e`` until the consumer can use the token: the producer's latency plus wire hops."""
    lat = model.op_latency(producer_op) + model.hop_latency * int(model.hops.get(e, 0))
    if lat < 1:
        raise HardwareError(f"edge {e.src}.{e.src_port} -> {e.dst}.{e.dst_port}: latency {lat} must be >= 1 "
                            f"(a token is visible the cycle after its push)")
    return lat


def _ports(model: TimingModel, op: Op) -> int:
    """SRAM ports a block's accesses share: memory-side blocks only (0: unlimited)."""
    return model.mem_ports if op in MEMORY_OPS else 0


def network(run: FunctionalRun, model: TimingModel) -> Network:
    """Flatten a functional run and a timing model into arrays."""
    blocks = run.blocks
    owner_in = {(b.node.id, name): (k, p) for k, b in enumerate(blocks) for p, name in enumerate(b.inputs)}
    owner_out = {(b.node.id, name): (k, q) for k, b in enumerate(blocks) for q, name in enumerate(b.outputs)}
    nsteps = np.array([b.trace.steps for b in blocks], np.int64)
    soff = np.concatenate(([0], np.cumsum(nsteps)[:-1])).astype(np.int64)
    n_in = np.array([len(b.inputs) for b in blocks], np.int64)
    n_out = np.array([len(b.outputs) for b in blocks], np.int64)
    in_base = np.concatenate(([0], np.cumsum(n_in)[:-1])).astype(np.int64)
    out_base = np.concatenate(([0], np.cumsum(n_out)[:-1])).astype(np.int64)
    gin, gout = int(n_in.sum()), int(n_out.sum())
    src = np.full(gin, -1, np.int64)
    lat = np.zeros(gin, np.int64)
    depth = np.full(gin, UNBOUNDED, np.int64)
    consumers: list[list[int]] = [[] for _ in range(gout)]
    out_tokens = np.zeros(gout, np.int64)
    for k, b in enumerate(blocks):
        for q, name in enumerate(b.outputs):
            out_tokens[out_base[k] + q] = len(run.streams[(b.node.id, name)][0])
    for e in run.graph.edges:
        kd, p = owner_in[(e.dst, e.dst_port)]
        ks, q = owner_out[(e.src, e.src_port)]
        i, o = in_base[kd] + p, out_base[ks] + q
        src[i] = o
        lat[i] = _edge_latency(model, blocks[ks].node.op.value, e)
        if model.depth(e) < 1:
            raise HardwareError(f"edge {e.src}.{e.src_port} -> {e.dst}.{e.dst_port}: FIFO depth {model.depth(e)} "
                                f"must be >= 1")
        depth[i] = model.depth(e)
        consumers[o].append(i)
    in_tokens = np.array([out_tokens[s] if s >= 0 else 0 for s in src], np.int64)
    cons_ptr = np.concatenate(([0], np.cumsum([len(c) for c in consumers]))).astype(np.int64)
    cons_idx = np.array([i for c in consumers for i in c], np.int64)
    ops = [b.node.op.value for b in blocks]
    cat = (lambda arrays, dtype: np.concatenate(arrays, dtype=dtype) if arrays else np.zeros(0, dtype))
    return Network(
        len(blocks), soff, nsteps,
        cat([b.trace.peek for b in blocks], np.uint32), cat([b.trace.pop for b in blocks], np.uint32),
        cat([b.trace.push for b in blocks], np.uint32), cat([b.trace.mem for b in blocks], np.uint8),
        np.array([model.op_ii(op) for op in ops], np.int64),
        np.array([_ports(model, b.node.op) for b in blocks], np.int64),
        in_base, out_base, src, lat, depth, cons_ptr, cons_idx,
        np.concatenate(([0], np.cumsum(in_tokens))).astype(np.int64),
        np.concatenate(([0], np.cumsum(out_tokens))).astype(np.int64),
        tuple(b.node.describe() for b in blocks),
        tuple(f"input {name} of {b.node.describe()}" for b in blocks for name in b.inputs),
        tuple(f"output {name} of {b.node.describe()}" for b in blocks for name in b.outputs),
    )


def time_run(run: FunctionalRun, model: TimingModel) -> Timing:
    """The cycle of every step of ``run`` under ``model`` (see the module docstring).

    Without a finite FIFO nothing waits for room, so each block's steps depend only on its
    producers' pushes: the blocks are timed one after another in topological order on their own
    trace arrays (``_time_block``), which equals ``time_network`` and skips flattening the run.
    """
    if model.fifo_depth < UNBOUNDED or any(d < UNBOUNDED for d in model.depths.values()):
        return time_network(network(run, model))
    blocks = run.blocks
    owner_out = {(b.node.id, name): (k, q) for k, b in enumerate(blocks) for q, name in enumerate(b.outputs)}
    lengths = [len(run.streams[(b.node.id, name)][0]) for b in blocks for name in b.outputs]
    out_off = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    out_base = np.concatenate(([0], np.cumsum([len(b.outputs) for b in blocks]))).astype(np.int64)
    feeds = {(e.dst, e.dst_port): e for e in run.graph.edges}
    pushed_at = np.empty(out_off[-1], np.int64)  # push cycle of every token of every output, in one buffer
    starts, busy, stall_in = [], np.zeros(len(blocks), np.int64), np.zeros(len(blocks), np.int64)
    cycles = 0
    for k, b in enumerate(blocks):
        op = b.node.op.value
        in_off = np.full(len(b.inputs), -1, np.int64)
        in_lat = np.zeros(len(b.inputs), np.int64)
        for p, name in enumerate(b.inputs):
            e = feeds.get((b.node.id, name))
            if e is None:
                continue  # the root reference: always there
            ks, q = owner_out[(e.src, e.src_port)]
            in_off[p] = out_off[out_base[ks] + q]
            in_lat[p] = _edge_latency(model, blocks[ks].node.op.value, e)
        t = b.trace
        start = np.empty(t.steps, np.int64)
        ports = _ports(model, b.node.op)
        last, busy[k], stall_in[k] = _time_block(t.peek, t.pop, t.push, t.mem, model.op_ii(op), ports, pushed_at,
                                                 in_off, in_lat, out_off[out_base[k]:out_base[k + 1]], start)
        starts.append(start)
        cycles = max(cycles, last)
    return Timing(int(cycles), tuple(starts), busy, stall_in, np.zeros(len(blocks), np.int64))


@cached_njit(nogil=True)
def _time_block(peek, pop, push, mem, ii, ports, pushed_at, in_off, in_lat, out_off, start):
    """One block's steps when no FIFO is finite: each starts when its II allows and its peeked tokens arrived.

    Token k of input p was pushed at ``pushed_at[in_off[p] + k]`` and is usable ``in_lat[p]`` cycles
    later (``in_off[p] < 0``: no edge); the push cycle of token k of output q goes to
    ``pushed_at[out_off[q] + k]``."""
    popped = np.zeros(in_off.shape[0], np.int64)
    pushed = np.zeros(out_off.shape[0], np.int64)
    t_next, busy, stall, last = 0, 0, 0, 0
    for g in range(peek.shape[0]):
        t = t_next
        m = peek[g]
        p = 0
        while m:
            if m & 1 and in_off[p] >= 0:
                a = pushed_at[in_off[p] + popped[p]] + in_lat[p]
                if a > t:
                    t = a
            m >>= 1
            p += 1
        stall += t - t_next
        start[g] = t
        m = pop[g]
        p = 0
        while m:
            if m & 1:
                popped[p] += 1
            m >>= 1
            p += 1
        m = push[g]
        q = 0
        while m:
            if m & 1:
                pushed_at[out_off[q] + pushed[q]] = t
                pushed[q] += 1
            m >>= 1
            q += 1
        dur = _duration(ii, ports, mem[g])
        busy += dur
        t_next = t + dur
        last = t + 1
    return last, busy, stall


def time_network(net: Network) -> Timing:
    start = np.zeros(len(net.peek), np.int64)
    busy, stall_in, stall_out = (np.zeros(net.nblocks, np.int64) for _ in range(3))
    done = np.zeros(net.nblocks, np.int64)
    blocked = np.full(net.nblocks, -1, np.int64)
    cycles = _longest_path(net.soff, net.nsteps, net.peek, net.pop, net.push, net.mem, net.ii, net.ports,
                           net.in_base, net.out_base, net.src, net.lat, net.depth, net.cons_ptr, net.cons_idx,
                           net.tok_in, net.tok_out, start, busy, stall_in, stall_out, done, blocked)
    if cycles < 0:
        raise DeadlockError(_deadlock_message(net, done, blocked))
    starts = tuple(start[net.soff[b]:net.soff[b] + net.nsteps[b]] for b in range(net.nblocks))
    return Timing(int(cycles), starts, busy, stall_in, stall_out)


def _deadlock_message(net: Network, done: np.ndarray, blocked: np.ndarray) -> str:
    lines = []
    for b in range(net.nblocks):
        if done[b] == net.nsteps[b]:
            continue
        code = int(blocked[b])
        if code >= 0:
            why = f"waits for a token on {net.in_labels[code]} (from {net.out_labels[net.src[code]]})"
        else:
            i = -code - 2
            why = f"waits for room in the FIFO of depth {net.depth[i]} to {net.in_labels[i]}"
        lines.append(f"  {net.labels[b]} at step {done[b]} of {net.nsteps[b]}: {why}")
    return "deadlock: no block can take its next step\n" + "\n".join(lines)


@cached_njit(nogil=True)
def _duration(ii, ports, accesses):
    """Cycles a step occupies its block: the initiation interval, or its SRAM accesses over the ports."""
    if ports > 0:
        need = (accesses + ports - 1) // ports
        if need > ii:
            return need
    return ii


@cached_njit(nogil=True)
def _longest_path(soff, nsteps, peek, pop, push, mem, ii, ports, in_base, out_base, src, lat, depth,
                  cons_ptr, cons_idx, tok_in, tok_out, start, busy, stall_in, stall_out, done, blocked):
    nb = nsteps.shape[0]
    popped = np.zeros(src.shape[0], np.int64)
    pushed = np.zeros(tok_out.shape[0] - 1, np.int64)
    start_in = np.zeros(tok_in[-1], np.int64)    # pop cycle of each token of each input
    start_out = np.zeros(tok_out[-1], np.int64)  # push cycle of each token of each output
    bounded = np.zeros(tok_out.shape[0] - 1, np.bool_)  # outputs with a finite FIFO downstream
    for o in range(bounded.shape[0]):
        for c in range(cons_ptr[o], cons_ptr[o + 1]):
            if depth[cons_idx[c]] < UNBOUNDED:
                bounded[o] = True
    next_t = np.zeros(nb, np.int64)
    cycles = 0
    remaining = 1
    while remaining:
        progress = False
        for b in range(nb):
            s, n, t_next = done[b], nsteps[b], next_t[b]
            if s == n:
                continue
            ib, ob, step_ii, nports = in_base[b], out_base[b], ii[b], ports[b]
            busy_b, sin_b, sout_b = 0, 0, 0
            g = soff[b] + s
            while s < n:
                # The earliest cycle of step g: arrivals of the tokens it peeks, room for those it pushes.
                t_in, t_out, wait = t_next, t_next, -1
                m = peek[g]
                p = 0
                while m:
                    if m & 1:
                        i = ib + p
                        o = src[i]
                        if o >= 0:
                            k = popped[i]
                            if pushed[o] <= k:
                                wait = i
                                break
                            arrive = start_out[tok_out[o] + k] + lat[i]
                            if arrive > t_in:
                                t_in = arrive
                    m >>= 1
                    p += 1
                m = push[g] if wait < 0 else 0
                q = 0
                while m:
                    if m & 1 and bounded[ob + q]:
                        o = ob + q
                        k = pushed[o]
                        for c in range(cons_ptr[o], cons_ptr[o + 1]):
                            i = cons_idx[c]
                            d = depth[i]
                            if k >= d:
                                if popped[i] <= k - d:
                                    wait = -2 - i
                                    break
                                free = start_in[tok_in[i] + k - d] + 1
                                if free > t_out:
                                    t_out = free
                        if wait != -1:
                            break
                    m >>= 1
                    q += 1
                if wait != -1:
                    blocked[b] = wait
                    break
                if t_in >= t_out:
                    t = t_in
                    sin_b += t - t_next
                else:
                    t = t_out
                    sout_b += t - t_next
                start[g] = t
                m = pop[g]
                p = 0
                while m:
                    if m & 1:
                        i = ib + p
                        if src[i] >= 0:  # an input fed by no edge (the root reference) has no slots
                            start_in[tok_in[i] + popped[i]] = t
                        popped[i] += 1
                    m >>= 1
                    p += 1
                m = push[g]
                q = 0
                while m:
                    if m & 1:
                        o = ob + q
                        start_out[tok_out[o] + pushed[o]] = t
                        pushed[o] += 1
                    m >>= 1
                    q += 1
                dur = _duration(step_ii, nports, mem[g])
                busy_b += dur
                t_next = t + dur
                s += 1
                g += 1
            if s > done[b]:
                progress = True
                cycles = max(cycles, start[g - 1] + 1)
            done[b], next_t[b] = s, t_next
            busy[b] += busy_b
            stall_in[b] += sin_b
            stall_out[b] += sout_b
        remaining = 0
        for b in range(nb):
            if done[b] < nsteps[b]:
                remaining += 1
        if remaining and not progress:
            return -1
    return cycles
