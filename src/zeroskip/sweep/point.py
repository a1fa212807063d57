"""One sweep point: its architecture and workload built, simulated, summarized as a row; with limits.

``evaluate(point)`` builds the point's architecture (the base spec with the point's overrides),
energy table and workload (prepared once per process and reused by every point that shares it),
simulates every layer, and returns the row the store keeps. ``evaluate_limited`` runs it in a
forked child process (one per process, kept from point to point: ``Sandbox``) under the point's
time and memory limits, so a runaway point is stopped and recorded as ``timeout`` or ``memory``
while the worker goes on; a child that dies any other way is recorded ``failed`` with its exit
status, and the next point starts a new child.

Example:
    >>> row = evaluate({"workload": "spmspv/random:16", "sparsity": 0.5, "arch": "onyx", "energy": "onyx12nm",
    ...                 "mode": "sparse", "tiling": "nnz", "balance": "lpt", "copies": 1, "key": "k"})
    >>> row["status"], row["cycles"] > 0
    ('ok', True)
"""

from __future__ import annotations

import functools
import json
import os
import resource
import select
import signal
import time
import tomllib
import traceback
from pathlib import Path

from zeroskip.bench.workloads import Workload, prepare
from zeroskip.bench.kernels import KERNELS
from zeroskip.bench.store import canonical

_BUNDLED_ARCHES = ("onyx",)


def arch_spec(point: dict) -> dict:
    """The architecture spec of a point: its base (bundled name or TOML path) with the point's overrides."""
    base = point.get("arch", "onyx")
    spec = {"base": base} if base in _BUNDLED_ARCHES else tomllib.loads(Path(base).read_text(encoding="utf-8"))
    overrides = {k.removeprefix("arch."): v for k, v in point.items() if k.startswith("arch.")}
    if point.get("array"):
        rows, cols = (int(v) for v in str(point["array"]).lower().split("x"))
        overrides |= {"rows": rows, "cols": cols, "mem_columns": list(range(3, cols, 4))}  # Onyx's 1:4 ratio
    if overrides:
        spec["name"] = f"{spec.get('name', Path(str(base)).stem)}-swept"
    return spec | overrides


def workload_of(name: str, sparsity: float | None) -> Workload:
    """The suite ``Workload`` of a sweep workload name (``KERNEL/MATRIX`` or ``KERNEL/random:N``)."""
    kernel, _, source = name.partition("/")
    params: dict = {"kernel": kernel}
    if source.startswith("random:"):
        n = int(source.removeprefix("random:"))
        density = 1.0 - (0.9 if sparsity is None else sparsity)
        if KERNELS[kernel].source == "matrix":
            params["random"] = {"n": n, "density": density, "seed": 0}
        else:
            params |= {"shape": [n, n, n], "density": density, "seed": 0}
    else:
        params["matrix"] = source
    return Workload(f"{name}@{sparsity}", "kernel", name, params)


@functools.lru_cache(maxsize=16)
def _layers(name: str, sparsity: float | None):
    problem = prepare(workload_of(name, sparsity))
    return problem, problem.layers()


def evaluate(point: dict) -> dict:
    """Simulate one point; a row with ``status`` ok or failed (with the error), cycles, seconds, joules."""
    from zeroskip.hardware.arch import cached_arch
    from zeroskip.hardware.energy import cached_energy

    started = time.perf_counter()
    row = {"key": point["key"], "status": "ok", "error": None}
    try:
        problem, layers = _layers(point["workload"], point.get("sparsity"))
        arch = cached_arch(canonical(arch_spec(point)))
        energy = cached_energy(canonical(point["energy"]))
        options = {"tiling": point["tiling"], "balance": point["balance"]}
        if point["copies"]:
            options["copies"] = point["copies"]
        cycles, seconds, joules, breakdown, util = 0, 0.0, 0.0, {}, None
        for layer in layers:
            sim = layer.program.simulate(arch=arch, energy=energy, mode=point["mode"], **options)
            cycles += sim.cycles
            seconds += sim.seconds
            joules += sim.energy["total"]
            for k, v in sim.energy.items():
                if k != "total":
                    breakdown[k] = breakdown.get(k, 0.0) + float(v)
            if sim.mapping is not None and util is None:
                util = {"copies": sim.mapping.copies, "tiles": len(sim.mapping.tiles)}
        row |= {"cycles": int(cycles), "seconds": float(seconds), "energy_j": float(joules),
                "metrics": {"energy_breakdown": breakdown, "mapping": util, "flops": problem.flops,
                            "pe_tiles": arch.pe_tiles, "mem_tiles": arch.mem_tiles}}
    except Exception as exc:  # noqa: BLE001 - a failing point is recorded and the sweep goes on
        row |= {"status": "failed", "error": _short("".join(traceback.format_exception_only(type(exc), exc)).strip())}
    row["wall_s"] = time.perf_counter() - started
    return row


