"""``zeroskip sweep FILE``: a design-space sweep on a Dask cluster into the results database.

Example:
    $ zeroskip sweep benchmarks/sweeps/small.toml                    # local cluster, one worker per core
    $ zeroskip sweep my.toml --scheduler tcp://10.0.0.5:8786 --db /shared/results.db
    $ zeroskip sweep my.toml --list                                  # the points, without running them
"""

from __future__ import annotations

import argparse
import sys

from zeroskip.cli._common import EXIT_OK, UsageError
from zeroskip.cli._output import print_json, table
from zeroskip.bench.store import DEFAULT_DB


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run every point of the sweep file not yet in the database; a rerun resumes where a sweep stopped."""
    from zeroskip.bench.store import ResultStore
    from zeroskip.sweep.engine import run_sweep
    from zeroskip.sweep.spec import load_sweep

    spec = load_sweep(args.file)
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers}: at least 1")
    if args.batch is not None and args.batch < 1:
        raise UsageError(f"--batch {args.batch}: at least 1")
    points = spec.points()
    if args.list:
        axes = list(spec.axes)
        if args.json:
            print_json(points)
        else:
            print(table([[p["key"][:12], *(str(p.get(a)) for a in axes)] for p in points], ["key", *axes]))
        return EXIT_OK
    bar = None
    if sys.stderr.isatty() and not args.json:
        from tqdm import tqdm

        bar = tqdm(total=len(points), desc=f"sweep {spec.name}", unit="point", file=sys.stderr)

    def on_batch(rows, progress, client):
        if bar is not None:
            bar.n = progress.already + progress.done
            bar.set_postfix(done=progress.done, running=progress.running, failed=progress.failed)
            bar.refresh()

    with ResultStore(args.db) as store:
        progress = run_sweep(spec, store, scheduler="serial" if args.serial else args.scheduler,
                             workers=args.workers, batch=args.batch, redo=args.redo, on_batch=on_batch)
    if bar is not None:
        bar.close()
    summary = {"sweep": spec.name, "database": args.db, "points": progress.total, "already": progress.already,
               "run": progress.done, "by_status": progress.by_status, "points_per_s": progress.points_per_s}
    if args.json:
        print_json(summary)
    else:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(progress.by_status.items())) or "nothing to run"
        print(f"sweep {spec.name}: {progress.total} points, {progress.already} already in {args.db}; ran "
              f"{progress.done} ({statuses}) at {progress.points_per_s:.1f} points/s")
        print("report: zeroskip report --db " + args.db)
    return EXIT_OK  # failed points are results of the sweep (e.g. a graph that does not fit), kept in the store


def register(sub) -> None:
    """Add ``sweep``."""
    p = sub.add_parser("sweep", help="design-space sweep (architectures x workloads x sparsity) on Dask",
                       description=cmd_sweep.__doc__ + " The sweep file (TOML) is documented in "
                       "zeroskip.sweep.spec; points are keyed by a hash of their full configuration.",
                       epilog="examples:\n  zeroskip sweep benchmarks/sweeps/small.toml\n"
                              "  zeroskip sweep my.toml --scheduler tcp://HOST:8786 --db /shared/r.db\n"
                              "  zeroskip sweep my.toml --list")
    p.add_argument("file", help="sweep file (TOML)")
    p.add_argument("--db", default=DEFAULT_DB, help=f"results database (default {DEFAULT_DB})")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (default: start a local cluster)")
    p.add_argument("--workers", type=int, help="local cluster: worker processes (default: the usable cores)")
    p.add_argument("--serial", action="store_true", help="run in this process (no Dask)")
    p.add_argument("--batch", type=int, help="points per task (default: about 8 tasks per worker, at most 32 points)")
    p.add_argument("--redo", action="store_true", help="forget this sweep's stored points and run them all")
    p.add_argument("--list", action="store_true", help="list the points and stop")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    p.set_defaults(func=cmd_sweep)
