"""The benchmark suite: every workload on every backend, each backend in its own process, into the store.

``run_suite`` measures the machine once (copy bandwidth and dense GEMM rate, for the roofline),
then for each backend starts one worker process (``zeroskip.bench.worker``) with every thread
variable set, hands it the workloads not yet done, and writes each result to the SQLite store the
moment it arrives (one transaction per row: an interrupted run keeps what finished). A workload
that runs past ``time_limit`` seconds has its worker killed, is recorded as failed, and a new
worker goes on with the rest. Backends run one after another, never side by side, so no two
compete for the cores.

Example:
    >>> cfg = result_config(Workload("x", "kernel", "", {"kernel": "spmspv"}), "scipy", Settings(threads=2))
    >>> cfg["threads"], cfg["params"]
    (2, {'kernel': 'spmspv'})
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import selectors
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from zeroskip.bench.store import Result, ResultStore, canonical, jsonable
from zeroskip.bench.worker import BACKENDS, MEASURED
from zeroskip.bench.workloads import Workload
from zeroskip.config import usable_cores
from zeroskip.errors import ZeroskipError

DEFAULT_BACKENDS = ("cpu-dense", "scipy", "graphblas", "zeroskip-cpu", "accel-sparse", "accel-dense", "gpu-model")


def default_backends() -> tuple[str, ...]:
    """The default backends, with the measured GPU added when torch sees a CUDA device."""
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            return (*DEFAULT_BACKENDS, "gpu-cuda")
    return DEFAULT_BACKENDS


@dataclass
class Settings:
    """What a run is configured with (the parts that decide a number go into each result's config)."""

    threads: int = field(default_factory=usable_cores)
    repeats: int = 5
    warmup: int = 1
    arch: object = None  # a spec for zeroskip.hardware.load_arch (None: the built-in Onyx)
    energy: object = None  # a spec for load_energy (None: the built-in Onyx 12 nm table)
    gpu: str = "a100"
    sim_budget: float = 4e7  # useful flops above which the sparse accelerator is not simulated
    time_limit: float = 600.0  # seconds one workload may take on one backend
    data: str | None = None


@functools.lru_cache(maxsize=16)
def _spec_identity(kind: str, spec_json: str) -> dict:
    """Name and content hash of an architecture or energy spec (results of other specs never mix);
    hashed once per spec, not once per workload (and loaded by ``cached_arch``/``cached_energy``)."""
    from zeroskip.hardware.arch import cached_arch
    from zeroskip.hardware.energy import cached_energy

    loaded = cached_arch(spec_json) if kind == "arch" else cached_energy(spec_json)
    return {"name": loaded.name, "sha": hashlib.sha256(canonical(loaded.to_dict()).encode()).hexdigest()[:16]}


def result_config(workload: Workload, backend: str, settings: Settings) -> dict:
    """Everything that decides ``backend``'s number on ``workload``."""
    config: dict = {"params": workload.params}
    if backend in MEASURED:
        config["threads"] = settings.threads
    elif backend.startswith("accel-"):
        config["arch"] = dict(_spec_identity("arch", canonical(settings.arch)))
        config["energy"] = dict(_spec_identity("energy", canonical(settings.energy)))
    elif backend == "gpu-model":
        config["gpu"] = settings.gpu
    return config


def machine_peaks(threads: int) -> dict:
    """Measured copy bandwidth (bytes/s) and dense float64 GEMM rate (FLOP/s): the CPU roofline's roof."""
    import numpy as np

    from zeroskip.bench.timing import copy_bandwidth, measure

    bandwidth = copy_bandwidth(threads, nbytes=128 << 20, repeats=5)
    n = 1024
    a, b = np.random.default_rng(0).standard_normal((2, n, n))
    gemm = measure(lambda: a @ b, repeats=5, warmup=1).timing.min_s
    return {"copy_bandwidth_Bps": bandwidth, "dense_gflops": 2 * n ** 3 / gemm / 1e9}


class _Worker:
    """A running worker process and the line reader over its stdout."""

    def __init__(self, job: dict, threads: int) -> None:
        from zeroskip.bench.timing import thread_env

        self.proc = subprocess.Popen([sys.executable, "-m", "zeroskip.bench.worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=thread_env(threads, os.environ))
        self.proc.stdin.write(json.dumps(jsonable(job)))  # a spec given as a Path travels as its text
        self.proc.stdin.close()
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)

    def line(self, timeout: float) -> str | None:
        """The next protocol line; None at the end of output; TimeoutError past ``timeout`` seconds."""
        if not self.selector.select(timeout):
            raise TimeoutError
        text = self.proc.stdout.readline()
        return text or None

    def stop(self) -> str:
        """Kill if still running; the tail of its stderr."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        return (self.proc.stderr.read() or "")[-1500:]


@dataclass
class Progress:
    """Counts of a suite run (what a progress bar and the final line show)."""

    total: int = 0
    done: int = 0
    skipped_done: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list = field(default_factory=list)
    other_load: float = 0.0  # most cores other processes kept busy while a backend ran (timings are noisy above ~0.25)


def run_suite(workloads: Sequence[Workload], store: ResultStore, *, backends: Sequence[str] | None = None,
              settings: Settings | None = None, redo: bool = False, command: str = "", preset: str = "",
              on_result: Callable[[Result | None, Progress], None] | None = None) -> Progress:
    """Run ``workloads`` on ``backends`` into ``store``; ``on_result`` is called after every row."""
    settings = settings or Settings()
    backends = default_backends() if backends is None else tuple(backends)
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise ZeroskipError(f"unknown backend {unknown[0]!r}; known: {', '.join(BACKENDS)}")
    from zeroskip.bench.machine import machine_info

    machine = machine_info() | machine_peaks(settings.threads)
    arch = result_config(workloads[0], "accel-sparse", settings)["arch"]["name"] if workloads else ""
    run_id = store.begin_run(command=command, preset=preset, machine=machine, arch=arch,
                             energy_table=str(settings.energy or "onyx-12nm"),
                             settings={k: v for k, v in vars(settings).items() if k not in ("arch", "energy")}
                             | {"arch": str(settings.arch or "onyx"), "energy": str(settings.energy or "onyx-12nm"),
                                "backends": list(backends)})
    progress = Progress(total=len(workloads) * len(backends))
    described = set(store.workloads())
    for backend in backends:
        items = []
        for w in workloads:
            config = result_config(w, backend, settings)
            if not redo and store.done(w.name, backend, config):
                progress.done += 1
                progress.skipped_done += 1
                continue
            items.append({"workload": vars(w), "config": config, "want_info": w.name not in described})
        _run_backend(backend, items, store, run_id, settings, progress, described, on_result)
    store.finish_run(run_id)
    return progress


def _run_backend(backend: str, items: list, store: ResultStore, run_id: int, settings: Settings, progress: Progress,
                 described: set, on_result) -> None:
    job = {"backend": backend, "threads": settings.threads, "repeats": settings.repeats, "warmup": settings.warmup,
           "arch": settings.arch, "energy": settings.energy, "gpu": settings.gpu,
           "sim_budget": settings.sim_budget, "data": settings.data}
    from zeroskip.bench.machine import OtherLoad

    while items:
        load = OtherLoad().start()
        worker = _Worker(job | {"items": items}, settings.threads)
        timed_out = False
        try:
            while items:
                text = worker.line(settings.time_limit)
                if text is None:
                    break
                kind, _, payload = text.partition(" ")
                if kind == "ZSINFO":
                    data = json.loads(payload)
                    w = data["workload"]
                    store.put_workload(w["name"], w["family"], w["description"], w["params"], data["info"])
                    described.add(w["name"])
                elif kind == "ZSRESULT":
                    result = Result(**json.loads(payload))
                    store.put(result, run_id)
                    items.pop(0)
                    _count(progress, result, on_result)
        except TimeoutError:
            timed_out = True
            result = _lost(items.pop(0), backend, f"stopped: over the time limit of {settings.time_limit:g} s")
            store.put(result, run_id)
            _count(progress, result, on_result)
        finally:
            tail = worker.stop()
            busy = load.stop()
            progress.other_load = max(progress.other_load, busy or 0.0)
        if items and not timed_out:  # the worker died inside this item (a crash, or killed for memory)
            result = _lost(items.pop(0), backend, f"worker ended (exit {worker.proc.returncode}) before answering: "
                                                  f"{tail}")
            store.put(result, run_id)
            _count(progress, result, on_result)


def _lost(item: dict, backend: str, reason: str) -> Result:
    w = item["workload"]
    return Result(w["name"], w["family"], backend, item["config"], kind="measured" if backend in MEASURED
                  else "modelled", status="failed", error=reason)


def _count(progress: Progress, result: Result, on_result) -> None:
    progress.done += 1
    setattr(progress, result.status, getattr(progress, result.status) + 1)
    if result.status == "failed":
        progress.failures.append(f"{result.workload} on {result.backend}: {result.error}")
    if on_result is not None:
        on_result(result, progress)
