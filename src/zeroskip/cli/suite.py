"""``zeroskip demo``, ``bench``, ``report`` and ``data``: the benchmark suite, its HTML report, the bundled data.

``demo`` is the main job: the ``demo`` preset of the suite (``zeroskip.bench.suite``) into a
results database, then the report, on built-in defaults sized for a few minutes on 2 cores.
``bench`` is the same with every choice open (workloads, backends, architecture, energy table,
database); ``report`` writes the HTML page from a database; ``data`` lists the bundled matrices.

Example:
    $ zeroskip demo                                   # suite + report, prints where the report is
    $ zeroskip bench --workloads 'spmspm/*' sweep --arch my_arch.toml --db arch.db
    $ zeroskip report --db arch.db --out arch.html
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from zeroskip.bench.store import DEFAULT_DB
from zeroskip.cli._common import EXIT_FAILED, EXIT_OK, UsageError, require
from zeroskip.cli._output import print_json, table

DEMO_REPORT = "zeroskip-report.html"


def _settings(args: argparse.Namespace):
    from zeroskip.bench.suite import Settings

    settings = Settings(repeats=args.repeats, time_limit=args.time_limit, sim_budget=args.sim_budget, data=args.data,
                        gpu=args.gpu)
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads {args.threads}: a thread count is at least 1")
        settings.threads = args.threads
    if getattr(args, "arch", None):
        from zeroskip.hardware import load_arch

        load_arch(args.arch)  # a bad spec fails here, with its path and value, not in every worker
        settings.arch = args.arch
    if getattr(args, "energy", None):
        from zeroskip.hardware import load_energy

        load_energy(args.energy)
        settings.energy = args.energy
    return settings


def _run(args: argparse.Namespace, workloads, backends, command: str, preset: str) -> dict:
    """Run the suite with a progress bar (stderr, terminals only); the counts and the per-workload table."""
    import sys

    from zeroskip.bench.workloads import needs_data

    if any(needs_data(w) for w in workloads):  # one clear error now, not a failure per workload in every worker
        from zeroskip.bench.datasets import data_root

        data_root(args.data)

    from zeroskip.bench.store import ResultStore
    from zeroskip.bench.suite import run_suite

    bar = None
    if sys.stderr.isatty() and not args.json:
        from tqdm import tqdm

        bar = tqdm(total=0, desc="zeroskip suite", unit="result", file=sys.stderr)

    def on_result(result, progress):
        if bar is not None:
            bar.total = progress.total
            bar.n = progress.done
            bar.set_postfix(ok=progress.ok, failed=progress.failed, skipped=progress.skipped,
                            now=f"{result.workload} on {result.backend}"[:40])
        elif not args.json:
            mark = {"ok": "ok", "failed": "FAILED", "skipped": "skipped"}[result.status]
            print(f"[{progress.done}/{progress.total}] {result.workload} on {result.backend}: {mark}", flush=True)

    started = time.perf_counter()
    with ResultStore(args.db) as store:
        progress = run_suite(workloads, store, backends=backends, settings=_settings(args), redo=args.redo,
                             command=command, preset=preset, on_result=on_result)
        rows = store.results()
    if bar is not None:
        bar.close()
    names = {w.name for w in workloads}
    return {"progress": progress, "rows": [r for r in rows if r["workload"] in names],
            "seconds": time.perf_counter() - started}


def _print_outcome(outcome: dict, db: str, report: Path | None, as_json: bool) -> int:
    from zeroskip.bench.summary import summary, workload_table

    rows, progress = outcome["rows"], outcome["progress"]
    overview = summary(rows)
    if as_json:
        print_json({"database": db, "report": report, "seconds": outcome["seconds"], "summary": overview,
                    "workloads": workload_table(rows), "counts": {k: getattr(progress, k) for k in
                                                                  ("total", "ok", "failed", "skipped", "skipped_done")},
                    "failures": progress.failures, "other_load_cores": progress.other_load})
        return EXIT_FAILED if progress.failed else EXIT_OK
    lines = []
    for entry in workload_table(rows):
        accel = entry["targets"].get("accel-sparse") or {}
        lines.append([entry["workload"], entry["cpu_best"] or "-", _num(entry["cpu_seconds"]),
                      _num(accel.get("seconds")), _num(accel.get("speedup")), _num(accel.get("energy_ratio"))])
    print()
    print(table(lines, ["workload", "best CPU", "CPU s (measured)", "accel s (modelled)", "accel speedup",
                        "accel energy ratio"]))
    print("accelerator = sparse mode; '-' = not simulated (over --sim-budget) or no result; report has the rest")
    print()
    for c in overview["comparisons"]:
        if c["baseline"] == "best CPU" and c["target"] in ("accel-sparse", "accel-best", "zeroskip-cpu", "gpu"):
            print(f"{c['target']:>13} against the best CPU: speedup {_fmt(c['speedup'])}x, energy ratio "
                  f"{_fmt(c['energy_ratio'])} (geometric means over {c['n_speedup']} workloads)")
    claim = overview["claim"]
    print(f"   published Onyx claim: {claim['speedup']:g}x faster at 1/{round(1 / claim['energy_ratio'])} of the "
          f"energy ({claim['source']})")
    print(f"\n{progress.ok} ok, {progress.failed} failed, {progress.skipped} skipped, {progress.skipped_done} already "
          f"in {db}; {outcome['seconds']:.0f} s")
    for failure in progress.failures:
        print(f"  FAILED {failure[:300]}")
    if progress.other_load > 0.25:
        print(f"warning: other processes kept up to {progress.other_load:.1f} cores busy during the run; "
              "measured times are noisy (rerun with --redo on a quiet machine)")
    if report is not None:
        print(f"report: {report.resolve()}")
    return EXIT_FAILED if progress.failed else EXIT_OK


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def _num(value) -> object:
    return "-" if value is None else float(value)


def _write_report(db: str, out: str) -> Path:
    require("matplotlib", "the HTML report")
    from zeroskip.bench.report import write_report

    return write_report(db, out)


def cmd_demo(args: argparse.Namespace) -> int:
    """The demo preset on every default backend, then the report."""
    from zeroskip.bench.suite import default_backends
    from zeroskip.bench.workloads import preset

    require("matplotlib", "the demo's report")
    outcome = _run(args, preset("demo"), default_backends(), "zeroskip demo", "demo")
    report = _write_report(args.db, args.out)
    return _print_outcome(outcome, args.db, report, args.json)


def cmd_bench(args: argparse.Namespace) -> int:
    """The chosen workloads and backends into the database (and the report when --report is given)."""
    from zeroskip.bench.suite import default_backends
    from zeroskip.bench.worker import BACKENDS
    from zeroskip.bench.workloads import preset, select

    workloads = select(preset(args.preset), args.workloads)
    backends = default_backends() if not args.backends else tuple(args.backends)
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise UsageError(f"--backends: unknown backend {unknown[0]!r}; known: {', '.join(BACKENDS)}")
    if args.list:
        if args.json:
            print_json([vars(w) for w in workloads])
        else:
            print(table([[w.name, w.family, w.description] for w in workloads], ["workload", "family", "what"]))
        return EXIT_OK
    outcome = _run(args, workloads, backends, "zeroskip bench", args.preset)
    report = _write_report(args.db, args.report) if args.report else None
    return _print_outcome(outcome, args.db, report, args.json)


def cmd_report(args: argparse.Namespace) -> int:
    """The HTML report of a results database."""
    path = _write_report(args.db, args.out)
    if args.json:
        print_json({"report": path.resolve(), "database": args.db})
    else:
        print(f"report: {path.resolve()}")
    return EXIT_OK


def _suite_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=DEFAULT_DB, help=f"results database (default {DEFAULT_DB}); reruns skip what it holds")
    p.add_argument("--redo", action="store_true", help="run again what the database already holds")
    p.add_argument("--threads", type=int, help="threads of every measured backend (default: the usable cores)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per measurement; the median is kept")
    p.add_argument("--time-limit", type=float, default=600.0, help="seconds one workload may take on one backend")
    p.add_argument("--sim-budget", type=float, default=4e7,
                   help="useful flops above which the sparse accelerator is not simulated (skipped, with the reason)")
    p.add_argument("--gpu", default="a100", help="GPU spec of the modelled GPU baseline (bundled 'a100' or a TOML)")
    p.add_argument("--data", help="data folder (default ../shared/data or $ZEROSKIP_DATA)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")


def register(sub) -> None:
    """Add ``demo``, ``bench``, ``report`` and ``data``."""
    demo = sub.add_parser("demo", help="the main job: benchmark suite on built-in defaults, then the HTML report",
                          description=cmd_demo.__doc__ + " Sized for a few minutes on 2 cores; a rerun reuses the "
                          "database and finishes at once (--redo to measure again).",
                          epilog="examples:\n  zeroskip demo\n  zeroskip demo --db /tmp/r.db --out /tmp/r.html")
    _suite_options(demo)
    demo.add_argument("--out", default=DEMO_REPORT, help=f"report path (default {DEMO_REPORT})")
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="run chosen workloads and backends into a results database",
                           description=cmd_bench.__doc__,
                           epilog="examples:\n  zeroskip bench --list\n  zeroskip bench --workloads 'spmspm/*' sweep\n"
                                  "  zeroskip bench --preset full --arch big.toml --energy my_energy.toml --db big.db\n"
                                  "  zeroskip bench --backends accel-sparse accel-dense --workloads gcn")
    _suite_options(bench)
    bench.add_argument("--workloads", nargs="+", metavar="PATTERN",
                       help="names, families or shell patterns (default: all of the preset)")
    bench.add_argument("--preset", default="demo", choices=("demo", "full"), help="workload sizes (default demo)")
    bench.add_argument("--backends", nargs="+", metavar="BACKEND", help="backends to run (default: all available)")
    bench.add_argument("--arch", help="architecture spec (TOML) of the accelerator (default: built-in Onyx)")
    bench.add_argument("--energy", help="energy table (TOML) of the accelerator (default: Onyx 12 nm)")
    bench.add_argument("--report", metavar="HTML", help="also write the report here")
    bench.add_argument("--list", action="store_true", help="list the selected workloads and stop")
    bench.set_defaults(func=cmd_bench)

    report = sub.add_parser("report", help="write the self-contained HTML report of a results database",
                            description=cmd_report.__doc__, epilog="examples:\n  zeroskip report --db r.db --out r.html")
    report.add_argument("--db", default=DEFAULT_DB, help=f"results database (default {DEFAULT_DB})")
    report.add_argument("--out", default=DEMO_REPORT, help=f"report path (default {DEMO_REPORT})")
    report.add_argument("--json", action="store_true", help="print the report's path as JSON")
    report.set_defaults(func=cmd_report)
