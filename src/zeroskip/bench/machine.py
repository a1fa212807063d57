"""What a benchmark ran on: CPU, cores, caches, memory, library versions and the checkout's commit.

Versions come from the installed distributions' metadata, so nothing heavy is imported.

Example:
    >>> info = machine_info()
    >>> sorted(info)[:3]
    ['cores', 'cpu', 'git']
    >>> "numpy" in info["versions"]
    True
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

from zeroskip.bench.timing import last_level_cache_bytes
from zeroskip.config import usable_cores

# Distributions whose versions decide the numbers (python-graphblas bundles SuiteSparse:GraphBLAS).
DISTRIBUTIONS = ("zeroskip", "numpy", "scipy", "numba", "llvmlite", "torch", "python-graphblas",
                 "suitesparse-graphblas")


def machine_info() -> dict:
    """A JSON-ready description of this machine and software."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "llc_bytes": last_level_cache_bytes(),
        "memory_bytes": _memory_bytes(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in DISTRIBUTIONS},
        "git": _git_commit(),
    }


class OtherLoad:
    """Cores kept busy by *other* processes between ``start()`` and ``stop()`` (Linux /proc/stat; None elsewhere).

    Busy cores of the whole machine minus the CPU time of this process and of its children that
    ended in the interval, over the wall time. Benchmarks
    run while other work competes for the cores are noise; the runner records and flags them.
    """

    def start(self) -> OtherLoad:
        self._t0 = self._sample()
        return self

    def stop(self) -> float | None:
        t1 = self._sample()
        if self._t0 is None or t1 is None or t1[0] == self._t0[0]:
            return None
        (total0, idle0, own0, wall0), (total1, idle1, own1, wall1) = self._t0, t1
        busy = (os.cpu_count() or 1) * (1 - (idle1 - idle0) / (total1 - total0))
        return max(0.0, busy - (own1 - own0) / max(wall1 - wall0, 1e-9))

    @staticmethod
    def _sample() -> tuple[int, int, float, float] | None:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        times = os.times()  # this process and its reaped children (benchmark workers are ours, not other load)
        own = times.user + times.system + times.children_user + times.children_system
        return sum(fields), fields[3] + fields[4], own, time.perf_counter()


def busy_cores(interval: float = 0.5) -> float | None:
    """Cores busy with other processes over the next ``interval`` seconds."""
    load = OtherLoad().start()
    time.sleep(interval)
    return load.stop()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    """HEAD of the checkout this package runs from, with ``-dirty`` if the tree has changes."""
    root = Path(__file__).resolve().parents[3]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
