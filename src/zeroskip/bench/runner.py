"""Runs a benchmark: every (case, backend, threads) in its own process; JSON results and a table of ratios.

A benchmark script describes its cases and backends in a ``Benchmark`` and ends with
``sys.exit(main(BENCH, __file__))``. Run plainly, the script is the *parent*: for each case,
backend and thread count it starts ``python script --worker ...`` in a fresh process whose
environment fixes every library's thread count (``timing.thread_env``); the worker prepares the
backend's operands (untimed), sets the thread counts again through the libraries' own calls,
checks the answer and times it with ``timing.measure``, and writes one JSON record. A fresh
process per run keeps one library's thread pool, allocator state or JIT cache from touching
another's numbers.

The parent writes all records, the machine's description and the benchmark's summary (floors met
or not) to ``<results>/<name>.json`` (``<name>-quick.json`` in quick mode) and prints a table in
which ``x vs A`` is A's median time over this row's: above 1 means this backend is faster than A.

A backend's setup raises ``Unavailable`` when it cannot run here (an optional package or a
zeroskip API is missing): the row is kept as ``skipped`` with the reason. A wrong answer
(``AssertionError``) or any other exception marks the row ``failed``/``error`` and makes the
parent exit with status 1.

Example (a benchmark in a few lines):
    >>> bench = Benchmark("demo", "sum of a range", cases=lambda quick: ["small"],
    ...                   backends={"python": lambda case, ctx: Prepared(lambda: sum(range(1000)))})
    >>> [b for b in bench.backends]
    ['python']
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zeroskip.bench.machine import OtherLoad, busy_cores, machine_info
from zeroskip.bench.timing import Timing, measure, set_threads, thread_env

BUSY_WARNING = 0.25  # cores busy with other processes above which the run warns that it is noisy


class Unavailable(Exception):
    """The backend cannot run here (missing optional package or API); its row is skipped with this reason."""


def require(module: str, what: str | None = None):
    """Import ``module`` or raise ``Unavailable`` naming what would provide it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(f"{what or module} is not installed ({exc})") from None


@dataclass(frozen=True, slots=True)
class Context:
    """What a backend's setup knows about the run: threads, quick mode, data folder, scratch folder."""

    threads: int
    quick: bool
    data: str | None
    scratch: Path  # a temporary folder shared by all runs of one parent invocation
    rep: int = 0  # which process of a single-shot benchmark this is (0, 1, ...)


@dataclass(slots=True)
class Prepared:
    """A backend ready to time: ``run`` is the timed call; the rest are untimed hooks."""

    run: Callable[[], Any]
    check: Callable[[Any], None] | None = None  # raises AssertionError on a wrong answer
    before_each: Callable[[], None] | None = None  # e.g. evict the caches before every call
    metrics: Callable[[Timing], Mapping[str, Any]] | None = None  # derived numbers (edges/s, bytes, ...)
    note: str = ""


Setup = Callable[[str, Context], Prepared]


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of a benchmark's summary; ``ok`` is set when the line checks a floor."""

    text: str
    ok: bool | None = None


def floor(label: str, value: float | None, limit: float, *, at_least: bool = True, unit: str = "x") -> Finding:
    """A ``Finding`` checking ``value >= limit`` (or ``<=`` when ``at_least`` is false); None fails."""
    if value is None:
        return Finding(f"FAIL {label}: not measured (floor {'>=' if at_least else '<='} {limit:g}{unit})", False)
    ok = value >= limit if at_least else value <= limit
    return Finding(f"{'PASS' if ok else 'FAIL'} {label}: {value:.3g}{unit} (floor {'>=' if at_least else '<='} "
                   f"{limit:g}{unit})", ok)


@dataclass(frozen=True, slots=True)
class Benchmark:
    """A benchmark: its cases, its backends (name -> setup) and how to report them."""

    name: str
    title: str
    cases: Callable[[bool], Sequence[str]]  # quick -> case ids
    backends: Mapping[str, Setup]
    anchors: tuple[str, ...] = ()  # backends every row is compared with (x vs A columns)
    columns: tuple[str, ...] = ()  # metric keys shown in the table
    repeats: int = 10
    warmup: int = 2
    quick_repeats: int = 3
    summarize: Callable[[list[dict]], list[Finding]] | None = None
    env: Callable[[str, str, Context], Mapping[str, str]] | None = None  # extra env of one run (parent side)
    # Single-shot: each process times one call (a first-use cost such as a compile); the repeats are
    # separate processes, run case by case with the backends in order, and their times are pooled.
    single_shot: bool = False


