"""The slow, obviously-correct timing reference: a simulator that advances a clock one cycle at a time.

It reads the same ``Network`` as ``timing.time_network`` and returns the same ``Timing``; tests hold
the two equal step for step. Nothing here is clever, so that it can be checked by reading. The rules:

* Every edge is a FIFO holding the indices of the tokens pushed and not yet popped, each with the
  cycle it becomes visible to the consumer: its push cycle plus the edge's latency (the producer's
  latency plus the wire's). An input fed by no edge (a root scanner's root) is always ready.
* A block takes its steps in order, at most one per cycle. Step ``s`` may start once the block's
  initiation interval after step ``s-1`` has passed: ``ii``, or ``ceil(SRAM accesses of step s-1 /
  ports)`` when the block has ports and that is longer.
* A step fires in the first cycle in which every input it peeks at (or pops) has a visible head
  token and every FIFO it pushes into (every consumer, with fan-out) holds fewer tokens than its
  depth. Occupancy is taken at the start of the cycle: a slot freed by a pop is usable next cycle.
* All decisions of a cycle are made on the state at the start of that cycle, then all pops and
  pushes are applied; so the order in which blocks are visited within a cycle does not matter.
  Blocks never idle by choice.
* ``cycles`` is the last step's cycle plus one. A step's duration counts as ``busy``. The wait
  between the cycle its initiation interval allowed and the cycle it fired is charged whole to
  ``stall_in`` when the latest input arrival is at least as late as the latest FIFO slot release
  (the same rule as ``timing.py``), else to ``stall_out``.
* When no block fires for longer than any latency or step duration, nothing can change any more:
  the run is deadlocked and ``DeadlockError`` names each blocked block and the FIFO it waits on.

Latencies must be at least one cycle: a token pushed in a cycle is never seen in that same cycle.

Example (SpMV, SAM's timing assumptions; the fast pass agrees):
    >>> import numpy as np, zeroskip as zs
    >>> from zeroskip.hardware.functional import functional_pass
    >>> from zeroskip.hardware.timing import TimingModel, network, time_network
    >>> A = np.array([[1.0, 0, 2], [0, 0, 0], [0, 3, 0]]); x = np.array([1.0, 2, 3])
    >>> run = functional_pass(zs.compile("y(i) = A(i,j) * x(j)", A=A, x=x).graph, {"A": A, "x": x})
    >>> net = network(run, TimingModel.sam())
    >>> slow = simulate_cycles(net)
    >>> slow.cycles == time_network(net).cycles, [int(s) for s in slow.start[0]]
    (True, [0, 1, 2, 3, 4, 5])
"""

from __future__ import annotations

from collections import deque

import numpy as np

from zeroskip.errors import DeadlockError
from zeroskip.hardware.timing import Network, Timing


class _Fifo:
    """The queue of one fed input: (token index, cycle it becomes visible), plus the history stalls need."""

    def __init__(self, depth: int, latency: int) -> None:
        self.depth = depth
        self.latency = latency
        self.queue: deque[tuple[int, int]] = deque()
        self.pushed = 0
        self.visible_at: list[int] = []  # per token ever pushed
        self.popped_at: list[int] = []   # per token ever popped

    def head_visible(self, cycle: int) -> bool:
        return bool(self.queue) and self.queue[0][1] <= cycle

    def has_room(self) -> bool:
        return len(self.queue) < self.depth

    def push(self, cycle: int) -> None:
        self.queue.append((self.pushed, cycle + self.latency))
        self.visible_at.append(cycle + self.latency)
        self.pushed += 1

    def pop(self, cycle: int) -> None:
        self.queue.popleft()
        self.popped_at.append(cycle)


def _bits(mask: int):
    """The port numbers set in a step's bitmask."""
    p = 0
    while mask:
        if mask & 1:
            yield p
        mask >>= 1
        p += 1


