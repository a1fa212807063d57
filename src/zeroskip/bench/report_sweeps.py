"""The report's section on design-space sweeps: status, Pareto fronts, sensitivity, best configurations.

One part per sweep of ``ResultStore.points()``: how many points ended in each status and why the
others failed; energy against latency with the Pareto front of each workload (plot and table);
how much each axis moves each workload (heat map and table); the configuration of least
energy-delay product per workload beside the fastest and the least-energy one. The numbers come
from ``zeroskip.bench.sweepviews``; long fronts are thinned (``FRONT_ROWS`` rows per workload).

Example:
    >>> from zeroskip.bench.sweepviews import point
    >>> html = sweeps_section([point("spmv/a", 1e-6, 2e-6, copies=1), point("spmv/a", 2e-6, 1e-6, copies=2)])
    >>> "<section id='sweeps'>" in html, "id='sweep-0-pareto'" in html, "no tile areas" in html
    (True, True, True)
"""

from __future__ import annotations

from collections.abc import Sequence

from zeroskip.bench import plots
from zeroskip.bench import sweepviews as sv
from zeroskip.bench.report import DASH, _e, _figure, _table
from zeroskip.bench.summary import format_si

FRONT_ROWS = 15  # front rows shown per workload; longer fronts are thinned evenly, both ends kept
STATUS_TEXT = {"ok": "ok", "failed": "failed", "timeout": "stopped at the time limit",
               "memory": "over the memory limit"}
INTRO = ("Each point is one configuration of the modelled accelerator on one workload (zeroskip.sweep): its "
         "latency and energy are model outputs, not measurements. A point counts when it is ok with a positive "
         "latency and energy. Sparsity is a property of the input, not a choice of design: fronts and best "
         "configurations are per workload and sparsity, while the sensitivity keeps sparsity as an axis.")


def sweeps_section(points: Sequence[dict]) -> str:
    """The "Sweeps" section of the page (HTML), one part per sweep; empty text without points."""
    if not points:
        return ""
    groups = sv.by_sweep(points)
    links = " · ".join(f"<a href='#sweep-{k}'>{_e(name)}</a>" for k, name in enumerate(groups))
    parts = [f"<section id='sweeps'><h2>Design-space sweeps</h2><p>{_e(INTRO)}</p>",
             f"<p class='note'>{_e(sv.AREA_NOTE)}</p><p class='note'>Sweeps: {links}.</p>"]
    parts += [_sweep(k, name, members) for k, (name, members) in enumerate(groups.items())]
    return "".join(parts) + "</section>"


def _sweep(k: int, name: str, points: list[dict]) -> str:
    axes = sv.axes_of(points)
    design = [a for a in axes if a not in sv.INPUTS]  # inputs name the problem, not the design
    counts = sv.status_counts(points)
    said = ", ".join(f"{n} {STATUS_TEXT.get(s, s)}" for s, n in counts.items() if n or s in ("ok", "failed"))
    values = "; ".join(f"{a}: {', '.join(_values(points, a))}" for a in axes) or "none"
    fixed = ", ".join(f"{a}={sv.value_text(v)}" for a, v in sv.fixed_settings(points).items()) or "none"
    workloads = ", ".join(sv.by_workload(points))
    parts = [f"<h3 id='sweep-{k}'>Sweep {_e(name)}</h3>",
             f"<p>{len(points)} points: {_e(said)}.</p><p class='note'>Axes (values): {_e(values)}.<br>"
             f"Fixed: {_e(fixed)}.<br>Workloads: {_e(workloads)}.</p>",
             _failures(k, points)]
    fronts = sv.pareto_front(points)
    parts += ["<h4>Pareto fronts: energy against latency</h4>",
              _figure(plots.pareto_figure(points, name), "Modelled energy against modelled latency, log-log, one "
                      "panel per workload: faint dots are every ok point, lines the Pareto front (of each "
                      "sparsity, where the workload has several): no other point is at least as fast and as "
                      "frugal. Stars: the least energy-delay product of each front.",
                      "No point of this sweep is ok: nothing to plot."),
              _front_table(k, fronts, design)]
    table = sv.sensitivity(points)
    parts += ["<h4>Sensitivity: how much each axis moves each workload</h4>",
              _figure(plots.sensitivity_figure(table, name), "For each workload and axis: the median latency "
                      "(left) and energy (right) of the ok points at each value of the axis, largest over "
                      "smallest (1×: the axis changes nothing). Grey: the axis does not vary for that workload.",
                      "No axis has ok points at two of its values."),
              _sensitivity_table(k, table),
              "<h4>Best configuration per workload</h4>", _best_table(k, points, design)]
    return "".join(parts)


def _values(points: list[dict], axis: str) -> list[str]:
    found = {sv.value_text((p.get("params") or {}).get(axis)) for p in points}
    return sorted(found, key=sv.natural)


def _failures(k: int, points: list[dict]) -> str:
    reasons = sv.failure_reasons(points, top=5)
    if not reasons:
        return "<p class='none'>Every point is ok.</p>"
    bad = sum(1 for p in points if p.get("status") != "ok")
    shown = sum(r["count"] for r in reasons)
    rows = [(STATUS_TEXT.get(r["status"], r["status"]), r["count"], r["reason"], _names(r["workloads"]))
            for r in reasons]
    more = f" ({bad - shown} more points fail for rarer reasons)" if bad > shown else ""
    return (f"<p class='note'>The most common reasons points are not ok{_e(more)}; numbers in the reasons are "
            "written N, so like failures count together.</p>"
            + _table(["status", "points", "reason", "workloads"], rows, table_id=f"sweep-{k}-failures",
                     numeric=(1,), table_class="compact"))


