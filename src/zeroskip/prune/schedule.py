"""Gradual pruning schedules.

Example:
    >>> [round(cubic_sparsity(t, initial=0.0, final=0.9, start=0, end=10), 3) for t in (0, 5, 10, 20)]
    [0.0, 0.787, 0.9, 0.9]
"""

from __future__ import annotations

import numpy as np

from zeroskip.errors import ConfigError
from zeroskip.prune.masks import _check_sparsity


def _check_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    return int(value)


def cubic_sparsity(step: int, *, initial: float = 0.0, final: float, start: int, end: int,
                   frequency: int = 1) -> float:
    """The cubic schedule of Zhu and Gupta (2017): ``s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3``.

    Pruning starts at step ``t0 = start`` and ends at ``end = t0 + n dt``; it happens every
    ``frequency`` (``dt``) steps, so ``t`` is the last pruning step at or before ``step``. Before
    ``start`` the sparsity is ``initial``; from ``end`` on it is ``final``. It rises fast early
    (when there are many redundant weights) and slowly near the end.

    Example:
        >>> cubic_sparsity(50, initial=0.0, final=0.5, start=0, end=100)
        0.4375
        >>> cubic_sparsity(74, initial=0.0, final=0.5, start=0, end=100, frequency=25)
        0.4375
        >>> cubic_sparsity(-5, final=0.8, start=0, end=100)
        0.0
    """
    step, start, end, frequency = (_check_int(k, v) for k, v in
                                   (("step", step), ("start", start), ("end", end), ("frequency", frequency)))
    initial = _check_sparsity(initial, "initial")
    final = _check_sparsity(final, "final")
    if end < start:
        raise ConfigError(f"the schedule must end at or after its start, got {start=}, {end=}")
    if frequency < 1:
        raise ConfigError(f"frequency must be at least 1, got {frequency=}")
    if step >= end:
        return final
    if step <= start:
        return initial
    t = start + (step - start) // frequency * frequency
    if t == start:  # exactly initial, with no rounding through the formula
        return initial
    remaining = 1.0 - (t - start) / (end - start)
    return final + (initial - final) * remaining**3
