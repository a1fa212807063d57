"""Errors raised by zeroskip.

Every error a user can cause is a ``ZeroskipError``; each subclass also derives from the builtin
exception it refines, so ``except ValueError`` keeps working for callers that expect it.
Messages name the failed condition and the offending values.
"""

from __future__ import annotations


class ZeroskipError(Exception):
    """Base class of every error zeroskip raises on bad input or unsupported requests."""


class FormatError(ZeroskipError, ValueError):
    """An unknown or inconsistent format specification."""


class ShapeError(ZeroskipError, ValueError):
    """A negative, overflowing or mismatched shape."""


class DTypeError(ZeroskipError, TypeError):
    """A value or index dtype zeroskip does not store."""


class StructureError(ZeroskipError, ValueError):
    """Level arrays that do not describe a valid tensor (pos, crd, vals inconsistent)."""


class CoordinateError(StructureError):
    """A coordinate outside its dimension."""


class DuplicateError(StructureError):
    """The same coordinate given more than once."""


class OrderError(StructureError):
    """Coordinates of a fiber that are not sorted."""


class DenseLimitError(ZeroskipError, MemoryError):
    """Materializing a dense array would exceed the configured memory limit."""


class FileFormatError(ZeroskipError, ValueError):
    """A file that cannot be read: malformed, truncated or of the wrong kind."""


class MissingDependencyError(ZeroskipError, ImportError):
    """An optional dependency (an extra) is needed and not installed."""
