"""The architecture spec: the modelled array (tiles, memories, clock, FIFOs, primitive timing), every value sourced.

``default_arch()`` is Onyx as published (``data/onyx.toml``). A user spec is TOML (or a dict) with the
same keys; ``base = "onyx"`` starts from the bundled spec so a spec need only name what it changes:

    base = "onyx"
    rows = 8                                    # source recorded as "user"
    fifo_depth = { value = 4, source = "what-if: deeper FIFOs" }
    primitives.alu = { latency = 2 }            # ii inherited from onyx

Without ``base`` every key is required, including all thirteen ``primitives`` (the values of
``zeroskip.dataflow.graph.Op``). Every check names the dotted key and the value it refused.

Example:
    >>> from zeroskip.hardware import default_arch, load_arch
    >>> onyx = default_arch()
    >>> onyx.pe_tiles, onyx.mem_tiles, onyx.tile_kind(0, 3)
    (384, 128, 'mem')
    >>> load_arch('base = "onyx"\\nrows = 8').pe_tiles
    192
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from zeroskip.dataflow.graph import Op
from zeroskip.errors import HardwareError
from zeroskip.hardware import _spec

__all__ = ["Arch", "PrimitiveTiming", "cached_arch", "default_arch", "load_arch", "OPS"]

OPS = tuple(op.value for op in Op)
_WHAT = "architecture spec"
_BUILTINS = {"onyx": "onyx.toml"}

# Every sourced field and its check: ("int", minimum, maximum) | ("float", positive) | ("columns",).
_FIELDS: dict[str, tuple] = {
    "technology_nm": ("float", True),
    "clock_hz": ("float", True),
    "rows": ("int", 1, None),
    "cols": ("int", 1, None),
    "mem_columns": ("columns",),
    "mem_tile_bytes": ("int", 1, None),
    "mem_tile_ports": ("int", 1, None),
    "glb_tiles": ("int", 1, None),
    "glb_tile_bytes": ("int", 1, None),
    "glb_bytes_per_cycle": ("float", True),
    "dram_bytes_per_s": ("float", True),
    "dram_latency_cycles": ("int", 0, None),
    "fifo_depth": ("int", 1, None),
    "hop_latency": ("int", 0, None),
    "data_bits": ("int", 1, 64),
    "dense_macs_per_pe": ("int", 1, None),
}


@dataclass(frozen=True, slots=True)
class PrimitiveTiming:
    """Timing of one primitive: ``latency`` cycles from a step until its pushed token can be consumed
    downstream, and ``ii`` cycles between successive steps (both >= 1).

    Example:
        >>> PrimitiveTiming(latency=2, ii=1)
        PrimitiveTiming(latency=2, ii=1)
    """

    latency: int
    ii: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "latency", _spec.as_int("latency", self.latency, 1))
        object.__setattr__(self, "ii", _spec.as_int("ii", self.ii, 1))


@dataclass(frozen=True, slots=True)
class Arch:
    """The modelled accelerator; validated on construction (see the module docstring for the spec format).

    ``mem_columns`` are the column indices holding memory tiles (every other column holds PE tiles);
    ``primitives`` maps every SAM op name to its ``PrimitiveTiming``; ``sources`` maps the dotted key of
    every value to its citation (``"user"`` for values a user set without one).
    """

    name: str
    technology_nm: float
    clock_hz: float
    rows: int
    cols: int
    mem_columns: tuple[int, ...]
    mem_tile_bytes: int
    mem_tile_ports: int
    glb_tiles: int
    glb_tile_bytes: int
    glb_bytes_per_cycle: float
    dram_bytes_per_s: float
    dram_latency_cycles: int
    fifo_depth: int
    hop_latency: int
    data_bits: int
    dense_macs_per_pe: int
    primitives: Mapping[str, PrimitiveTiming]
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise HardwareError(f"name = {self.name!r}: an architecture is named by a non-empty string")
        for key, check in _FIELDS.items():
            object.__setattr__(self, key, _checked(key, getattr(self, key), check, self.cols))
        object.__setattr__(self, "primitives", MappingProxyType(_checked_primitives(self.primitives)))
        if not isinstance(self.sources, Mapping):
            raise HardwareError(f"sources = {self.sources!r}: expected a mapping of dotted key -> citation")
        sources = {key: _spec.USER for key in _source_keys()}  # a value given without a citation is the user's
        sources.update({str(k): str(v) for k, v in self.sources.items()})
        object.__setattr__(self, "sources", MappingProxyType(sources))

    def __hash__(self) -> int:
        # Mappings are unhashable; hash the values (equal Archs hash equal, sources aside).
        return hash((self.name, *(getattr(self, key) for key in _FIELDS), tuple(self.primitives.items())))

    @property
    def pe_tiles(self) -> int:
        """Number of PE tiles (``rows`` x the columns that are not memory columns)."""
        return self.rows * (self.cols - len(self.mem_columns))

    @property
    def mem_tiles(self) -> int:
        """Number of memory tiles (``rows`` x ``len(mem_columns)``)."""
        return self.rows * len(self.mem_columns)

    @property
    def word_bytes(self) -> int:
        """Bytes of one data word (``data_bits`` rounded up to whole bytes)."""
        return -(-self.data_bits // 8)

    @property
    def period_s(self) -> float:
        """Seconds per clock cycle."""
        return 1.0 / self.clock_hz

    def tile_kind(self, row: int, col: int) -> str:
        """``"mem"`` for a tile in a memory column, ``"pe"`` otherwise.

        Example:
            >>> from zeroskip.hardware import default_arch
            >>> [default_arch().tile_kind(0, c) for c in range(5)]
            ['pe', 'pe', 'pe', 'mem', 'pe']
        """
        if not (0 <= row < self.rows and 0 <= col < self.cols):
            raise HardwareError(f"tile ({row=}, {col=}) is outside the {self.rows} x {self.cols} array")
        return "mem" if col in self.mem_columns else "pe"

    def timing(self, op: str | Op) -> PrimitiveTiming:
        """The timing of primitive ``op`` (an ``Op`` or its name).

        Example:
            >>> from zeroskip.hardware import default_arch
            >>> default_arch().timing("fiberlookup")
            PrimitiveTiming(latency=2, ii=1)
        """
        name = op.value if isinstance(op, Op) else str(op)
        try:
            return self.primitives[name]
        except KeyError:
            raise HardwareError(
                f"architecture {self.name!r} has no timing for primitive {name!r}{_spec.hint(name, self.primitives)}"
            ) from None

    def replace(self, **changes: Any) -> Arch:
        """A copy with some fields changed, validated again; changed values get the source ``"user"``.

        Example:
            >>> from zeroskip.hardware import default_arch
            >>> small = default_arch().replace(rows=4, cols=8, mem_columns=(3, 7))
            >>> small.pe_tiles, small.sources["rows"]
            (24, 'user')
        """
        known = [f.name for f in dataclasses.fields(self)]
        for key in changes:
            if key not in known:
                raise HardwareError(f"Arch has no field {key!r} (= {changes[key]!r}){_spec.hint(key, known)}")
        sources = dict(self.sources)
        for key, value in changes.items():
            if key == "primitives" and isinstance(value, Mapping):
                sources.update({f"primitives.{op}": _spec.USER for op, t in value.items()
                                if self.primitives.get(op) != t})
            elif key in _FIELDS:
                sources[key] = _spec.USER
        changes.setdefault("sources", sources)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The spec as a JSON-able dict in the TOML layout (``load_arch`` reads it back to an equal Arch).

        Example:
            >>> from zeroskip.hardware import default_arch, load_arch
            >>> d = default_arch().to_dict()
            >>> d["rows"]["value"], d["primitives"]["alu"]["latency"], load_arch(d) == default_arch()
            (16, 1, True)
        """
        out: dict[str, Any] = {"name": self.name}
        for key in _FIELDS:
            value = getattr(self, key)
            out[key] = {"value": list(value) if key == "mem_columns" else value, "source": self.sources[key]}
        out["primitives"] = {
            op: {"latency": t.latency, "ii": t.ii, "source": self.sources[f"primitives.{op}"]}
            for op, t in self.primitives.items()
        }
        return out


