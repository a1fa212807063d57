"""Parse tensor index notation, ``y(i) = A(i,j) * x(j)``, into an ``Assignment``.

The grammar (a tokenizer and a recursive-descent parser; whitespace may appear anywhere)::

    statement := access '=' expr
    expr      := term (('+' | '-') term)*          left-associative
    term      := unary ('*' unary)*                left-associative
    unary     := '-' unary | primary
    primary   := NUMBER | access | '(' expr ')'
    access    := NAME [ '(' [ NAME (',' NAME)* ] ')' ]

``NAME`` is ``[A-Za-z_][A-Za-z0-9_]*``; a bare name (or ``name()``) is a scalar. ``NUMBER`` is an
int or a float with an optional exponent (``2``, ``2.5``, ``.5``, ``1e-3``). Indices absent from
the left side are summed over each additive term that uses them (``Assignment.terms``).

Every error is a ``ParseError`` that quotes the text and points at the column:

    >>> parse("X(i,j) = B(i,k) * C(k,j)").reduction_indices
    ('k',)
    >>> parse("y(i) = A(i j)")
    Traceback (most recent call last):
    ...
    zeroskip.errors.ParseError: expected ',' or ')', got 'j' at column 12
      y(i) = A(i j)
                 ^
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from zeroskip.errors import ParseError
from zeroskip.lang.ast import Access, Add, Assignment, Expr, Literal, Mul, Neg, Sub, check_assignment

MAX_DEPTH = 200  # deeper trees would exhaust Python's recursion limit in later passes

_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>[-+*(),=])"
)
_NUMBER_TAIL = re.compile(r"[A-Za-z0-9_.]+")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "number", "name", "op" or "end"
    text: str
    offset: int  # 0-based position in the source text


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``end`` token; a stray character is a ParseError.

    >>> [t.text for t in tokenize("y(i)=2.5e1*x(i)")]
    ['y', '(', 'i', ')', '=', '2.5e1', '*', 'x', '(', 'i', ')', '']
    """
    if not isinstance(text, str):
        raise ParseError(f"expected index notation as a str, got {type(text).__name__}", repr(text), 1)
    tokens, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise ParseError(f"unexpected character {text[at]!r}", text, at + 1)
        kind = match.lastgroup
        if kind == "number" and (tail := _NUMBER_TAIL.match(text, match.end())):
            # "1e", "2.5.1" and "2x" would otherwise split into two silently juxtaposed tokens.
            raise ParseError(f"malformed number {text[at:tail.end()]!r}", text, at + 1)
        if kind != "space":
            tokens.append(Token(kind, match.group(), at))
        at = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def parse(text: str) -> Assignment:
    """Parse one statement of index notation into an ``Assignment``.

    >>> parse("y(i) = -z(i) * 2").rhs
    Mul(left=Neg(operand=Access(tensor='z', indices=('i',))), right=Literal(value=2))
    >>> str(parse("x=B(i,j,k)*C(i,j,k)"))
    'x = B(i,j,k) * C(i,j,k)'
    """
    return _Parser(text).statement()


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.text = text
        self.at = 0
        self.spans: list[tuple[int, tuple[int, ...]]] = []  # per access: name offset, index offsets
        self.nesting = 0

    # ---- token helpers ----
    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def fail(self, reason: str, token: Token | None = None) -> ParseError:
        token = token or self.token
        return ParseError(reason, self.text, token.offset + 1)

    def expected(self, what: str) -> ParseError:
        got = "end of text" if self.token.kind == "end" else repr(self.token.text)
        return self.fail(f"expected {what}, got {got}")

    def take(self, kind: str, text: str | None = None) -> Token | None:
        token = self.token
        if token.kind == kind and (text is None or token.text == text):
            self.at += 1
            return token
        return None

    # ---- grammar ----
    def statement(self) -> Assignment:
        if self.token.kind == "end":
            raise self.fail("empty expression: expected an assignment such as 'y(i) = A(i,j) * x(j)'")
        if self.token.kind != "name":
            raise self.expected("the output tensor's name")
        lhs = self.access()
        if not self.take("op", "="):
            raise self.expected(f"'=' after the output {lhs}")
        if self.token.kind == "end":
            raise self.fail("empty expression: expected an expression after '='")
        rhs, _ = self.expr()
        if self.token.kind != "end":
            raise self.expected("an operator ('+', '-', '*') or the end of the statement")
        problem = check_assignment(lhs, rhs)
        if problem is not None:
            reason, occurrence, position = problem
            start, index_starts = self.spans[occurrence]
            raise ParseError(reason, self.text, (start if position is None else index_starts[position]) + 1)
        return Assignment(lhs, rhs)

    def expr(self) -> tuple[Expr, int]:
        left, depth = self.term()
        while self.token.kind == "op" and self.token.text in "+-":
            op = self.token
            self.at += 1
            right, right_depth = self.term()
            left, depth = (Add if op.text == "+" else Sub)(left, right), 1 + max(depth, right_depth)
            self.check_depth(depth, op)
        return left, depth

    def term(self) -> tuple[Expr, int]:
        left, depth = self.unary()
        while self.token.kind == "op" and self.token.text == "*":
            op = self.token
            self.at += 1
            right, right_depth = self.unary()
            left, depth = Mul(left, right), 1 + max(depth, right_depth)
            self.check_depth(depth, op)
        return left, depth

    def unary(self) -> tuple[Expr, int]:
        minus = self.take("op", "-")
        if minus is None:
            return self.primary()
        self.enter(minus)
        operand, depth = self.unary()
        self.nesting -= 1
        self.check_depth(depth + 1, minus)
        return Neg(operand), depth + 1

    def primary(self) -> tuple[Expr, int]:
        token = self.token
        if token.kind == "number":
            self.at += 1
            return self.literal(token), 1
        if token.kind == "name":
            return self.access(), 1
        if self.take("op", "("):
            self.enter(token)
            inner, depth = self.expr()
            self.nesting -= 1
            if not self.take("op", ")"):
                raise self.expected(f"')' to close the '(' at column {token.offset + 1}")
            return inner, depth
        raise self.expected("an operand (a tensor, a number, '-' or '(')")

    def access(self) -> Access:
        name = self.take("name")
        assert name is not None
        indices: list[str] = []
        offsets: list[int] = []
        if self.take("op", "("):
            if not self.take("op", ")"):
                while True:
                    index = self.take("name")
                    if index is None:
                        raise self.expected("an index name" if indices else "an index name or ')'")
                    indices.append(index.text)
                    offsets.append(index.offset)
                    if self.take("op", ")"):
                        break
                    if not self.take("op", ","):
                        raise self.expected("',' or ')'")
        self.spans.append((name.offset, tuple(offsets)))
        return Access(name.text, tuple(indices))

    def literal(self, token: Token) -> Literal:
        try:
            is_int = not any(c in token.text for c in ".eE")
            value: int | float = int(token.text) if is_int else float(token.text)
        except ValueError:  # an int literal past Python's digit limit for str -> int
            raise self.fail(f"number {token.text[:20]}... is too long", token) from None
        if not math.isfinite(value):
            raise self.fail(f"number {token.text} overflows a float", token)
        return Literal(value)

    # ---- limits ----
    def enter(self, token: Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.fail(f"expression nests deeper than {MAX_DEPTH} levels", token)

    def check_depth(self, depth: int, token: Token) -> None:
        if depth > MAX_DEPTH:
            raise self.fail(f"expression nests deeper than {MAX_DEPTH} levels", token)
