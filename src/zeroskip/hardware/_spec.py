"""Reading the TOML specs of ``zeroskip.hardware``: every value with its source, ``base`` inheritance, checks.

A spec entry is written ``key = { value = ..., source = "..." }``; a plain ``key = value`` is accepted
for user-written specs and its source is recorded as ``"user"``. A spec may say ``base = "<name>"`` to
start from a bundled spec and override some entries (see ``merge``). Errors name the dotted path of
the entry and its value.
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from zeroskip.errors import HardwareError

USER = "user"


def plain(data: Any) -> Any:
    """A deep copy of nested mappings and sequences as dicts and lists (so merging never mutates input)."""
    if isinstance(data, Mapping):
        return {str(key): plain(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [plain(value) for value in data]
    return data


@lru_cache(maxsize=None)
def _bundled_text(filename: str) -> str:
    return resources.files("zeroskip.hardware").joinpath("data", filename).read_text(encoding="utf-8")


def bundled(filename: str) -> dict:
    """The parsed bundled spec ``data/<filename>`` (a fresh dict each call)."""
    return tomllib.loads(_bundled_text(filename))


def read(spec: Any, what: str, builtins: Mapping[str, str]) -> dict:
    """A spec given as a mapping, TOML text, a path to a TOML file, or the name of a bundled spec -> dict."""
    if isinstance(spec, Mapping):
        return plain(spec)
    if isinstance(spec, str) and spec in builtins:
        return bundled(builtins[spec])
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and "=" not in spec and "\n" not in spec):
        path = Path(spec)
        if not path.is_file():
            raise HardwareError(
                f"no {what} at {str(path)!r}: not a file, and not one of the bundled {sorted(builtins)}")
        text = path.read_text(encoding="utf-8")
    elif isinstance(spec, str):
        text = spec
    else:
        raise HardwareError(f"{what}: expected a path, TOML text or a dict, got {type(spec).__name__}")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise HardwareError(f"{what} is not valid TOML: {err}") from None


def merge(base: dict, override: dict) -> dict:
    """``override`` laid over ``base``: tables merge key by key, anything else replaces.

    A table of ``base`` that carries a ``source`` and is changed by an override that gives none gets
    the source ``"user"``, so a changed value never keeps the citation of the value it replaced.
    """
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            merged = merge(old, value)
            if "source" in old and "source" not in value:
                merged["source"] = USER
            out[key] = merged
        else:
            out[key] = value
    return out


def with_base(data: dict, what: str, builtins: Mapping[str, str]) -> dict:
    """Resolve ``base = "<name>"``: the bundled spec of that name with ``data`` laid over it."""
    if "base" not in data:
        return data
    name = data.pop("base")
    if name not in builtins:
        raise HardwareError(
            f"base = {name!r} in the {what}: not a bundled spec; one of {sorted(builtins)}{hint(name, builtins)}")
    return merge(bundled(builtins[name]), data)


def hint(name: object, known, prefix: str = "") -> str:
    """``"; did you mean 'x'?"`` for the closest known name (as a dotted path under ``prefix``), or nothing."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return f"; did you mean {join(prefix, close[0])!r}?" if close else ""


def check_keys(table: Mapping, known, prefix: str, what: str, *, required=None) -> None:
    """Refuse keys of ``table`` not in ``known`` (suggesting the closest) and missing ``required`` ones."""
    for key, value in table.items():
        if key not in known:
            raise HardwareError(
                f"unknown key {join(prefix, key)!r} (= {value!r}) in the {what}{hint(key, known, prefix)}")
    for key in known if required is None else required:
        if key not in table:
            raise HardwareError(f"missing key {join(prefix, key)!r} in the {what}; give it, or set base to inherit it")


def join(prefix: str, key: object) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def entry(path: str, raw: Any, what: str) -> tuple[Any, str]:
    """``(value, source)`` of an entry written ``{ value = ..., source = "..." }`` or as a plain value."""
    if not isinstance(raw, dict):
        return raw, USER
    check_keys(raw, ("value", "source"), path, what, required=("value",))
    return raw["value"], source_of(path, raw)


def source_of(path: str, table: Mapping) -> str:
    """The ``source`` of a table (``"user"`` when absent); refuses an empty or non-string one."""
    source = table.get("source", USER)
    if not isinstance(source, str) or not source.strip():
        raise HardwareError(
            f"{path}.source = {source!r}: a source is a non-empty string (a citation or 'assumption: ...')")
    return source


def as_int(path: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int, refusing bools, fractions and values outside ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise HardwareError(f"{path} = {value!r} ({type(value).__name__}): expected an integer")
    value = int(value)
    if minimum is not None and value < minimum:
        raise HardwareError(f"{path} = {value!r}: must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise HardwareError(f"{path} = {value!r}: must be <= {maximum}")
    return value


def as_float(path: str, value: Any, *, positive: bool = True) -> float:
    """``value`` as a finite float (> 0 when ``positive``, else >= 0), refusing bools and strings."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise HardwareError(f"{path} = {value!r} ({type(value).__name__}): expected a number")
    value = float(value)
    if not math.isfinite(value):
        raise HardwareError(f"{path} = {value!r}: must be finite")
    if positive and value <= 0:
        raise HardwareError(f"{path} = {value!r}: must be > 0")
    if value < 0:
        raise HardwareError(f"{path} = {value!r}: must be >= 0")
    return value
