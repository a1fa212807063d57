"""The energy table: picojoules per event (ALU op, SRAM access, FIFO push/pop, hop, GLB and DRAM byte).

``default_energy()`` reads ``data/energy_onyx12nm.toml``, whose comments state every rule: figures at
45 nm (Horowitz, ISSCC 2014) times a named scaling factor to 12 nm, log-log interpolation between the
widths and capacities the table gives, SRAM energy linear in the accessed bits. A user table has the
same layout (or ``base = "onyx12nm"`` plus overrides), each value ``{ value = ..., source = "..." }``.

``price(counts, arch, seconds)`` turns the simulator's event counts into joules per category;
``efficiency_check`` holds the table against Onyx's published 756 GOPS/W.

Example:
    >>> from zeroskip.hardware import default_arch, default_energy
    >>> e = default_energy()
    >>> round(e.alu_pj("mul", 16), 3), round(e.sram_pj("read", 8192, 64), 3)
    (0.33, 3.0)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from zeroskip.errors import HardwareError
from zeroskip.hardware import _spec
from zeroskip.hardware.arch import Arch

__all__ = ["EVENTS", "CATEGORIES", "EnergyTable", "cached_energy", "default_energy", "efficiency_check", "load_energy"]

_WHAT = "energy table"
_BUILTINS = {"onyx12nm": "energy_onyx12nm.toml"}

# The simulator's event names and the category each is charged to.
EVENTS = {
    "alu_add": "compute", "alu_sub": "compute", "alu_mul": "compute", "compare": "compute", "dense_mac": "compute",
    "mem_read": "memory_tiles", "mem_write": "memory_tiles",
    "fifo": "interconnect", "hop": "interconnect",
    "glb_byte": "global_buffer", "dram_byte": "dram",
}
CATEGORIES = ("compute", "memory_tiles", "interconnect", "global_buffer", "dram", "static", "total")
ALU_OPS = ("add", "sub", "mul", "cmp")

# The layout of a table: section -> key -> kind: "float" (> 0), "nonneg" (>= 0, so a what-if may make an
# event free), "int" (>= 1) or "curve" (width or capacity -> pJ, values > 0 for the log-log rule).
_LAYOUT: dict[str, dict[str, str]] = {
    "scaling": {"factor": "float"},
    "alu_45nm": {"add": "curve", "mul": "curve", "cmp": "curve"},
    "sram_45nm": {"word_bits": "int", "write_over_read": "nonneg", "read": "curve"},
    "interconnect_45nm": {"fifo_pj_per_bit": "nonneg", "hop_pj_per_bit": "nonneg"},
    "global_buffer_45nm": {"pj_per_byte": "nonneg"},
    "chip": {"dram_pj_per_byte": "nonneg", "static_w": "nonneg", "static_tiles": "int"},
    "calibration": {"published_gops_per_w": "float", "tolerance": "float",
                    "operand_hops_per_mac": "nonneg", "fifo_events_per_mac": "nonneg"},
}


@dataclass(frozen=True, slots=True)
class EnergyTable:
    """Energy per event; ``values`` maps the dotted key of every scalar in the TOML to its value,
    ``curves`` every curve (``"alu_45nm.add"``, ``"sram_45nm.read"``) to its points, ``sources`` every
    dotted key (curve points as ``"alu_45nm.add.16"``) to its citation."""

    name: str
    values: Mapping[str, float]
    curves: Mapping[str, Mapping[int, float]]
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        curves = {key: MappingProxyType(dict(points)) for key, points in self.curves.items()}
        object.__setattr__(self, "curves", MappingProxyType(curves))
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))

    @property
    def scale(self) -> float:
        """The factor from the 45 nm figures to this table's node."""
        return self.values["scaling.factor"]

    @property
    def glb_pj_per_byte(self) -> float:
        """Picojoules per byte read from or written to a global-buffer tile."""
        return self.values["global_buffer_45nm.pj_per_byte"] * self.scale

    @property
    def dram_pj_per_byte(self) -> float:
        """Picojoules per byte moved to or from DRAM."""
        return self.values["chip.dram_pj_per_byte"]

    @property
    def static_w(self) -> float:
        """Static power of the whole chip, in watts (for an array of ``chip.static_tiles`` tiles)."""
        return self.values["chip.static_w"]

    def static_w_of(self, arch: Arch) -> float:
        """Static power of ``arch``: ``static_w`` scaled by its tiles over ``chip.static_tiles`` (leakage
        grows with the array; the table's own array gets ``static_w`` itself).

        Example:
            >>> from zeroskip.hardware import default_arch, default_energy
            >>> e, a = default_energy(), default_arch()
            >>> e.static_w_of(a) == e.static_w, round(e.static_w_of(a.replace(rows=8, mem_columns=a.mem_columns)), 4)
            (True, 0.075)
        """
        return self.static_w * (arch.pe_tiles + arch.mem_tiles) / self.values["chip.static_tiles"]

    def alu_pj(self, op: str, bits: int) -> float:
        """Picojoules of one ALU operation (``"add"``, ``"sub"``, ``"mul"``, ``"cmp"``) on ``bits``-wide operands.

        Example:
            >>> from zeroskip.hardware import default_energy
            >>> round(default_energy().alu_pj("add", 16), 3)   # 0.4 pJ at 45 nm x 0.3
            0.12
        """
        if op not in ALU_OPS:
            raise HardwareError(f"alu op {op!r}: one of {ALU_OPS}{_spec.hint(op, ALU_OPS)}")
        curve = "add" if op == "sub" else op  # a subtraction is an addition with one operand inverted
        return _power_law(self.curves[f"alu_45nm.{curve}"], _spec.as_int("bits", bits, 1)) * self.scale

    def sram_pj(self, kind: str, capacity_bytes: int, bits: int) -> float:
        """Picojoules of one ``"read"`` or ``"write"`` of a ``bits``-wide word in an SRAM of ``capacity_bytes``.

        Example:
            >>> from zeroskip.hardware import default_energy
            >>> round(default_energy().sram_pj("read", 4096, 16), 3)   # a 16-bit word of a 4 KB memory tile
            0.53
        """
        if kind not in ("read", "write"):
            raise HardwareError(f"SRAM access kind {kind!r}: 'read' or 'write'")
        capacity = _spec.as_int("capacity_bytes", capacity_bytes, 1)
        word = _power_law(self.curves["sram_45nm.read"], capacity)
        factor = self.values["sram_45nm.write_over_read"] if kind == "write" else 1.0
        return word * _spec.as_int("bits", bits, 1) / self.values["sram_45nm.word_bits"] * factor * self.scale

    def fifo_pj(self, bits: int) -> float:
        """Picojoules of one push or one pop of a ``bits``-wide FIFO entry.

        Example:
            >>> from zeroskip.hardware import default_energy
            >>> round(default_energy().fifo_pj(17), 4)
            0.051
        """
        return self.values["interconnect_45nm.fifo_pj_per_bit"] * _spec.as_int("bits", bits, 1) * self.scale

    def hop_pj(self, bits: int) -> float:
        """Picojoules of moving one ``bits``-wide token one interconnect hop.

        Example:
            >>> from zeroskip.hardware import default_energy
            >>> round(default_energy().hop_pj(17), 4)
            0.102
        """
        return self.values["interconnect_45nm.hop_pj_per_bit"] * _spec.as_int("bits", bits, 1) * self.scale

    def unit_pj(self, arch: Arch) -> dict[str, float]:
        """Picojoules of one of each event on ``arch`` (its word width, memory-tile size, token width).

        Example:
            >>> from zeroskip.hardware import default_arch, default_energy
            >>> round(default_energy().unit_pj(default_arch())["dense_mac"], 3)   # bf16 mul + add
            0.45
        """
        bits, token = arch.data_bits, arch.data_bits + 1  # a token carries one control bit beside the data
        read = self.sram_pj("read", arch.mem_tile_bytes, bits)
        return {
            "alu_add": self.alu_pj("add", bits), "alu_sub": self.alu_pj("sub", bits),
            "alu_mul": self.alu_pj("mul", bits), "compare": self.alu_pj("cmp", bits),
            "dense_mac": self.alu_pj("mul", bits) + self.alu_pj("add", bits),
            "mem_read": read, "mem_write": self.sram_pj("write", arch.mem_tile_bytes, bits),
            "fifo": self.fifo_pj(token), "hop": self.hop_pj(token),
            "glb_byte": self.glb_pj_per_byte, "dram_byte": self.dram_pj_per_byte,
        }

    def price(self, counts: Mapping[str, float], arch: Arch, seconds: float) -> dict[str, float]:
        """Joules per category for event ``counts`` on ``arch`` over a run of ``seconds`` (static power).

        Example:
            >>> from zeroskip.hardware import default_arch, default_energy
            >>> j = default_energy().price({"dram_byte": 1e6}, default_arch(), 1e-3)
            >>> round(j["dram"], 7), round(j["static"], 7), round(j["total"], 7)
            (0.0001625, 0.00015, 0.0003125)
        """
        unit = self.unit_pj(arch)
        out = dict.fromkeys(CATEGORIES, 0.0)
        for name, count in counts.items():
            if name not in unit:
                raise HardwareError(
                    f"unknown event {name!r} (count {count!r}); events are {sorted(unit)}{_spec.hint(name, unit)}")
            count = _spec.as_float(f"counts[{name!r}]", count, positive=False)
            out[EVENTS[name]] += count * unit[name] * 1e-12
        out["static"] = self.static_w_of(arch) * _spec.as_float("seconds", seconds, positive=False)
        out["total"] = math.fsum(out[c] for c in CATEGORIES if c != "total")
        return out

    def to_dict(self) -> dict:
        """The table as a JSON-able dict in the TOML layout (``load_energy`` reads it back equal).

        Example:
            >>> from zeroskip.hardware import default_energy, load_energy
            >>> load_energy(default_energy().to_dict()) == default_energy()
            True
        """
        out: dict[str, Any] = {"name": self.name}
        for section, keys in _LAYOUT.items():
            table = out.setdefault(section, {})
            for key, kind in keys.items():
                path = f"{section}.{key}"
                if kind == "curve":
                    table[key] = {str(x): {"value": y, "source": self.sources[f"{path}.{x}"]}
                                  for x, y in self.curves[path].items()}
                else:
                    table[key] = {"value": self.values[path], "source": self.sources[path]}
        return out


