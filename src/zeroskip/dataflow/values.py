"""The definition of every value-side SAM primitive and of the level writers, one plain function each.

Value streams carry ``N`` as *no value*: a reducer emits ``N`` for an empty fiber (SAM's emits
``0``), ``N`` is the identity of addition and absorbs multiplication, and the value writer skips
it. That is what keeps the value array aligned with coordinates a coordinate dropper removed:
SAM's reducer writes a ``0`` for every dropped coordinate (its own gold checks accept extra
zeros only when the whole result is empty), so its arrays misalign whenever a fiber empties.

Example:
    >>> from zeroskip.dataflow.tokens import encode, decode, Stream, StreamKind
    >>> toks, vals = reduce(Reader(encode([1.0, 2.0, "S0", "S1", "D"], "val"), "in"))
    >>> decode(Stream(StreamKind.VAL, toks, vals))
    [3.0, 'N', 'S0', 'D']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zeroskip.errors import StreamError
from zeroskip.dataflow.graph import AluOp
from zeroskip.dataflow.primitives import compressed_level, scan
from zeroskip.dataflow.reader import Reader
from zeroskip.dataflow.tokens import (
    DONE, EMPTY, VALUE, Stream, StreamKind, encode, is_stop, stop, stop_level, token_str,
)

ValueTokens = tuple[list[int], list[float]]


def array_vals(refs: Reader, vals: Sequence[float], name: str = "values") -> ValueTokens:
    """Value array read: each reference becomes ``vals[ref]``; ``N`` loads ``0`` (SAM's ``Array.load``)."""
    tokens: list[int] = []
    values: list[float] = []
    while True:
        ref = refs.next()
        if ref >= 0:
            if ref >= len(vals):
                raise refs.fail(f"reference {ref} is out of range for {name}, which holds {len(vals)} values")
            tokens.append(VALUE)
            values.append(float(vals[ref]))
        elif ref == EMPTY:
            tokens.append(VALUE)
            values.append(0.0)
        else:
            tokens.append(ref)
            values.append(0.0)
        if ref == DONE:
            return tokens, values


def _combine(op: AluOp, a: tuple[int, float], b: tuple[int, float]) -> tuple[int, float]:
    (ta, va), (tb, vb) = a, b
    if ta == VALUE and tb == VALUE:
        return VALUE, {AluOp.ADD: va + vb, AluOp.SUB: va - vb, AluOp.MUL: va * vb}[op]
    if ta == EMPTY and tb == EMPTY or op is AluOp.MUL:
        return EMPTY, 0.0  # no value times anything is no value
    if ta == EMPTY:
        return VALUE, -vb if op is AluOp.SUB else vb
    return VALUE, va


def alu(a: Reader, b: Reader, op: AluOp) -> ValueTokens:
    """ALU: ``in0 op in1`` token by token; stop tokens and ``D`` must match.

    ``N`` is no value (see the module docstring). An ``N`` facing a stop token is the value a
    reducer gives an empty outer fiber, which the other operand represents by the stop alone;
    it passes through and the stop waits (SAM's ``Add2`` patch for ``b(i) + C(i,j)*d(j)``).
    """
    tokens: list[int] = []
    values: list[float] = []
    while True:
        ta, tb = a.peek(), b.peek()
        content_a, content_b = ta in (VALUE, EMPTY), tb in (VALUE, EMPTY)
        if content_a and content_b:
            token, value = _combine(op, a.next_value(), b.next_value())
        elif ta == EMPTY and is_stop(tb) or tb == EMPTY and is_stop(ta):
            (a if ta == EMPTY else b).next()
            token, value = EMPTY, 0.0
        elif ta == tb and (is_stop(ta) or ta == DONE):
            a.next()
            b.next()
            token, value = ta, 0.0
        else:
            a.next()
            raise a.fail(f"operands do not align: this input has {_name(ta)} where {b.where} has "
                         f"{_name(tb)} (token {b.pos})")
        tokens.append(token)
        values.append(value)
        if token == DONE:
            return tokens, values


def _name(token: int) -> str:
    return token_str(token, StreamKind.VAL)


def reduce(vals: Reader) -> ValueTokens:
    """Reducer: the sum of each innermost fiber, ``N`` when the fiber holds no value; ``Sk`` becomes ``Sk-1``."""
    tokens: list[int] = []
    values: list[float] = []
    total, seen = 0.0, False
    while True:
        token, value = vals.next_value()
        if token == VALUE:
            total, seen = total + value, True
        elif token == EMPTY:
            continue
        elif token == DONE:
            if seen:
                raise vals.fail("values directly before D, without a closing stop token")
            tokens.append(DONE)
            values.append(0.0)
            return tokens, values
        else:
            tokens.append(VALUE if seen else EMPTY)
            values.append(total if seen else 0.0)
            if stop_level(token) > 0:
                tokens.append(stop(stop_level(token) - 1))
                values.append(0.0)
            total, seen = 0.0, False


def _points(reader: Reader, what: str) -> list[int]:
    data = [t for t in reader.tokens if t >= 0 or t == EMPTY]
    if EMPTY in data:
        raise reader.fail(f"{what} coordinates of a sparse accumulator cannot be N", reader.tokens.index(EMPTY))
    reader.pos = len(reader.tokens)
    return data


def spacc(order: int, crds: list[Reader], reduced: list[Reader], vals: Reader) -> tuple[list[list[int]], ValueTokens]:
    """Sparse accumulator over points: the ``k``-th token of each input is one point (coordinates, value).

    ``crds[0]`` is SAM's ``in0`` (innermost output index). Stop tokens are dropped (SAM runs its
    accumulator behind ``StknDrop`` blocks); values at equal coordinates are summed; ``N`` values
    are skipped. The first ``order`` indices are accumulated; any further (outer) indices must come
    in runs of increasing value, one run per output fiber (order 1: Gustavson's row at a time).
    Returns each index's coordinate stream (in the order of ``crds``) and the value stream, as a
    scanner of the accumulated tensor would emit them. The ``reduced`` inputs are read and unused.
    """
    columns = [_points(r, "the") for r in crds]
    for r in reduced:
        _points(r, "reduced")
    point_vals = [(t, v) for t, v in zip(vals.tokens, vals.values) if t in (VALUE, EMPTY)]
    vals.pos = len(vals.tokens)
    for reader, column in zip(crds, columns):
        if len(column) != len(point_vals):
            raise StreamError(f"{reader.where}: {len(column)} coordinates but {vals.where} has "
                              f"{len(point_vals)} values; a sparse accumulator pairs them one to one")
    sums: dict[tuple[int, ...], float] = {}
    previous_group = None
    for k, (token, value) in enumerate(point_vals):
        key = tuple(column[k] for column in reversed(columns))  # outermost index first
        group = key[: len(key) - order]
        if group != previous_group:
            if previous_group is not None and group < previous_group:
                raise crds[-1].fail(f"outer coordinates {group} arrive after {previous_group}; a sparse accumulator "
                                    f"of order {order} needs them in increasing runs")
            previous_group = group
        if token == VALUE:
            sums[key] = sums.get(key, 0.0) + value
    return _scan_points(sorted(sums), sums, len(columns))


def _scan_points(keys: list[tuple[int, ...]], sums: dict, depth: int) -> tuple[list[list[int]], ValueTokens]:
    """The streams a chain of scanners emits over the tensor holding ``sums`` (keys sorted, outermost first)."""
    levels, parents = [], [()]
    for d in range(depth):
        prefixes = sorted({key[: d + 1] for key in keys})
        pos, count = [0], 0
        by_parent: dict[tuple, int] = {}
        for prefix in prefixes:
            by_parent[prefix[:-1]] = by_parent.get(prefix[:-1], 0) + 1
        for parent in parents:
            count += by_parent.get(parent, 0)
            pos.append(count)
        levels.append(compressed_level(pos, [p[-1] for p in prefixes], f"accumulated level {d}"))
        parents = prefixes
    refs = encode([0, "D"], "ref")
    streams = []
    for fiber in levels:
        crd, out_refs = scan(Reader(refs, "accumulator"), fiber)
        streams.append(crd)
        refs = Stream(StreamKind.REF, out_refs)
    values = [sums[key] for key in keys]
    tokens, vals = array_vals(Reader(refs, "accumulator"), values)
    return streams[::-1], (tokens, vals)  # innermost first, like ``crds``


@dataclass(frozen=True, slots=True)
class WrittenLevel:
    """What a coordinate level writer stored: coordinates, and the running count at each non-empty fiber's end."""

    crd: list[int]
    fiber_ends: list[int]


def level_write(crds: Reader) -> WrittenLevel:
    """Level writer (SAM ``CompressWrScan``): appends coordinates; a stop closing a non-empty fiber
    records a segment end, empty fibers record nothing."""
    crd: list[int] = []
    ends: list[int] = []
    open_fiber = False
    while True:
        token = crds.next()
        if token >= 0:
            crd.append(token)
            open_fiber = True
        elif token == EMPTY:
            raise crds.fail("a level writer cannot store N")
        elif token == DONE:
            if open_fiber:
                raise crds.fail("coordinates directly before D, without a closing stop token")
            return WrittenLevel(crd, ends)
        elif open_fiber:
            ends.append(len(crd))
            open_fiber = False


def vals_write(vals: Reader) -> tuple[list[float], int]:
    """Value writer (SAM ``ValsWrScan``): stores each value in order, skipping ``N``; returns them and the ``N`` count."""
    out, skipped = [], 0
    while True:
        token, value = vals.next_value()
        if token == VALUE:
            out.append(value)
        elif token == EMPTY:
            skipped += 1
        elif token == DONE:
            return out, skipped
