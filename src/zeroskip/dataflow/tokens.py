"""Token streams: the one integer encoding every dataflow consumer shares.

A stream is a flat ``int64`` array (numba-friendly: a compiled simulator reads the same arrays).
Data tokens are ``>= 0``; control tokens are negative:

======  =======  ==================================================================
SAM     code     meaning
======  =======  ==================================================================
``D``   ``-1``   done: the last token of every stream, exactly once
``N``   ``-2``   empty: a placeholder for an absent fiber (a union's missing operand)
                 or, in a value stream, the absence of a value (an empty reduction)
``Sk``  ``-3-k`` stop: closes the innermost fiber and ``k`` enclosing ones
======  =======  ==================================================================

Per stream kind: ``crd`` and ``ref`` data tokens are coordinates and references; a ``repsig``
stream uses ``0`` for SAM's ``R`` (repeat) and ``S0`` for its ``S`` (next); a ``val`` stream
marks each value with the data token ``0`` and keeps the numbers in a parallel ``float64`` array.

Example:
    >>> s = encode([0, 2, "S0", 1, "S1", "D"], "crd")
    >>> s.tokens.tolist()
    [0, 2, -3, 1, -4, -1]
    >>> s
    Stream(crd: 0 2 S0 1 S1 D)
    >>> check_stream(encode([0, "S1", "S1", "D"], "crd"))
    Traceback (most recent call last):
    ...
    zeroskip.errors.StreamError: stream: the highest stop token S1 must appear once, right before D, but appears again at token 1: [0 >S1< S1 D]
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from zeroskip.errors import StreamError

DONE = -1
EMPTY = -2
STOP0 = -3
REPEAT = 0  # a repsig stream's R
VALUE = 0  # a val stream's marker of a value token

_CONTEXT = 4  # tokens quoted on each side of a violation


class StreamKind(enum.Enum):
    """What a stream carries (the ``type`` of a SAM DOT edge)."""

    CRD = "crd"
    REF = "ref"
    VAL = "val"
    REPSIG = "repsig"


def stop(level: int) -> int:
    """The code of stop token ``S<level>``.

    >>> stop(0), stop(2)
    (-3, -5)
    """
    return STOP0 - level


def is_stop(token: int) -> bool:
    return token <= STOP0


def stop_level(token: int) -> int:
    """The ``k`` of ``Sk`` (only for stop tokens)."""
    return STOP0 - token


def is_data(token: int) -> bool:
    return token >= 0


def token_str(token: int, kind: StreamKind = StreamKind.CRD, value: float | None = None) -> str:
    """SAM's spelling of one token: ``3``, ``S1``, ``D``, ``N``, ``R`` or a value."""
    if token == DONE:
        return "D"
    if token == EMPTY:
        return "N"
    if is_stop(token):
        return "S" if kind is StreamKind.REPSIG else f"S{stop_level(token)}"
    if kind is StreamKind.REPSIG:
        return "R" if token == REPEAT else f"?{token}"
    if kind is StreamKind.VAL:
        return f"{value:g}" if value is not None else "v"
    return str(token)


@dataclass(frozen=True, slots=True, eq=False)
class Stream:
    """One stream of tokens: ``kind``, ``tokens`` (int64) and, for ``val`` streams, ``values`` (float64).

    Arrays are read-only. Compare streams with ``same_as`` (values compared exactly, NaN equal).
    """

    kind: StreamKind
    tokens: np.ndarray
    values: np.ndarray | None = None

    def __post_init__(self) -> None:
        kind = StreamKind(self.kind)
        tokens = np.ascontiguousarray(self.tokens, dtype=np.int64)
        values = self.values
        if kind is StreamKind.VAL:
            values = np.zeros(len(tokens)) if values is None else np.ascontiguousarray(values, dtype=np.float64)
            if values.shape != tokens.shape:
                raise StreamError(f"a val stream needs one value slot per token: {tokens.shape=} {values.shape=}")
            values.flags.writeable = False
        elif values is not None:
            raise StreamError(f"only val streams carry values, not a {kind.value} stream")
        tokens.flags.writeable = False
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "tokens", tokens)
        object.__setattr__(self, "values", values)

    def __len__(self) -> int:
        return len(self.tokens)

    def to_list(self) -> list:
        """The tokens in SAM's notation (see ``decode``)."""
        return decode(self)

    def same_as(self, other: Stream) -> bool:
        """Same kind, tokens and (for val streams) values at the value tokens."""
        if self.kind is not other.kind or not np.array_equal(self.tokens, other.tokens):
            return False
        if self.kind is not StreamKind.VAL:
            return True
        mask = self.tokens == VALUE
        return bool(np.array_equal(self.values[mask], other.values[mask], equal_nan=True))

    def __repr__(self) -> str:
        shown = _render(self, 0, len(self.tokens), mark=None, limit=40)
        return f"Stream({self.kind.value}: {shown})"


