"""Formats: a tuple of levels plus a mode order, and the named formats built from them.

A format string has one letter per stored level, outermost first:

- ``d`` dense, ``s`` (or ``c``) compressed, ``n`` compressed non-unique (the top of COO),
  ``q`` singleton (below a non-unique level);
- an optional mode order in brackets, ``"ds[1,0]"``: storage level ``l`` holds mode ``mode_order[l]``.

Named formats: ``dense``, ``csr``, ``csc``, ``coo``, ``dcsr``, ``dcsc``, ``csf`` (order follows
``mode_order``) and ``sparse`` (a compressed vector).

Example:
    >>> as_format("csc")
    Format('ds[1,0]')
    >>> as_format("csf", ndim=3, mode_order=(2, 0, 1)).levels[0].has_pos
    True
    >>> as_format("ds[1,0]").name
    'csc'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from zeroskip.errors import FormatError
from zeroskip.formats.level import LEVEL_CHARS, SINGLETON, SINGLETON_NONUNIQUE, Level

_SPEC = re.compile(r"^\s*([a-zA-Z]*)\s*(?:\[\s*([0-9,\s]*)\])?\s*$")


@dataclass(frozen=True, slots=True)
class Format:
    """Levels outermost first, and the tensor mode each level stores."""

    levels: tuple[Level, ...]
    mode_order: tuple[int, ...]

    def __post_init__(self) -> None:
        _check(self.levels, self.mode_order)

    @property
    def ndim(self) -> int:
        return len(self.levels)

    @property
    def spec(self) -> str:
        """The format string that parses back to this format."""
        letters = "".join(level.char for level in self.levels)
        if self.mode_order == tuple(range(self.ndim)):
            return letters
        return f"{letters}[{','.join(map(str, self.mode_order))}]"

    @property
    def name(self) -> str:
        """The conventional name (``csr``, ``coo``, ``csf[2,0,1]``, ...) or else the format string."""
        letters = _letters(self.levels)
        identity = self.mode_order == tuple(range(self.ndim))
        matrix_names = {("ds", (0, 1)): "csr", ("ds", (1, 0)): "csc", ("ss", (0, 1)): "dcsr", ("ss", (1, 0)): "dcsc"}
        if (letters, self.mode_order) in matrix_names:
            return matrix_names[(letters, self.mode_order)]
        if identity and self.is_dense:
            return "dense"
        if identity and self.ndim >= 2 and letters == "n" + "q" * (self.ndim - 1):
            return "coo"
        if letters == "s":
            return "sparse"
        if self.ndim >= 3 and letters == "s" * self.ndim:
            return "csf" if identity else f"csf[{','.join(map(str, self.mode_order))}]"
        return self.spec

    @property
    def is_dense(self) -> bool:
        return all(level.full for level in self.levels)

    @property
    def is_plain_dense(self) -> bool:
        """Dense in the tensor's own mode order: its storage is the tensor as a C-contiguous array.

        >>> as_format("dense", ndim=2).is_plain_dense, as_format("dd[1,0]").is_plain_dense
        (True, False)
        """
        return self.is_dense and self.mode_order == tuple(range(self.ndim))

    def storage_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The dimension sizes in storage (level) order."""
        return tuple(shape[m] for m in self.mode_order)

    def __repr__(self) -> str:
        return f"Format({self.spec!r})"

    def __str__(self) -> str:
        return self.name


def _check(levels: tuple[Level, ...], mode_order: tuple[int, ...]) -> None:
    if len(levels) != len(mode_order):
        raise FormatError(f"{len(levels)} levels but a mode order of {len(mode_order)}: {mode_order}")
    if sorted(mode_order) != list(range(len(levels))):
        raise FormatError(f"mode order {mode_order} is not a permutation of 0..{len(levels) - 1}")
    for index, level in enumerate(levels):
        parent = levels[index - 1] if index else None
        if level.branchless and (parent is None or parent.unique):
            raise FormatError(
                f"singleton level {index} must follow a non-unique level (e.g. 'nq' for COO), "
                f"got {_letters(levels)!r}"
            )
        if not level.unique and (index + 1 == len(levels) or not levels[index + 1].branchless):
            raise FormatError(
                f"non-unique level {index} must be followed by a singleton level, got {_letters(levels)!r}"
            )


def _letters(levels: tuple[Level, ...]) -> str:
    return "".join(level.char for level in levels)


