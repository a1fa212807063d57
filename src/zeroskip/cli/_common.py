"""What every command shares: exit codes, the usage error, optional imports, ``NAME=VALUE`` arguments.

Example:
    >>> parse_pairs(["A=csr", "x=dense"], "--format")
    {'A': 'csr', 'x': 'dense'}
    >>> parse_shape("100x20", "--shape A")
    (100, 20)
"""

from __future__ import annotations

import argparse
import importlib
import re
import textwrap
from types import ModuleType

from zeroskip.errors import MissingDependencyError, ZeroskipError

EXIT_OK = 0
EXIT_FAILED = 1  # results wrong or a check failed (also an internal error)
EXIT_USAGE = 2  # a bad option, expression, format or file
EXIT_MISSING = 3  # an optional dependency is not installed
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT

EXIT_CODES = f"""exit codes:
  {EXIT_OK}    ok
  {EXIT_FAILED}    results wrong or a check failed
  {EXIT_USAGE}    usage or input error (bad option, expression, format or file)
  {EXIT_MISSING}    an optional dependency is missing (the message names the extra to install)
  {EXIT_INTERRUPTED}  interrupted"""

# The extra of pyproject.toml that installs each optional module.
EXTRAS = {"matplotlib": "report", "torch": "torch", "dask": "dist", "distributed": "dist"}

_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*$")


class UsageError(ZeroskipError, ValueError):
    """A command line that cannot be followed: a bad option value, a missing argument."""


class HelpFormatter(argparse.HelpFormatter):
    """Wraps prose paragraphs to the terminal; keeps indented blocks (examples, exit codes) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for para in text.split("\n\n"):
            written = "\n" in para or para.startswith(" ")
            paragraphs.append(para if written else textwrap.fill(para, width, initial_indent=indent,
                                                                 subsequent_indent=indent))
        return "\n\n".join(paragraphs)


def require(module: str, why: str) -> ModuleType:
    """Import an optional module, or raise ``MissingDependencyError`` naming the extra that installs it.

    Example:
        >>> require("json", "to write JSON").__name__
        'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        extra = EXTRAS.get(top)
        hint = f"pip install 'zeroskip[{extra}]'" if extra else f"pip install {top}"
        raise MissingDependencyError(f"{why} needs {top}, which is not installed: {hint}") from None


def parse_pairs(items: list[str] | None, option: str) -> dict[str, str]:
    """``["A=csr", ...]`` as ``{"A": "csr"}``; a malformed item or a name given twice is a ``UsageError``.

    Example:
        >>> parse_pairs(["A"], "--format")
        Traceback (most recent call last):
        ...
        zeroskip.cli._common.UsageError: --format 'A': expected NAME=VALUE, e.g. A=csr
    """
    out: dict[str, str] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not _NAME.match(name) or not value:
            raise UsageError(f"{option} {item!r}: expected NAME=VALUE, e.g. A=csr")
        if name in out:
            raise UsageError(f"{option} gives {name} twice ({out[name]!r} and {value!r})")
        out[name] = value
    return out


def parse_shape(text: str, what: str) -> tuple[int, ...]:
    """``"100x20"`` as ``(100, 20)``; sizes are non-negative integers separated by ``x``.

    Example:
        >>> parse_shape("10xa", "--shape A")
        Traceback (most recent call last):
        ...
        zeroskip.cli._common.UsageError: --shape A '10xa': expected sizes like 100x100
    """
    parts = text.lower().replace(",", "x").split("x")
    if not all(p.strip().isdigit() for p in parts):
        raise UsageError(f"{what} {text!r}: expected sizes like 100x100")
    return tuple(int(p) for p in parts)


def parse_ratio(text: str, what: str, sep: str = ":") -> tuple[int, int]:
    """``"2:4"`` as ``(2, 4)`` (``sep="x"``: ``"4x4"`` as ``(4, 4)``).

    Example:
        >>> parse_ratio("2:4", "--nm")
        (2, 4)
    """
    parts = text.split(sep)
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        example = "2:4" if sep == ":" else "4x4"
        raise UsageError(f"{what} {text!r}: expected two integers like {example}")
    return int(parts[0]), int(parts[1])
