"""A sweep of 1,000+ small points on the local Dask cluster against the same points serially in one process.

Each run is a fresh process (``--worker serial|cluster``) with a fresh database, timed from the
parent around the whole process: start-up, imports, the cluster's start, every point, the writes.
``serial`` evaluates the points one after another in that process with no per-point child (the
strongest serial baseline); ``cluster`` is what ``zeroskip sweep`` does: a local cluster of one
worker process per core, batches in forked children under the per-point limits. Runs alternate
(serial, cluster, serial, ...) and the medians are compared; the floor is cluster >= 1.6x serial in
points per second on 2 cores. Both runs must store the same points with the same cycles.

    .venv/bin/python benchmarks/bench_sweep.py                          # 3 runs each, bench1000.toml
    .venv/bin/python benchmarks/bench_sweep.py --quick                  # small.toml, 1 run each
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zeroskip.config import usable_cores

HERE = Path(__file__).resolve().parent
FLOOR = 1.6


def worker(mode: str, sweep: str, db: str, workers: int) -> None:
    from zeroskip.bench.store import ResultStore
    from zeroskip.sweep.engine import run_sweep
    from zeroskip.sweep.spec import load_sweep

    spec = load_sweep(sweep)
    with ResultStore(db) as store:
        if mode == "serial":
            progress = run_sweep(spec, store, scheduler="serial", limits=False)
        else:
            progress = run_sweep(spec, store, workers=workers)
        cycles = {p["key"]: p["cycles"] for p in store.points(spec.name)}
    print(json.dumps({"points": progress.done, "by_status": progress.by_status, "cycles": cycles}))


def measure(mode: str, sweep: str, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--worker", mode, "--sweep", sweep, "--db", f"{tmp}/r.db",
                               "--workers", str(workers)], capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result | {"seconds": seconds, "points_per_s": result["points"] / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default=str(HERE / "sweeps" / "bench1000.toml"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=usable_cores())
    parser.add_argument("--worker", choices=("serial", "cluster"), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="the 1,224-point small.toml sweep, one run each")
    # run_all.py forwards the runner's common options; this script has its own, so it accepts and ignores them.
    parser.add_argument("--strict", action="store_true", help=argparse.SUPPRESS)
    for flag in ("--threads", "--repeats", "--data", "--results", "--retry-noisy"):
        parser.add_argument(flag, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick and not args.worker:
        args.sweep, args.runs = str(HERE / "sweeps" / "small.toml"), 1
    if args.worker:
        worker(args.worker, args.sweep, args.db, args.workers)
        return 0
    from zeroskip.bench.machine import OtherLoad, machine_info

    load = OtherLoad().start()
    runs = {"serial": [], "cluster": []}
    for _ in range(args.runs):
        for mode in runs:
            runs[mode].append(measure(mode, args.sweep, args.workers))
            r = runs[mode][-1]
            print(f"{mode:>8}: {r['points']} points in {r['seconds']:.1f} s = {r['points_per_s']:.1f} points/s "
                  f"{r['by_status']}", flush=True)
    other = load.stop()
    same = runs["serial"][0]["cycles"] == runs["cluster"][0]["cycles"]
    med = {m: statistics.median(r["points_per_s"] for r in rs) for m, rs in runs.items()}
    ratio = med["cluster"] / med["serial"]
    print(f"\nmedian points/s: serial {med['serial']:.1f}, cluster ({args.workers} workers) {med['cluster']:.1f}: "
          f"{ratio:.2f}x (floor {FLOOR}x: {'met' if ratio >= FLOOR else 'NOT met'}); same cycles in both: {same}")
    if other is not None and other > 0.25:
        print(f"warning: other processes kept {other:.2f} cores busy: the ratio is noisy")
    out = HERE / "results" / ("sweep-quick.json" if args.quick else "sweep.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": machine_info(), "sweep": args.sweep, "workers": args.workers,
                               "runs": {m: [{k: v for k, v in r.items() if k != "cycles"} for r in rs]
                                        for m, rs in runs.items()},
                               "median_points_per_s": med, "ratio": ratio, "floor": FLOOR, "same_cycles": same,
                               "other_load_cores": other}, indent=1))
    print(f"results written to {out}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
