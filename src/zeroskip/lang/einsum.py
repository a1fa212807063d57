"""Einsum strings, ``"ik,kj->ij"``, as the same ``Assignment`` the index-notation parser builds.

The operands become tensors named ``A``, ``B``, ``C``, ... (or the names given) and the output
``Out``; the right side is their product, left to right. Without ``->`` the output follows
numpy's implicit rule: the indices that appear exactly once, in sorted order. Whitespace is
ignored. Ellipses (``...``) and an index repeated within one operand (a diagonal, ``ii->i``)
are not supported and raise ``ParseError`` at their column.

Example:
    >>> str(parse_einsum("ik,kj->ij"))
    'Out(i,j) = A(i,k) * B(k,j)'
    >>> str(parse_einsum("ij,jk", names=("X", "Y"), output="Z"))
    'Z(i,k) = X(i,j) * Y(j,k)'
    >>> str(parse_einsum("ijk,ijk->"))
    'Out = A(i,j,k) * B(i,j,k)'
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Sequence

from zeroskip.errors import ParseError
from zeroskip.lang.ast import Access, Assignment, Expr, Mul


def default_names(count: int) -> tuple[str, ...]:
    """``A``, ``B``, ... ``Z``, then ``T26``, ``T27``, ...: the operand names when none are given."""
    return tuple(string.ascii_uppercase[k] if k < 26 else f"T{k}" for k in range(count))


def parse_einsum(spec: str, names: Sequence[str] | None = None, output: str = "Out") -> Assignment:
    """Parse an einsum specification into an ``Assignment`` (a product of its operands).

    >>> parse_einsum("ij,j->i").reduction_indices
    ('j',)
    >>> parse_einsum("ii->i")
    Traceback (most recent call last):
    ...
    zeroskip.errors.ParseError: index i appears twice in operand 1 'ii' (diagonals are not supported) at column 2
      ii->i
       ^
    """
    if not isinstance(spec, str):
        raise ParseError(f"expected an einsum string, got {type(spec).__name__}", repr(spec), 1)
    operands, out = _scan(spec)
    inputs = [[letter for letter, _ in operand] for operand in operands]
    for number, operand in enumerate(operands, start=1):
        seen: set[str] = set()
        for letter, at in operand:
            if letter in seen:
                word = "".join(inputs[number - 1])
                raise ParseError(f"index {letter} appears twice in operand {number} {word!r} "
                                 "(diagonals are not supported)", spec, at + 1)
            seen.add(letter)
    counts = Counter(letter for operand in inputs for letter in operand)
    if out is None:
        out_indices = sorted(letter for letter, count in counts.items() if count == 1)
    else:
        out_indices = []
        for letter, at in out:
            if letter in out_indices:
                raise ParseError(f"index {letter} appears twice in the output", spec, at + 1)
            if letter not in counts:
                raise ParseError(f"output index {letter} appears in no operand", spec, at + 1)
            out_indices.append(letter)
    names = default_names(len(inputs)) if names is None else tuple(names)
    if len(names) != len(inputs):
        raise ParseError(f"{len(names)} names given for {len(inputs)} operands: {names!r}", spec, 1)
    rhs: Expr | None = None
    for name, operand in zip(names, inputs):
        access = Access(name, tuple(operand))
        rhs = access if rhs is None else Mul(rhs, access)
    assert rhs is not None  # _scan always returns at least one operand
    return Assignment(Access(output, tuple(out_indices)), rhs)


Letters = list[tuple[str, int]]  # each index letter with its 0-based offset in the spec


def _scan(spec: str) -> tuple[list[Letters], Letters | None]:
    """The letters of each operand and of the output (None when implicit), with their offsets."""
    operands: list[Letters] = [[]]
    out: Letters | None = None
    at = 0
    while at < len(spec):
        char = spec[at]
        current = operands[-1] if out is None else out
        if char.isspace():
            pass
        elif char in string.ascii_letters:
            current.append((char, at))
        elif char == ",":
            if out is not None:
                raise ParseError("the output of an einsum is one operand; unexpected ','", spec, at + 1)
            operands.append([])
        elif char == "-":
            if not spec.startswith("->", at):
                raise ParseError("expected '->' after the operands, got a lone '-'", spec, at + 1)
            if out is not None:
                raise ParseError("a second '->' in one einsum", spec, at + 1)
            out = []
            at += 1
        elif char == ".":
            raise ParseError("ellipsis '...' (broadcast dimensions) is not supported", spec, at + 1)
        elif char == ">":
            raise ParseError("expected '->', got a lone '>'", spec, at + 1)
        else:
            raise ParseError(f"unexpected character {char!r}; einsum indices are letters a-z, A-Z", spec, at + 1)
        at += 1
    return operands, out
