"""Timing primitives for benchmarks: thread settings, repeated measurement, cold caches, copy bandwidth.

Every number a benchmark reports comes from ``measure``: warm-up calls (untimed), then ``repeats``
timed calls with the garbage collector off, summarised as median, minimum and interquartile range.
Thread counts are set twice: in the environment of the benchmark's process (read by OpenMP, MKL,
OpenBLAS and numba when they load) and, after the libraries are imported, through their own calls.

Example:
    >>> t = measure(lambda: sum(range(100)), repeats=5, warmup=1).timing
    >>> len(t.times), t.min_s <= t.median_s
    (5, True)
    >>> thread_env(3, {})["OMP_NUM_THREADS"]
    '3'
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Read by the libraries when they load, so they must be in the environment of a fresh process.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "ZEROSKIP_NUM_THREADS",
)


def thread_env(threads: int, base: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``base`` with every thread-count variable set to ``threads``."""
    env = dict(base)
    env.update({name: str(int(threads)) for name in THREAD_ENV_VARS})
    return env


def set_threads(threads: int) -> dict[str, int]:
    """Set the thread count of every library already imported; returns the counts each reports back.

    Call it after a backend's setup has imported what it uses, so nothing is imported only to be set.
    """
    seen: dict[str, int] = {}
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.set_num_threads(threads)
        seen["torch"] = torch.get_num_threads()
    if "numba" in sys.modules:
        numba = sys.modules["numba"]
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        seen["numba"] = numba.get_num_threads()
    if "graphblas" in sys.modules:
        gb = sys.modules["graphblas"]
        if getattr(gb, "backend", None) == "suitesparse":
            gb.ss.config["nthreads"] = threads
            seen["graphblas"] = int(gb.ss.config["nthreads"])
    zs = sys.modules.get("zeroskip")
    if zs is not None and hasattr(zs, "set_num_threads"):
        zs.set_num_threads(threads)
        seen["zeroskip"] = int(zs.get_num_threads()) if hasattr(zs, "get_num_threads") else threads
    return seen


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds of each timed call, in call order, and their summary."""

    times: tuple[float, ...]

    @property
    def median_s(self) -> float:
        return statistics.median(self.times)

    @property
    def min_s(self) -> float:
        return min(self.times)

    @property
    def iqr_s(self) -> float:
        """Interquartile range (0 for fewer than two calls)."""
        if len(self.times) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.times, n=4, method="inclusive")
        return q3 - q1

    def summary(self) -> dict[str, Any]:
        return {"median_s": self.median_s, "min_s": self.min_s, "iqr_s": self.iqr_s, "times": list(self.times)}


@dataclass(frozen=True, slots=True)
class Measured:
    """A ``Timing`` and the result of the last timed call (for checking what was timed)."""

    timing: Timing
    result: Any


def measure(
    fn: Callable[[], Any],
    repeats: int,
    warmup: int,
    *,
    before_each: Callable[[], None] | None = None,
    on_first: Callable[[Any], None] | None = None,
) -> Measured:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed.

    ``before_each`` runs untimed before every call (e.g. to evict caches); ``on_first`` receives the
    first call's result, so a wrong answer fails before the repeats are spent.
    """
    if repeats < 1:
        raise ValueError(f"need at least one timed call, got {repeats=}")
    result = None
    times = []
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()  # a collection inside a timed call is noise, as timeit also assumes
    try:
        for index in range(warmup + repeats):
            if before_each is not None:
                before_each()
            start = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - start
            if index == 0 and on_first is not None:
                on_first(result)
            if index >= warmup:
                times.append(elapsed)
    finally:
        if enabled:
            gc.enable()
    return Measured(Timing(tuple(times)), result)


def last_level_cache_bytes(default: int = 32 << 20) -> int:
    """Size of the largest CPU cache (from sysfs), or ``default`` where it cannot be read."""
    sizes = []
    for path in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = path.read_text().strip().upper()
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes, default=default)


class CacheEvictor:
    """Evicts the CPU caches by writing a buffer several times larger than the last-level cache.

    Example:
        >>> CacheEvictor(1 << 20).nbytes
        1048576
    """

    def __init__(self, nbytes: int | None = None) -> None:
        self.nbytes = int(nbytes or max(256 << 20, 8 * last_level_cache_bytes()))
        self._buffer = np.zeros(self.nbytes, dtype=np.uint8)

    def __call__(self) -> None:
        self._buffer += 1  # read and write every line: dirty lines of the buffer displace everything else


def copy_bandwidth(threads: int, nbytes: int = 256 << 20, repeats: int = 10) -> float:
    """Best copy bandwidth in bytes/s over ``repeats`` copies of ``nbytes``, on ``threads`` threads.

    Bytes counted are those read plus those written (2 x ``nbytes``), as STREAM's Copy counts them.
    numpy's copy releases the GIL, so the threads copy their chunks in parallel.
    """
    count = nbytes // 8
    src = np.ones(count)
    dst = np.zeros(count)
    edges = np.linspace(0, count, threads + 1).astype(np.int64)
    chunks = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]

    def copy(chunk: tuple[int, int]) -> None:
        np.copyto(dst[chunk[0]:chunk[1]], src[chunk[0]:chunk[1]])

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(copy, chunks))  # first touch of dst pages, untimed
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(copy, chunks))
            best = min(best, time.perf_counter() - start)
    return 2 * count * 8 / best
