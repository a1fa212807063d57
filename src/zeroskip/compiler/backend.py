"""The table of execution backends: the compiler names them, backends register themselves (rules beside the primitive).

``Program.run``, ``Program.source`` and the backend part of ``Program.explain`` look the backend up
here, so the compiler never imports a backend (imports point down the layers of DESIGN.md);
``import zeroskip`` registers the CPU backend.

Example:
    >>> import zeroskip
    >>> "cpu" in registered()
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from zeroskip.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    run: Callable
    source: Callable
    explain: Callable
    bind: Callable | None = None  # (program, fixed tensors, threads, backend) -> (tensors, dtype) -> output


_BACKENDS: dict[str, Backend] = {}


def register_backend(name: str, *, run: Callable, source: Callable, explain: Callable,
                     bind: Callable | None = None) -> None:
    _BACKENDS[name] = Backend(name, run, source, explain, bind)


def registered() -> tuple[str, ...]:
    return tuple(sorted(_BACKENDS))


def get_backend(name: str) -> Backend:
    if name not in _BACKENDS:
        raise ConfigError(f"no backend named {name!r} is registered (registered: {', '.join(registered()) or 'none'})")
    return _BACKENDS[name]


_SIMULATORS: dict[str, Callable] = {}


def register_simulator(name: str, simulate: Callable) -> None:
    """Register ``simulate(graph, tensors, **options)``; ``import zeroskip`` registers the accelerator model."""
    _SIMULATORS[name] = simulate


def get_simulator(name: str = "accelerator") -> Callable:
    if name not in _SIMULATORS:
        raise ConfigError(f"no simulator named {name!r} is registered (registered: {', '.join(sorted(_SIMULATORS)) or 'none'})")
    return _SIMULATORS[name]