def _source_keys() -> list[str]:
    return [*_FIELDS, *(f"primitives.{op}" for op in OPS)]


def _checked(key: str, value: Any, check: tuple, cols: int) -> Any:
    kind = check[0]
    if kind == "int":
        return _spec.as_int(key, value, check[1], check[2])
    if kind == "float":
        return _spec.as_float(key, value, positive=check[1])
    return _checked_columns(key, value, cols)  # cols precedes mem_columns in _FIELDS, so it is checked already


def _checked_columns(key: str, value: Any, cols: int) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise HardwareError(f"{key} = {value!r} ({type(value).__name__}): expected a list of column indices")
    columns = tuple(value)
    for i, col in enumerate(columns):
        col = _spec.as_int(f"{key}[{i}]", col)
        if not 0 <= col < cols:
            raise HardwareError(f"{key}[{i}] = {col!r}: outside the {cols} columns (0..{cols - 1})")
    seen = set()
    for col in columns:
        if col in seen:
            raise HardwareError(f"{key} = {list(columns)!r}: column {col} appears twice")
        seen.add(col)
    return tuple(sorted(int(c) for c in columns))  # sorted, so equal sets of columns give equal Archs


def _checked_primitives(primitives: Any) -> dict[str, PrimitiveTiming]:
    if not isinstance(primitives, Mapping):
        raise HardwareError(f"primitives = {primitives!r}: expected a mapping of op name -> PrimitiveTiming")
    for op, timing in primitives.items():
        if op not in OPS:
            raise HardwareError(
                f"unknown key 'primitives.{op}' (= {timing!r}): not a SAM op{_spec.hint(op, OPS, 'primitives')}")
        if not isinstance(timing, PrimitiveTiming):
            raise HardwareError(f"primitives.{op} = {timing!r}: expected a PrimitiveTiming")
    for op in OPS:
        if op not in primitives:
            raise HardwareError(f"missing key 'primitives.{op}' in the {_WHAT}: every SAM op needs a timing")
    return {op: primitives[op] for op in OPS}  # in Op order, so equal specs compare and print alike


