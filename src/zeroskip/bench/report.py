"""The benchmark report: one self-contained HTML page written from the results database.

``write_report`` reads the runs, the workloads, the newest row of every result key and the points
of the design-space sweeps, and writes one HTML file: inline CSS, plots as inline SVG
(``zeroskip.bench.plots``), no scripts, no external URL. Every text taken from the database is
escaped; a missing number shows as "–"; an empty database gives a page that says so. Sweep
points get a section of their own (``zeroskip.bench.report_sweeps``): status counts, Pareto
fronts, sensitivity to each axis and the best configuration per workload.

Example:
    >>> import os, tempfile
    >>> from zeroskip.bench.store import Result, ResultStore
    >>> folder = tempfile.mkdtemp()
    >>> with ResultStore(os.path.join(folder, "r.db")) as store:
    ...     run = store.begin_run(command="doctest", machine={"cpu": "x"})
    ...     store.put(Result("spmv/a", "kernel", "scipy", {}, seconds=1e-3, energy_j=0.1), run)
    ...     store.put(Result("spmv/a", "kernel", "accel-sparse", {}, "modelled", seconds=1e-4, energy_j=1e-3), run)
    >>> page = write_report(os.path.join(folder, "r.db"), os.path.join(folder, "report.html")).read_text()
    >>> "<table id='summary'>" in page, "<svg" in page, "<script" in page, "id='all-results-table'" in page
    (True, True, False, True)
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from zeroskip.bench import plots
from zeroskip.bench.store import ResultStore, StoreError
from zeroskip.bench.summary import (
    ACCEL_BEST, ACCEL_DENSE, ACCEL_SPARSE, DENSE_CPU, GPU, SWEEP, ZEROSKIP_CPU, accuracy_table, crossover, edp,
    energy_per_inference, fastest, format_si, ratio, summary, sweep_groups, workload_table,
)

DASH = "–"
TITLE = "zeroskip benchmark report"
KIND_TEXT = {
    "measured": "Run on this machine. Seconds are the median wall time of one call after warm-up, each backend "
                "in a fresh process with its thread count fixed. Energy is read from the RAPL counters where the "
                "energy method is rapl; otherwise it is package power times time, an estimate, and the method "
                "says so.",
    "modelled": "Not run on hardware. accel-sparse and accel-dense come from zeroskip's model of a sparse dataflow "
                "accelerator (the program mapped by the firmware model, timed cycle by cycle and priced with the "
                "architecture and energy table named in the run); gpu-model is a roofline estimate of a named GPU. "
                "Their seconds and joules are model outputs, not measurements.",
}
TARGET_LABELS = {
    ACCEL_SPARSE: "accelerator, sparse mode (modelled)",
    ACCEL_DENSE: "accelerator, dense mode (modelled)",
    ACCEL_BEST: "accelerator, faster of sparse/dense (modelled)",
    ZEROSKIP_CPU: "zeroskip CPU (measured)",
    GPU: "GPU (gpu-cuda measured, else gpu-model)",
}
# Which model a backend runs in a pruned model workload (the digits MLP of zeroskip.bench.model_workloads).
PRUNED_FAMILIES = ("mlp",)
MODEL_RUN = {
    DENSE_CPU: "dense",
    "gpu-cuda": "dense",
    ZEROSKIP_CPU: "pruned, sparsified",
    ACCEL_SPARSE: "pruned",
    ACCEL_DENSE: "pruned",
}
# Units that take an SI prefix directly ("82.4 MFLOP/s"); others get it on the number ("11.8k inferences/s").
SI_UNITS = ("FLOP/s", "OP/s", "B/s", "Hz", "W", "J", "s")
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;max-width:1250px;
 margin:0 auto;padding:1rem 1.5rem 3rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2.2rem}
h3{font-size:1.05rem;margin-bottom:.3rem}nav a{margin-right:.9rem}
table{border-collapse:collapse;font-size:.84rem;margin:.4rem 0 1rem}
th,td{border:1px solid #d4d4d4;padding:.22rem .5rem;text-align:left;vertical-align:top}
thead th{background:#eef2f7}tbody tr:nth-child(even) td{background:#fafbfc}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th.modelled{background:#efe9fb}tr.claim td{background:#fff4e5;font-weight:600}
.scroll{overflow-x:auto}.note{color:#555;font-size:.88rem}.none{color:#777;font-style:italic}
figure{margin:1rem 0 1.6rem}figure svg{max-width:100%;height:auto;display:block}
figcaption{font-size:.86rem;color:#444;margin-top:.3rem}
td.reason{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:.78rem;max-width:52rem}
code{font-size:.85em}td.name{white-space:nowrap}
table.compact{font-size:.76rem}table.compact th,table.compact td{padding:.12rem .4rem}
table.compact tbody tr.modelled td{background:#f6f2fd}table.compact tbody tr.modelled:nth-child(even) td{background:#efe9fb}
h4{font-size:.95rem;margin:1.2rem 0 .3rem}table.compact tbody tr.group td{border-top:2px solid #9aa5b1}
table.sweep td{white-space:nowrap}
"""


