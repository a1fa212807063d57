"""Process-wide settings that guard resources (read from the environment, changeable at run time).

Example:
    >>> import zeroskip
    >>> with zeroskip.config.dense_limit(1 << 20):
    ...     zeroskip.config.get_dense_limit()
    1048576
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from zeroskip.errors import ConfigError, DenseLimitError, ShapeError

_DEFAULT_DENSE_LIMIT = 4 << 30  # 4 GiB: a sixth of the 24 GiB machines this is built on

_state = {"dense_limit": int(os.environ.get("ZEROSKIP_DENSE_LIMIT", _DEFAULT_DENSE_LIMIT))}


def get_dense_limit() -> int:
    """Largest dense array, in bytes, that zeroskip will allocate (env ``ZEROSKIP_DENSE_LIMIT``)."""
    return _state["dense_limit"]


def set_dense_limit(nbytes: int) -> None:
    """Set the largest dense array zeroskip will allocate, in bytes.

    Example:
        >>> zeroskip.config.set_dense_limit(8 << 30)  # doctest: +SKIP
    """
    if int(nbytes) < 0:
        raise ShapeError(f"dense limit must be >= 0 bytes, got {nbytes=}")
    _state["dense_limit"] = int(nbytes)


@contextlib.contextmanager
def dense_limit(nbytes: int) -> Iterator[None]:
    """Temporarily change the dense limit (restored on exit)."""
    old = get_dense_limit()
    set_dense_limit(nbytes)
    try:
        yield
    finally:
        _state["dense_limit"] = old


def check_dense_alloc(count: int, itemsize: int, what: str) -> None:
    """Refuse an allocation of ``count`` items of ``itemsize`` bytes above the dense limit."""
    nbytes = int(count) * int(itemsize)
    limit = get_dense_limit()
    if nbytes > limit:
        raise DenseLimitError(
            f"{what} would need {_human(nbytes)} ({count} elements x {itemsize} B), over the dense "
            f"limit of {_human(limit)}; raise it with zeroskip.config.set_dense_limit() or "
            f"ZEROSKIP_DENSE_LIMIT if you mean it"
        )


def _human(nbytes: int) -> str:
    size = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    raise AssertionError("unreachable")


# ---- threads -------------------------------------------------------------------------------------
_threads: int | None = None


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells, else the core count).

    >>> usable_cores() >= 1
    True
    """
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def get_num_threads() -> int:
    """Threads the CPU backend uses: set_num_threads, else $ZEROSKIP_NUM_THREADS, else the usable cores."""
    if _threads is not None:
        return _threads
    env = os.environ.get("ZEROSKIP_NUM_THREADS", "")
    if env:
        return check_threads(int(env))
    return usable_cores()


def set_num_threads(count: int | None) -> None:
    """Set the CPU backend's thread count (None: back to the default).

    >>> set_num_threads(2); get_num_threads()
    2
    >>> set_num_threads(None)
    """
    global _threads
    _threads = None if count is None else check_threads(count)


def check_threads(count: int) -> int:
    """``count`` if it is a positive integer, else ``ConfigError`` quoting it."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"thread count must be a positive integer, got {count!r}")
    return count


def cache_dir() -> Path:
    """Where compiled kernels and the cost model's calibration live: $ZEROSKIP_CACHE_DIR, else the user cache."""
    env = os.environ.get("ZEROSKIP_CACHE_DIR", "")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME", "") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "zeroskip"
