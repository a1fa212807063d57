"""Opening what users pass as a file: a path (``.gz``/``.bz2`` decompressed) or a file object.

Example:
    >>> import io
    >>> read_bytes(io.BytesIO(b"abc"), "buffer")
    b'abc'
"""

from __future__ import annotations

import bz2
import gzip
import os
import zlib

from zeroskip.errors import FileFormatError


def source_name(source) -> str:
    """How error messages name a path or file object."""
    try:
        return os.fsdecode(os.fspath(source))
    except TypeError:
        return str(getattr(source, "name", None) or f"<{type(source).__name__}>")


def read_bytes(source, name: str) -> bytes:
    """All bytes of a path (``.gz``/``.bz2`` decompressed) or of a file object.

    OS errors (missing file, permissions) propagate unchanged; undecodable content is a
    ``FileFormatError``.
    """
    try:
        path = os.fspath(source)
    except TypeError:
        path = None
    if path is None:
        if not hasattr(source, "read"):
            raise FileFormatError(f"expected a path or a binary file object, got {type(source).__name__}")
        try:
            data = source.read()
        except UnicodeDecodeError as exc:
            raise FileFormatError(f"{name}: not text in the file's encoding: {exc}") from exc
        return data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
    lower = os.fsdecode(path).lower()
    with open(path, "rb") as raw:  # open first so a missing file stays FileNotFoundError
        if not lower.endswith((".gz", ".bz2")):
            return raw.read()
        try:
            with gzip.GzipFile(fileobj=raw) if lower.endswith(".gz") else bz2.BZ2File(raw) as f:
                return f.read()
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            raise FileFormatError(f"{name}: cannot decompress: {exc}") from exc


def open_write(path):
    """A binary file to write: a path (compressed for ``.gz``/``.bz2``) or a file object as given."""
    try:
        target = os.fspath(path)
    except TypeError:
        if not hasattr(path, "write"):
            raise FileFormatError(f"expected a path or a binary file object, got {type(path).__name__}") from None
        return Borrowed(path)
    lower = os.fsdecode(target).lower()
    if lower.endswith(".gz"):
        return gzip.open(target, "wb")
    if lower.endswith(".bz2"):
        return bz2.open(target, "wb")
    return open(target, "wb")


class Borrowed:
    """A caller's file object in a ``with`` block that does not close it."""

    def __init__(self, f) -> None:
        self.f = f

    def __enter__(self):
        return self.f

    def __exit__(self, *exc) -> None:
        return None
