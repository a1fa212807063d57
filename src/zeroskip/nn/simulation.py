"""``simulate(model, example_inputs)``: every traced program on the modelled accelerator, beside measured CPU runs.

Each program of ``trace(model, example_inputs)`` is simulated with its bound operands
(``Program.simulate(arch=..., energy=..., mode=...)``); a layer whose simulation fails keeps its
error and counts in no total. Totals add the layers' cycles, seconds and joules as if they ran one
after another (no overlap between layers; the fused epilogues are not simulated). Host ops are
listed and counted but take no modelled time or energy ("host ops not modelled").

The CPU side is measured: the median wall time of ``repeats`` calls (after one warm-up) under
``torch.no_grad`` with torch's thread count as set, of the dense model and of
``zeroskip.nn.sparsify(model)`` on the same inputs. CPU energy is RAPL where readable, else
package power x time, and says which (``zeroskip.hardware.baseline.cpu_energy_baseline``).

(This module is ``simulation`` so that ``zeroskip.nn.simulate`` stays the function.)

Example:
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> sim = simulate(model, torch.randn(2, 8), measure_cpu=False)
    >>> len(sim.layers), sim.total_cycles == sum(layer.cycles for layer in sim.layers)
    (2, True)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from zeroskip.hardware.baseline import cpu_energy_baseline, measure_rapl
from zeroskip.nn.linear import SparseWeights
from zeroskip.nn.sparsify import sparsify
from zeroskip.nn.trace import HostOp, TracedModel, _inputs, trace

__all__ = ["LayerSimulation", "ModelSimulation", "simulate"]


@dataclass(frozen=True, slots=True)
class LayerSimulation:
    """One program's modelled run: cycles, seconds, joules by category (``"total"`` included), or its error."""

    name: str
    op: str
    expr: str
    shapes: dict
    weight_sparsity: float | None
    input_sparsity: float
    cycles: int | None = None
    seconds: float | None = None
    energy: dict | None = None
    error: str | None = None
    note: str = ""

    @property
    def energy_j(self) -> float | None:
        return None if self.energy is None else self.energy["total"]


@dataclass(frozen=True, eq=False)
class ModelSimulation:
    """Per-layer and total modelled accelerator numbers, host ops, and the measured CPU runs (``cpu``)."""

    layers: list[LayerSimulation]
    host_ops: list[HostOp]
    mode: str
    arch: str | None = None
    clock_hz: float | None = None
    energy_table: str | None = None
    trace_method: str = "torch.fx"
    cpu: dict | None = None  # {"dense": {...}, "sparsified": {...}}, or None when not measured
    traced: TracedModel | None = field(default=None, repr=False)

    @property
    def _ok(self) -> list[LayerSimulation]:
        return [layer for layer in self.layers if layer.error is None]

    @property
    def total_cycles(self) -> int:
        return sum(layer.cycles for layer in self._ok)

    @property
    def total_seconds(self) -> float:
        return float(sum(layer.seconds for layer in self._ok))

    @property
    def total_energy_j(self) -> float:
        return float(sum(layer.energy["total"] for layer in self._ok))

    def speedup(self, against: str = "dense") -> float | None:
        """Measured CPU seconds of ``against`` ("dense" or "sparsified") / modelled accelerator seconds."""
        if not self.cpu or not self.total_seconds:
            return None
        return self.cpu[against]["seconds"] / self.total_seconds

    def energy_ratio(self, against: str = "dense") -> float | None:
        """Modelled accelerator joules / CPU joules of ``against`` (below 1: the accelerator uses less)."""
        if not self.cpu or not self.cpu[against]["energy_j"]:
            return None
        return self.total_energy_j / self.cpu[against]["energy_j"]

    def to_dict(self) -> dict:
        """Plain JSON-able values; ``labels`` says which numbers are measured, modelled or estimated."""
        return {
            "mode": self.mode, "arch": self.arch, "clock_hz": self.clock_hz, "energy_table": self.energy_table,
            "trace_method": self.trace_method,
            "layers": [{"name": s.name, "op": s.op, "expr": s.expr, "shapes": {k: list(v) for k, v in s.shapes.items()},
                        "weight_sparsity": s.weight_sparsity, "input_sparsity": s.input_sparsity, "cycles": s.cycles,
                        "seconds": s.seconds, "energy_j": None if s.energy is None else dict(s.energy),
                        "error": s.error, "note": s.note} for s in self.layers],
            "host_ops": [{"name": h.name, "op": h.op, "shape": None if h.shape is None else list(h.shape),
                          "note": h.note} for h in self.host_ops],
            "total": {"cycles": self.total_cycles, "seconds": self.total_seconds, "energy_j": self.total_energy_j,
                      "failed_layers": len(self.layers) - len(self._ok), "host_ops": len(self.host_ops)},
            "cpu": self.cpu,
            "speedup_vs_dense_cpu": self.speedup("dense"),
            "energy_ratio_vs_dense_cpu": self.energy_ratio("dense"),
            "speedup_vs_sparsified_cpu": self.speedup("sparsified"),
            "energy_ratio_vs_sparsified_cpu": self.energy_ratio("sparsified"),
            "labels": {"layers": "modelled (accelerator simulation)", "total": "modelled (sum of layers, no overlap)",
                       "cpu.seconds": "measured", "cpu.energy_j": "see cpu.*.energy_label (measured or estimated)",
                       "host_ops": "not modelled (zero accelerator time)"},
        }

    def summary(self) -> str:
        """A text table: layer, shapes, weight/activation sparsity, cycles, uJ; totals and CPU ratios, labelled."""
        head = (f"accelerator (modelled): {self.arch} at {(self.clock_hz or 0) / 1e6:g} MHz, mode {self.mode}, "
                f"energy table {self.energy_table}; traced with {self.trace_method}")
        lines = [head, f"{'layer':<14} {'op':<16} {'shapes':<30} {'w.sp':>6} {'act.sp':>6} {'cycles':>10} "
                       f"{'us':>10} {'uJ':>10}"]
        for s in self.layers:
            shapes = " ".join(f"{k}{list(v)}" for k, v in s.shapes.items()).replace(" ", "")
            wsp = "-" if s.weight_sparsity is None else f"{s.weight_sparsity:.1%}"
            if s.error is None:
                nums = f"{s.cycles:>10} {s.seconds * 1e6:>10.3f} {s.energy['total'] * 1e6:>10.4f}"
            else:
                nums = f"  error: {s.error}"
            lines.append(f"{s.name:<14} {s.op:<16} {shapes:<30} {wsp:>6} {s.input_sparsity:>6.1%} {nums}")
        failed = len(self.layers) - len(self._ok)
        lines.append(f"{'total (modelled, layers in sequence)':<75} {self.total_cycles:>10} "
                     f"{self.total_seconds * 1e6:>10.3f} {self.total_energy_j * 1e6:>10.4f}"
                     + (f"  ({failed} failed layers not counted)" if failed else ""))
        host = ", ".join(str(h) for h in self.host_ops) or "none"
        lines.append(f"host ops not modelled (zero accelerator time, {len(self.host_ops)}): {host}")
        if self.cpu:
            for key, what in (("dense", "dense torch"), ("sparsified", "sparsify(model)")):
                c = self.cpu[key]
                extra = f", {c['sparse_layers']} sparse layers" if "sparse_layers" in c else ""
                lines.append(f"CPU {what} (measured, median of {c['repeats']}, {c['threads']} threads{extra}): "
                             f"{c['seconds'] * 1e6:.1f} us; energy {c['energy_j'] * 1e6:.1f} uJ ({c['energy_label']})")
            for key in ("dense", "sparsified"):
                sp, er = self.speedup(key), self.energy_ratio(key)
                lines.append(f"accelerator vs {key} CPU: speedup {_num(sp)}x (modelled / measured), "
                             f"energy ratio {_num(er)} (modelled / {self.cpu[key]['energy_kind']})")
        else:
            lines.append("CPU not measured (measure_cpu=False)")
        return "\n".join(lines)