def _levels_from_letters(letters: str) -> tuple[Level, ...]:
    levels = []
    for index, letter in enumerate(letters.lower()):
        if letter not in LEVEL_CHARS:
            raise FormatError(
                f"unknown level {letter!r} at position {index} of format {letters!r}; "
                f"expected one of d (dense), s (compressed), n (non-unique compressed), q (singleton)"
            )
        levels.append(LEVEL_CHARS[letter])
    # A singleton's uniqueness is implied by its place: non-unique unless it is the last level.
    for index, level in enumerate(levels):
        if level.branchless:
            last = index + 1 == len(levels) or not levels[index + 1].branchless
            levels[index] = SINGLETON if last else SINGLETON_NONUNIQUE
    return tuple(levels)


def _named(name: str, ndim: int | None, mode_order: tuple[int, ...] | None) -> Format | None:
    fixed = {"csr": ("ds", (0, 1)), "csc": ("ds", (1, 0)), "dcsr": ("ss", (0, 1)), "dcsc": ("ss", (1, 0))}
    if name in fixed:
        letters, order = fixed[name]
        if ndim not in (None, 2):
            raise FormatError(f"format {name!r} is for matrices, not for a tensor of order {ndim}")
        if mode_order is not None and tuple(mode_order) != order:
            raise FormatError(f"format {name!r} has mode order {order}, not {tuple(mode_order)}")
        return Format(_levels_from_letters(letters), order)
    if name == "sparse" and ndim in (None, 1):
        return Format(_levels_from_letters("s"), (0,))
    if name not in ("dense", "coo", "csf", "sparse"):
        return None
    if ndim is None and mode_order is not None:
        ndim = len(mode_order)  # 'csf[2,0,1]' names its order
    if ndim is None:
        raise FormatError(f"format {name!r} needs the tensor order: pass ndim= or a mode order")
    letters = {"dense": "d" * ndim, "csf": "s" * ndim, "sparse": "s" * ndim}.get(name)
    if name == "coo":
        letters = {0: "", 1: "s"}.get(ndim, "n" + "q" * (ndim - 1))
    order = tuple(range(ndim)) if mode_order is None else tuple(mode_order)
    return Format(_levels_from_letters(letters), order)


def as_format(spec: str | Format, ndim: int | None = None, mode_order: tuple[int, ...] | None = None) -> Format:
    """Parse a format name or string (or check a ``Format``) for a tensor of order ``ndim``.

    Example:
        >>> as_format("dss", mode_order=(1, 2, 0)).spec
        'dss[1,2,0]'
        >>> as_format("coo", ndim=3).spec
        'nqq'
    """
    if isinstance(spec, Format):
        fmt = spec
        if mode_order is not None and tuple(mode_order) != fmt.mode_order:
            fmt = Format(fmt.levels, tuple(int(m) for m in mode_order))
    elif isinstance(spec, str):
        fmt = _parse(spec, ndim, mode_order)
    else:
        raise FormatError(f"a format is a string or a Format, got {type(spec).__name__}: {spec!r}")
    if ndim is not None and fmt.ndim != ndim:
        raise FormatError(f"format {fmt.spec!r} has {fmt.ndim} levels but the tensor has order {ndim}")
    return fmt


def _parse(spec: str, ndim: int | None, mode_order: tuple[int, ...] | None) -> Format:
    match = _SPEC.match(spec)
    if match is None:
        raise FormatError(f"cannot parse format {spec!r}; expected e.g. 'csr', 'dss' or 'ds[1,0]'")
    letters, order_text = match.group(1), match.group(2)
    if order_text is not None:
        try:
            bracket = tuple(int(tok) for tok in order_text.split(",") if tok.strip())
        except ValueError as exc:  # pragma: no cover - the regex admits digits only
            raise FormatError(f"bad mode order in format {spec!r}") from exc
        if mode_order is not None and tuple(mode_order) != bracket:
            raise FormatError(f"format {spec!r} gives mode order {bracket} but mode_order={tuple(mode_order)}")
        mode_order = bracket
    named = _named(letters.lower(), ndim, mode_order)
    if named is not None:
        return named
    if not letters and ndim != 0:  # the empty string is the spec of the scalar format
        raise FormatError(f"empty format {spec!r}")
    levels = _levels_from_letters(letters)
    order = tuple(range(len(levels))) if mode_order is None else tuple(int(m) for m in mode_order)
    return Format(levels, order)
