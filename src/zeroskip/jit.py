"""Compiled helpers that load fast: numba's ``njit(cache=True)`` without its registry refresh on a cache load.

Before loading any cached function numba refreshes every typing and lowering registry (about
100 ms on first use in a process, scipy.linalg's import included), though rebuilding cached
machine code only needs the runtime (NRT) it links against. ``load_only`` gives a dispatcher a
cache that skips the refresh; a function that must compile still goes through numba's compiler,
which refreshes for itself. Every compiled helper of zeroskip (format sorting, the simulator's
steps, the CPU kernels and their support functions) loads this way.

Example (a function defined in a module file: numba caches nothing defined interactively):
    >>> from zeroskip.formats import sort  # its radix sort passes are made with ``cached_njit(nogil=True)``
    >>> type(sort._counting_pass._cache).__name__
    '_LoadOnlyCache'
"""

from __future__ import annotations

import numba
from numba.core import caching, dispatcher
from numba.core.runtime import rtsys


class _LoadOnlyCache(caching.FunctionCache):
    """numba's function cache, less the refresh of all registries before a load (see the module's doc)."""

    def load_overload(self, sig, target_context):
        rtsys.initialize(target_context)  # the loaded code calls NRT's allocator; idempotent
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)


# numba's private cache hooks, checked so that another numba version falls back to its own cache.
_CAN_LOAD_ONLY = all(hasattr(caching.Cache, a) for a in ("_load_overload", "_guard_against_spurious_io_errors"))


def load_only(fn):
    """``fn`` (a numba dispatcher with ``cache=True``; anything else is left alone) made to load its cached
    machine code without numba's registry refresh; returns ``fn``, so it serves as a decorator.

    >>> from zeroskip.formats.sort import _counting_pass  # made with cached_njit
    >>> load_only(_counting_pass) is _counting_pass, type(_counting_pass._cache).__name__
    (True, '_LoadOnlyCache')
    """
    if _CAN_LOAD_ONLY and isinstance(fn, dispatcher.Dispatcher) and type(fn._cache) is caching.FunctionCache:
        fn._cache = _LoadOnlyCache(fn.py_func)
    return fn


def cached_njit(**options):
    """A decorator: ``numba.njit(cache=True, **options)``, loading as ``load_only`` says."""
    def decorate(fn):
        return load_only(numba.njit(cache=True, **options)(fn))

    return decorate