def write_report(store_or_path: ResultStore | str | Path, out_path: str | Path) -> Path:
    """Write the HTML report of a results database (a ``ResultStore`` or its path) to ``out_path``.

    Raises ``StoreError`` when the path holds no database and ``MissingDependencyError`` (a
    ``ZeroskipError``) when matplotlib, the ``report`` extra, is not installed.

    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> with ResultStore(os.path.join(folder, "empty.db")) as store:
    ...     "no results" in write_report(store, os.path.join(folder, "r.html")).read_text()
    True
    """
    plots.require_matplotlib()  # fail before any work, also for an empty database
    if isinstance(store_or_path, ResultStore):
        page = _render_store(store_or_path)
    else:
        path = Path(store_or_path)
        if not path.is_file():  # opening would create an empty database and report on nothing
            raise StoreError(f"no results database at {path}")
        with ResultStore(path) as store:
            page = _render_store(store)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _render_store(store: ResultStore) -> str:
    return render_report(store.results(), store.runs(), store.workloads(), source=store.path.name,
                         points=store.points())


def render_report(rows: Sequence[dict], runs: Sequence[dict] = (), workloads: Mapping[str, dict] | None = None, *,
                  source: str = "", points: Sequence[dict] = ()) -> str:
    """The report page as HTML from result rows, runs, workloads and sweep points (as ``ResultStore`` gives them).

    >>> from zeroskip.bench.summary import make_row
    >>> page = render_report([make_row("<b>x</b>", "scipy", 1e-3)])
    >>> "&lt;b&gt;x&lt;/b&gt;" in page, "<b>x</b>" in page
    (True, False)
    """
    workloads = dict(workloads or {})
    status = Counter(r.get("status") for r in rows)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    points = list(points)
    n_sweeps = len({p.get("sweep") for p in points})
    swept = f", {len(points)} sweep points in {n_sweeps} sweep{'' if n_sweeps == 1 else 's'}" if points else ""
    head = (f"<h1>{_e(TITLE)}</h1><p class='note'>Generated {_e(now)}{' from ' + _e(source) if source else ''}: "
            f"{len(rows)} result rows ({status['ok']} ok, {status['failed']} failed, {status['skipped']} skipped), "
            f"{len({r['workload'] for r in rows})} workloads, {len(runs)} runs{_machines(runs)}{_e(swept)}.</p>")
    from zeroskip.bench.report_sweeps import sweeps_section  # here: it imports this module's HTML helpers

    sweeps = [sweeps_section(points)] if points else []
    if not rows and not points:
        body = [head, "<p class='none'>There are no results in this database yet: run the benchmark suite "
                "first.</p>", _runs_section(runs)]
    elif not rows:
        nav = "<nav><a href='#sweeps'>sweeps</a><a href='#runs'>runs and machines</a></nav>"
        body = [head, nav, "<p class='none'>No benchmark-suite results in this database, only design-space sweep "
                "points: the suite's sections are left out.</p>", *sweeps, _runs_section(runs)]
    else:
        nav = "".join(f"<a href='#{a}'>{_e(t)}</a>" for a, t in (
            ("kinds", "measured vs modelled"), ("summary-section", "summary"), ("accuracy", "model accuracy"),
            ("workloads", "per workload"), ("plots", "plots"), *((("sweeps", "sweeps"),) if points else ()),
            ("layers", "layers"), ("all-results", "all results"), ("problems", "failed/skipped"),
            ("runs", "runs and machines")))
        # The headline first; the full table of rows and the runs' machine details, long and rarely read, close it.
        body = [head, f"<nav>{nav}</nav>", _kinds_section(rows), _summary_section(rows), _accuracy_section(rows),
                _workload_section(rows, workloads), _plots_section(rows, runs, workloads), *sweeps,
                _layers_section(rows), _all_results_section(rows), _problems_section(rows), _runs_section(runs)]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<link rel='icon' href='data:,'><title>{_e(TITLE)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence], *, table_id: str = "", numeric: Iterable[int] = (),
           row_class: Sequence[str] = (), table_class: str = "") -> str:
    """An HTML table of escaped plain-text cells; columns in ``numeric`` right-aligned."""
    numeric = set(numeric)
    head = f"<thead><tr>{''.join(f'<th>{_e(h)}</th>' for h in headers)}</tr></thead>" if headers else ""
    lines = []
    for k, row in enumerate(rows):
        cls = f" class='{row_class[k]}'" if k < len(row_class) and row_class[k] else ""
        cells = "".join(f"<td{' class=num' if i in numeric else ''}>{_e(DASH if v is None else v)}</td>"
                        for i, v in enumerate(row))
        lines.append(f"<tr{cls}>{cells}</tr>")
    ident = f" id='{_e(table_id)}'" if table_id else ""
    ident += f" class='{_e(table_class)}'" if table_class else ""
    return f"<div class='scroll'><table{ident}>{head}<tbody>{''.join(lines)}</tbody></table></div>"


