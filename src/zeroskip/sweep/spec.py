"""Sweep files: axes over architecture parameters, workloads, sparsity and energy tables; their points.

A sweep file is TOML::

    name = "array-and-memory"
    [fixed]                                  # what every point shares (each key optional)
    arch = "onyx"                            # bundled name or a TOML path (the base the axes change)
    energy = "onyx12nm"
    mode = "sparse"                          # or "dense"
    tiling = "nnz"                           # or "coords"
    balance = "lpt"                          # or "round_robin"
    copies = 0                               # unroll factor; 0 = as many as fit
    [axes]                                   # every combination is one point
    array = ["8x16", "16x32"]                # rows x cols, a memory tile every 4th column (Onyx's 1:4)
    "arch.mem_tile_bytes" = [2048, 4096]     # any key of the architecture spec
    copies = [1, 2, 4]
    workload = ["spmspm/random:64", "spmspv/west0067"]
    sparsity = [0.9, 0.99]                   # applies to random:N workloads
    [limits]
    time_s = 60                              # per point; over it the point is stopped, recorded as such
    memory_mb = 2048                         # per point, beyond what the worker holds already

Workloads are ``KERNEL/SOURCE``: an Onyx kernel (``zeroskip.bench.kernels``) on a bundled matrix,
or on ``random:N`` (an N x N matrix, or an N^3 tensor for tensor kernels, at the point's
sparsity). Each point is a dict of every setting; its key is the SHA-256 of its canonical JSON,
so a point is the same point in every run and on every machine.

Example:
    >>> spec = load_sweep('name = "t"\\n[axes]\\ncopies = [1, 2]\\nworkload = ["spmspv/random:16"]\\nsparsity = [0.5]')
    >>> [p["copies"] for p in spec.points()], len(spec.points()[0]["key"])
    ([1, 2], 32)
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import itertools
import numbers
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zeroskip.bench.kernels import KERNELS
from zeroskip.bench.store import canonical
from zeroskip.errors import ConfigError

DEFAULTS = {"arch": "onyx", "energy": "onyx12nm", "mode": "sparse", "tiling": "nnz", "balance": "lpt", "copies": 0,
            "sparsity": None}
SETTINGS = (*DEFAULTS, "workload", "array")  # keys of [fixed] and [axes] besides "arch.<key>"
ARCH_KEYS = ("clock_hz", "rows", "cols", "mem_columns", "mem_tile_bytes", "mem_tile_ports", "glb_tiles",
             "glb_tile_bytes", "glb_bytes_per_cycle", "dram_bytes_per_s", "dram_latency_cycles", "fifo_depth",
             "hop_latency", "data_bits", "dense_macs_per_pe")
CHOICES = {"mode": ("sparse", "dense"), "tiling": ("nnz", "coords"), "balance": ("lpt", "round_robin")}
LIMITS = {"time_s": 300.0, "memory_mb": 4096.0}


class SweepError(ConfigError):
    """A sweep file that cannot be run: unknown parameter, empty axis, invalid value (with its path)."""


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: its name, the fixed settings, the axes (in file order) and the per-point limits."""

    name: str
    fixed: dict
    axes: dict
    limits: dict

    def points(self) -> list[dict]:
        """Every combination of the axes over the fixed settings, each with its ``key``; duplicates once."""
        names = list(self.axes)
        seen, out = set(), []
        for values in itertools.product(*(self.axes[n] for n in names)):
            point = _normalized(DEFAULTS | self.fixed | dict(zip(names, values, strict=True)))
            point["sweep"] = self.name
            key = point_key(point)
            if key not in seen:
                seen.add(key)
                out.append(point | {"key": key})
        return out


def point_key(point: dict) -> str:
    """The identity of a point: SHA-256 (32 hex digits) of its settings (its ``key`` left out)."""
    return hashlib.sha256(canonical({k: v for k, v in point.items() if k != "key"}).encode()).hexdigest()[:32]


def _normalized(point: dict) -> dict:
    """Sparsity only where a random source uses it (so a bundled matrix is one point, not one per level)."""
    if "random:" not in str(point.get("workload", "")):
        point["sparsity"] = None
    return point


def _hint(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_value(path: str, key: str, value: Any, matrices: Callable[[], list[str]]) -> Any:
    """One setting's value, checked (the path names where it is in the file); ``matrices()``: the bundled names."""
    if key in CHOICES and value not in CHOICES[key]:
        raise SweepError(f"{path} = {value!r}: must be one of {', '.join(CHOICES[key])}")
    if key == "copies" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise SweepError(f"{path} = {value!r}: copies is an integer >= 0 (0: as many as fit)")
    if key == "sparsity" and not (isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= value < 1):
        raise SweepError(f"{path} = {value!r}: sparsity is a number in [0, 1)")
    if key == "array":
        parts = str(value).lower().split("x")
        if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts) or int(parts[1]) < 4:
            raise SweepError(f"{path} = {value!r}: an array is ROWSxCOLS with at least 4 columns, e.g. '16x32'")
    if key == "workload":
        _check_workload(path, value, matrices)
    if key in ("arch", "energy") and not isinstance(value, str):
        raise SweepError(f"{path} = {value!r}: a bundled name or a path to a TOML file")
    return value


