"""The step machines' shared vocabulary: token codes, status codes, event slots, kernel ids, jit helpers.

Example:
    >>> from zeroskip.hardware.stepkit import EVENT_NAMES, stop_code
    >>> EVENT_NAMES[0], stop_code(1)
    ('mem_read', -4)
"""

from __future__ import annotations

from zeroskip.jit import cached_njit

DONE, EMPTY, STOP0, VALUE = -1, -2, -3, 0
GONE = -1000  # a read past a stream's end: the block would wait forever

OK, OVERFLOW, BAD_STREAM, BAD_REF = 0, 1, 2, 3
EV_MEM_READ, EV_MEM_WRITE, EV_ADD, EV_MUL, EV_SUB, EV_CMP = range(6)
EVENT_NAMES = ("mem_read", "mem_write", "alu_add", "alu_mul", "alu_sub", "compare")

# Kernel ids, one per step machine.
SCAN, REPSIGGEN, REPEAT, INTERSECT, UNION, CRDDROP, CRDHOLD, ARRAY_VALS, ALU, REDUCE, SPACC, WRITE = range(12)
ALU_ADD, ALU_SUB, ALU_MUL = 0, 1, 2

_jit = cached_njit(nogil=True)


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
def _closing(head):
    """The stop that ends a fiber when the next reference is ``head``: ``S0``, or ``Sk+1`` absorbing a
    following ``Sk`` (then the head is popped). Returns (token, popped)."""
    if _is_stop(head):
        return head - 1, True
    return STOP0, False


@_jit
def _put_tok(otok, olen, q, token):
    """Push a token on an output that carries no values (crd, ref, repsig): no value slot is written."""
    otok[q, olen[q]] = token
    olen[q] += 1


@_jit
def _put(otok, oval, olen, q, token, value):
    otok[q, olen[q]] = token
    oval[q, olen[q]] = value
    olen[q] += 1


@_jit
def _is_stop(t):
    return t <= STOP0 and t != GONE


def stop_code(level: int) -> int:
    """The token code of ``S<level>`` (as ``dataflow.tokens.stop``)."""
    return STOP0 - level

