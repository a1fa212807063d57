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

import numba
import numpy as np

DONE, EMPTY, STOP0, VALUE = -1, -2, -3, 0
GONE = -1000  # a read past a stream's end: the block would wait forever

OK, OVERFLOW, BAD_STREAM, BAD_REF = 0, 1, 2, 3
EV_MEM_READ, EV_MEM_WRITE, EV_ADD, EV_MUL, EV_SUB, EV_CMP = range(6)
EVENT_NAMES = ("mem_read", "mem_write", "alu_add", "alu_mul", "alu_sub", "compare")

# Kernel ids, one per step machine.
SCAN, REPSIGGEN, REPEAT, INTERSECT, UNION, CRDDROP, CRDHOLD, ARRAY_VALS, ALU, REDUCE, SPACC, WRITE = range(12)
ALU_ADD, ALU_SUB, ALU_MUL = 0, 1, 2

_jit = numba.njit(cache=True, nogil=True)


@_jit
def _head(itok, istart, iend, ptr, p):
    at = istart[p] + ptr[p]
    return itok[at] if at < iend[p] else GONE


@_jit
def _room(olen, cap, steps, cap_steps):
    if steps >= cap_steps:
        return False
    for q in range(olen.shape[0]):
        if olen[q] >= cap:
            return False
    return True


@_jit
def _put(otok, oval, olen, q, token, value):
    otok[q, olen[q]] = token
    oval[q, olen[q]] = value
    olen[q] += 1


@_jit
def _is_stop(t):
    return t <= STOP0 and t != GONE


@_jit
def k_scan(itok, ival, istart, iend, ipar, a0, a1, fv, otok, oval, olen, peek, pop, push, mem, ev):
    """Level scanner. ipar = [dense, size]; a0/a1 = pos/crd of a compressed level.

    Steps: a reference is popped (2 pos reads), then one coordinate per step, then the closing
    stop (``S0``, or ``Sk+1`` popping a following ``Sk``)."""
    dense, size = ipar[0], ipar[1]
    ptr = np.zeros(1, np.int64)
    cap, caps = otok.shape[1], peek.shape[0]
    s, state, lo, hi, base = 0, 0, 0, 0, 0  # state 0: load, 1: emit, 2: close
    nfib = a0.shape[0] - 1
    while True:
        if not _room(olen, cap, s, caps):
            return s, OVERFLOW
        pk, pp, ps, m = 0, 0, 0, 0
        if state == 1:
            c = lo - base if dense else a1[lo]
            _put(otok, oval, olen, 0, c, 0.0)
            _put(otok, oval, olen, 1, lo, 0.0)
            ps = 3
            m = 0 if dense else 1
            lo += 1
            if lo == hi:
                state = 2
        else:
            t = _head(itok, istart, iend, ptr, 0)
            pk = 1
            if t == GONE:
                return s, BAD_STREAM
            if state == 2:
                if _is_stop(t):
                    ptr[0] += 1
                    pp = 1
                    t = t - 1
                else:
                    t = STOP0
                _put(otok, oval, olen, 0, t, 0.0)
                _put(otok, oval, olen, 1, t, 0.0)
                ps = 3
                state = 0
            else:
                ptr[0] += 1
                pp = 1
                if t == DONE or _is_stop(t):
                    t = t if t == DONE else t - 1
                    _put(otok, oval, olen, 0, t, 0.0)
                    _put(otok, oval, olen, 1, t, 0.0)
                    ps = 3
                elif t == EMPTY:
                    _put(otok, oval, olen, 0, EMPTY, 0.0)
                    _put(otok, oval, olen, 1, EMPTY, 0.0)
                    ps = 3
                    state = 2
                else:
                    if dense:
                        lo, hi, base = t * size, t * size + size, t * size
                    else:
                        if t >= nfib:
                            return s, BAD_REF
                        lo, hi = a0[t], a0[t + 1]
                        m = 2
                    state = 1 if lo < hi else 2
        peek[s], pop[s], push[s], mem[s] = pk, pp, ps, m
        ev[EV_MEM_READ] += m
        s += 1
        if ps and otok[0, olen[0] - 1] == DONE:
            return s, OK