def _check_workload(path: str, value: Any, matrices: Callable[[], list[str]]) -> None:
    kernel, _, source = str(value).partition("/")
    if kernel not in KERNELS:
        raise SweepError(f"{path} = {value!r}: unknown kernel {kernel!r}{_hint(kernel, KERNELS)}; "
                         f"known: {', '.join(KERNELS)}")
    if source.startswith("random:"):
        size = source.removeprefix("random:")
        if not size.isdigit() or int(size) < 1:
            raise SweepError(f"{path} = {value!r}: random:N needs a positive size N")
    elif not source:
        raise SweepError(f"{path} = {value!r}: a workload is KERNEL/SOURCE (a bundled matrix or random:N)")
    elif KERNELS[kernel].source != "matrix":
        raise SweepError(f"{path} = {value!r}: {kernel} takes a 3-tensor; use random:N")
    else:
        _check_matrix(path, value, source, matrices)


def _bundled_matrices() -> list[str]:
    """The names of the bundled matrices in the data folder (DataNotFoundError when there is none)."""
    from zeroskip.bench.datasets import data_root, suitesparse_files

    return [p.stem for p in suitesparse_files(data_root())]


def _check_matrix(path: str, value: Any, name: str, matrices: Callable[[], list[str]]) -> None:
    """A bundled matrix must be in the data folder (each worker reads it there)."""
    from zeroskip.bench.datasets import DataNotFoundError

    try:
        known = matrices()
    except DataNotFoundError as exc:
        raise SweepError(f"{path} = {value!r} reads a bundled matrix: {exc}") from None
    if name not in known:
        raise SweepError(f"{path} = {value!r}: no bundled matrix {name!r}{_hint(name, known)}; "
                         f"known: {', '.join(sorted(known))}")


def load_sweep(spec: str | Path | dict) -> SweepSpec:
    """A sweep from a TOML path, TOML text or a dict; every error names its path in the file."""
    data = _read(spec)
    known = ("name", "fixed", "axes", "limits")
    for key in data:
        if key not in known:
            raise SweepError(f"unknown top-level key {key!r}{_hint(key, known)}; known: {', '.join(known)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SweepError(f"name = {name!r}: a sweep needs a non-empty name (the store keeps its points by it)")
    matrices = functools.cache(_bundled_matrices)  # the data folder is read once per load, and only if needed
    fixed = {key: _check_value(f"fixed.{key}", key, value, matrices) for key, value in _table(data, "fixed").items()
             if _known(f"fixed.{key}", key)}
    axes = {}
    for key, values in _table(data, "axes").items():
        _known(f"axes.{key}", key)
        if not isinstance(values, list) or not values:
            raise SweepError(f"axes.{key} = {values!r}: an axis is a non-empty list of values")
        axes[key] = [_check_value(f"axes.{key}[{i}]", key, v, matrices) for i, v in enumerate(values)]
        if key in fixed:
            raise SweepError(f"{key!r} is both fixed and an axis; keep one")
    if "workload" not in axes and "workload" not in fixed:
        raise SweepError("no workload: give [axes] workload = [...] or [fixed] workload = \"...\"")
    limits = dict(LIMITS)
    for key, value in _table(data, "limits").items():
        if key not in LIMITS:
            raise SweepError(f"unknown key limits.{key}{_hint(key, LIMITS)}; known: {', '.join(LIMITS)}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
            raise SweepError(f"limits.{key} = {value!r}: a positive number")
        limits[key] = float(value)
    sweep = SweepSpec(name.strip(), fixed, axes, limits)
    _check_arches(sweep)
    return sweep


def _known(path: str, key: str) -> bool:
    if key in SETTINGS:
        return True
    if key.startswith("arch."):
        sub = key.removeprefix("arch.")
        if sub in ARCH_KEYS:
            return True
        raise SweepError(f"unknown architecture parameter {path!r}{_hint(sub, ARCH_KEYS)}; "
                         f"known: {', '.join('arch.' + k for k in ARCH_KEYS)}")
    raise SweepError(f"unknown parameter {path!r}{_hint(key, [*SETTINGS, *('arch.' + k for k in ARCH_KEYS)])}")


def _table(data: dict, key: str) -> dict:
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise SweepError(f"{key} = {table!r}: expected a table [{key}]")
    return table


def _read(spec) -> dict:
    if isinstance(spec, dict):
        return dict(spec)
    text = str(spec)
    if isinstance(spec, Path) or ("\n" not in text and "=" not in text):
        path = Path(spec)
        if not path.is_file():
            raise SweepError(f"no sweep file at {str(path)!r}")
        text = path.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"the sweep file is not valid TOML: {exc}") from None


def _check_arches(sweep: SweepSpec) -> None:
    """Build each distinct architecture once, so a bad value fails at load, naming its axis value."""
    from zeroskip.sweep.point import arch_spec
    from zeroskip.errors import HardwareError
    from zeroskip.hardware import load_arch

    arch_axes = [k for k in sweep.axes if k.startswith("arch.") or k in ("arch", "array")]
    for values in itertools.product(*(sweep.axes[k] for k in arch_axes)):
        point = DEFAULTS | sweep.fixed | dict(zip(arch_axes, values, strict=True))
        try:
            load_arch(arch_spec(point))
        except HardwareError as exc:
            where = ", ".join(f"axes.{k} = {v!r}" for k, v in zip(arch_axes, values, strict=True)) or "[fixed]"
            raise SweepError(f"invalid architecture at {where}: {exc}") from None
