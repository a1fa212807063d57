"""Step machines: every SAM primitive as a compiled process that records what each of its steps did.

A *step* is one firing of a block (one cycle at initiation interval 1). It peeks at the head token
of some inputs, pops at most one token per input, pushes at most one token per output and makes
some SRAM accesses. Each kernel runs its block to completion over whole input streams (blocks are
Kahn processes, so the order of steps never depends on timing) and records, per step, three port
bitmasks (``peek``, ``pop``, ``push``; bit ``p`` is the block's ``p``-th input or output) and its
SRAM access count. The timing pass turns these traces into cycles; the streams must equal the
reference interpreter's (``zeroskip.dataflow.interpret``), which tests check.

Every kernel has the same signature so that one driver calls them all:
``(itok, ival, istart, iend, ipar, a0, a1, fv, otok, oval, olen, peek, pop, push, mem, ev) -> (steps, status)``
where input ``p`` is ``itok[istart[p]:iend[p]]`` (values in ``ival``), outputs are rows of
``otok``/``oval`` with lengths ``olen``, and ``ev`` counts events (``EV_*``).

Example (a compressed level scanned for references 0 and 1):
    >>> import numpy as np
    >>> from zeroskip.hardware.steps import run_kernel, SCAN
    >>> out, trace = run_kernel(SCAN, [np.array([0, 1, -3, -1])], [None], 2,
    ...                         ipar=[0, 0], a0=[0, 2, 3], a1=[1, 4, 0])
    >>> out[0][0].tolist()   # crd: fiber 0 holds 1, 4; fiber 1 holds 0; the S0 after ref 1 closes both
    [1, 4, -3, 0, -4, -1]
    >>> int(trace.steps), int(trace.events[0])   # 8 steps; 2 pos reads per fiber + 1 per coordinate
    (8, 7)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroskip.hardware.stepkit import (  # noqa: F401 - re-exported: the kernel ids and codes callers use
    ALU, ALU_ADD, ALU_MUL, ALU_SUB, ARRAY_VALS, BAD_REF, BAD_STREAM, CRDDROP, CRDHOLD, DONE, EMPTY, EVENT_NAMES,
    GONE, INTERSECT, OK, OVERFLOW, REDUCE, REPEAT, REPSIGGEN, SCAN, SPACC, STOP0, UNION, VALUE, WRITE,
)
from zeroskip.hardware.steps_coords import k_crddrop, k_crdhold, k_join, k_repeat, k_repsiggen, k_scan
from zeroskip.hardware.steps_values import k_alu, k_array_vals, k_reduce, k_spacc, k_write

KERNELS = {SCAN: k_scan, REPSIGGEN: k_repsiggen, REPEAT: k_repeat, INTERSECT: k_join, UNION: k_join,
           CRDDROP: k_crddrop, CRDHOLD: k_crdhold, ARRAY_VALS: k_array_vals, ALU: k_alu, REDUCE: k_reduce,
           SPACC: k_spacc, WRITE: k_write}


@dataclass(frozen=True, slots=True)
class StepTrace:
    """What each step of one block did: port bitmasks, SRAM accesses, and the block's event counts."""

    steps: int
    peek: np.ndarray  # per step (uint8, or uint32 past 8 ports): inputs whose head the step waited for
    pop: np.ndarray   # per step: inputs popped
    push: np.ndarray  # per step: outputs pushed
    mem: np.ndarray   # uint8 per step: SRAM accesses
    events: np.ndarray  # int64 counts, EVENT_NAMES order


VALUE_KERNELS = frozenset((ARRAY_VALS, ALU, REDUCE, SPACC))  # kernels with value outputs (the rest push tokens only)
_EMPTY_I = np.zeros(0, np.int64)
_EMPTY_F = np.zeros(0, np.float64)


def run_kernel(kernel: int, inputs, values, n_out: int, *, ipar=(), a0=None, a1=None, fv=None):
    """Run one block's step machine over whole input streams.

    Returns ``([(tokens, values) per output], StepTrace)``; raises ``RuntimeError`` with the status
    (the caller re-runs the reference interpreter for a precise message).
    """
    lens = np.array([len(t) for t in inputs], np.int64)
    iend = np.cumsum(lens)
    istart = iend - lens
    if len(inputs) == 1:  # no copy for the common one-input block
        itok = np.ascontiguousarray(inputs[0], np.int64)
        ival = _EMPTY_F if values[0] is None else np.ascontiguousarray(values[0], np.float64)
    else:
        itok = np.concatenate(inputs, dtype=np.int64) if inputs else _EMPTY_I
        ival = _EMPTY_F
        if any(v is not None for v in values):  # only value streams' slots are ever read
            ival = np.empty(int(iend[-1]), np.float64)
            for v, a, b in zip(values, istart, iend):
                if v is not None:
                    ival[a:b] = v
    ipar = np.asarray(ipar, np.int64)
    a0 = _EMPTY_I if a0 is None else np.asarray(a0, np.int64)
    a1 = _EMPTY_I if a1 is None else np.asarray(a1, np.int64)
    fv = _EMPTY_F if fv is None else np.asarray(fv, np.float64)
    cap = max(16, int(lens.sum()) + 8)
    valued = kernel in VALUE_KERNELS
    # One byte per mask when every port fits in it (all but joins of five or more operands): less to write.
    mask = np.uint8 if max(len(inputs), n_out) <= 8 else np.uint32
    while True:
        caps = 2 * cap
        otok = np.empty((n_out, cap), np.int64)
        oval = np.empty((n_out, cap if valued else 0), np.float64)
        olen = np.zeros(n_out, np.int64)
        peek, pop, push = (np.empty(caps, mask) for _ in range(3))
        mem = np.empty(caps, np.uint8)
        ev = np.zeros(len(EVENT_NAMES), np.int64)
        steps, status = KERNELS[kernel](itok, ival, istart, iend, ipar, a0, a1, fv,
                                        otok, oval, olen, peek, pop, push, mem, ev)
        if status != OVERFLOW:
            break
        cap *= 4
    if status != OK:
        raise RuntimeError({BAD_STREAM: "bad stream", BAD_REF: "reference out of range"}.get(status, status))
    # Views, not copies: the buffers are at most a few times the data and copying cost 10% of a pass.
    outs = [(otok[q, :olen[q]], oval[q, :olen[q]] if valued else None) for q in range(n_out)]
    trace = StepTrace(int(steps), peek[:steps], pop[:steps], push[:steps], mem[:steps], ev)
    return outs, trace