def _num(v: float | None) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.3g}"


def _measure(model: nn.Module, inputs: tuple, repeats: int) -> dict:
    """Median wall time (and RAPL joules where readable) of ``repeats`` no-grad calls after one warm-up."""
    times, joules = [], []
    with torch.no_grad():
        model(*inputs)
        for _ in range(repeats):
            with measure_rapl() as reading:
                t0 = time.perf_counter()
                model(*inputs)
                times.append(time.perf_counter() - t0)
            joules.append(reading.joules)
    seconds = float(np.median(times))
    measured = None if any(j is None for j in joules) else float(np.median(joules))
    energy = cpu_energy_baseline(seconds, measured_joules=measured)
    return {"seconds": seconds, "energy_j": energy["joules"], "energy_label": f"{energy['label']}: {energy['method']}",
            "energy_kind": "measured" if measured is not None else "estimated", "repeats": repeats,
            "threads": torch.get_num_threads()}


def simulate(model: nn.Module, example_inputs, *, arch=None, energy=None, mode: str = "sparse",
             measure_cpu: bool = True, repeats: int = 5, sparsify_options: dict | None = None) -> ModelSimulation:
    """Trace ``model``, simulate every program on the accelerator, and measure the CPU runs beside it.

    ``arch``/``energy``/``mode`` go to ``Program.simulate``; ``sparsify_options`` to ``sparsify``
    for the sparsified CPU run. ``measure_cpu=False`` skips the CPU runs (``cpu`` is None).

    >>> m = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Softmax(-1))
    >>> s = simulate(m, torch.ones(1, 4), repeats=2)
    >>> s.layers[0].cycles > 0, [h.op for h in s.host_ops], s.cpu["dense"]["energy_kind"] in ("measured", "estimated")
    (True, ['Softmax'], True)
    """
    if repeats < 1:
        raise ValueError(f"{repeats=} must be at least 1")
    inputs = _inputs(example_inputs)
    traced = trace(model, inputs)
    results: list[LayerSimulation] = []
    arch_name = clock = table = None
    for layer in traced.layers:
        base = {"name": layer.name, "op": layer.op, "expr": layer.expr, "shapes": layer.shapes,
                "weight_sparsity": layer.weight_sparsity, "input_sparsity": layer.input_sparsity, "note": layer.note}
        try:
            sim = layer.program.simulate(arch=arch, energy=energy, mode=mode)
        except Exception as exc:  # noqa: BLE001 - reported per layer, never hidden
            results.append(LayerSimulation(**base, error=f"{type(exc).__name__}: {exc}"[:300]))
            continue
        arch_name, clock, table = sim.arch.name, float(sim.arch.clock_hz), sim.energy_table
        results.append(LayerSimulation(**base, cycles=int(sim.cycles), seconds=float(sim.seconds),
                                       energy={k: float(v) for k, v in sim.energy.items()}))
    cpu = None
    if measure_cpu:
        was_training = model.training
        model.eval()
        try:
            dense = _measure(model, inputs, repeats)
            fast = sparsify(model, **(sparsify_options or {}))
            fast.eval()
            sparse = _measure(fast, inputs, repeats)
            sparse["sparse_layers"] = sum(isinstance(m, SparseWeights) for m in fast.modules())
        finally:
            model.train(was_training)
        cpu = {"dense": dense, "sparsified": sparse}
    return ModelSimulation(results, traced.host_ops, mode, arch_name, clock, table, traced.method, cpu, traced)