def _short(text: str, limit: int = 1500) -> str:
    """At most ``limit`` characters: the first line (what went wrong) and the end (where), when cut."""
    if len(text) <= limit:
        return text
    head = text.split("\n", 1)[0][: limit // 3]
    return f"{head}\n...\n{text[-(limit - len(head) - 5):]}"


def _serve(read_fd: int, write_fd: int) -> None:
    """The sandbox child: one point per line in, one row per line out, until its input closes; never returns."""
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        with os.fdopen(read_fd, "r") as inp, os.fdopen(write_fd, "w") as out:
            for line in inp:
                job = json.loads(line)
                point = job["point"]
                # The limit is on top of what the child holds already (its caches grow from point to point).
                limit = _address_space() + job["memory_bytes"]
                resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard),
                                                        hard))
                try:
                    row = evaluate(point)
                except MemoryError:
                    row = {"key": point["key"], "status": "memory", "error": "MemoryError: over the memory limit"}
                finally:
                    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
                if row["status"] == "failed" and row["error"].startswith("MemoryError"):
                    row["status"] = "memory"
                out.write(json.dumps(row) + "\n")
                out.flush()
    finally:
        os._exit(0)  # skip the parent's atexit handlers and finalizers (a forked copy runs none of them)


def _address_space() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


class Sandbox:
    """A forked child that evaluates points one at a time under limits, kept from batch to batch.

    Forking once per process (not per point or batch) keeps the child's prepared workloads and
    loaded kernels; a child that overruns its time is killed and one that dies is reaped, and the
    next point starts a new one. (``os.fork`` rather than multiprocessing: Dask's worker processes
    are daemons, which multiprocessing forbids to have children.)
    """

    def __init__(self) -> None:
        self.pid = 0
        self.writer = self.reader = self.poller = None

    def _start(self) -> None:
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(down_w)
            os.close(up_r)
            _serve(down_r, up_w)
        os.close(down_r)
        os.close(up_w)
        self.pid, self.writer, self.reader = pid, os.fdopen(down_w, "w"), os.fdopen(up_r, "r")
        self.poller = select.poll()
        self.poller.register(self.reader, select.POLLIN | select.POLLHUP)

    def stop(self) -> int:
        """Kill and reap the child (if any); its wait status."""
        if not self.pid:
            return 0
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        status = os.waitpid(self.pid, 0)[1]
        self.pid = 0
        self._close_pipes()
        return status

    def _close_pipes(self) -> None:
        for f in (self.writer, self.reader):
            try:
                f.close()
            except OSError:
                pass

    def evaluate(self, point: dict, time_s: float, memory_mb: float) -> dict:
        """The point's row, or a ``timeout``/``failed`` row when the child overran or died."""
        if not self.pid:
            self._start()
        started = time.perf_counter()
        try:
            self.writer.write(json.dumps({"point": point, "memory_bytes": int(memory_mb * 2 ** 20)}) + "\n")
            self.writer.flush()
            line = self.reader.readline() if self.poller.poll(time_s * 1000) else None
        except BrokenPipeError:
            line = ""

        def error_row(status: str, error: str) -> dict:
            return {"key": point["key"], "status": status, "wall_s": time.perf_counter() - started, "error": error}

        if line is None:
            self.stop()
            return error_row("timeout", f"stopped: over the time limit of {time_s:g} s")
        if not line:
            status = self.stop()
            return error_row("failed", f"the point's process died ({_died(status)})")
        row = json.loads(line)
        if row.get("key") != point["key"]:  # never store one point's row under another's key
            self.stop()
            return error_row("failed", f"the sandbox answered for point {row.get('key')!r}, not {point['key']!r}")
        return row

    def forget(self) -> None:
        """In a forked copy of the owner: drop the owner's child (not ours to kill) and its pipes."""
        if self.pid:
            self._close_pipes()
        self.pid = 0


_sandbox = Sandbox()
os.register_at_fork(after_in_child=_sandbox.forget)  # a forked process (a Dask worker) starts its own child


def reset_sandbox() -> None:
    """Stop this process's sandbox child; the next limited point forks a fresh one (from the code as it is now)."""
    _sandbox.stop()


def evaluate_batch_limited(points: list[dict], time_s: float, memory_mb: float) -> list[dict]:
    """Each point of ``points`` evaluated in this process's sandbox child under ``time_s`` s and ``memory_mb`` MB."""
    return [_sandbox.evaluate(p, time_s, memory_mb) for p in points]


def _died(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}"


def evaluate_limited(point: dict, time_s: float, memory_mb: float) -> dict:
    """``evaluate`` of one point in the sandbox child under the limits (see ``Sandbox``)."""
    return _sandbox.evaluate(point, time_s, memory_mb)