@_jit
def k_repsiggen(itok, ival, istart, iend, ipar, a0, a1, fv, otok, oval, olen, peek, pop, push, mem, ev):
    """Repeat-signal generator: one token in, one out, per step."""
    ptr = np.zeros(1, np.int64)
    cap, caps = otok.shape[1], peek.shape[0]
    s = 0
    while True:
        if not _room(olen, cap, s, caps):
            return s, OVERFLOW
        t = _head(itok, istart, iend, ptr, 0)
        if t == GONE:
            return s, BAD_STREAM
        ptr[0] += 1
        _put(otok, oval, olen, 0, t if t == DONE else (STOP0 if _is_stop(t) else VALUE), 0.0)
        peek[s], pop[s], push[s], mem[s] = 1, 1, 1, 0
        s += 1
        if t == DONE:
            return s, OK


@_jit
def k_repeat(itok, ival, istart, iend, ipar, a0, a1, fv, otok, oval, olen, peek, pop, push, mem, ev):
    """Repeater. Inputs: 0 ref, 1 repsig. Each ``R`` pushes the held reference; ``S`` pops it, and a
    closing step follows (``S0``, or ``Sk+1`` popping a following ``Sk``)."""
    ptr = np.zeros(2, np.int64)
    cap, caps = otok.shape[1], peek.shape[0]
    s, state = 0, 0  # 0: no reference held, 1: holding, 2: close
    held = 0
    while True:
        if not _room(olen, cap, s, caps):
            return s, OVERFLOW
        pk, pp, ps = 0, 0, 0
        if state == 2:
            t = _head(itok, istart, iend, ptr, 0)
            pk = 1
            if t == GONE:
                return s, BAD_STREAM
            if _is_stop(t):
                ptr[0] += 1
                pp = 1
                t -= 1
            else:
                t = STOP0
            _put(otok, oval, olen, 0, t, 0.0)
            ps, state = 1, 0
        else:
            if state == 0:
                t = _head(itok, istart, iend, ptr, 0)
                pk = 1
                if t == GONE:
                    return s, BAD_STREAM
                held = t  # N (an operand a unioner found absent) is repeated like a reference
            g = _head(itok, istart, iend, ptr, 1)
            pk |= 2
            if g == GONE:
                return s, BAD_STREAM
            if state == 0 and (held == DONE or _is_stop(held)):
                if (held == DONE) != (g == DONE) or (held != DONE and not _is_stop(g)):
                    return s, BAD_STREAM
                ptr[0] += 1
                ptr[1] += 1
                pp = 3
                _put(otok, oval, olen, 0, held if held == DONE else held - 1, 0.0)
                ps = 1
            elif g == VALUE:
                ptr[1] += 1
                pp = 2
                _put(otok, oval, olen, 0, held, 0.0)
                ps, state = 1, 1
            elif _is_stop(g):
                ptr[0] += 1
                ptr[1] += 1
                pp, state = 3, 2
            else:
                return s, BAD_STREAM
        peek[s], pop[s], push[s], mem[s] = pk, pp, ps, 0
        s += 1
        if ps and otok[0, olen[0] - 1] == DONE:
            return s, OK


