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


class ParseError(ZeroskipError, ValueError):
    """Text that is not valid index notation or einsum; ``column`` (1-based) is where it went wrong.

    The message repeats the text with a caret under the column:

    >>> print(ParseError("expected ')' or ','", "y(i) = A(i j)", 12))
    expected ')' or ',' at column 12
      y(i) = A(i j)
                 ^
    """

    def __init__(self, reason: str, text: str, column: int) -> None:
        self.reason = reason
        self.text = text
        self.column = column
        # Tabs and newlines become spaces so the caret stays under the column on one line.
        shown, caret = "".join(" " if ch.isspace() else ch for ch in text), column - 1
        if len(shown) > 100:  # a window of long text around the column
            start = max(0, min(caret - 50, len(shown) - 100))
            head, tail = ("..." if start else ""), ("..." if start + 100 < len(shown) else "")
            shown, caret = head + shown[start : start + 100] + tail, caret - start + len(head)
        super().__init__(f"{reason} at column {column}\n  {shown}\n  {' ' * caret}^")

    def __reduce__(self):
        # Rebuilt from its parts, so it survives pickling (multiprocessing, xdist) intact.
        return (type(self), (self.reason, self.text, self.column))


class GraphError(ZeroskipError, ValueError):
    """A dataflow graph that is malformed: a port unconnected or doubly connected, a wrong stream kind,
    a cycle, a scanner that disagrees with its tensor's format, or a DOT file zeroskip cannot read."""


class StreamError(ZeroskipError, ValueError):
    """A token stream that breaks the SAM stream invariants, or two streams a block pairs up that do
    not align; the message names the edge, the token index and the tokens around it."""


class DeadlockError(StreamError):
    """A block waits for a token that never comes (its input ended, or the timing graph has a cycle)."""


class ConfigError(ZeroskipError, ValueError):
    """A setting out of range: a thread count below one, an unknown backend name."""


class HardwareError(ZeroskipError, ValueError):
    """An architecture spec, energy table or mapping that is invalid or cannot hold the program."""


class ResourceError(HardwareError):
    """A program that does not fit the array: names the resource that ran out."""