def _x(value: float | None) -> str:
    return DASH if value is None else f"{value:.3g}×"


def _energy_ratio(value: float | None) -> str:
    if value is None:
        return DASH
    if value >= 1:
        return f"{value:.3g}"
    inverse = 1 / value  # "1/1,980" reads better than "1/1.98e+03"
    return f"{value:.3g} (1/{inverse:,.0f})" if inverse >= 1000 else f"{value:.3g} (1/{inverse:.3g})"


def _kinds_section(rows: Sequence[dict]) -> str:
    parts = ["<section id='kinds'><h2>What is measured and what is modelled</h2>"]
    for kind in ("measured", "modelled"):
        mine = [r for r in rows if r.get("kind") == kind]
        if not mine:
            continue
        backends = ", ".join(sorted({r["backend"] for r in mine}))
        methods = Counter(r.get("energy_method") or "none" for r in mine if r.get("status") == "ok")
        energy = "; ".join(f"{m} ({n})" for m, n in sorted(methods.items()))
        parts.append(f"<h3>{_e(kind.capitalize())} rows ({len(mine)})</h3><p>{_e(KIND_TEXT.get(kind, ''))}</p>"
                     f"<p class='note'>Backends: {_e(backends)}. Energy method of the ok rows (count): "
                     f"{_e(energy or DASH)}.</p>")
    return "".join(parts) + "</section>"


def _machine_cells(machine: Mapping) -> list[tuple[str, str]]:
    """(label, text) pairs of a run's machine description, the known keys first and formatted."""
    m = dict(machine)
    known = [
        ("CPU", m.pop("cpu", None)),
        ("cores (usable)", f"{m.pop('cores', DASH)} ({m.pop('usable_cores', DASH)})"),
        ("memory", _binary(m.pop("memory_bytes", None))),
        ("last-level cache", _binary(m.pop("llc_bytes", None))),
        ("copy bandwidth", format_si(m.pop("copy_bandwidth_Bps", None), "B/s")),
        ("dense GEMM rate", format_si(_times(m.pop("dense_gflops", None), 1e9), "FLOP/s")),
        ("platform", m.pop("platform", None)), ("python", m.pop("python", None)), ("commit", m.pop("git", None)),
    ]
    versions = m.pop("versions", None) or {}
    known.append(("versions", ", ".join(f"{k} {v}" for k, v in sorted(versions.items()) if v) or None))
    known += [(k, json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v) for k, v in sorted(m.items())]
    return [(label, DASH if v is None else str(v)) for label, v in known]