@_jit
def k_join(itok, ival, istart, iend, ipar, a0, a1, fv, otok, oval, olen, peek, pop, push, mem, ev):
    """Intersecter (ipar[0] = 0) or unioner (1) of n (crd, ref) input pairs (inputs 2o, 2o+1).

    Outputs: 0 crd, 1+o the references of operand o. One comparison of the heads per step: the
    intersecter pops the smallest coordinates and pushes when all agree; the unioner pushes the
    smallest coordinate with ``N`` for operands that lack it. ``N`` fibers follow the interpreter."""
    is_union = ipar[0] == 1
    n = istart.shape[0] // 2
    ptr = np.zeros(2 * n, np.int64)
    heads = np.zeros(n, np.int64)
    cap, caps = otok.shape[1], peek.shape[0]
    s, n_empty, emitted = 0, 0, False
    allpk = 0
    for o in range(n):
        allpk |= 1 << (2 * o)
    while True:
        if not _room(olen, cap, s, caps):
            return s, OVERFLOW
        pp, ps = 0, 0
        n_data, lowest = 0, np.int64(1) << 62
        has_empty = False
        for o in range(n):
            h = _head(itok, istart, iend, ptr, 2 * o)
            heads[o] = h
            if h == GONE:
                return s, BAD_STREAM
            if h >= 0:
                n_data += 1
                if h < lowest:
                    lowest = h
            elif h == EMPTY:
                has_empty = True
        if has_empty:  # an absent fiber: pop its N and remember it
            for o in range(n):
                if heads[o] == EMPTY:
                    ptr[2 * o] += 1
                    ptr[2 * o + 1] += 1
                    pp |= 3 << (2 * o)
                    n_empty += 1
        elif n_data:
            ev[EV_CMP] += n_data - 1 if n_data > 1 else 0
            if is_union:
                _put(otok, oval, olen, 0, lowest, 0.0)
                ps = 1
                for o in range(n):
                    ref = EMPTY
                    if heads[o] == lowest:
                        ref = itok[istart[2 * o + 1] + ptr[2 * o + 1]]
                        ptr[2 * o] += 1
                        ptr[2 * o + 1] += 1
                        pp |= 3 << (2 * o)
                    _put(otok, oval, olen, 1 + o, ref, 0.0)
                    ps |= 1 << (1 + o)
                emitted = True
            elif n_data == n and heads.min() == heads.max() and n_empty == 0:
                _put(otok, oval, olen, 0, lowest, 0.0)
                ps = 1
                for o in range(n):
                    _put(otok, oval, olen, 1 + o, itok[istart[2 * o + 1] + ptr[2 * o + 1]], 0.0)
                    ps |= 1 << (1 + o)
                    ptr[2 * o] += 1
                    ptr[2 * o + 1] += 1
                    pp |= 3 << (2 * o)
            else:  # the smallest heads cannot match (or a fiber is N or over): drop them
                for o in range(n):
                    if heads[o] >= 0 and (n_data < n or n_empty > 0 or heads[o] == lowest):
                        ptr[2 * o] += 1
                        ptr[2 * o + 1] += 1
                        pp |= 3 << (2 * o)
        else:  # every operand closes its fiber (or ends)
            for o in range(1, n):
                if heads[o] != heads[0]:
                    return s, BAD_STREAM
            fiber_is_n = (n_empty == n and not emitted) if is_union else n_empty > 0
            if fiber_is_n:
                for q in range(n + 1):
                    _put(otok, oval, olen, q, EMPTY, 0.0)
                ps = (1 << (n + 1)) - 1
                n_empty = 0 if not is_union else n  # the stop follows on the next step
                emitted = True
                if not is_union:
                    n_empty = -1  # marks "N pushed" for the intersecter
            else:
                for q in range(n + 1):
                    _put(otok, oval, olen, q, heads[0], 0.0)
                ps = (1 << (n + 1)) - 1
                for o in range(n):
                    ptr[2 * o] += 1
                    ptr[2 * o + 1] += 1
                pp = (1 << (2 * n)) - 1
                n_empty, emitted = 0, False
        peek[s], pop[s], push[s], mem[s] = allpk | pp, pp, ps, 0
        s += 1
        if ps and otok[0, olen[0] - 1] == DONE:
            return s, OK


@_jit
def k_crddrop(itok, ival, istart, iend, ipar, a0, a1, fv, otok, oval, olen, peek, pop, push, mem, ev):
    """Coordinate dropper. Inputs/outputs: 0 outer, 1 inner. An outer coordinate is pushed with the
    first content token of its inner fiber; a kept fiber's closing ``S0`` is pushed only when
    another kept fiber follows, else the outer stop ``Sm`` closes it as ``Sm+1``."""
    ptr = np.zeros(2, np.int64)
    cap, caps = otok.shape[1], peek.shape[0]
    s, state, had, pending = 0, 0, False, False  # state 0: at the outer head, 1: inside a kept fiber
    while True:
        if not _room(olen, cap, s, caps):
            return s, OVERFLOW
        pk, pp, ps = 2, 0, 0
        i = _head(itok, istart, iend, ptr, 1)
        if i == GONE:
            return s, BAD_STREAM
        if state == 1:
            ptr[1] += 1
            pp = 2
            if i >= 0 or i == EMPTY:
                _put(otok, oval, olen, 1, i, 0.0)
                ps = 2
            elif _is_stop(i):
                pending, state = True, 0
            else:
                return s, BAD_STREAM
        else:
            o = _head(itok, istart, iend, ptr, 0)
            pk = 1
            if o == GONE:
                return s, BAD_STREAM
            if o == DONE:
                pk = 3
                if i != DONE:
                    return s, BAD_STREAM
                ptr[0] += 1
                ptr[1] += 1
                pp, ps = 3, 3
                _put(otok, oval, olen, 0, DONE, 0.0)
                _put(otok, oval, olen, 1, DONE, 0.0)
            elif _is_stop(o):
                if not had:  # an empty outer fiber is one bare S(m+1) on the inner stream
                    pk = 3
                    if i != o - 1:
                        return s, BAD_STREAM
                    ptr[1] += 1
                    pp = 2
                ptr[0] += 1
                pp |= 1
                _put(otok, oval, olen, 0, o, 0.0)
                _put(otok, oval, olen, 1, o - 1, 0.0)
                ps = 3
                had, pending = False, False
            else:
                pk = 3
                had = True
                if i >= 0 or i == EMPTY:
                    if pending:
                        _put(otok, oval, olen, 1, STOP0, 0.0)
                        ps, pending = 2, False
                    else:
                        ptr[0] += 1
                        ptr[1] += 1
                        pp = 3
                        _put(otok, oval, olen, 0, o, 0.0)
                        _put(otok, oval, olen, 1, i, 0.0)
                        ps, state = 3, 1
                elif _is_stop(i):  # an empty inner fiber: its outer coordinate is dropped
                    ptr[0] += 1
                    ptr[1] += 1
                    pp = 3
                else:
                    return s, BAD_STREAM
        peek[s], pop[s], push[s], mem[s] = pk, pp, ps, 0
        s += 1
        if ps & 1 and otok[0, olen[0] - 1] == DONE:
            return s, OK