def _names(names: list[str], most: int = 4) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _front_table(k: int, fronts: dict[str, list[dict]], design: list[str]) -> str:
    if not fronts:
        return ""
    rows, classes, thinned = [], [], 0
    for problem, front in fronts.items():
        groups = sv.ties(front)
        shown = sv.thin(groups, FRONT_ROWS)
        thinned += len(shown) < len(groups)
        label = problem if len(shown) == len(groups) else f"{problem} ({len(shown)} of {len(groups)} shown)"
        for j, group in enumerate(shown):
            p = group[0]
            rows.append((label if j == 0 else "", *(sv.setting(group, a) for a in design),
                         format_si(p["seconds"], "s"), format_si(p["energy_j"], "J"), format_si(sv.edp(p), "J·s"),
                         len(group)))
            classes.append("group" if j == 0 else "")
    n = len(design)
    note = ("The points of each front, fastest first. Values joined by | are settings that give the same latency "
            "and energy (the points column counts them).")
    if thinned:
        note += f" Fronts longer than {FRONT_ROWS} rows are thinned evenly, both ends kept."
    return (f"<p class='note'>{_e(note)}</p>"
            + _table(["workload", *map(_header, design), "latency", "energy", "EDP", "points"], rows,
                     table_id=f"sweep-{k}-pareto", numeric=range(n + 1, n + 5), row_class=classes,
                     table_class="compact sweep"))


def _sensitivity_table(k: int, table: dict[str, list[dict]]) -> str:
    rows, classes = [], []
    for workload, entries in table.items():
        for j, e in enumerate(entries):
            medians = "; ".join(f"{sv.value_text(v['value'])}: {format_si(v['seconds'], 's')}, "
                                f"{format_si(v['energy_j'], 'J')}" if v["n"] else f"{sv.value_text(v['value'])}: "
                                f"none ok" for v in e["values"])
            ok = ", ".join(f"{v['n']}/{v['total']}" for v in e["values"])
            rows.append((workload if j == 0 else "", e["axis"], _x(e["seconds_spread"]), _x(e["energy_spread"]),
                         medians, ok))
            classes.append("group" if j == 0 else "")
    if not rows:
        return ""
    return ("<p class='note'>Per workload, the axes by how much they move it (the larger of the two spreads); "
            "medians over the ok points at each value; ok points / all points at each value.</p>"
            + _table(["workload", "axis", "latency spread", "energy spread", "median latency, energy by value",
                      "ok / all"], rows, table_id=f"sweep-{k}-sensitivity", numeric=(2, 3), row_class=classes,
                     table_class="compact sweep"))


def _header(axis: str) -> str:
    """An axis name that may break after "." and "_" (zero-width spaces), so long names wrap in a header."""
    return axis.replace(".", ".\u200b").replace("_", "_\u200b")


def _x(value: float | None) -> str:
    return DASH if value is None else f"{value:.3g}×"


def _best_table(k: int, points: list[dict], design: list[str]) -> str:
    by_problem = sv.by_workload((p for p in points if sv.counts(p)), sv.INPUTS)
    rows = []
    for problem, best in sv.best_configs(points).items():
        pick = best["edp"]
        if pick is None:
            rows.append((problem, f"0/{best['total']}", *([DASH] * len(design)), DASH, DASH, DASH, DASH, DASH))
            continue
        tied = _tied(by_problem[problem], pick)
        rows.append((problem, f"{best['n']}/{best['total']}", *(sv.setting(tied, a) for a in design),
                     format_si(pick["seconds"], "s"), format_si(pick["energy_j"], "J"), format_si(sv.edp(pick), "J·s"),
                     _other(_tied(by_problem[problem], best["fastest"]), tied, design, "seconds", "s"),
                     _other(_tied(by_problem[problem], best["least_energy"]), tied, design, "energy_j", "J")))
    n = len(design)
    return ("<p class='note'>The configuration of least energy-delay product (EDP, joules times seconds) of each "
            "workload, then the fastest and the least-energy point with the settings where they differ from it "
            "(\"the same\": that point is it). Values joined by | give the same numbers. ok / all: points of the "
            "workload that count.</p>"
            + _table(["workload", "ok / all", *map(_header, design), "latency", "energy", "EDP", "fastest",
                      "least energy"], rows,
                     table_id=f"sweep-{k}-best", numeric=range(n + 2, n + 5), table_class="compact sweep"))


def _tied(points: list[dict], p: dict) -> list[dict]:
    """The points with the very latency and energy of ``p`` (settings that make no difference)."""
    return [q for q in points if (q["seconds"], q["energy_j"]) == (p["seconds"], p["energy_j"])]


def _other(group: list[dict], pick: list[dict], design: list[str], key: str, unit: str) -> str:
    """A tie group's ``key`` and the settings where it differs from the ``pick`` group ("the same" when it is it)."""
    p, q = group[0], pick[0]
    if (p["seconds"], p["energy_j"]) == (q["seconds"], q["energy_j"]):
        return f"{format_si(p[key], unit)}: the same"
    differ = [a for a in design if sv.setting(group, a) != sv.setting(pick, a)]
    return f"{format_si(p[key], unit)}: {sv.settings_text(group, differ) or 'same settings'}"