def _binary(value) -> str:
    """Bytes of memory in binary units (machines report GiB, not GB)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return DASH
    for unit, power in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if value >= 2**power:
            return f"{value / 2**power:.3g} {unit}"
    return f"{value:g} B"


def _machines(runs: Sequence[dict]) -> str:
    """' on CPU (n cores), ...' naming each distinct machine of the runs."""
    seen = dict.fromkeys(f"{m.get('cpu') or 'unknown CPU'} ({m.get('cores') or '?'} cores)"
                         for m in (r.get("machine") or {} for r in runs))
    return f" on {_e(', '.join(seen))}" if seen else ""


def _times(value, factor: float):
    return value * factor if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _runs_section(runs: Sequence[dict]) -> str:
    if not runs:
        return "<section id='runs'><h2>Runs</h2><p class='none'>No runs recorded.</p></section>"
    parts = ["<section id='runs'><h2>Runs</h2>"]
    for run in runs:
        cells = [("started", run.get("started")), ("finished", run.get("finished") or "not finished"),
                 ("command", run.get("command")), ("preset", run.get("preset")), ("architecture", run.get("arch")),
                 ("energy table", run.get("energy_table")), *_machine_cells(run.get("machine") or {}),
                 ("settings", json.dumps(run.get("settings") or {}, sort_keys=True))]
        parts.append(f"<h3>Run {_e(run.get('run_id'))}</h3>" + _table([], [(k, v or DASH) for k, v in cells]))
    return "".join(parts) + "</section>"


def _summary_section(rows: Sequence[dict]) -> str:
    s = summary(rows)
    claim = s["claim"]
    table_rows = [(TARGET_LABELS[c["target"]], c["baseline"], _x(c["speedup"]), _energy_ratio(c["energy_ratio"]),
                   _energy_ratio(c["edp_ratio"]), f"{c['n_speedup']} / {c['n_energy']} / {c['n_edp']}")
                  for c in s["comparisons"]]
    claim_edp = ratio(claim["energy_ratio"], claim["speedup"])  # derived: EDP ratio = energy ratio / speedup
    table_rows.append(("Onyx, as published", "CPU", _x(claim["speedup"]), _energy_ratio(claim["energy_ratio"]),
                       _energy_ratio(claim_edp), claim["source"]))
    table = _table(["target", "baseline", "speedup (geometric mean)", "energy ratio (geometric mean)",
                    "EDP ratio (geometric mean)", "workloads (time / energy / EDP)"], table_rows, table_id="summary",
                   numeric=(2, 3, 4), row_class=[""] * (len(table_rows) - 1) + ["claim"])
    head = next(c for c in s["comparisons"] if c["target"] == ACCEL_SPARSE and c["baseline"] == "best CPU")
    lead = ""
    if head["speedup"] is not None:
        energy = (f" at {_energy_ratio(head['energy_ratio'])} of its energy" if head["energy_ratio"] is not None else "")
        lead = (f"<p>Over {head['n_speedup']} workloads, the modelled accelerator in sparse mode is "
                f"{_e(_x(head['speedup']))} as fast as the best measured CPU backend{_e(energy)} (geometric means); "
                f"the Onyx authors report {_e(claim['text'])}.</p>")
    return (f"<section id='summary-section'><h2>Summary</h2>{lead}{table}<p class='note'>Speedup = baseline "
            "seconds / target seconds (above 1: faster). Energy ratio = target joules / baseline joules (below 1: "
            f"less energy). EDP ratio = target energy-delay product / baseline energy-delay product (joules times seconds "
            "of one run; below 1: better; it equals energy ratio / speedup). Best CPU: the fastest measured CPU "
            f"backend of each workload. Sweeps are left out ({s['workloads']} workloads counted). Claim source: "
            f"{_e(claim['source'])}; its EDP ratio is derived from the two published numbers.</p></section>")


def _workload_section(rows: Sequence[dict], workloads: Mapping[str, dict]) -> str:
    targets = (ACCEL_SPARSE, ACCEL_DENSE, ACCEL_BEST, ZEROSKIP_CPU, GPU)
    top = ("<th rowspan=2>workload</th><th rowspan=2>family</th><th colspan=3>best CPU (measured)</th>"
           f"<th rowspan=2>{_e(DENSE_CPU)} time</th>"
           + "".join(f"<th colspan=3 class='modelled'>{_e(TARGET_LABELS[t])}</th>" for t in targets))
    sub = "<th>backend</th><th>time</th><th>energy</th>" + "<th>× best CPU</th><th>energy / best CPU</th>" \
          f"<th>× {_e(DENSE_CPU)}</th>" * len(targets)
    body = []
    for w in workload_table(rows):
        tip = (workloads.get(w["workload"]) or {}).get("description") or ""
        cells = [f"<td class='name' title='{_e(tip)}'>{_e(w['workload'])}</td><td>{_e(w['family'])}</td>",
                 f"<td class='name'>{_e(w['cpu_best'] or DASH)}</td>", _num(format_si(w["cpu_seconds"], "s")),
                 _num(format_si(w["cpu_energy_j"], "J")), _num(format_si(w["dense_seconds"], "s"))]
        for t in targets:
            v = w["targets"][t]
            winner = f" ({v['backend'].removeprefix('accel-')})" if t == ACCEL_BEST and v["speedup"] else ""
            cells += [_num(_x(v["speedup"]) + winner), _num(_energy_ratio(v["energy_ratio"])),
                      _num(_x(v["speedup_vs_dense"]))]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return ("<section id='workloads'><h2>Per workload</h2><p class='note'>For each workload the fastest row of each "
            f"backend; {DASH} where a backend has no ok row. Hover a workload for its description.</p>"
            f"<div class='scroll'><table id='workload-table'><thead><tr>{top}</tr><tr>{sub}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div></section>")


def _accuracy_section(rows: Sequence[dict]) -> str:
    table = accuracy_table(rows)
    parts = ["<section id='accuracy'><h2>Model accuracy</h2>"]
    if not table:
        parts.append("<p class='none'>No result row reports an accuracy.</p>")
        return "".join(parts) + "</section>"
    body = [(e["workload"], e["backend"], MODEL_RUN.get(e["backend"]) if e["family"] in PRUNED_FAMILIES else None,
             e["kind"], _accuracy(e["accuracy"]),
             "0 (reference)" if e["backend"] == DENSE_CPU else _points(e["drop"])) for e in table]
    parts.append(_table(["workload", "backend", "model run", "kind", "accuracy", f"drop vs {DENSE_CPU} (points)"],
                        body, table_id="accuracy-table", numeric=(4, 5)))
    parts.append(f"<p class='note'>Test accuracy in percent of the model each backend runs. In the pruned models "
                 f"({', '.join(PRUNED_FAMILIES)}) {DENSE_CPU} runs the dense model, zeroskip-cpu the pruned model "
                 "sparsified by zeroskip.nn, the modelled accelerator rows the pruned model (its accuracy as computed "
                 "on the CPU: the accelerator computes the same model). Drop = "
                 f"{DENSE_CPU} accuracy minus the backend's, in percentage points: above 0 loses accuracy, below 0 "
                 f"gains; {DASH} where the workload has no {DENSE_CPU} accuracy.</p>")
    return "".join(parts) + "</section>"


def _accuracy(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}%"


def _points(value: float | None) -> str:
    if value is None:
        return DASH
    return "0.00" if abs(value) < 0.005 else f"{value:+.2f}"  # no "-0.00"


def _rate(value, unit: str | None) -> str:
    """A throughput with its unit: SI units take the prefix ("82.4 MFLOP/s"), words not ("11.8k inferences/s")."""
    if not unit:
        return format_si(value, "").rstrip()
    if unit in SI_UNITS:
        return format_si(value, unit)
    number = format_si(value, "")
    return number if number == DASH else f"{number.rstrip().replace(' ', '')} {unit}"


def _config_tags(rows: Sequence[dict]) -> dict[int, str]:
    """For rows sharing (workload, backend): the configuration keys that tell them apart, by row index."""
    groups: dict[tuple[str, str], list[int]] = {}
    for k, r in enumerate(rows):
        groups.setdefault((r["workload"], r["backend"]), []).append(k)
    tags = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        configs = [rows[k].get("config") or {} for k in members]
        keys = sorted({key for c in configs for key in c})
        differ = [key for key in keys if len({json.dumps(c.get(key), sort_keys=True) for c in configs}) > 1]
        for k, c in zip(members, configs, strict=True):
            text = ", ".join(f"{key}={c[key] if isinstance(c[key], (str, int, float)) else json.dumps(c[key])}"
                             for key in differ if key in c)  # a key this row lacks goes unsaid
            tags[k] = text if len(text) <= 60 else text[:59] + "…"
    return tags


def _all_results_section(rows: Sequence[dict]) -> str:
    ok = [r for r in rows if r.get("status") == "ok"]
    tags = _config_tags(ok)
    order = sorted(range(len(ok)), key=lambda k: (ok[k]["workload"], ok[k]["backend"], tags.get(k, "")))
    body, classes = [], []
    for k in order:
        r = ok[k]
        backend = r["backend"] + (f" ({tags[k]})" if tags.get(k) else "")
        body.append((r["workload"], backend, r.get("kind"), format_si(r.get("seconds"), "s"),
                     _rate(r.get("throughput"), r.get("throughput_unit")), format_si(r.get("energy_j"), "J"),
                     format_si(energy_per_inference(r), "J"), format_si(edp(r), "J·s"),
                     _accuracy(r.get("accuracy") if isinstance(r.get("accuracy"), (int, float)) else None),
                     r.get("energy_method") or DASH))
        classes.append("modelled" if r.get("kind") == "modelled" else "")
    if not body:
        return ("<section id='all-results'><h2>All results</h2><p class='none'>No ok result rows.</p></section>")
    table = _table(["workload", "backend", "kind", "latency", "throughput", "energy / run", "energy / inference",
                    "EDP", "accuracy", "energy method"], body, table_id="all-results-table",
                   numeric=(3, 4, 5, 6, 7, 8), row_class=classes, table_class="compact")
    return ("<section id='all-results'><h2>All results</h2><p class='note'>Every ok row (the newest of each "
            "workload, backend and configuration), sorted by workload and backend; modelled rows shaded. Latency: "
            "median seconds of one run. Throughput: per second, in the row's unit (FLOP/s for kernels, "
            "inferences/s for models). Energy / inference: energy of one run over its inferences, where a run "
            f"holds several; {DASH} otherwise. EDP: energy-delay product of one run (joules times seconds). "
            f"Accuracy: models only. {DASH}: no value.</p>{table}</section>")


def _num(text: str) -> str:
    return f"<td class=num>{_e(text)}</td>"


def _figure(svg: str | None, caption: str, missing: str) -> str:
    if svg is None:
        return f"<p class='none'>{_e(missing)}</p>"
    return f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>"


def _plots_section(rows: Sequence[dict], runs: Sequence[dict], workloads: Mapping[str, dict]) -> str:
    kernels = [r for r in rows if r.get("family") != SWEEP] or list(rows)  # sweeps have their own plot
    parts = ["<section id='plots'><h2>Plots</h2><h3>Speedup and energy per workload</h3>",
             _figure(plots.speedup_figure(workload_table(rows)),
                     "Ratios over the best measured CPU backend, log scale; bars start at parity (1). Dashed red: "
                     "the published Onyx claim (8x faster, 1/70 of the energy).", "No workload has a CPU baseline "
                     "and a target to compare.")]
    for group in sweep_groups(rows):
        cross = crossover(rows, group)
        said = "; ".join(f"{k}: {DASH if v is None else f'from sparsity {v:g}'}" for k, v in cross.items())
        parts += [f"<h3>Sparsity sweep {_e(group)}</h3>",
                  _figure(plots.sweep_figure(rows, group), f"Top: seconds per run. Bottom: speedup over "
                          f"{DENSE_CPU}. Crossovers (sparse faster at that sparsity and every higher point): {said}.",
                          "No sweep point has a sparsity to plot.")]
    parts += ["<h3>Energy breakdown of the accelerator</h3>",
              _figure(plots.energy_breakdown_figure(kernels), "Share of the modelled energy by category; the total "
                      "at the right of each bar.", "No accelerator row has an energy breakdown."),
              "<h3>Tile utilization of the mappings</h3>",
              _figure(plots.utilization_figure(kernels), "PE and memory tiles used by the mapping (all copies), "
                      "and how busy the graph's copies are over the run.", "No accelerator row has utilization data."),
              "<h3>Roofline of the CPU runs</h3>",
              _figure(plots.roofline_figure(rows, runs), "Measured CPU rows with FLOP and byte counts; roof from "
                      "the machine's measured copy bandwidth and dense GEMM rate.",
                      "No measured CPU row has FLOP and byte counts.")]
    spies = [(name, w) for name, w in sorted(workloads.items()) if isinstance((w.get("info") or {}).get("spy"), dict)]
    if spies:
        parts.append("<h3>Operands</h3>")
    for name, w in spies:
        parts.append(_figure(plots.spy_figure(name, w["info"]["spy"]),
                             f"{name}: {w.get('description') or w.get('family', '')}; nonzeros per cell (white: none).",
                             f"{name}: spy data is malformed."))
    return "".join(parts) + "</section>"


def _layers_section(rows: Sequence[dict]) -> str:
    parts = ["<section id='layers'><h2>Per layer (model workloads)</h2>"]
    found = False
    for workload, by_backend in sorted(fastest(rows).items()):
        for backend, row in sorted(by_backend.items()):
            layers = (row.get("metrics") or {}).get("layers")
            if not isinstance(layers, list) or not layers:
                continue
            found = True
            body = [(str(ly.get("name", DASH)), str(ly.get("op", DASH)), _count(ly.get("cycles")),
                     format_si(ly.get("energy_j"), "J"), format_si(ly.get("seconds"), "s"),
                     _percent(ly.get("weight_sparsity")), _percent(ly.get("input_sparsity")))
                    for ly in layers if isinstance(ly, Mapping)]
            totals = ("total", "", _count(_sum(layers, "cycles")), format_si(_sum(layers, "energy_j"), "J"),
                      format_si(_sum(layers, "seconds"), "s"), "", "")
            parts.append(f"<h3>{_e(workload)} · {_e(backend)} ({_e(row.get('kind'))})</h3>"
                         + _table(["layer", "op", "cycles", "energy", "time", "weight sparsity", "input sparsity"],
                                  [*body, totals], numeric=(2, 3, 4, 5, 6), row_class=[""] * len(body) + ["claim"]))
    if not found:
        parts.append("<p class='none'>No result row has per-layer data.</p>")
    return "".join(parts) + "</section>"


def _sum(layers: Sequence, key: str) -> float | None:
    values = [ly.get(key) for ly in layers if isinstance(ly, Mapping)]
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return sum(numbers) if numbers and len(numbers) == len(values) else None


def _count(value) -> str:
    return f"{value:,.0f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else DASH


def _percent(value) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, (int, float)) and not isinstance(value, bool) else DASH


def _problems_section(rows: Sequence[dict]) -> str:
    bad = sorted((r for r in rows if r.get("status") != "ok"), key=lambda r: (r["status"], r["workload"], r["backend"]))
    if not bad:
        return "<section id='problems'><h2>Failed and skipped</h2><p class='none'>None: every row is ok.</p></section>"
    body = "".join(f"<tr><td>{_e(r['status'])}</td><td>{_e(r['workload'])}</td><td>{_e(r['backend'])}</td>"
                   f"<td>{_e(r.get('kind'))}</td><td class='reason'>{_e((r.get('error') or 'no reason given')[:2000])}"
                   f"</td><td class='reason'>{_e(json.dumps(r.get('config') or {}, sort_keys=True)[:500])}</td></tr>"
                   for r in bad)
    return ("<section id='problems'><h2>Failed and skipped</h2><div class='scroll'><table id='problems-table'><thead>"
            "<tr><th>status</th><th>workload</th><th>backend</th><th>kind</th><th>reason</th><th>config</th></tr>"
            f"</thead><tbody>{body}</tbody></table></div></section>")
