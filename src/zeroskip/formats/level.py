"""Level formats: one dimension of a tensor's storage tree, described by properties and capabilities.

Following TACO's level contract (Chou et al., OOPSLA 2018), a level is known to the rest of
zeroskip only through what it promises (properties) and what it can do (capabilities); code that
consumes levels asks ``level.locate`` or ``level.has_pos``, never which kind it is.

Example:
    >>> from zeroskip.formats.level import COMPRESSED
    >>> COMPRESSED.properties
    LevelProperties(ordered=True, unique=True, full=False, branchless=False, compact=True)
    >>> COMPRESSED.capabilities.append, COMPRESSED.capabilities.locate
    (True, False)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class LevelKind(enum.Enum):
    """How a level stores its coordinates (the only place that knows the three kinds)."""

    DENSE = "dense"
    COMPRESSED = "compressed"
    SINGLETON = "singleton"


@dataclass(frozen=True, slots=True)
class LevelProperties:
    """What a level guarantees about the coordinates it stores (TACO's level properties)."""

    ordered: bool  # coordinates within a fiber are sorted ascending
    unique: bool  # no coordinate appears twice within a fiber
    full: bool  # every coordinate of the dimension is stored
    branchless: bool  # each parent position has exactly one child
    compact: bool  # positions are contiguous, no padding between fibers


@dataclass(frozen=True, slots=True)
class LevelCapabilities:
    """What a level supports (TACO's level functions)."""

    iterate: bool  # walk the stored coordinates of a fiber
    locate: bool  # find the position of a coordinate in O(1) without a search
    append: bool  # build the level by appending coordinates in order (pos/crd assembly)
    insert: bool  # write a coordinate at any position once the level is sized


@dataclass(frozen=True, slots=True)
class Level:
    """One level of a format: its kind and the two properties a user may choose.

    ``unique=False`` is the top level of COO (one entry per nonzero); singleton levels below a
    non-unique level are non-unique too, except the last.
    """

    kind: LevelKind
    unique: bool = True

    @property
    def properties(self) -> LevelProperties:
        dense = self.kind is LevelKind.DENSE
        return LevelProperties(
            ordered=True,
            unique=self.unique,
            full=dense,
            branchless=self.kind is LevelKind.SINGLETON,
            compact=True,
        )

    @property
    def capabilities(self) -> LevelCapabilities:
        dense = self.kind is LevelKind.DENSE
        return LevelCapabilities(iterate=True, locate=dense, append=not dense, insert=dense)

    # Shortcuts for the questions consumers ask most.
    @property
    def full(self) -> bool:
        return self.kind is LevelKind.DENSE

    @property
    def locate(self) -> bool:
        return self.kind is LevelKind.DENSE

    @property
    def branchless(self) -> bool:
        return self.kind is LevelKind.SINGLETON

    @property
    def has_pos(self) -> bool:
        """Whether the level stores a ``pos`` array (segment bounds per parent position)."""
        return self.kind is LevelKind.COMPRESSED

    @property
    def has_crd(self) -> bool:
        """Whether the level stores a ``crd`` array (one coordinate per position)."""
        return self.kind is not LevelKind.DENSE

    @property
    def char(self) -> str:
        """The one-letter code of this level in a format string (see ``zeroskip.formats.format``)."""
        if self.kind is LevelKind.DENSE:
            return "d"
        if self.kind is LevelKind.SINGLETON:
            return "q"
        return "s" if self.unique else "n"

    def __repr__(self) -> str:
        return f"Level({self.kind.value}{'' if self.unique else ', unique=False'})"


DENSE = Level(LevelKind.DENSE)
COMPRESSED = Level(LevelKind.COMPRESSED)
COMPRESSED_NONUNIQUE = Level(LevelKind.COMPRESSED, unique=False)
SINGLETON = Level(LevelKind.SINGLETON)
SINGLETON_NONUNIQUE = Level(LevelKind.SINGLETON, unique=False)

LEVEL_CHARS = {
    "d": DENSE,
    "s": COMPRESSED,
    "c": COMPRESSED,
    "n": COMPRESSED_NONUNIQUE,
    "q": SINGLETON,
}