@dataclass(slots=True)
class Options:
    """The parent's settings (see ``parser``)."""

    backends: list[str]
    cases: list[str]
    threads: list[int]
    repeats: int
    warmup: int
    quick: bool = False
    data: str | None = None
    results: Path = Path("results")
    timeout: float = 1800.0
    verbose: bool = False
    retry_noisy: int = 2  # reruns of a run that other processes disturbed, each after waiting for quiet
    idle_wait: float = 120.0  # seconds to wait for the machine to go quiet before a rerun
    argv: list[str] = field(default_factory=list)


def parser(bench: Benchmark) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=bench.title)
    p.add_argument("--backends", help=f"comma-separated subset of: {', '.join(bench.backends)}")
    p.add_argument("--cases", help="comma-separated subset of the cases (see --list)")
    p.add_argument("--threads", default=str(os.cpu_count() or 1), help="thread counts, comma-separated (default: cores)")
    p.add_argument("--repeats", type=int, help=f"timed calls per run (default {bench.repeats}, quick {bench.quick_repeats})")
    p.add_argument("--warmup", type=int, help=f"untimed calls first (default {bench.warmup}, quick 1)")
    p.add_argument("--quick", action="store_true", help="small cases and few repeats: a smoke test")
    p.add_argument("--data", help="data folder (default: zeroskip.bench.datasets.data_root())")
    p.add_argument("--results", type=Path, help="folder for the JSON results (default: results/ beside the script)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed to one run's process")
    p.add_argument("--strict", action="store_true", help="exit 1 also when a floor is not met")
    p.add_argument("--retry-noisy", type=int, default=2,
                   help="rerun a run during which other processes kept a core busy, up to this many times")
    p.add_argument("--idle-wait", type=float, default=120.0, help="seconds to wait for quiet before such a rerun")
    p.add_argument("--list", action="store_true", help="print the cases and backends and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="print each worker's output")
    for internal in ("--case", "--backend", "--scratch", "--result-file", "--rep"):  # the worker's (one run)
        p.add_argument(internal, help=argparse.SUPPRESS)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return p


def main(bench: Benchmark, script: str, argv: Sequence[str] | None = None) -> int:
    """The command line of a benchmark script: parent by default, one run with ``--worker``."""
    args = parser(bench).parse_args(argv)
    if args.worker:
        return _worker(bench, args)
    if args.list:
        print(f"cases: {', '.join(bench.cases(args.quick))}\nbackends: {', '.join(bench.backends)}")
        return 0
    opts = Options(
        backends=_subset(args.backends, list(bench.backends), list(bench.backends), "backend"),
        cases=_subset(args.cases, list(bench.cases(args.quick)), [*bench.cases(False), *bench.cases(True)], "case"),
        threads=[int(t) for t in args.threads.split(",")],
        repeats=args.repeats or (bench.quick_repeats if args.quick else bench.repeats),
        warmup=args.warmup if args.warmup is not None else (min(1, bench.warmup) if args.quick else bench.warmup),
        quick=args.quick, data=args.data, results=args.results or Path(script).resolve().parent / "results",
        timeout=args.timeout, verbose=args.verbose, retry_noisy=args.retry_noisy, idle_wait=args.idle_wait,
        argv=[script, *(argv if argv is not None else sys.argv[1:])],
    )
    doc = run(bench, script, opts)
    broken = [r for r in doc["records"] if r["status"] in ("failed", "error")]
    missed = [f for f in doc["summary"] if f["ok"] is False]
    return 1 if broken or (args.strict and missed) else 0


def _subset(given: str | None, default: list[str], known: list[str], what: str) -> list[str]:
    """The comma-separated choice ``given`` (each checked against ``known``), else ``default``."""
    if not given:
        return default
    chosen = [s.strip() for s in given.split(",") if s.strip()]
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise SystemExit(f"unknown {what}(s) {', '.join(unknown)}; known: {', '.join(dict.fromkeys(known))}")
    return chosen


def run(bench: Benchmark, script: str, opts: Options) -> dict:
    """Run every (case, backend, threads) in its own process; write and print the results; return them."""
    busy = busy_cores()
    if busy is not None and busy > BUSY_WARNING:
        print(f"warning: {busy:.1f} cores busy with other work before the benchmark; timings will be noisy",
              flush=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"zeroskip-bench-{bench.name}-"))
    records = []
    try:
        for threads in opts.threads:
            for case in opts.cases:
                if bench.single_shot:
                    runs: dict[str, list[dict]] = {b: [] for b in opts.backends}
                    for rep in range(opts.repeats):
                        for backend in opts.backends:
                            runs[backend].append(_spawn(bench, script, opts, case, backend, threads, scratch, rep))
                    done = [_pool(r) for r in runs.values()]
                else:
                    done = [_spawn(bench, script, opts, case, b, threads, scratch, 0) for b in opts.backends]
                for record in done:
                    print(_progress(bench, record), flush=True)
                records += done
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _add_ratios(records, bench.anchors)
    summary = list(bench.summarize(records)) if bench.summarize else []
    doc = {
        "benchmark": bench.name,
        "title": bench.title,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": [sys.executable, *opts.argv],
        "machine": {**machine_info(), "busy_cores_before": busy},
        "settings": {"repeats": opts.repeats, "warmup": opts.warmup, "threads": opts.threads, "quick": opts.quick},
        "anchors": list(bench.anchors),
        "records": records,
        "summary": [{"text": f.text, "ok": f.ok} for f in summary],
    }
    opts.results.mkdir(parents=True, exist_ok=True)
    path = opts.results / f"{bench.name}{'-quick' if opts.quick else ''}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print()
    print(report(doc, bench.columns))
    print(f"\nresults: {path}")
    return doc