@_jit
def k_crdhold(itok, ival, istart, iend, ipar, a0, a1, fv, otok, oval, olen, peek, pop, push, mem, ev):
    """Coordinate holder. Inputs/outputs: 0 outer, 1 inner. The inner stream passes through; the
    outer coordinate is pushed beside each inner content token; the inner stop pops it, and a
    closing step follows on the outer output."""
    ptr = np.zeros(2, np.int64)
    cap, caps = otok.shape[1], peek.shape[0]
    s, closing = 0, False
    while True:
        if not _room(olen, cap, s, caps):
            return s, OVERFLOW
        pk, pp, ps = 1, 0, 0
        o = _head(itok, istart, iend, ptr, 0)
        if o == GONE:
            return s, BAD_STREAM
        if closing:
            if _is_stop(o):
                ptr[0] += 1
                pp = 1
                o -= 1
            else:
                o = STOP0
            _put(otok, oval, olen, 0, o, 0.0)
            ps, closing = 1, False
        else:
            i = _head(itok, istart, iend, ptr, 1)
            pk = 3
            if i == GONE:
                return s, BAD_STREAM
            if i == DONE or o == DONE:
                if i != o:
                    return s, BAD_STREAM
                ptr[0] += 1
                ptr[1] += 1
                pp, ps = 3, 3
                _put(otok, oval, olen, 0, DONE, 0.0)
                _put(otok, oval, olen, 1, DONE, 0.0)
            elif _is_stop(o) or o == EMPTY:
                if not _is_stop(o) or not _is_stop(i):
                    return s, BAD_STREAM
                ptr[0] += 1
                ptr[1] += 1
                pp, ps = 3, 3
                _put(otok, oval, olen, 0, o - 1, 0.0)
                _put(otok, oval, olen, 1, i, 0.0)
            elif i >= 0 or i == EMPTY:
                ptr[1] += 1
                pp, ps = 2, 3
                _put(otok, oval, olen, 0, o, 0.0)
                _put(otok, oval, olen, 1, i, 0.0)
            else:
                ptr[0] += 1
                ptr[1] += 1
                pp, ps, closing = 3, 2, True
                _put(otok, oval, olen, 1, i, 0.0)
        peek[s], pop[s], push[s], mem[s] = pk, pp, ps, 0
        s += 1
        if ps & 1 and otok[0, olen[0] - 1] == DONE:
            return s, OK


@_jit
def k_array_vals(itok, ival, istart, iend, ipar, a0, a1, fv, otok, oval, olen, peek, pop, push, mem, ev):
    """Value array read: one reference in, one value out (an SRAM read), per step; ``N`` loads 0."""
    ptr = np.zeros(1, np.int64)
    cap, caps = otok.shape[1], peek.shape[0]
    s, nvals = 0, fv.shape[0]
    while True:
        if not _room(olen, cap, s, caps):
            return s, OVERFLOW
        t = _head(itok, istart, iend, ptr, 0)
        m = 0
        if t == GONE:
            return s, BAD_STREAM
        if t >= 0:
            if t >= nvals:
                return s, BAD_REF
            _put(otok, oval, olen, 0, VALUE, fv[t])
            m = 1
        elif t == EMPTY:
            _put(otok, oval, olen, 0, VALUE, 0.0)
        else:
            _put(otok, oval, olen, 0, t, 0.0)
        ptr[0] += 1
        peek[s], pop[s], push[s], mem[s] = 1, 1, 1, m
        ev[EV_MEM_READ] += m
        s += 1
        if t == DONE:
            return s, OK


