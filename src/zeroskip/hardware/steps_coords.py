"""Step machines of the coordinate-side primitives: level scanner, repeat-signal generator, repeater,
intersecter/unioner, coordinate dropper and holder (see ``steps`` for the contract)."""

from __future__ import annotations

import numpy as np

from zeroskip.hardware.stepkit import (  # noqa: F401 - the kernels' vocabulary
    ALU_ADD, ALU_MUL, ALU_SUB, BAD_REF, BAD_STREAM, DONE, EMPTY, EV_ADD, EV_CMP, EV_MEM_READ, EV_MEM_WRITE, EV_MUL, EV_SUB,
    GONE, OK, OVERFLOW, STOP0, VALUE, _closing, _head, _is_stop, _jit, _put_tok, _room,
)


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
            _put_tok(otok, olen, 0, c)
            _put_tok(otok, olen, 1, lo)
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
                t, popped = _closing(t)
                if popped:
                    ptr[0] += 1
                    pp = 1
                _put_tok(otok, olen, 0, t)
                _put_tok(otok, olen, 1, t)
                ps = 3
                state = 0
            else:
                ptr[0] += 1
                pp = 1
                if t == DONE or _is_stop(t):
                    t = t if t == DONE else t - 1
                    _put_tok(otok, olen, 0, t)
                    _put_tok(otok, olen, 1, t)
                    ps = 3
                elif t == EMPTY:
                    _put_tok(otok, olen, 0, EMPTY)
                    _put_tok(otok, olen, 1, EMPTY)
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
        _put_tok(otok, olen, 0, t if t == DONE else (STOP0 if _is_stop(t) else VALUE))
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
            t, popped = _closing(t)
            if popped:
                ptr[0] += 1
                pp = 1
            _put_tok(otok, olen, 0, t)
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
                _put_tok(otok, olen, 0, held if held == DONE else held - 1)
                ps = 1
            elif g == VALUE:
                ptr[1] += 1
                pp = 2
                _put_tok(otok, olen, 0, held)
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
                _put_tok(otok, olen, 0, lowest)
                ps = 1
                for o in range(n):
                    ref = EMPTY
                    if heads[o] == lowest:
                        ref = itok[istart[2 * o + 1] + ptr[2 * o + 1]]
                        ptr[2 * o] += 1
                        ptr[2 * o + 1] += 1
                        pp |= 3 << (2 * o)
                    _put_tok(otok, olen, 1 + o, ref)
                    ps |= 1 << (1 + o)
                emitted = True
            elif n_data == n and heads.min() == heads.max() and n_empty == 0:
                _put_tok(otok, olen, 0, lowest)
                ps = 1
                for o in range(n):
                    _put_tok(otok, olen, 1 + o, itok[istart[2 * o + 1] + ptr[2 * o + 1]])
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
                    _put_tok(otok, olen, q, EMPTY)
                ps = (1 << (n + 1)) - 1
                n_empty = 0 if not is_union else n  # the stop follows on the next step
                emitted = True
                if not is_union:
                    n_empty = -1  # marks "N pushed" for the intersecter
            else:
                for q in range(n + 1):
                    _put_tok(otok, olen, q, heads[0])
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
                _put_tok(otok, olen, 1, i)
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
                _put_tok(otok, olen, 0, DONE)
                _put_tok(otok, olen, 1, DONE)
            elif _is_stop(o):
                if not had:  # an empty outer fiber is one bare S(m+1) on the inner stream
                    pk = 3
                    if i != o - 1:
                        return s, BAD_STREAM
                    ptr[1] += 1
                    pp = 2
                ptr[0] += 1
                pp |= 1
                _put_tok(otok, olen, 0, o)
                _put_tok(otok, olen, 1, o - 1)
                ps = 3
                had, pending = False, False
            else:
                pk = 3
                had = True
                if i >= 0 or i == EMPTY:
                    if pending:
                        _put_tok(otok, olen, 1, STOP0)
                        ps, pending = 2, False
                    else:
                        ptr[0] += 1
                        ptr[1] += 1
                        pp = 3
                        _put_tok(otok, olen, 0, o)
                        _put_tok(otok, olen, 1, i)
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
            o, popped = _closing(o)
            if popped:
                ptr[0] += 1
                pp = 1
            _put_tok(otok, olen, 0, o)
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
                _put_tok(otok, olen, 0, DONE)
                _put_tok(otok, olen, 1, DONE)
            elif _is_stop(o) or o == EMPTY:
                if not _is_stop(o) or not _is_stop(i):
                    return s, BAD_STREAM
                ptr[0] += 1
                ptr[1] += 1
                pp, ps = 3, 3
                _put_tok(otok, olen, 0, o - 1)
                _put_tok(otok, olen, 1, i)
            elif i >= 0 or i == EMPTY:
                ptr[1] += 1
                pp, ps = 2, 3
                _put_tok(otok, olen, 0, o)
                _put_tok(otok, olen, 1, i)
            else:
                ptr[0] += 1
                ptr[1] += 1
                pp, ps, closing = 3, 2, True
                _put_tok(otok, olen, 1, i)
        peek[s], pop[s], push[s], mem[s] = pk, pp, ps, 0
        s += 1
        if ps & 1 and otok[0, olen[0] - 1] == DONE:
            return s, OK