def _spawn(bench: Benchmark, script: str, opts: Options, case: str, backend: str, threads: int, scratch: Path,
           rep: int) -> dict:
    """One run (``_spawn_once``), rerun after a quiet spell while other processes disturbed it."""
    for attempt in range(opts.retry_noisy + 1):
        record = _spawn_once(bench, script, opts, case, backend, threads, scratch, rep)
        record["attempts"] = attempt + 1
        if not _noisy(record) or attempt == opts.retry_noisy:
            break
        print(f"{bench.name} {case} {backend}: {record['other_busy_cores']:.1f} cores busy elsewhere; "
              f"waiting for quiet to rerun", flush=True)
        _wait_quiet(opts.idle_wait)
    return record


def _noisy(record: dict) -> bool:
    return record["status"] == "ok" and (record.get("other_busy_cores") or 0) > BUSY_WARNING


def _wait_quiet(limit_s: float) -> None:
    """Return once other processes leave the cores idle for a second (or after ``limit_s``)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        busy = busy_cores(1.0)
        if busy is None or busy <= BUSY_WARNING:
            return


def _spawn_once(bench: Benchmark, script: str, opts: Options, case: str, backend: str, threads: int,
                scratch: Path, rep: int) -> dict:
    """One run in a fresh process; its record (or an error record if the process died)."""
    fd, name = tempfile.mkstemp(suffix=".json", dir=scratch)
    os.close(fd)
    result_file = Path(name)
    ctx = Context(threads, opts.quick, opts.data, scratch, rep)
    env = thread_env(threads, os.environ)
    if bench.env is not None:
        env.update(bench.env(case, backend, ctx))
    repeats, warmup = (1, 0) if bench.single_shot else (opts.repeats, opts.warmup)
    cmd = [sys.executable, script, "--worker", "--case", case, "--backend", backend, "--threads", str(threads),
           "--repeats", str(repeats), "--warmup", str(warmup), "--scratch", str(scratch), "--rep", str(rep),
           "--result-file", str(result_file)]
    cmd += ["--quick"] * opts.quick + (["--data", opts.data] if opts.data else [])
    base = {"case": case, "backend": backend, "threads": threads}
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=opts.timeout)
    except subprocess.TimeoutExpired:
        return {**base, "status": "error", "note": f"timed out after {opts.timeout:g} s"}
    output = (done.stdout + done.stderr).strip()
    if opts.verbose and output:
        print(output)
    text = result_file.read_text() if result_file.exists() else ""
    if done.returncode != 0 or not text:
        return {**base, "status": "error", "note": f"worker exited {done.returncode}: {output[-2000:]}"}
    return json.loads(text)


def _pool(runs: list[dict]) -> dict:
    """The records of a single-shot benchmark's processes as one: times pooled, numeric metrics' medians."""
    bad = [r for r in runs if r["status"] != "ok"]
    if bad:
        return bad[0]
    pooled = {**runs[0], **Timing(tuple(t for r in runs for t in r["times"])).summary()}
    keys = runs[0].get("metrics", {})
    pooled["metrics"] = {k: statistics.median(r["metrics"][k] for r in runs)
                         if isinstance(v, (int, float)) and not isinstance(v, bool) else v for k, v in keys.items()}
    pooled["max_rss_mb"] = max(r.get("max_rss_mb", 0) for r in runs)
    pooled["other_busy_cores"] = max((r.get("other_busy_cores") or 0) for r in runs)
    return pooled


def _worker(bench: Benchmark, args: argparse.Namespace) -> int:
    """Prepare, check and time one (case, backend) here; write its record to ``--result-file``."""
    import resource  # POSIX; only the worker reports its peak memory

    record: dict[str, Any] = {"case": args.case, "backend": args.backend, "threads": int(args.threads),
                              "status": "ok", "note": ""}
    try:
        ctx = Context(int(args.threads), args.quick, args.data, Path(args.scratch), int(args.rep or 0))
        prepared = bench.backends[args.backend](args.case, ctx)
        record["threads_set"] = set_threads(int(args.threads))
        load = OtherLoad().start()
        measured = measure(prepared.run, args.repeats, args.warmup, before_each=prepared.before_each,
                           on_first=prepared.check)
        record["other_busy_cores"] = load.stop()
        if prepared.check is not None:
            prepared.check(measured.result)  # the last timed call's answer, too
        record.update(measured.timing.summary())
        record["metrics"] = dict(prepared.metrics(measured.timing)) if prepared.metrics else {}
        record["note"] = prepared.note
    except Unavailable as exc:
        record.update(status="skipped", note=str(exc))
    except AssertionError as exc:
        record.update(status="failed", note=f"wrong answer: {exc}")
    except Exception as exc:  # any failure is reported in the table rather than aborting the whole benchmark
        record.update(status="error", note=f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-3000:]}")
    record["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.result_file).write_text(json.dumps(record, default=_json_default))
    return 0


def _json_default(value):
    """numpy scalars in metrics become plain numbers."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _add_ratios(records: list[dict], anchors: Sequence[str]) -> None:
    """``record['ratios']['x vs A']`` = A's median / this median, for A run on the same case and threads."""
    ok = {(r["case"], r["threads"], r["backend"]): r for r in records if r["status"] == "ok"}
    for r in records:
        r["ratios"] = {}
        if r["status"] != "ok":
            continue
        for anchor in anchors:
            a = ok.get((r["case"], r["threads"], anchor))
            if a is not None and r["median_s"] > 0:
                r["ratios"][f"x vs {anchor}"] = a["median_s"] / r["median_s"]