def _power_law(points: Mapping[int, float], x: int) -> float:
    """The curve through ``points`` at ``x``: exact at a point, else the power law through the two nearest."""
    if x in points:
        return points[x]
    xs = sorted(points)
    i = min(max(sum(1 for p in xs if p < x), 1), len(xs) - 1)  # the bracketing pair, or the end pair
    x0, x1 = xs[i - 1], xs[i]
    y0, y1 = points[x0], points[x1]
    return y0 * (x / x0) ** (math.log(y1 / y0) / math.log(x1 / x0))


def load_energy(spec: Any) -> EnergyTable:
    """Read an energy table: a TOML file path, TOML text, a dict, or a bundled name (``"onyx12nm"``).

    Example:
        >>> t = load_energy({"base": "onyx12nm", "chip": {"static_w": 0.5}})
        >>> t.static_w, t.sources["chip.static_w"]
        (0.5, 'user')
    """
    data = _spec.with_base(_spec.read(spec, _WHAT, _BUILTINS), _WHAT, _BUILTINS)
    _spec.check_keys(data, ("name", *_LAYOUT), "", _WHAT)
    name = data["name"]
    if not isinstance(name, str) or not name:
        raise HardwareError(f"name = {name!r}: an energy table is named by a non-empty string")
    values, curves, sources = {}, {}, {}
    for section, keys in _LAYOUT.items():
        table = data[section]
        if not isinstance(table, dict):
            raise HardwareError(f"{section} = {table!r}: expected a table with keys {list(keys)}")
        _spec.check_keys(table, keys, section, _WHAT)
        for key, kind in keys.items():
            path = f"{section}.{key}"
            if kind == "curve":
                curves[path] = _curve(path, table[key], sources)
                continue
            value, sources[path] = _spec.entry(path, table[key], _WHAT)
            values[path] = (_spec.as_int(path, value, 1) if kind == "int"
                            else _spec.as_float(path, value, positive=kind == "float"))
    return EnergyTable(name=name, values=values, curves=curves, sources=sources)


