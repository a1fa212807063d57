"""Energy of a measured CPU run: RAPL package energy where the kernel exposes it, else power x time.

Wrap the run in ``measure_rapl()`` and pass its joules on; where RAPL is unreadable (no powercap, a
VM, no permission) the reading stays ``None`` and ``cpu_energy_baseline`` estimates from a package
power: ``package_watts``, else the environment variable ``ZEROSKIP_CPU_WATTS``, else
``DEFAULT_CPU_WATTS``. The result says which it was, so a report never passes an estimate off as a
measurement.

Example:
    >>> from zeroskip.hardware.baseline import cpu_energy_baseline, measure_rapl
    >>> with measure_rapl() as reading:
    ...     _ = sum(range(1000))
    >>> result = cpu_energy_baseline(reading.seconds, measured_joules=reading.joules)
    >>> result["method"] in ("rapl", f"estimate: configured package power {result['watts']:g} W")
    True
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from zeroskip.errors import ConfigError, HardwareError

__all__ = ["DEFAULT_CPU_WATTS", "RAPL_ZONE", "RaplReading", "cpu_energy_baseline", "measure_rapl"]

RAPL_ZONE = Path("/sys/class/powercap/intel-rapl:0")  # package 0 (AMD Zen exposes it under this name too)
# assumption: a 65 W package, the rated TDP class of mainstream desktop and small-server CPUs; a
# placeholder to override with ZEROSKIP_CPU_WATTS or package_watts for the machine at hand.
DEFAULT_CPU_WATTS = 65.0


@dataclass
class RaplReading:
    """What ``measure_rapl`` saw: ``joules`` (``None`` when RAPL was unreadable) over ``seconds`` of wall time."""

    joules: float | None = None
    seconds: float = 0.0


def _read_uj(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def measure_rapl(zone: str | os.PathLike = RAPL_ZONE) -> Iterator[RaplReading]:
    """Measure package energy over the ``with`` block from RAPL's ``energy_uj`` counter.

    The counter wraps at ``max_energy_range_uj``; one wrap is undone. The reading's ``joules`` stays
    ``None`` when the counter cannot be read (before or after) or wrapped without a known range.

    Example:
        >>> with measure_rapl("/nonexistent") as r:
        ...     pass
        >>> r.joules is None, r.seconds >= 0
        (True, True)
    """
    zone = Path(zone)
    reading = RaplReading()
    start, t0 = _read_uj(zone / "energy_uj"), time.perf_counter()
    try:
        yield reading
    finally:
        reading.seconds = time.perf_counter() - t0
        end = _read_uj(zone / "energy_uj")
        if start is not None and end is not None:
            delta = end - start
            if delta < 0:  # the counter wrapped around during the block
                span = _read_uj(zone / "max_energy_range_uj")
                delta = delta + span if span else None
            reading.joules = None if delta is None else delta * 1e-6


def _configured_watts() -> float:
    raw = os.environ.get("ZEROSKIP_CPU_WATTS")
    if raw is None:
        return DEFAULT_CPU_WATTS
    try:
        watts = float(raw)
    except ValueError:
        raise ConfigError(f"ZEROSKIP_CPU_WATTS={raw!r}: expected a package power in watts") from None
    if not (math.isfinite(watts) and watts > 0):
        raise ConfigError(f"ZEROSKIP_CPU_WATTS={raw!r}: must be a positive number of watts")
    return watts


def cpu_energy_baseline(seconds: float, *, package_watts: float | None = None,
                        measured_joules: float | None = None) -> dict:
    """Joules of a CPU run of ``seconds``: measured (``measured_joules`` from RAPL) or estimated.

    Returns ``joules``, ``watts`` (average), ``method`` (``"rapl"`` or ``"estimate: configured package
    power X W"``) and ``label`` (measured or estimated, in words).

    Example:
        >>> r = cpu_energy_baseline(2.0, package_watts=50)
        >>> r["joules"], r["method"], r["label"]
        (100.0, 'estimate: configured package power 50 W', 'estimated (package power x time)')
    """
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds >= 0):
        raise HardwareError(f"{seconds=}: a run time is a finite number of seconds >= 0")
    if measured_joules is not None:
        if not (math.isfinite(measured_joules) and measured_joules >= 0):
            raise HardwareError(f"{measured_joules=}: measured energy is a finite number of joules >= 0")
        watts = measured_joules / seconds if seconds > 0 else 0.0
        return {"joules": float(measured_joules), "watts": watts, "method": "rapl",
                "label": "measured (RAPL package energy)"}
    watts = _configured_watts() if package_watts is None else float(package_watts)
    if not (math.isfinite(watts) and watts > 0):
        raise HardwareError(f"{package_watts=}: a package power is a positive number of watts")
    return {"joules": watts * seconds, "watts": watts, "method": f"estimate: configured package power {watts:g} W",
            "label": "estimated (package power x time)"}
