"""A modelled GPU baseline: the roofline of a named GPU from its published peak rates and bandwidth.

Where no GPU is present the suite still sets a GPU beside the CPU and the accelerator, as a model
and labelled so: ``seconds = kernels * launch_overhead + max(flops / peak, bytes / bandwidth)`` and
``joules = board_power * seconds``. Peaks come from a TOML spec (``data/gpu_a100.toml``: every value
with its source). A roofline is a lower bound on time; irregular sparse kernels reach a fraction of it.

Example:
    >>> gpu = load_gpu("a100")
    >>> r = gpu.roofline(flops=2e9, bytes=1e8, dtype="float32")
    >>> round(r["seconds"] * 1e6, 1), r["bound"]
    (107.6, 'compute')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zeroskip.errors import HardwareError
from zeroskip.hardware import _spec

BUILTINS = {"a100": "gpu_a100.toml"}
_KEYS = ("name", "description", "fp32_flops", "fp64_flops", "memory_bandwidth", "board_power_w", "launch_overhead_s")


@dataclass(frozen=True)
class GpuModel:
    """Peak rates of one GPU and the source of each (``sources`` by key)."""

    name: str
    description: str
    fp32_flops: float
    fp64_flops: float
    memory_bandwidth: float
    board_power_w: float
    launch_overhead_s: float
    sources: dict

    def roofline(self, *, flops: float, bytes: float, dtype: str = "float32", kernels: int = 1) -> dict[str, Any]:
        """Modelled seconds and joules of ``kernels`` launches moving ``bytes`` and doing ``flops``."""
        if flops < 0 or bytes < 0 or kernels < 0:
            raise HardwareError(f"roofline needs flops, bytes and kernels >= 0 (got {flops=}, {bytes=}, {kernels=})")
        peak = self.fp64_flops if str(dtype) == "float64" else self.fp32_flops
        compute, memory = flops / peak, bytes / self.memory_bandwidth
        seconds = kernels * self.launch_overhead_s + max(compute, memory)
        return {"seconds": seconds, "joules": self.board_power_w * seconds, "bound": "compute" if compute >= memory
                else "memory", "device": f"{self.description}", "kernels": kernels}


def load_gpu(spec: Any = "a100") -> GpuModel:
    """A GPU model from a bundled name (``"a100"``), a TOML path or text, or a mapping."""
    data = _spec.read(spec, "GPU spec", BUILTINS)
    _spec.check_keys(data, _KEYS, "", "GPU spec")
    values, sources = {}, {}
    for key in _KEYS:
        if key == "name":
            values[key] = str(data[key])
            continue
        value, sources[key] = _spec.entry(key, data[key], "GPU spec")
        values[key] = str(value) if key == "description" else _spec.as_float(key, value)
    return GpuModel(**values, sources=sources)
