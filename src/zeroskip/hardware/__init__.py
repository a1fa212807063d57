"""The modelled hardware: architecture spec, energy table (every number with its source), CPU baselines.

Example:
    >>> from zeroskip.hardware import default_arch, default_energy
    >>> arch, energy = default_arch(), default_energy()
    >>> arch.name, arch.pe_tiles, energy.price({"alu_mul": 1e6}, arch, 0.0)["compute"] > 0
    ('onyx', 384, True)
"""

from zeroskip.hardware.arch import Arch, PrimitiveTiming, default_arch, load_arch
from zeroskip.hardware.baseline import cpu_energy_baseline
from zeroskip.hardware.energy import EnergyTable, default_energy, load_energy

__all__ = [
    "Arch",
    "EnergyTable",
    "PrimitiveTiming",
    "cpu_energy_baseline",
    "default_arch",
    "default_energy",
    "load_arch",
    "load_energy",
]
