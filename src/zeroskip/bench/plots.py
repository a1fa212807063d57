"""The report's figures as inline SVG text (matplotlib, the ``report`` extra).

Each function returns one ``<svg>`` element, ready to sit in an HTML page (no XML declaration,
no external DTD, no metadata, ids salted per figure so several figures share a page), or None
when its rows hold nothing to draw. matplotlib is imported inside the functions only, and figures
are drawn on an Agg canvas without pyplot, so no global state or GUI backend is touched.

Example:
    >>> from zeroskip.bench.summary import make_row, workload_table
    >>> rows = [make_row("spmv/a", "zeroskip-cpu", 2e-3, 0.2),
    ...         make_row("spmv/a", "accel-sparse", 5e-4, 2e-3, kind="modelled")]
    >>> svg = speedup_figure(workload_table(rows))
    >>> svg.startswith("<svg"), "Onyx claim" in svg, speedup_figure([]) is None
    (True, True, True)
"""

from __future__ import annotations

import hashlib
import html
import io
import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

from zeroskip.bench.summary import (
    ACCEL_DENSE, ACCEL_SPARSE, CPU_BACKENDS, CROSSOVERS, DENSE_CPU, GPU, GPU_BACKENDS, ONYX_CLAIM, SWEEP,
    ZEROSKIP_CPU, crossover, fastest, format_si, ratio, sweep_points,
)
from zeroskip.errors import MissingDependencyError

ENERGY_CATEGORIES = ("compute", "memory_tiles", "interconnect", "global_buffer", "dram", "static")
SERIES = ((ACCEL_SPARSE, "accelerator, sparse (model)"), (ACCEL_DENSE, "accelerator, dense (model)"),
          (ZEROSKIP_CPU, "zeroskip CPU (measured)"), (GPU, "GPU"))
COLORS = {  # one colour per backend in every figure
    ACCEL_SPARSE: "#1f77b4", ACCEL_DENSE: "#aec7e8", ZEROSKIP_CPU: "#2ca02c", GPU: "#9467bd",
    "gpu-cuda": "#9467bd", "gpu-model": "#c5b0d5", DENSE_CPU: "#7f7f7f", "scipy": "#ff7f0e",
    "graphblas": "#8c564b", "torch-sparse": "#e377c2",
}
CLAIM_COLOR = "#d62728"


def require_matplotlib():
    """The matplotlib module, or ``MissingDependencyError`` naming the ``report`` extra.

    >>> require_matplotlib().__name__
    'matplotlib'
    """
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingDependencyError("the benchmark report draws its plots with matplotlib, which is not "
                                     "installed: pip install 'zeroskip[report]'") from exc
    return matplotlib


def _figure(width: float, height: float):
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # the Agg canvas: no pyplot, no GUI, nothing global
    return fig


