"""Blocking reads from one input stream, the way a Kahn process reads: the primitives' only input API.

A primitive pops tokens in order and may look at the next one; reading past ``D`` would block
forever, so it raises ``DeadlockError``; every error names the node and port and quotes the tokens
around the failure.

Example:
    >>> from zeroskip.dataflow.tokens import encode, stop
    >>> r = Reader(encode([4, 7, "S0", "D"], "crd"), "node 3 port crd")
    >>> r.fiber()
    ([4, 7], -3)
    >>> r.next(), r.at_end()
    (-1, True)
"""

from __future__ import annotations

from zeroskip.errors import DeadlockError, StreamError
from zeroskip.dataflow.tokens import DONE, EMPTY, Stream, StreamKind, _render, is_stop


class Reader:
    """Sequential reader of a stream named ``where`` (``"node 8 crddrop i,j, input crd_inner"``)."""

    def __init__(self, stream: Stream, where: str) -> None:
        self.stream = stream
        self.where = where
        self.tokens: list[int] = stream.tokens.tolist()
        self.values: list[float] | None = stream.values.tolist() if stream.kind is StreamKind.VAL else None
        self.pos = 0

    def peek(self) -> int:
        if self.pos >= len(self.tokens):
            raise DeadlockError(f"{self.where}: the block waits for a token after the stream's D; "
                                f"it would block forever")
        return self.tokens[self.pos]

    def next(self) -> int:
        token = self.peek()
        self.pos += 1
        return token

    def next_value(self) -> tuple[int, float]:
        """The next token of a val stream and its value (0.0 for control tokens)."""
        token = self.next()
        return token, self.values[self.pos - 1]

    def fiber(self) -> tuple[list[int], int]:
        """The data (and ``N``) tokens up to the next stop token or ``D``, and that closing token."""
        data = []
        while True:
            token = self.next()
            if is_stop(token) or token == DONE:
                return data, token
            data.append(token)

    def fiber_values(self) -> tuple[list[tuple[int, float]], int]:
        """Like ``fiber`` for a val stream: ``(token, value)`` pairs and the closing token."""
        data = []
        while True:
            token, value = self.next_value()
            if is_stop(token) or token == DONE:
                return data, token
            data.append((token, value))

    def at_end(self) -> bool:
        return self.pos == len(self.tokens)

    def fail(self, why: str, at: int | None = None) -> StreamError:
        """A ``StreamError`` naming this input, the token index (default: the last one read) and its neighbours."""
        index = max(0, (self.pos - 1) if at is None else at)
        start = max(0, index - 4)
        shown = _render(self.stream, start, index + 5, mark=index)
        return StreamError(f"{self.where}: {why} at token {index}: [{'... ' if start else ''}{shown}]")

    def finish(self) -> None:
        """Check the block consumed the whole stream (tokens after its D mean the inputs were misaligned)."""
        if not self.at_end():
            raise self.fail(f"{len(self.tokens) - self.pos} tokens are left after the block finished", self.pos)


def is_content(token: int) -> bool:
    """A data token or ``N`` (what makes a fiber non-empty for a coordinate dropper)."""
    return token >= 0 or token == EMPTY