def encode(items: Iterable, kind: StreamKind | str) -> Stream:
    """A stream from SAM's notation: ints (crd/ref data), numbers (values), ``"S0"``, ``"D"``, ``"N"``, ``"R"``.

    In a repsig stream ``"S"`` is accepted for ``"S0"``.

    >>> encode([1.5, "N", "S0", "D"], "val").values.tolist()
    [1.5, 0.0, 0.0, 0.0]
    """
    kind = StreamKind(kind)
    tokens, values = [], []
    for item in items:
        value = 0.0
        if isinstance(item, str):
            if item == "D":
                code = DONE
            elif item == "N":
                code = EMPTY
            elif item == "R" and kind is StreamKind.REPSIG:
                code = REPEAT
            elif item == "S" and kind is StreamKind.REPSIG:
                code = STOP0
            elif len(item) > 1 and item[0] == "S" and item[1:].isdigit():
                code = stop(int(item[1:]))
            else:
                raise StreamError(f"unknown token {item!r} for a {kind.value} stream")
        elif kind is StreamKind.VAL:
            code, value = VALUE, float(item)
        else:
            if isinstance(item, bool) or not isinstance(item, (int, np.integer)) or item < 0:
                raise StreamError(f"a {kind.value} data token must be an integer >= 0, got {item!r}")
            code = int(item)
        tokens.append(code)
        values.append(value)
    return Stream(kind, np.array(tokens, dtype=np.int64), np.array(values) if kind is StreamKind.VAL else None)


def decode(stream: Stream) -> list:
    """SAM's notation of a stream: ints, floats (values) and the strings ``S<k>``, ``D``, ``N``, ``R``, ``S``.

    >>> decode(encode([0, "S0", "D"], "repsig"))
    ['R', 'S', 'D']
    """
    out: list = []
    for index, token in enumerate(stream.tokens.tolist()):
        if token >= 0 and stream.kind is StreamKind.VAL:
            out.append(float(stream.values[index]))
        elif token >= 0 and stream.kind is not StreamKind.REPSIG:
            out.append(token)
        else:
            out.append(token_str(token, stream.kind))
    return out


