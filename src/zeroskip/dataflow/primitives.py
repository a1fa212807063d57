"""The definition of every coordinate-side SAM primitive, one plain function each.

Each function reads whole input streams (``Reader``) and returns whole output token lists. The
semantics follow SAM's Python simulator (weiya711/sam, ``sam/sim/src``), restated per stream
rather than per cycle; where SAM's code has no defined behaviour (an ``N`` meeting an empty
fiber, unions of ``N``) the choice made here is stated in the docstring.

Shared rule of every producer of a fiber: a fiber ends with ``S0``, unless the next input token
is a stop ``Sk`` closing the enclosing fiber too; then that token is consumed and ``Sk+1`` is
emitted (SAM's ``increment_stkn``). A bare input ``Sk`` (an empty enclosing fiber) becomes ``Sk+1``.

Example:
    >>> from zeroskip.dataflow.tokens import encode, decode, Stream, StreamKind
    >>> import numpy as np
    >>> refs = Reader(encode([0, 1, "S0", "D"], "ref"), "refs")
    >>> crd, ref = scan(refs, compressed_level([0, 2, 3], [1, 4, 0]))
    >>> decode(Stream(StreamKind.CRD, np.array(crd)))
    [1, 4, 'S0', 0, 'S1', 'D']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from zeroskip.errors import StreamError
from zeroskip.dataflow.reader import Reader, is_content
from zeroskip.dataflow.tokens import (
    DONE, EMPTY, REPEAT, STOP0, Stream, StreamKind, is_stop, stop, stop_level, token_str,
)

Fiber = Callable[[int], tuple[Sequence[int], Sequence[int]]]


def _close(refs: Reader) -> int:
    """The stop token that ends a fiber: ``S0``, or ``Sk+1`` after consuming a following ``Sk``."""
    if is_stop(refs.peek()):
        return stop(stop_level(refs.next()) + 1)
    return stop(0)


def compressed_level(pos: Sequence[int], crd: Sequence[int], name: str = "level") -> Fiber:
    """The fiber at reference ``r`` of a compressed level: ``crd[pos[r]:pos[r+1]]`` at positions ``pos[r]..``."""
    def fiber(ref: int):
        if not 0 <= ref < len(pos) - 1:
            raise StreamError(f"reference {ref} is out of range for {name}, which has {len(pos) - 1} fibers")
        lo, hi = pos[ref], pos[ref + 1]
        return crd[lo:hi], range(lo, hi)
    return fiber


def dense_level(size: int, name: str = "level") -> Fiber:
    """The fiber at reference ``r`` of a dense level of ``size``: coordinates ``0..size-1`` at ``r*size + c``."""
    def fiber(ref: int):
        return range(size), range(ref * size, ref * size + size)
    return fiber


def scan(refs: Reader, fiber: Fiber) -> tuple[list[int], list[int]]:
    """Level scanner (SAM ``fiberlookup``): each reference becomes its fiber's coordinates and positions.

    ``N`` becomes ``N`` on both outputs, then a stop token (SAM's ``is_0tkn`` case).
    """
    crds: list[int] = []
    out: list[int] = []
    while True:
        ref = refs.next()
        if ref == DONE:
            crds.append(DONE)
            out.append(DONE)
            return crds, out
        if is_stop(ref):
            crds.append(stop(stop_level(ref) + 1))
            out.append(crds[-1])
            continue
        if ref == EMPTY:
            crds.append(EMPTY)
            out.append(EMPTY)
        else:
            try:
                coords, positions = fiber(ref)
            except StreamError as exc:
                raise refs.fail(str(exc)) from None
            crds.extend(coords)
            out.extend(positions)
        closing = _close(refs)
        crds.append(closing)
        out.append(closing)


def repsiggen(crds: Reader) -> list[int]:
    """Repeat-signal generator: ``R`` for each coordinate (and ``N``), ``S`` for every stop token, then ``D``."""
    out = []
    while True:
        token = crds.next()
        if token == DONE:
            out.append(DONE)
            return out
        out.append(STOP0 if is_stop(token) else REPEAT)


def repeat(refs: Reader, signal: Reader) -> list[int]:
    """Repeater: each reference is emitted once per ``R`` until ``S``, which ends its fiber.

    A stop token ``Sk`` among the references (an empty enclosing fiber) pairs with one ``S`` and
    becomes ``Sk+1``; ``D`` pairs with ``D``.
    """
    out = []
    while True:
        ref = refs.next()
        if ref == DONE:
            if signal.next() != DONE:
                raise signal.fail("the repeat signal goes on after the references ended with D")
            out.append(DONE)
            return out
        if is_stop(ref):
            if not is_stop(signal.next()):
                raise signal.fail(f"an empty fiber (S{stop_level(ref)}) among the references needs S here")
            out.append(stop(stop_level(ref) + 1))
            continue
        while True:
            token = signal.next()
            if token == REPEAT:
                out.append(ref)
            elif is_stop(token):
                out.append(_close(refs))
                break
            else:
                raise signal.fail("the repeat signal ended (D) while a reference was still being repeated")


def _operand_fiber(crds: Reader, refs: Reader) -> tuple[list[tuple[int, int]], int]:
    """One fiber of a (crd, ref) operand pair, checked to have the same shape on both streams."""
    coords, closing = crds.fiber()
    positions, ref_closing = refs.fiber()
    if closing != ref_closing or len(coords) != len(positions):
        raise refs.fail(f"the ref stream does not align with its crd stream ({len(coords)} coordinates then "
                        f"{token_str(closing)}, but {len(positions)} references then {token_str(ref_closing)})")
    if EMPTY in coords and len(coords) > 1:
        raise crds.fail("N must be alone in its fiber")
    return list(zip(coords, positions)), closing


def _aligned_closing(closings: list[int], readers: list[Reader]) -> int:
    if len(set(closings)) > 1:
        shown = ", ".join(f"{r.where}: {token_str(c)}" for r, c in zip(readers, closings))
        raise readers[0].fail(f"operands close their fibers differently ({shown}); the inputs do not align")
    return closings[0]


def intersect(operands: list[tuple[Reader, Reader]]) -> tuple[list[int], list[list[int]]]:
    """Intersecter: coordinates present in every operand's fiber, with each operand's reference.

    If any operand's fiber is ``N`` (absent), the result is the fiber ``N`` with ``N`` references,
    whatever the others hold (SAM emits ``N`` and drains the rest; it asserts on ``N`` meeting an
    empty fiber, which here is also ``N``).
    """
    crds: list[int] = []
    refs: list[list[int]] = [[] for _ in operands]
    while True:
        fibers = _next_fibers(operands)
        if fibers is None:
            return _finish(crds, refs)
        found, closing = fibers
        if any(EMPTY in f for f in found):
            crds.append(EMPTY)
            for out in refs:
                out.append(EMPTY)
        else:
            for coord in sorted(set.intersection(*(set(f) for f in found))):
                crds.append(coord)
                for out, f in zip(refs, found):
                    out.append(f[coord])
        crds.append(closing)
        for out in refs:
            out.append(closing)


def union(operands: list[tuple[Reader, Reader]]) -> tuple[list[int], list[list[int]]]:
    """Unioner: coordinates present in any operand's fiber; an operand without one gets reference ``N``.

    An operand fiber ``N`` (absent) counts as empty; if every operand is ``N`` the result is ``N``.
    """
    crds: list[int] = []
    refs: list[list[int]] = [[] for _ in operands]
    while True:
        fibers = _next_fibers(operands)
        if fibers is None:
            return _finish(crds, refs)
        found, closing = fibers
        if all(EMPTY in f for f in found):
            crds.append(EMPTY)
            for out in refs:
                out.append(EMPTY)
        else:
            present = [{c: r for c, r in f.items() if c != EMPTY} for f in found]
            for coord in sorted(set().union(*present)):
                crds.append(coord)
                for out, f in zip(refs, present):
                    out.append(f.get(coord, EMPTY))
        crds.append(closing)
        for out in refs:
            out.append(closing)


def _next_fibers(operands: list[tuple[Reader, Reader]]) -> tuple[list[dict[int, int]], int] | None:
    """Each operand's next fiber as {coordinate: reference} and their common closing token; None at D."""
    fibers = [_operand_fiber(c, r) for c, r in operands]
    closing = _aligned_closing([f[1] for f in fibers], [c for c, _ in operands])
    if closing == DONE:
        if any(pairs for pairs, _ in fibers):
            raise operands[0][0].fail("coordinates directly before D, without a closing stop token")
        return None
    return [dict(pairs) for pairs, _ in fibers], closing


def _finish(crds: list[int], refs: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    crds.append(DONE)
    for out in refs:
        out.append(DONE)
    return crds, refs


def crddrop(outer: Reader, inner: Reader) -> tuple[list[int], list[int]]:
    """Coordinate dropper: drops each outer coordinate whose inner fiber holds no coordinate (nor ``N``).

    The inner output loses the dropped fibers too, re-closed so that the last kept fiber of each
    outer fiber carries its closing ``Sm+1``; an outer fiber left empty keeps the single ``Sm+1``
    that stands for an empty outer fiber (the convention of scanners). SAM's simulator passes the
    inner stream through unchanged; its writers skip empty fibers, so the arrays come out the same.
    """
    out_outer: list[int] = []
    out_inner: list[int] = []
    kept: list[list[int]] = []  # inner fibers (data tokens) of the kept coordinates of this outer fiber
    had_coordinate = False
    while True:
        token = outer.next()
        if token == DONE:
            if inner.next() != DONE:
                raise inner.fail("the inner stream goes on after the outer stream ended with D")
            out_outer.append(DONE)
            out_inner.append(DONE)
            return out_outer, out_inner
        if is_stop(token):
            level = stop_level(token)
            if not had_coordinate:  # an empty outer fiber is one bare stop token on the inner stream
                data, closing = inner.fiber()
                if data or closing != stop(level + 1):
                    raise inner.fail(f"an empty outer fiber (S{level}) needs a bare S{level + 1} on the inner stream")
            out_outer.append(token)
            for k, fiber in enumerate(kept):
                out_inner.extend(fiber)
                out_inner.append(stop(0) if k + 1 < len(kept) else stop(level + 1))
            if not kept:
                out_inner.append(stop(level + 1))
            kept, had_coordinate = [], False
            continue
        had_coordinate = True
        data, closing = inner.fiber()
        if closing == DONE:
            raise inner.fail(f"the inner stream ended before the fiber of outer coordinate {token}")
        if any(is_content(t) for t in data):
            out_outer.append(token)
            kept.append(data)


def crdhold(outer: Reader, inner: Reader) -> tuple[list[int], list[int]]:
    """Coordinate holder: the outer coordinate repeated once per inner coordinate; the inner stream unchanged.

    It is a repeat-signal generator on the inner stream driving a repeater of the outer stream
    (SAM's ``CrdHold`` is built from exactly those two blocks).
    """
    signal = repsiggen(inner)  # consumes the whole inner stream
    held = repeat(outer, Reader(_repsig_stream(signal), inner.where + " (as repeat signal)"))
    return held, list(inner.tokens)


def _repsig_stream(tokens: list[int]) -> Stream:
    return Stream(StreamKind.REPSIG, np.array(tokens, dtype=np.int64))