def _curve(path: str, table: Any, sources: dict) -> dict[int, float]:
    if not isinstance(table, dict) or len(table) < 2:
        raise HardwareError(f"{path} = {table!r}: a curve is a table of at least two points, width or bytes -> pJ")
    points = {}
    for key, raw in table.items():
        point = f"{path}.{key}"
        try:
            x = int(str(key))
        except ValueError:
            raise HardwareError(f"{point}: the key {key!r} of a curve is a positive integer (bits or bytes)") from None
        if x < 1:
            raise HardwareError(f"{point}: the key {key!r} of a curve is a positive integer (bits or bytes)")
        value, sources[f"{path}.{x}"] = _spec.entry(point, raw, _WHAT)
        points[x] = _spec.as_float(point, value)
    return dict(sorted(points.items()))


@lru_cache(maxsize=1)
def default_energy() -> EnergyTable:
    """The bundled Onyx 12 nm table (``zeroskip/hardware/data/energy_onyx12nm.toml``).

    Example:
        >>> from zeroskip.hardware import default_energy
        >>> default_energy().name, default_energy().scale
        ('onyx-12nm', 0.3)
    """
    return load_energy("onyx12nm")


@lru_cache(maxsize=16)
def cached_energy(spec_json: str) -> EnergyTable:
    """``load_energy`` of a spec given as JSON text (``null``: ``default_energy()``), loaded once per distinct text.

    The text is the cache key, so callers pass canonical JSON (sorted keys) to share entries; a path
    is read once, when first seen. The table returned is shared between callers (it is frozen).

    Example:
        >>> cached_energy('"onyx12nm"').name, cached_energy("null") is default_energy()
        ('onyx-12nm', True)
    """
    spec = json.loads(spec_json)
    return default_energy() if spec is None else load_energy(spec)