def check_stream(stream: Stream | np.ndarray, kind: StreamKind | str | None = None, *, where: str = "stream") -> Stream:
    """Check the SAM stream invariants; return the stream, or raise ``StreamError`` naming ``where``.

    1. Every token is valid for the kind: crd/ref data ``>= 0``, ``N``, ``Sk``, ``D``; repsig ``R``,
       ``S``, ``D``; val a value, ``N``, ``Sk``, ``D``.
    2. ``D`` appears exactly once, as the last token.
    3. Stop tokens nest: the highest level present, ``SL``, closes the outermost fiber, so it
       appears exactly once, right before ``D`` (a stream without stop tokens, such as a root
       reference ``0 D`` or a fully reduced value ``v D``, has order 0). Repsig ``S`` tokens are
       not hierarchical and are exempt.
    4. In a crd stream the coordinates of each fiber never decrease (a coordinate holder repeats them).

    >>> check_stream(np.array([0, 1, -3, -1]), "crd").to_list()
    [0, 1, 'S0', 'D']
    """
    if not isinstance(stream, Stream):
        if kind is None:
            raise StreamError(f"{where}: check_stream of a bare array needs its kind")
        stream = Stream(StreamKind(kind), np.asarray(stream))
    elif kind is not None and StreamKind(kind) is not stream.kind:
        raise StreamError(f"{where}: expected a {StreamKind(kind).value} stream, got a {stream.kind.value} stream")
    tokens = stream.tokens
    if tokens.ndim != 1 or len(tokens) == 0:
        raise StreamError(f"{where}: a stream is a non-empty 1-d token array ending in D, got shape {tokens.shape}")
    _check_codes(stream, where)
    done = np.flatnonzero(tokens == DONE)
    if len(done) != 1 or done[0] != len(tokens) - 1:
        index = int(done[0]) if len(done) and done[0] != len(tokens) - 1 else len(tokens) - 1
        why = "D must be the last token, exactly once" if len(done) else "the stream does not end with D"
        _fail(stream, where, why, index)
    if stream.kind is not StreamKind.REPSIG:
        _check_nesting(stream, where)
    if stream.kind is StreamKind.CRD:
        _check_fiber_order(stream, where)
    return stream


def _check_codes(stream: Stream, where: str) -> None:
    tokens = stream.tokens
    if stream.kind is StreamKind.REPSIG:
        bad = ~np.isin(tokens, (REPEAT, STOP0, DONE))
        why = "a repsig stream holds only R, S and D"
    elif stream.kind is StreamKind.VAL:
        bad = (tokens > VALUE) | ((tokens < 0) & (tokens > STOP0) & (tokens != DONE) & (tokens != EMPTY))
        why = "a val stream holds values, N, stop tokens and D"
    else:
        bad = np.zeros(len(tokens), dtype=bool)  # every code is a data or control token
        why = ""
    if bad.any():
        _fail(stream, where, why, int(np.flatnonzero(bad)[0]))


def _check_nesting(stream: Stream, where: str) -> None:
    tokens = stream.tokens
    stops = np.flatnonzero(tokens <= STOP0)
    if len(stops) == 0:
        return
    top = int(tokens[stops].min())  # the most negative code is the highest level
    at = np.flatnonzero(tokens == top)
    last = len(tokens) - 2
    if at[-1] != last:
        _fail(stream, where, f"the highest stop token S{stop_level(top)} must close the stream right before D",
              int(at[-1]))
    if len(at) > 1:
        _fail(stream, where, f"the highest stop token S{stop_level(top)} must appear once, right before D, "
                             f"but appears again", int(at[0]))


def _check_fiber_order(stream: Stream, where: str) -> None:
    tokens = stream.tokens
    data = np.flatnonzero(tokens >= 0)
    if len(data) < 2:
        return
    stops_so_far = np.cumsum(tokens <= STOP0)
    same_fiber = stops_so_far[data[1:]] == stops_so_far[data[:-1]]
    bad = np.flatnonzero(same_fiber & (tokens[data[1:]] < tokens[data[:-1]]))
    if len(bad):
        index, before = int(data[bad[0] + 1]), int(data[bad[0]])
        _fail(stream, where, f"coordinates of a fiber must not decrease ({tokens[index]} after {tokens[before]})", index)


def _render(stream: Stream, start: int, stop_: int, mark: int | None, limit: int = 2 * _CONTEXT + 1) -> str:
    stop_ = min(stop_, len(stream.tokens), start + limit)
    parts = []
    for index in range(start, stop_):
        value = float(stream.values[index]) if stream.values is not None else None
        text = token_str(int(stream.tokens[index]), stream.kind, value)
        parts.append(f">{text}<" if index == mark else text)
    more = " ..." if stop_ < len(stream.tokens) else ""
    return " ".join(parts) + more


def _fail(stream: Stream, where: str, why: str, index: int) -> None:
    start = max(0, index - _CONTEXT)
    shown = _render(stream, start, index + _CONTEXT + 1, mark=index)
    head = "... " if start else ""
    raise StreamError(f"{where}: {why} at token {index}: [{head}{shown}]")
