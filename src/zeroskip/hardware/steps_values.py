"""Step machines of the value-side primitives and writers: value array, ALU, reducer, writer, sparse
accumulator (see ``steps`` for the contract)."""

from __future__ import annotations

import numpy as np

from zeroskip.hardware.stepkit import (  # noqa: F401 - the kernels' vocabulary
    ALU_ADD, ALU_MUL, ALU_SUB, BAD_REF, BAD_STREAM, DONE, EMPTY, EV_ADD, EV_CMP, EV_MEM_READ, EV_MEM_WRITE, EV_MUL, EV_SUB,
    GONE, OK, OVERFLOW, STOP0, VALUE, _head, _is_stop, _jit, _put, _room,
)


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
    ``ipar[2 + 2*n_out + j]``, absent when ``ipar[1]`` is 1 (a single group)."""
    n_in, n_out = istart.shape[0], otok.shape[0]
    ptr = np.zeros(n_in, np.int64)
    optr = np.zeros(n_out, np.int64)
    phase_at = 2 + 2 * n_out
    single = ipar[1] == 1  # one group: no phases, everything is pushed at the end
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
                if j < ipar[2 + n_out + q] and (single or ipar[phase_at + j] < emit_to):
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