def load_arch(spec: Any) -> Arch:
    """Read an architecture spec: a TOML file path, TOML text, a dict, or a bundled name (``"onyx"``).

    Example:
        >>> load_arch({"base": "onyx", "fifo_depth": 8}).fifo_depth
        8
        >>> load_arch('base = "onyx"\\nfifo_depth = 0')
        Traceback (most recent call last):
        ...
        zeroskip.errors.HardwareError: fifo_depth = 0: must be >= 1
    """
    data = _spec.with_base(_spec.read(spec, _WHAT, _BUILTINS), _WHAT, _BUILTINS)
    _spec.check_keys(data, ("name", *_FIELDS, "primitives"), "", _WHAT)
    name = data["name"]
    if not isinstance(name, str) or not name:
        raise HardwareError(f"name = {name!r}: an architecture is named by a non-empty string")
    values, sources = {}, {}
    for key, check in _FIELDS.items():
        value, sources[key] = _spec.entry(key, data[key], _WHAT)
        values[key] = _checked(key, value, check, values.get("cols", 1))
    table = data["primitives"]
    if not isinstance(table, dict):
        raise HardwareError(f"primitives = {table!r}: expected a table of op name -> {{ latency, ii, source }}")
    _spec.check_keys(table, OPS, "primitives", _WHAT)
    primitives = {}
    for op in OPS:
        path, raw = f"primitives.{op}", table[op]
        if not isinstance(raw, dict):
            raise HardwareError(f"{path} = {raw!r}: expected a table {{ latency = ..., ii = ..., source = \"...\" }}")
        _spec.check_keys(raw, ("latency", "ii", "source"), path, _WHAT, required=("latency", "ii"))
        sources[path] = _spec.source_of(path, raw)
        primitives[op] = PrimitiveTiming(_spec.as_int(f"{path}.latency", raw["latency"], 1),
                                         _spec.as_int(f"{path}.ii", raw["ii"], 1))
    return Arch(name=name, primitives=primitives, sources=sources, **values)


@lru_cache(maxsize=1)
def default_arch() -> Arch:
    """Onyx as published (``zeroskip/hardware/data/onyx.toml``): 32 x 16 tiles, 384 PE and 128 memory tiles.

    Example:
        >>> from zeroskip.hardware import default_arch
        >>> a = default_arch()
        >>> a.clock_hz, a.mem_tile_bytes, a.glb_tiles, a.glb_tile_bytes // 1024, a.data_bits
        (970000000.0, 4096, 16, 256, 16)
    """
    return load_arch("onyx")


@lru_cache(maxsize=64)
def cached_arch(spec_json: str) -> Arch:
    """``load_arch`` of a spec given as JSON text (``null``: ``default_arch()``), loaded once per distinct text.

    The text is the cache key, so callers pass canonical JSON (sorted keys) to share entries; a path
    is read once, when first seen. The ``Arch`` returned is shared between callers (it is frozen).

    Example:
        >>> cached_arch('{"base": "onyx", "rows": 8}').pe_tiles, cached_arch("null") is default_arch()
        (192, True)
    """
    spec = json.loads(spec_json)
    return default_arch() if spec is None else load_arch(spec)