@_jit
def k_alu(itok, ival, istart, iend, ipar, a0, a1, fv, otok, oval, olen, peek, pop, push, mem, ev):
    """ALU on two aligned value streams (ipar[0]: add, sub, mul); ``N`` is no value (see dataflow.values)."""
    op = ipar[0]
    ptr = np.zeros(2, np.int64)
    cap, caps = otok.shape[1], peek.shape[0]
    s = 0
    while True:
        if not _room(olen, cap, s, caps):
            return s, OVERFLOW
        a = _head(itok, istart, iend, ptr, 0)
        b = _head(itok, istart, iend, ptr, 1)
        if a == GONE or b == GONE:
            return s, BAD_STREAM
        ca, cb = a == VALUE or a == EMPTY, b == VALUE or b == EMPTY
        token, value, pp = 0, 0.0, 3
        if ca and cb:
            va, vb = ival[istart[0] + ptr[0]], ival[istart[1] + ptr[1]]
            if a == VALUE and b == VALUE:
                token = VALUE
                if op == ALU_ADD:
                    value = va + vb
                    ev[EV_ADD] += 1
                elif op == ALU_SUB:
                    value = va - vb
                    ev[EV_SUB] += 1
                else:
                    value = va * vb
                    ev[EV_MUL] += 1
            elif (a == EMPTY and b == EMPTY) or op == ALU_MUL:
                token = EMPTY
            elif a == EMPTY:
                token, value = VALUE, (-vb if op == ALU_SUB else vb)
            else:
                token, value = VALUE, va
        elif a == EMPTY and _is_stop(b):
            token, pp = EMPTY, 1
        elif b == EMPTY and _is_stop(a):
            token, pp = EMPTY, 2
        elif a == b and (_is_stop(a) or a == DONE):
            token = a
        else:
            return s, BAD_STREAM
        if pp & 1:
            ptr[0] += 1
        if pp & 2:
            ptr[1] += 1
        _put(otok, oval, olen, 0, token, value)
        peek[s], pop[s], push[s], mem[s] = 3, pp, 1, 0
        s += 1
        if token == DONE:
            return s, OK


@_jit
def k_reduce(itok, ival, istart, iend, ipar, a0, a1, fv, otok, oval, olen, peek, pop, push, mem, ev):
    """Reducer: a value per step is added; ``Sk`` pushes the sum (or ``N``), then ``Sk-1`` on a second step."""
    ptr = np.zeros(1, np.int64)
    cap, caps = otok.shape[1], peek.shape[0]
    s, total, seen, second = 0, 0.0, False, False
    while True:
        if not _room(olen, cap, s, caps):
            return s, OVERFLOW
        t = _head(itok, istart, iend, ptr, 0)
        pp, ps = 1, 0
        if t == GONE:
            return s, BAD_STREAM
        if t == VALUE:
            if seen:
                ev[EV_ADD] += 1
            total += ival[istart[0] + ptr[0]]
            seen = True
        elif t == DONE:
            if seen:
                return s, BAD_STREAM
            _put(otok, oval, olen, 0, DONE, 0.0)
            ps = 1
        elif _is_stop(t):
            if second:
                _put(otok, oval, olen, 0, t + 1, 0.0)
                ps, second = 1, False
            else:
                _put(otok, oval, olen, 0, VALUE if seen else EMPTY, total if seen else 0.0)
                ps = 1
                total, seen = 0.0, False
                if t != STOP0:
                    pp, second = 0, True
        ptr[0] += pp
        peek[s], pop[s], push[s], mem[s] = 1, pp, ps, 0
        s += 1
        if t == DONE:
            return s, OK


@_jit
def k_write(itok, ival, istart, iend, ipar, a0, a1, fv, otok, oval, olen, peek, pop, push, mem, ev):
    """Level or value writer: one token per step; a coordinate or value is one SRAM write."""
    ptr = np.zeros(1, np.int64)
    caps = peek.shape[0]
    s = 0
    while True:
        if s >= caps:
            return s, OVERFLOW
        t = _head(itok, istart, iend, ptr, 0)
        if t == GONE:
            return s, BAD_STREAM
        m = 1 if t >= 0 else 0
        ptr[0] += 1
        peek[s], pop[s], push[s], mem[s] = 1, 1, 0, m
        ev[EV_MEM_WRITE] += m
        s += 1
        if t == DONE:
            return s, OK


