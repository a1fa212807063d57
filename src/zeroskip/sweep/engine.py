"""Running a sweep: its points in batches on a Dask cluster (or in this process), into the results store.

The client is the only writer: workers return rows, the client writes each batch in one
transaction, and a point's key is its primary key, so a point is stored exactly once however many
times it ran (a batch lost with a killed worker is rerun elsewhere by Dask; a rerun of the sweep
skips stored points, so an interrupted sweep resumes where it stopped).

A local cluster's workers are forked from the client after it has warmed the simulator (on Linux),
so they start warm in a fraction of a second. On a worker, ``run_batch`` warms the simulator once
per process (a no-op when inherited), then evaluates the points in the worker's sandbox child
(``point.Sandbox``: forked once and kept, so its prepared workloads carry over from batch to
batch) under the per-point time and memory limits; a point over a limit is recorded ``timeout`` or
``memory`` and a new child takes the next point.

Example:
    >>> from zeroskip.sweep.spec import load_sweep
    >>> spec = load_sweep('name = "doc"\\n[axes]\\nworkload = ["spmspv/random:8"]\\nsparsity = [0.5, 0.9]')
    >>> [len(b) for b in batches(spec.points(), 1)]
    [1, 1]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from zeroskip.bench.store import ResultStore
from zeroskip.config import usable_cores
from zeroskip.errors import MissingDependencyError
from zeroskip.sweep.spec import SweepSpec

MAX_BATCH = 32  # points per task: enough to amortize Dask's per-task cost, few enough to balance the end
WARM_UP = ("spmspv/random:8", "spmspm/random:8", "elemadd/random:8", "ttv/random:4")  # every primitive kind
_warm = False


def warm_up() -> None:
    """Compile or load the simulator's kernels in this process (once), so forked children inherit them."""
    global _warm
    if _warm:
        return
    from zeroskip.sweep.point import evaluate

    for name in WARM_UP:
        for mode in ("sparse", "dense"):
            evaluate({"workload": name, "sparsity": 0.5, "arch": "onyx", "energy": "onyx12nm", "mode": mode,
                      "tiling": "nnz", "balance": "lpt", "copies": 1, "key": "warm-up"})
    _warm = True


def batches(points: list[dict], size: int) -> list[list[dict]]:
    """``points`` cut into batches of ``size`` (the last may be shorter)."""
    return [points[i:i + size] for i in range(0, len(points), max(1, size))]


def run_batch(points: list[dict], limits: dict | None) -> list[dict]:
    """Evaluate ``points`` (on a worker); with ``limits``, in this process's sandbox child under them."""
    from zeroskip.sweep.point import evaluate, evaluate_batch_limited

    if limits is None:
        return [evaluate(p) for p in points]
    warm_up()  # before the sandbox child is first forked, so it starts with the kernels loaded
    return evaluate_batch_limited(points, limits["time_s"], limits["memory_mb"])


@dataclass
class SweepProgress:
    """Counts of a sweep (what the progress bar and the final line show)."""

    total: int = 0
    already: int = 0
    done: int = 0
    running: int = 0
    by_status: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @property
    def failed(self) -> int:
        return sum(n for s, n in self.by_status.items() if s != "ok")

    @property
    def points_per_s(self) -> float:
        return self.done / max(time.perf_counter() - self.started, 1e-9)


def run_sweep(spec: SweepSpec, store: ResultStore, *, scheduler: str | None = None, workers: int | None = None,
              batch: int | None = None, redo: bool = False, limits: bool = True,
              on_batch: Callable[[list[dict], SweepProgress, object], None] | None = None) -> SweepProgress:
    """Run the points of ``spec`` not yet in ``store``.

    ``scheduler``: ``None`` starts a local Dask cluster of ``workers`` processes (default: the usable
    cores), ``"serial"`` runs in this process, anything else is the address of a running scheduler.
    ``batch`` points go to a worker at a time (default: enough batches for about 8 per worker, at
    most 32 points each, so every worker stays busy to the end). ``limits=False`` evaluates without
    the per-point child (no limits; what the serial baseline of
    the sweep benchmark times). ``on_batch(rows, progress, client)`` runs after each stored batch.
    """
    if redo:
        store.forget_sweep(spec.name)
    points = spec.points()
    stored = store.point_keys(spec.name)
    todo = [p for p in points if p["key"] not in stored]
    params = {p["key"]: {k: v for k, v in p.items() if k != "key"} for p in points}
    progress = SweepProgress(total=len(points), already=len(points) - len(todo))
    n_workers = workers or usable_cores()
    if batch is None:
        batch = max(1, min(MAX_BATCH, -(-len(todo) // (8 * n_workers))))
    chunks = batches(todo, batch)
    lim = spec.limits if limits else None

    def record(rows: list[dict], client) -> None:
        store.put_points(rows, params)
        progress.done += len(rows)
        for r in rows:
            progress.by_status[r["status"]] = progress.by_status.get(r["status"], 0) + 1
        if on_batch is not None:
            on_batch(rows, progress, client)

    if scheduler == "serial":
        for chunk in chunks:
            progress.running = len(chunk)
            record(run_batch(chunk, lim), None)
        progress.running = 0
        return progress
    _run_dask(chunks, lim, scheduler, n_workers, progress, record)
    return progress


def _run_dask(chunks, limits, scheduler, workers, progress: SweepProgress, record) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise MissingDependencyError("sweeps on Dask need dask.distributed: pip install 'zeroskip[dist]'") from None

    cluster = None
    if scheduler is None:
        import dask

        method = "spawn"
        if sys.platform == "linux":  # workers forked from a warm client start in a fraction of a second
            warm_up()
            method = "fork"
        with dask.config.set({"distributed.worker.multiprocessing-method": method}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                                   memory_limit=None, silence_logs=40)
    client = Client(cluster if cluster is not None else scheduler)
    try:
        futures = {client.submit(run_batch, chunk, limits, pure=False): chunk for chunk in chunks}
        for future in as_completed(futures):
            chunk = futures[future]
            try:
                rows = future.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker after repeated worker deaths
                rows = [{"key": p["key"], "status": "failed", "error": f"{type(exc).__name__}: {exc}"[:1500]}
                        for p in chunk]
            progress.running = min(sum(1 for f in futures if not f.done()) * len(chunk), progress.total)
            record(rows, client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