def efficiency_check(table: EnergyTable, arch: Arch) -> dict[str, Any]:
    """The modelled GOPS/W of ``arch``'s PE array doing dense MACs at full utilization, against the
    published figure in the table's ``calibration`` section (2 ops per MAC; operand hops and FIFO events
    per MAC and static power included, as the table states).

    Example:
        >>> from zeroskip.hardware import default_arch, default_energy
        >>> check = efficiency_check(default_energy(), default_arch())
        >>> check["published_gops_per_w"], check["within"]
        (756.0, True)
    """
    cal = {key: table.values[f"calibration.{key}"] for key in _LAYOUT["calibration"]}
    macs = arch.pe_tiles * arch.dense_macs_per_pe * arch.clock_hz  # per second at full utilization
    counts = {"dense_mac": macs, "hop": macs * cal["operand_hops_per_mac"], "fifo": macs * cal["fifo_events_per_mac"]}
    watts = table.price(counts, arch, 1.0)["total"]
    gops_per_w = 2 * macs / watts / 1e9
    ratio = gops_per_w / cal["published_gops_per_w"]
    return {
        "modelled_gops_per_w": gops_per_w, "published_gops_per_w": cal["published_gops_per_w"],
        "ratio": ratio, "tolerance": cal["tolerance"], "within": 1 / cal["tolerance"] <= ratio <= cal["tolerance"],
        "gops": 2 * macs / 1e9, "watts": watts,
    }
