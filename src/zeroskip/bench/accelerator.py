"""The accelerator against the CPU: a measured CPU run of a program beside its simulation, with ratios.

The CPU side is measured (``Program.run``, median of repeats, threads set) and its energy is RAPL
where readable, else package power x time, labelled an estimate; the accelerator side is
modelled (``Program.simulate``). The result says which number is which.

Example:
    >>> import numpy as np, scipy.sparse as sp, zeroskip as zs
    >>> A = sp.random(64, 64, density=0.05, format="csr", random_state=0); x = np.ones(64)
    >>> c = compare_with_cpu(zs.compile("y(i) = A(i,j) * x(j)", A=A, x=x), repeats=3)
    >>> sorted(c["cpu"]) == ["energy_j", "energy_method", "seconds", "threads"], c["speedup"] > 0
    (True, True)
"""

from __future__ import annotations

import time

import numpy as np

from zeroskip.config import get_num_threads
from zeroskip.hardware.baseline import cpu_energy_baseline, measure_rapl


def compare_with_cpu(program, *, repeats: int = 5, threads: int | None = None, arch=None, energy=None,
                     mode: str = "sparse", **options) -> dict:
    """Run ``program`` on the CPU (measured) and simulate it (modelled); speedup and energy ratio of the accelerator.

    ``speedup`` = CPU seconds / accelerator seconds; ``energy_ratio`` = accelerator joules / CPU joules.
    """
    threads = get_num_threads() if threads is None else threads
    program.run(threads=threads)  # compile or load the kernel outside the timing
    times, joules = [], []
    for _ in range(repeats):
        with measure_rapl() as reading:
            t0 = time.perf_counter()
            program.run(threads=threads)
            times.append(time.perf_counter() - t0)
        joules.append(reading.joules)
    seconds = float(np.median(times))
    measured = None if any(j is None for j in joules) else float(np.median(joules))
    cpu = cpu_energy_baseline(seconds, measured_joules=measured)
    sim = program.simulate(arch=arch, energy=energy, mode=mode, **options)
    return {
        "cpu": {"seconds": seconds, "energy_j": cpu["joules"], "energy_method": f"{cpu['label']}: {cpu['method']}", "threads": threads},
        "accelerator": {"seconds": sim.seconds, "cycles": sim.cycles, "energy_j": sim.energy["total"],
                        "mode": mode, "arch": sim.arch.name, "energy_table": sim.energy_table},
        "speedup": seconds / sim.seconds if sim.seconds else float("inf"),
        "energy_ratio": sim.energy["total"] / cpu["joules"] if cpu["joules"] else float("nan"),
        "measured": "CPU time (and CPU energy when the method is rapl)",
        "modelled": "accelerator cycles and energy; CPU energy when the method is an estimate",
    }