def _svg(fig, key: str, label: str) -> str:
    """The figure as one ``<svg>`` element with ids unique to ``key`` and an accessible label."""
    import matplotlib

    buf = io.StringIO()
    # Text stays text (smaller, selectable); a fixed salt makes the ids, and so the page, reproducible.
    with matplotlib.rc_context({"svg.hashsalt": "zeroskip", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # drops the XML declaration and the DOCTYPE's external DTD URL
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # Figures share one page, hence one id space: every id and reference gets a prefix of this figure.
    prefix = f"z{hashlib.sha256(key.encode()).hexdigest()[:8]}-"
    text = re.sub(r'(href="#|url\(#)([^")]+)', lambda m: f"{m.group(1)}{prefix}{m.group(2)}", text)
    seen: dict[str, int] = {}

    def unique(match: re.Match) -> str:
        # matplotlib names an image by a hash of its pixels: identical images repeat an id; number the repeats.
        name = match.group(1)
        seen[name] = seen.get(name, 0) + 1
        return f'id="{prefix}{name}{"" if seen[name] == 1 else f"-{seen[name]}"}"'

    text = re.sub(r'\bid="([^"]+)"', unique, text)
    return text.replace("<svg", f'<svg role="img" aria-label="{html.escape(label)}"', 1)


def _text(value: str) -> str:
    """A label matplotlib shows as written (``$`` would start math mode)."""
    return str(value).replace("$", r"\$")


def _log_limits(ax, values: Sequence[float], refs: Sequence[float] = ()) -> None:
    """Log-scale limits holding every value and reference line, half a decade of margin."""
    every = [v for v in (*values, *refs, 1.0) if v and v > 0 and math.isfinite(v)]
    ax.set_ylim(min(every) / 3, max(every) * 3)


def speedup_figure(table: Sequence[dict]) -> str | None:
    """Speedup and energy ratio over the best CPU per workload (grouped bars, log scale, Onyx claim lines).

    ``table`` is ``workload_table(rows)``; sweep points are left to ``sweep_figure``.

    >>> from zeroskip.bench.summary import make_row, workload_table
    >>> rows = [make_row("a", "scipy", 1e-3, 0.1), make_row("a", "accel-dense", 1e-4, 1e-4, kind="modelled")]
    >>> "1/70" in speedup_figure(workload_table(rows))
    True
    """
    entries = [w for w in table if w["family"] != SWEEP
               and any(w["targets"][t]["speedup"] or w["targets"][t]["energy_ratio"] for t, _ in SERIES)]
    if not entries:
        return None
    fig = _figure(max(9.0, 2.0 + 0.9 * len(entries)), 7.0)
    ax_s, ax_e = fig.subplots(2, 1, sharex=True)
    width = 0.8 / len(SERIES)
    gpu_names = sorted({w["targets"][GPU]["backend"] for w in entries if w["targets"][GPU]["backend"]})
    values: dict[str, list[float]] = {"speedup": [], "energy_ratio": []}
    for i, (target, label) in enumerate(SERIES):
        if target == GPU:
            label = f"GPU ({', '.join(gpu_names) or 'none'})"
        offset = (i - (len(SERIES) - 1) / 2) * width
        for ax, key in ((ax_s, "speedup"), (ax_e, "energy_ratio")):
            xs = [j + offset for j, w in enumerate(entries) if w["targets"][target][key]]
            vs = [w["targets"][target][key] for w in entries if w["targets"][target][key]]
            values[key] += vs
            # Bars grow from 1 (parity), up for better, down for worse: a ratio's natural origin on a log axis.
            ax.bar(xs, [v - 1 for v in vs], width, bottom=1, color=COLORS[target], label=label if key == "speedup" else None)
    for ax, key, claim, text in ((ax_s, "speedup", ONYX_CLAIM["speedup"], "Onyx claim: 8x faster"),
                                 (ax_e, "energy_ratio", ONYX_CLAIM["energy_ratio"], "Onyx claim: 1/70 energy")):
        ax.set_yscale("log")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.axhline(claim, color=CLAIM_COLOR, linestyle="--", linewidth=1.2, label=text)
        _log_limits(ax, values[key], [claim])
        ax.grid(axis="y", which="major", alpha=0.3)
    (top_handles, top_labels), (low_handles, low_labels) = (ax.get_legend_handles_labels() for ax in (ax_s, ax_e))
    fig.legend(top_handles + low_handles, top_labels + low_labels, loc="outside upper center", ncols=3, fontsize=8)
    ax_s.set_ylabel("speedup over best CPU (x)")
    ax_e.set_ylabel("energy / best CPU energy")
    ax_e.set_xticks(range(len(entries)), [_text(w["workload"]) for w in entries], rotation=30, ha="right")
    return _svg(fig, "speedup", "speedup and energy ratio per workload over the best CPU")


def sweep_figure(rows: Sequence[dict], group: str) -> str | None:
    """Seconds of every backend and speedup over cpu-dense against sparsity for one sweep, crossovers marked.

    >>> from zeroskip.bench.summary import make_row
    >>> rows = [make_row(f"s/{s}", b, t, family="sweep", metrics={"sparsity": s})
    ...         for s, z in ((0.0, 4.0), (0.9, 0.5)) for b, t in (("zeroskip-cpu", z), ("cpu-dense", 1.0))]
    >>> "crossover" in sweep_figure(rows, "s")
    True
    """
    points = sweep_points(rows, group)
    if not any(p["seconds"] for p in points):  # no point has an ok row
        return None
    cross = crossover(rows, group)
    fig = _figure(max(10.0, 4.0 + 0.55 * len(points)), 6.8)
    ax_t, ax_s = fig.subplots(2, 1, sharex=True)
    xs = list(range(len(points)))
    nan = float("nan")
    for backend in (*CPU_BACKENDS, ACCEL_SPARSE, ACCEL_DENSE, *GPU_BACKENDS):
        ys = [p["seconds"].get(backend, nan) for p in points]
        if any(math.isfinite(y) for y in ys):
            ax_t.plot(xs, ys, marker="o", markersize=4, color=COLORS.get(backend), label=backend)
    speedups = []
    for target in (ZEROSKIP_CPU, ACCEL_SPARSE, ACCEL_DENSE):
        ys = [ratio(p["seconds"].get(DENSE_CPU), p["seconds"].get(target)) or nan for p in points]
        speedups += [y for y in ys if math.isfinite(y)]
        if any(math.isfinite(y) for y in ys):
            ax_s.plot(xs, ys, marker="o", markersize=4, color=COLORS[target], label=f"{target} / {DENSE_CPU}")
    styles = (":", "--", "-.")
    for (sparse, dense), style in zip(CROSSOVERS, styles, strict=True):
        at = cross[f"{sparse} vs {dense}"]
        if at is not None:
            x = next(i for i, p in enumerate(points) if p["sparsity"] == at)
            ax_s.axvline(x, color=COLORS[sparse], linestyle=style, linewidth=1.3,
                         label=f"crossover {sparse} vs {dense}: sparsity >= {at:g}")
    ax_t.set_yscale("log")
    ax_t.set_ylabel("seconds per run")
    outside = {"fontsize": 8, "loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}  # off the curves
    if ax_t.get_legend_handles_labels()[0]:  # a sweep of other backends only draws no line here
        ax_t.legend(**outside)
    ax_s.axhline(1.0, color="black", linewidth=0.8)
    if speedups:
        ax_s.set_yscale("log")
        _log_limits(ax_s, speedups)
        ax_s.legend(**outside)
    else:
        ax_s.text(0.5, 0.5, f"no {DENSE_CPU} rows to compare with", ha="center", transform=ax_s.transAxes)
    ax_s.set_ylabel(f"speedup over {DENSE_CPU} (x)")
    ax_s.set_xlabel("sparsity (fraction of zeros)")
    ax_s.set_xticks(xs, [f"{p['sparsity']:g}" for p in points], rotation=30 if len(points) > 8 else 0)
    for ax in (ax_t, ax_s):
        ax.grid(alpha=0.3)
    return _svg(fig, f"sweep-{group}", f"sweep {group}: time and speedup against sparsity")


def _accelerator_rows(rows: Sequence[dict], key: str) -> list[tuple[str, dict, dict]]:
    """(label, row, metrics[key]) of the fastest accelerator rows having a dict under ``key``."""
    best = fastest(rows)
    out = []
    for workload in sorted(best):
        for backend in (ACCEL_SPARSE, ACCEL_DENSE):
            row = best[workload].get(backend)
            value = ((row or {}).get("metrics") or {}).get(key)
            if isinstance(value, Mapping):
                out.append((f"{workload} · {backend.removeprefix('accel-')}", row, value))
    return out


def energy_breakdown_figure(rows: Sequence[dict]) -> str | None:
    """Where the accelerator's energy goes: stacked bars of ``metrics["energy_breakdown"]`` (share of total).

    >>> from zeroskip.bench.summary import make_row
    >>> parts = {"compute": 1e-6, "memory_tiles": 2e-6, "interconnect": 0, "global_buffer": 1e-6,
    ...          "dram": 4e-6, "static": 2e-6}
    >>> row = make_row("a", "accel-sparse", 1e-4, 1e-5, kind="modelled", metrics={"energy_breakdown": parts})
    >>> "memory_tiles" in energy_breakdown_figure([row]), energy_breakdown_figure([]) is None
    (True, True)
    """
    bars = []
    for label, _, parts in _accelerator_rows(rows, "energy_breakdown"):
        values = [max(0.0, float(parts.get(c) or 0.0)) for c in ENERGY_CATEGORIES]
        if sum(values) > 0:
            bars.append((label, values))
    if not bars:
        return None
    fig = _figure(9.0, 1.5 + 0.4 * len(bars))
    ax = fig.subplots()
    ys = list(range(len(bars)))[::-1]  # first workload on top
    left = [0.0] * len(bars)
    for k, category in enumerate(ENERGY_CATEGORIES):
        shares = [100 * values[k] / sum(values) for _, values in bars]
        ax.barh(ys, shares, left=left, label=category, color=f"C{k}")
        left = [a + b for a, b in zip(left, shares, strict=True)]
    for y, (_, values) in zip(ys, bars, strict=True):
        ax.text(101, y, format_si(sum(values), "J"), va="center", fontsize=8)
    ax.set_yticks(ys, [_text(label) for label, _ in bars])
    ax.set_xlim(0, 115)
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel("share of the modelled energy (%); total at the right")
    ax.legend(ncols=len(ENERGY_CATEGORIES), fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return _svg(fig, "energy", "energy breakdown of the accelerator runs")


def roofline_figure(rows: Sequence[dict], runs: Sequence[dict]) -> str | None:
    """Roofline of the measured CPU rows (FLOP/byte against GFLOP/s) under the machine's peaks.

    Peaks are ``machine["copy_bandwidth_Bps"]`` and ``machine["dense_gflops"]`` of the newest run
    holding both (the roof is left out if none does).

    >>> from zeroskip.bench.summary import make_row
    >>> row = make_row("a", "scipy", 1e-3, flops=2e6, bytes=1e6, run_id=1)
    >>> "GB/s" in roofline_figure([row], [{"run_id": 1, "machine": {"copy_bandwidth_Bps": 2e10, "dense_gflops": 100}}])
    True
    """
    points = [r for r in rows if r.get("status") == "ok" and r.get("kind") == "measured" and r["backend"] in CPU_BACKENDS
              and all(ratio(r.get(k), 1.0) for k in ("flops", "bytes", "seconds"))]
    if not points:
        return None
    peaks = [(m.get("copy_bandwidth_Bps"), m.get("dense_gflops"), run.get("run_id"))
             for run in runs for m in [run.get("machine") or {}]
             if ratio(m.get("copy_bandwidth_Bps"), 1.0) and ratio(m.get("dense_gflops"), 1.0)]
    fig = _figure(8.5, 5.2)
    ax = fig.subplots()
    xs = [r["flops"] / r["bytes"] for r in points]
    for backend in CPU_BACKENDS:
        mine = [(x, r["flops"] / r["seconds"] / 1e9) for x, r in zip(xs, points, strict=True) if r["backend"] == backend]
        if mine:
            ax.scatter(*zip(*mine, strict=True), color=COLORS[backend], label=backend, s=22, zorder=3)
    if len(points) <= 16:  # names only where they stay legible
        for x, r in zip(xs, points, strict=True):
            ax.annotate(_text(r["workload"]), (x, r["flops"] / r["seconds"] / 1e9), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
    if peaks:
        bandwidth, gflops, run_id = peaks[-1]
        ridge = gflops * 1e9 / bandwidth
        lo, hi = min(min(xs), ridge) / 4, max(max(xs), ridge) * 4
        grid = [lo * (hi / lo) ** (k / 200) for k in range(201)]
        ax.plot(grid, [min(gflops, bandwidth * x / 1e9) for x in grid], color="black", linewidth=1.2,
                label=f"roof (run {run_id}): {format_si(bandwidth, 'B/s')} copy, {gflops:.4g} GFLOP/s dense GEMM")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity (FLOP / byte)")
    ax.set_ylabel("performance (GFLOP/s)")
    ax.grid(which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _svg(fig, "roofline", "roofline of the measured CPU runs")


def _grid(entry) -> list[list[float]] | None:
    """The spy grid of one operand when it is a non-empty rectangle of numbers, else None."""
    grid = entry.get("grid") if isinstance(entry, Mapping) else None
    if not isinstance(grid, list) or not grid or not all(isinstance(r, list) and r for r in grid):
        return None
    if len({len(r) for r in grid}) != 1 or not all(isinstance(v, (int, float)) for r in grid for v in r):
        return None
    return grid


def _shape(shape, fallback: tuple[int, int]) -> tuple[int, int]:
    """The operand's (rows, cols) as stored, or the grid's own shape when that is malformed."""
    ok = isinstance(shape, list) and len(shape) == 2 and all(isinstance(n, int) and n > 0 for n in shape)
    return (shape[0], shape[1]) if ok else fallback


def spy_figure(name: str, spy: Mapping[str, dict]) -> str | None:
    """Spy plots of a workload's operands: nonzeros per cell of ``info["spy"][operand]["grid"]``.

    >>> "A" in spy_figure("spmv/a", {"A": {"shape": [4, 4], "grid": [[1, 0], [0, 2]]}}), spy_figure("x", {})
    (True, None)
    """
    ops = [(op, entry, grid) for op, entry in spy.items() if (grid := _grid(entry)) is not None]
    if not ops:
        return None
    fig = _figure(max(3.2, 3.0 * len(ops)), 3.1)
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm, Normalize

    axes = fig.subplots(1, len(ops), squeeze=False)[0]
    for ax, (op, entry, grid) in zip(axes, ops, strict=True):
        counts = np.asarray(grid, dtype=float)
        rows, cols = _shape(entry.get("shape"), counts.shape)
        cmap = colormaps["viridis"].with_extremes(bad="white")
        top = counts.max()
        # Counts span decades (a dense row beside empty ones): a log scale keeps the sparse cells visible.
        norm = LogNorm(vmin=max(counts[counts > 0].min(), 1e-12), vmax=top) if top > 10 else Normalize(0, max(top, 1))
        tall = max(rows, cols) / max(1, min(rows, cols)) > 8
        image = ax.imshow(np.ma.masked_equal(counts, 0), cmap=cmap, norm=norm, interpolation="nearest",
                          extent=(0, cols, rows, 0), aspect="auto" if tall else "equal")
        fig.colorbar(image, ax=ax, shrink=0.8, label="nonzeros per cell")
        ax.set_title(_text(f"{op}: {rows}x{cols}, {int(counts.sum())} nonzeros"), fontsize=9)
    return _svg(fig, f"spy-{name}", f"spy plots of {name}")


def utilization_figure(rows: Sequence[dict]) -> str | None:
    """Tile use of each accelerator mapping: PE and memory tiles used, copies' busy fraction (mean, min-max).

    >>> from zeroskip.bench.summary import make_row
    >>> u = {"pe_used": 96, "pe_total": 384, "mem_used": 64, "mem_total": 128, "copies": 2, "copy_busy": [0.9, 0.6]}
    >>> "PE tiles" in utilization_figure([make_row("a", "accel-sparse", 1.0, metrics={"utilization": u})])
    True
    """
    bars = []
    for label, _, u in _accelerator_rows(rows, "utilization"):
        pe, mem = ratio(u.get("pe_used"), u.get("pe_total")), ratio(u.get("mem_used"), u.get("mem_total"))
        busy = [float(b) for b in u.get("copy_busy") or [] if isinstance(b, (int, float))]
        copies = u.get("copies", len(busy))
        bars.append((f"{label} ({copies} copies)", pe or 0.0, mem or 0.0, busy))
    if not bars:
        return None
    fig = _figure(9.0, 1.5 + 0.6 * len(bars))
    ax = fig.subplots()
    h = 0.26
    ys = [3 * h * k + h for k in range(len(bars))][::-1]
    ax.barh([y + h for y in ys], [100 * b[1] for b in bars], h, color="#1f77b4", label="PE tiles used")
    ax.barh(ys, [100 * b[2] for b in bars], h, color="#ff7f0e", label="memory tiles used")
    means = [100 * sum(b[3]) / len(b[3]) if b[3] else 0.0 for b in bars]
    # max(0, ...): the mean of equal fractions can round a hair past them
    spread = [[max(0.0, m - 100 * min(b[3] or [0])) for m, b in zip(means, bars, strict=True)],
              [max(0.0, 100 * max(b[3] or [0]) - m) for m, b in zip(means, bars, strict=True)]]
    ax.barh([y - h for y in ys], means, h, xerr=spread, color="#2ca02c", capsize=3,
            label="copies busy: mean, whisker min-max")
    ax.set_yticks(ys, [_text(b[0]) for b in bars])
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the array / of the run")
    ax.legend(fontsize=8, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig, "utilization", "tile utilization of the accelerator mappings")


def pareto_figure(points: Sequence[dict], sweep: str) -> str | None:
    """Energy against latency of a sweep's points, one log-log panel per workload, the Pareto fronts drawn.

    Every counting point is a faint dot; each front (per workload and input, ``sweepviews.pareto_front``)
    is drawn in its input's colour, connected from fastest to least energy; a star marks the least
    energy-delay product.

    >>> from zeroskip.bench.sweepviews import point
    >>> pts = [point("w", s, e, sweep="s", copies=c) for s, e, c in ((1e-6, 3e-6, 1), (2e-6, 1e-6, 2), (3e-6, 4e-6, 4))]
    >>> "Pareto" in pareto_figure(pts, "s"), pareto_figure(pts, "other") is None
    (True, True)
    """
    from zeroskip.bench import sweepviews as sv

    mine = [p for p in points if p.get("sweep") == sweep and sv.counts(p)]
    if not mine:
        return None
    panels = sv.by_workload(mine)
    inputs = sorted({_inputs_label(p) for p in mine}, key=sv.natural)
    colors = {label: f"C{k % 10}" for k, label in enumerate(inputs)}
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = _figure(max(6.0, 4.2 * ncols), 0.8 + 3.3 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (workload, members) in zip(axes, panels.items(), strict=False):  # spare panels hidden below
        for label in inputs:
            group = [p for p in members if _inputs_label(p) == label]
            if group:
                ax.scatter([p["seconds"] for p in group], [p["energy_j"] for p in group], s=9, alpha=0.18,
                           color=colors[label], linewidths=0)
        for front in sv.pareto_front(members).values():
            label = _inputs_label(front[0])
            ax.plot([p["seconds"] for p in front], [p["energy_j"] for p in front], marker="o", markersize=4,
                    linewidth=1.4, color=colors[label])
            best = min(front, key=lambda p: (sv.edp(p), p["seconds"]))
            ax.scatter([best["seconds"]], [best["energy_j"]], marker="*", s=110, color=colors[label],
                       edgecolors="black", linewidths=0.7, zorder=4)
        _si_log_axes(ax)
        ax.set_title(_text(workload), fontsize=9)
        ax.set_xlabel("latency (modelled)", fontsize=8)
        ax.set_ylabel("energy (modelled)", fontsize=8)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colors[label], marker="o", markersize=4,
                      label=_text(f"Pareto front, {label}" if label else "Pareto front")) for label in inputs]
    handles += [Line2D([], [], color="grey", marker="o", alpha=0.35, linestyle="none", label="every ok point"),
                Line2D([], [], color="grey", marker="*", markersize=10, markeredgecolor="black", linestyle="none",
                       label="least energy-delay product")]
    fig.legend(handles=handles, loc="outside upper center", ncols=min(4, len(handles)), fontsize=8)
    return _svg(fig, f"pareto-{sweep}", f"Pareto fronts of energy against latency in sweep {sweep}")


LOG_TICKS = ((1, 2, 5), (1, 2, 3, 5, 7), tuple(range(1, 10)), tuple(k / 10 for k in range(10, 100)))


def _si_log_axes(ax) -> None:
    """Log-log axes with at least three labelled ticks (1-2-5 of a decade, finer over a narrow range), SI units."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis, (lo, hi), unit in ((ax.xaxis, ax.get_xlim(), "s"), (ax.yaxis, ax.get_ylim(), "J")):
        decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        for subs in LOG_TICKS:
            ticks = [m * 10.0**d for d in decades for m in subs if lo <= m * 10.0**d <= hi]
            if len(ticks) >= 3:
                break
        ticks = ticks[::math.ceil(len(ticks) / 6)] if ticks else ticks  # at most six labels
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_minor_locator(NullLocator())
        axis.set_major_formatter(FuncFormatter(lambda v, _, unit=unit: _text(format_si(v, unit))))
    ax.tick_params(labelsize=7)
    ax.grid(which="major", alpha=0.3)


def _inputs_label(p: dict) -> str:
    """The input settings of a point as text ("sparsity=0.9"); empty without any."""
    from zeroskip.bench import sweepviews as sv

    params = p.get("params") or {}
    found = [f"{k}={sv.value_text(params[k])}" for k in sv.INPUTS if params.get(k) is not None]
    return ", ".join(found)


def sensitivity_figure(table: Mapping[str, Sequence[dict]], sweep: str) -> str | None:
    """How much each axis moves each workload: heat maps of the latency and energy spreads.

    ``table`` is ``sweepviews.sensitivity(points)``; a cell is the largest median over the smallest
    across the axis' values (1: no effect), blank where the axis does not vary for the workload.

    >>> from zeroskip.bench.sweepviews import point, sensitivity
    >>> pts = [point("w", s, 1e-6, sweep="s", copies=c) for s, c in ((1e-6, 1), (3e-6, 2))]
    >>> "copies" in sensitivity_figure(sensitivity(pts), "s"), sensitivity_figure({}, "s") is None
    (True, True)
    """
    rows = [w for w, entries in table.items() if any(e["spread"] is not None for e in entries)]
    if not rows:
        return None
    strongest: dict[str, float] = {}
    for w in rows:
        for e in table[w]:
            strongest[e["axis"]] = max(strongest.get(e["axis"], 1.0), e["spread"] or 1.0)
    cols = sorted(strongest, key=lambda a: (-strongest[a], a))
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm

    fig = _figure(max(8.0, 3.4 + 1.25 * len(cols)), 2.0 + 0.4 * len(rows))
    panels = fig.subplots(1, 2, sharey=True)
    top = max(strongest.values())
    for ax, key, title in ((panels[0], "seconds_spread", "latency"), (panels[1], "energy_spread", "energy")):
        grid = np.full((len(rows), len(cols)), np.nan)
        for i, w in enumerate(rows):
            for e in table[w]:
                if e[key] is not None:
                    grid[i, cols.index(e["axis"])] = e[key]
        cmap = colormaps["YlOrRd"].with_extremes(bad="#eeeeee")
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=LogNorm(1.0, max(top, 1.01)), aspect="auto")
        for i in range(len(rows)):
            for j in range(len(cols)):
                v = grid[i, j]
                text = "–" if not math.isfinite(v) else f"{v:.3g}×"
                dark = math.isfinite(v) and math.log(v) > 0.6 * math.log(max(top, 1.01))
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
        ax.set_xticks(range(len(cols)), [_text(c) for c in cols], rotation=25, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)), [_text(w) for w in rows], fontsize=8)
        ax.set_title(f"{title}: largest median / smallest median", fontsize=9)
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    bar = fig.colorbar(image, ax=list(panels), shrink=0.9, label="spread (x)")
    ticks = [t for t in (1, 1.5, 2, 3, 5, 10, 20, 50, 100, 1000) if t <= max(top, 1.01)]
    bar.ax.yaxis.set_major_locator(FixedLocator(ticks))
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    bar.ax.yaxis.set_minor_locator(NullLocator())
    return _svg(fig, f"sensitivity-{sweep}", f"sensitivity of each workload to each axis in sweep {sweep}")