@_jit
def k_spacc(itok, ival, istart, iend, ipar, a0, a1, fv, otok, oval, olen, peek, pop, push, mem, ev):
    """Sparse accumulator's steps; its output streams are computed beforehand.

    Inputs: ``ipar[0]`` coordinate streams of the points, then the values. A step pops one point
    (an accumulator read, add and write) or drops stop heads. When a point of a new group arrives
    (``a0[k]`` is point k's group rank) or the inputs end, the finished groups' output tokens are
    pushed, one per output per step. Output ``q``'s precomputed tokens are
    ``a1[ipar[2+q]:ipar[2+n_out+q]]`` (values in ``fv``); token ``j``'s phase (group rank) is
    ``ipar[2 + 2*n_out + j]``."""
    n_in, n_out = istart.shape[0], otok.shape[0]
    ptr = np.zeros(n_in, np.int64)
    optr = np.zeros(n_out, np.int64)
    phase_at = 2 + 2 * n_out
    cap, caps = otok.shape[1], peek.shape[0]
    s, point, group, emit_to = 0, 0, 0, -1  # emit_to >= 0: pushing tokens of phases below it
    allpk = (1 << n_in) - 1
    while True:
        if not _room(olen, cap, s, caps):
            return s, OVERFLOW
        pk, pp, ps, m = 0, 0, 0, 0
        if emit_to >= 0:
            for q in range(n_out):
                j = ipar[2 + q] + optr[q]
                if j < ipar[2 + n_out + q] and ipar[phase_at + j] < emit_to:
                    _put(otok, oval, olen, q, a1[j], fv[j])
                    optr[q] += 1
                    ps |= 1 << q
                    m += a1[j] >= 0
            if ps == 0:
                if ipar[2] + optr[0] == ipar[2 + n_out]:
                    return s, OK
                emit_to = -1
                continue
            ev[EV_MEM_READ] += m
        else:
            pk = allpk
            n_done, n_data = 0, 0
            for p in range(n_in):
                t = _head(itok, istart, iend, ptr, p)
                if t == GONE:
                    return s, BAD_STREAM
                if t == DONE:
                    n_done += 1
                elif _is_stop(t):  # stop tokens are dropped (SAM runs the accumulator behind StknDrop)
                    ptr[p] += 1
                    pp |= 1 << p
                else:
                    n_data += 1
            if pp:
                pass
            elif n_done == n_in:
                ptr[:] += 1
                pp, emit_to = allpk, np.int64(1) << 62
            elif n_done:
                return s, BAD_STREAM
            elif a0[point] > group:
                emit_to = group = a0[point]
                continue
            else:
                ptr[:] += 1
                pp = allpk
                point += 1
                m = 2
                ev[EV_ADD] += 1
                ev[EV_MEM_READ] += 1
                ev[EV_MEM_WRITE] += 1
        peek[s], pop[s], push[s], mem[s] = pk, pp, ps, m
        s += 1


KERNELS = {SCAN: k_scan, REPSIGGEN: k_repsiggen, REPEAT: k_repeat, INTERSECT: k_join, UNION: k_join,
           CRDDROP: k_crddrop, CRDHOLD: k_crdhold, ARRAY_VALS: k_array_vals, ALU: k_alu, REDUCE: k_reduce,
           SPACC: k_spacc, WRITE: k_write}


@dataclass(frozen=True, slots=True)
class StepTrace:
    """What each step of one block did: port bitmasks, SRAM accesses, and the block's event counts."""

    steps: int
    peek: np.ndarray  # uint32 per step: inputs whose head the step waited for
    pop: np.ndarray   # uint32 per step: inputs popped
    push: np.ndarray  # uint32 per step: outputs pushed
    mem: np.ndarray   # uint8 per step: SRAM accesses
    events: np.ndarray  # int64 counts, EVENT_NAMES order


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
    while True:
        caps = 2 * cap
        otok = np.empty((n_out, cap), np.int64)
        oval = np.empty((n_out, cap), np.float64)
        olen = np.zeros(n_out, np.int64)
        peek, pop, push = (np.empty(caps, np.uint32) for _ in range(3))
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
    outs = [(otok[q, :olen[q]], oval[q, :olen[q]]) for q in range(n_out)]
    trace = StepTrace(int(steps), peek[:steps], pop[:steps], push[:steps], mem[:steps], ev)
    return outs, trace