def simulate_cycles(net: Network, *, max_cycles: int | None = None) -> Timing:
    """Step ``net`` cycle by cycle (see the module docstring); the same ``Timing`` as ``time_network``."""
    nb = net.nblocks
    fifos: dict[int, _Fifo] = {}  # global input -> its FIFO; inputs fed by no edge have none
    for i in range(len(net.src)):
        if net.src[i] >= 0:
            if net.lat[i] < 1:
                raise ValueError(f"input {net.in_labels[i]}: latency {int(net.lat[i])} < 1; a cycle-stepped "
                                 f"simulator cannot see a token in the cycle it was pushed")
            fifos[i] = _Fifo(int(net.depth[i]), int(net.lat[i]))
    consumers = [[int(net.cons_idx[c]) for c in range(net.cons_ptr[o], net.cons_ptr[o + 1])]
                 for o in range(len(net.cons_ptr) - 1)]
    nsteps = [int(n) for n in net.nsteps]
    done = [0] * nb          # steps taken
    allowed = [0] * nb       # first cycle the initiation interval allows the next step
    start = np.zeros(len(net.peek), np.int64)
    busy, stall_in, stall_out = (np.zeros(nb, np.int64) for _ in range(3))
    # After this many cycles without a firing every token has arrived and every interval has passed.
    durations = [_duration(net, b, int(net.soff[b]) + s) for b in range(nb) for s in range(nsteps[b])]
    quiet_limit = max([1, *(f.latency for f in fifos.values()), *durations]) + 1
    cycle, last_fire, cycles = 0, -1, 0

    while any(done[b] < nsteps[b] for b in range(nb)):
        if max_cycles is not None and cycle >= max_cycles:
            raise DeadlockError(f"the reference simulator hit {max_cycles=} with steps left\n"
                                + _blocked_report(net, fifos, consumers, done, cycle))
        if cycle - last_fire > quiet_limit:
            raise DeadlockError("deadlock: no block can take its next step\n"
                                + _blocked_report(net, fifos, consumers, done, cycle))
        # Phase 1: decide on the state at the start of the cycle (and note each firing's stall bounds).
        firing = []
        for b in range(nb):
            if done[b] < nsteps[b] and allowed[b] <= cycle and _why_not(net, fifos, consumers, b, done[b], cycle) is None:
                g = int(net.soff[b]) + done[b]
                firing.append((b, g, *_bounds(net, fifos, consumers, b, g, allowed[b])))
        # Phase 2: apply every firing's pops and pushes.
        for b, g, arrive, free in firing:
            t0 = allowed[b]
            if arrive >= free:
                stall_in[b] += cycle - t0
            else:
                stall_out[b] += cycle - t0
            for p in _bits(int(net.pop[g])):
                i = int(net.in_base[b]) + p
                if i in fifos:
                    fifos[i].pop(cycle)
            for q in _bits(int(net.push[g])):
                for i in consumers[int(net.out_base[b]) + q]:
                    fifos[i].push(cycle)
            start[g] = cycle
            dur = _duration(net, b, g)
            busy[b] += dur
            allowed[b] = cycle + dur
            done[b] += 1
            cycles = cycle + 1
            last_fire = cycle
        cycle += 1

    starts = tuple(start[net.soff[b]:net.soff[b] + net.nsteps[b]] for b in range(nb))
    return Timing(cycles, starts, busy, stall_in, stall_out)


def _duration(net: Network, b: int, g: int) -> int:
    """Cycles step ``g`` of block ``b`` occupies it: the interval, or its SRAM accesses over the ports."""
    dur = int(net.ii[b])
    ports = int(net.ports[b])
    if ports > 0:
        dur = max(dur, -(-int(net.mem[g]) // ports))
    return dur


def _why_not(net, fifos, consumers, b, s, cycle) -> str | None:
    """Why step ``s`` of block ``b`` cannot fire in ``cycle`` (None: it can)."""
    g = int(net.soff[b]) + s
    for p in _bits(int(net.peek[g]) | int(net.pop[g])):  # a pop needs the token as much as a peek
        i = int(net.in_base[b]) + p
        if i in fifos and not fifos[i].head_visible(cycle):
            return f"waits for a token on {net.in_labels[i]} (from {net.out_labels[net.src[i]]})"
    for q in _bits(int(net.push[g])):
        for i in consumers[int(net.out_base[b]) + q]:
            if not fifos[i].has_room():
                return f"waits for room in the FIFO of depth {fifos[i].depth} to {net.in_labels[i]}"
    return None


def _bounds(net, fifos, consumers, b, g, t0) -> tuple[int, int]:
    """The cycle the inputs of step ``g`` arrived and the cycle its FIFO slots freed, each at least ``t0``."""
    arrive = t0
    for p in _bits(int(net.peek[g]) | int(net.pop[g])):
        i = int(net.in_base[b]) + p
        if i in fifos:
            arrive = max(arrive, fifos[i].queue[0][1])
    free = t0
    for q in _bits(int(net.push[g])):
        for i in consumers[int(net.out_base[b]) + q]:
            f = fifos[i]
            k = f.pushed  # the index of the token this step pushes
            if k >= f.depth:
                free = max(free, f.popped_at[k - f.depth] + 1)  # its slot: the pop d tokens earlier, a cycle on
    return arrive, free


def _blocked_report(net, fifos, consumers, done, cycle) -> str:
    lines = []
    for b in range(net.nblocks):
        if done[b] < net.nsteps[b]:
            why = _why_not(net, fifos, consumers, b, done[b], cycle) or "waits for its initiation interval"
            lines.append(f"  {net.labels[b]} at step {done[b]} of {int(net.nsteps[b])}: {why}")
    return "\n".join(lines)
