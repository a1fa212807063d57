"""Keeping the simulator's freed buffers in the process heap (glibc), so the next run reuses them.

A functional pass allocates tens of megabytes of step traces and streams. glibc serves blocks
above its mmap threshold (128 KB, adjusted upward as it goes) with fresh mmaps and unmaps them on
free, so every run page-faults the same memory back in: on the 2000x2000 outer product, about
8,300 faults and a third of the pass (37 ms against 24 ms once the memory is kept). On the first
simulation, ``keep_freed_memory`` raises the mmap threshold to glibc's maximum (32 MB on 64-bit)
and the trim threshold to 1 GB, so freed blocks stay in the heap for reuse. The cost is memory
the process keeps after a run (at most what one run used). ``ZEROSKIP_KEEP_HEAP=0`` turns it
off; elsewhere than glibc it does nothing.

Example:
    >>> keep_freed_memory() in (True, False)
    True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc's malloc.h parameter numbers
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # DEFAULT_MMAP_THRESHOLD_MAX of 64-bit glibc: mallopt refuses more
TRIM_THRESHOLD = 1 << 30

_state: dict[str, bool] = {}


def keep_freed_memory() -> bool:
    """Apply the setting once per process; whether it is in effect."""
    if "applied" in _state:
        return _state["applied"]
    applied = False
    if sys.platform.startswith("linux") and os.environ.get("ZEROSKIP_KEEP_HEAP", "1") != "0":
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
            mallopt = None
        if mallopt is not None:
            applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _state["applied"] = applied
    return applied