def _progress(bench: Benchmark, r: dict) -> str:
    head = f"{bench.name} {r['case']} {r['backend']} threads={r['threads']}:"
    if r["status"] != "ok":
        return f"{head} {r['status'].upper()} {r['note'].splitlines()[0] if r['note'] else ''}"
    other = r.get("other_busy_cores") or 0
    return (f"{head} median {1e3 * r['median_s']:.4g} ms (min {1e3 * r['min_s']:.4g}, IQR {1e3 * r['iqr_s']:.3g})"
            + (f"  NOISY: {other:.1f} cores busy elsewhere" if other > BUSY_WARNING else ""))


def report(doc: dict, columns: Sequence[str] = ()) -> str:
    """The results document as an aligned text table, then its summary lines."""
    records = doc["records"]
    ratio_names = [f"x vs {a}" for a in doc.get("anchors", [])]
    headers = ["case", "backend", "threads", "median ms", "min ms", "IQR ms", *columns, *ratio_names, "status"]
    rows = []
    for r in records:
        ok = r["status"] == "ok"
        timing = [1e3 * r[k] if ok else None for k in ("median_s", "min_s", "iqr_s")]
        metrics = [r.get("metrics", {}).get(c) for c in columns]
        ratios = [r.get("ratios", {}).get(name) for name in ratio_names]
        status = r["status"] if ok and not r.get("note") else f"{r['status']}: {r['note'].splitlines()[0]}"
        if _noisy(r):
            status = f"NOISY ({r['other_busy_cores']:.1f} cores busy elsewhere) {status}"
        status = status[:100]
        rows.append([r["case"], r["backend"], r["threads"], *timing, *metrics, *ratios, status])
    lines = [format_table(rows, headers)]
    lines += [f["text"] for f in doc.get("summary", [])]
    return "\n".join(lines)


def format_table(rows: list[list[Any]], headers: list[str]) -> str:
    """Aligned plain-text table; numbers right-aligned with 4 significant digits, None blank."""
    def cell(v: Any) -> str:
        if v is None:
            return ""
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    cells = [headers] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(v is None or isinstance(v, (int, float)) for v in (row[i] for row in rows)) for i in range(len(headers))]
    out = []
    for n, row in enumerate(cells):
        out.append("  ".join(c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
