"""The numbers of the benchmark report: per-workload ratios, geometric means and sweep crossovers.

Pure functions over the rows of ``ResultStore.results()`` (dicts). Backends are known by name:

- measured CPU baselines: ``cpu-dense`` (dense numpy/torch), ``zeroskip-cpu``, ``scipy``,
  ``graphblas``, ``torch-sparse``; the *best CPU* of a workload is the fastest of them;
- modelled: ``accel-sparse`` and ``accel-dense`` (the sparse accelerator in its sparse and dense
  configuration), ``gpu-model`` (roofline of a named GPU); measured ``gpu-cuda`` when a GPU is present.

Ratios are oriented so that a speedup above 1 means faster than the baseline and an energy ratio
below 1 means less energy: ``speedup = baseline.seconds / x.seconds``, ``energy_ratio =
x.energy_j / baseline.energy_j``, ``edp_ratio = x.edp / baseline.edp`` (energy-delay product,
joules times seconds; below 1 is better, and it equals ``energy_ratio / speedup``). Only ``ok`` rows with positive seconds count; of several rows of
one (workload, backend) (thread counts, configurations) the fastest stands for the backend.

Example:
    >>> rows = [make_row("spmv/a", "zeroskip-cpu", 2e-3, 0.2), make_row("spmv/a", "cpu-dense", 1e-2, 1.0),
    ...         make_row("spmv/a", "accel-sparse", 5e-4, 2e-3, kind="modelled")]
    >>> t = workload_table(rows)[0]["targets"]["accel-sparse"]
    >>> round(t["speedup"], 6), round(t["energy_ratio"], 6), round(t["speedup_vs_dense"], 6), round(t["edp_ratio"], 6)
    (4.0, 0.01, 20.0, 0.0025)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from zeroskip.errors import ConfigError

CPU_BACKENDS = ("cpu-dense", "zeroskip-cpu", "scipy", "graphblas", "torch-sparse")
DENSE_CPU = "cpu-dense"
ZEROSKIP_CPU = "zeroskip-cpu"
ACCEL_SPARSE, ACCEL_DENSE = "accel-sparse", "accel-dense"
ACCEL_BEST = "accel-best"  # the faster of accel-sparse and accel-dense, per workload
GPU_BACKENDS = ("gpu-cuda", "gpu-model")  # a measurement, where there is one, before a model
GPU = "gpu"
TARGETS = (ACCEL_SPARSE, ACCEL_DENSE, ACCEL_BEST, ZEROSKIP_CPU, GPU)
SWEEP = "sweep"
# (sparse, dense) pairs whose crossover a sweep reports.
CROSSOVERS = ((ZEROSKIP_CPU, DENSE_CPU), (ACCEL_SPARSE, ACCEL_DENSE), (ACCEL_SPARSE, DENSE_CPU))
ONYX_CLAIM = {
    "speedup": 8.0,
    "energy_ratio": 1 / 70,
    "text": "8x faster at 1/70 of the energy of a CPU",
    "source": "Onyx, VLSI 2024 / IEEE Micro 2025, as stated in the zeroskip issue",
}


def make_row(workload: str, backend: str, seconds: float | None, energy_j: float | None = None, *,
             kind: str = "measured", status: str = "ok", family: str = "kernel", **extra) -> dict:
    """A result row shaped as ``ResultStore.results()`` returns it, for examples and tests.

    >>> make_row("spmv/a", "scipy", 1e-3, metrics={"sparsity": 0.9})["metrics"]
    {'sparsity': 0.9}
    """
    return {"workload": workload, "backend": backend, "seconds": seconds, "energy_j": energy_j, "kind": kind,
            "status": status, "family": family, "metrics": extra.pop("metrics", {}), "config": extra.pop("config", {}),
            **extra}


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def ratio(numerator, denominator) -> float | None:
    """``numerator / denominator`` when both are positive finite numbers, else None.

    >>> ratio(2.0, 0.5), ratio(1.0, None), ratio(0.0, 1.0)
    (4.0, None, None)
    """
    return numerator / denominator if _positive(numerator) and _positive(denominator) else None


def geomean(values: Iterable[float | None]) -> float | None:
    """Geometric mean of the positive finite values (None and others left out); None if there are none.

    >>> round(geomean([4.0, 0.5, None]), 6), geomean([])
    (1.414214, None)
    """
    logs = [math.log(v) for v in values if _positive(v)]
    return math.exp(sum(logs) / len(logs)) if logs else None


def _number(value) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def edp(row: dict | None) -> float | None:
    """Energy-delay product of a row in J*s: its ``edp`` column, else ``energy_j * seconds``; None without both.

    >>> edp(make_row("w", "scipy", 2e-3, 0.5)), edp(make_row("w", "scipy", 2e-3, None)), edp(None)
    (0.001, None, None)
    """
    if row is None:
        return None
    stored = row.get("edp")
    if _positive(stored):
        return float(stored)
    seconds, joules = row.get("seconds"), row.get("energy_j")
    return seconds * joules if _positive(seconds) and _positive(joules) else None


def energy_per_inference(row: dict) -> float | None:
    """Joules per inference: ``energy_j / metrics["items"]`` when one run is several inferences, else None.

    A run counts as several inferences when ``metrics["item_unit"]`` is ``"inferences"`` and
    ``metrics["items"]`` is above 1 (for one inference the energy per run is the answer).

    >>> energy_per_inference(make_row("m", "cpu-dense", 1e-3, 0.9, metrics={"items": 450, "item_unit": "inferences"}))
    0.002
    >>> energy_per_inference(make_row("k", "scipy", 1e-3, 0.9, metrics={"items": 1, "item_unit": "runs"})) is None
    True
    """
    metrics = row.get("metrics") or {}
    items, joules = metrics.get("items"), row.get("energy_j")
    if metrics.get("item_unit") != "inferences" or not _positive(items) or items <= 1 or not _positive(joules):
        return None
    return joules / items


def accuracy_table(rows: Sequence[dict]) -> list[dict]:
    """The accuracy of every backend that reports one, per workload, and its drop against ``cpu-dense``.

    One entry per (workload, backend) with an ``ok`` row carrying an accuracy (percent), sorted by
    family, workload and backend (``cpu-dense`` first); of several rows the fastest stands for the
    backend, as in ``fastest``. Keys: ``workload``, ``family``, ``backend``, ``kind``, ``accuracy``,
    ``reference`` (the ``cpu-dense`` accuracy of the workload, None without one) and ``drop``
    (``reference - accuracy`` in percentage points: above 0 means less accurate than dense; None
    without a reference).

    >>> rows = [make_row("m", "cpu-dense", 1e-3, accuracy=96.0, family="mlp"),
    ...         make_row("m", "zeroskip-cpu", 1e-3, accuracy=95.5, family="mlp"), make_row("m", "gpu-model", 1e-4)]
    >>> [(e["backend"], e["accuracy"], e["drop"]) for e in accuracy_table(rows)]
    [('cpu-dense', 96.0, 0.0), ('zeroskip-cpu', 95.5, 0.5)]
    """
    with_accuracy = [r for r in rows if _number(r.get("accuracy")) is not None]
    table = []
    for workload, by_backend in fastest(with_accuracy).items():
        dense = by_backend.get(DENSE_CPU)
        reference = None if dense is None else float(dense["accuracy"])
        for backend, r in by_backend.items():
            accuracy = float(r["accuracy"])
            table.append({"workload": workload, "family": r.get("family") or "", "backend": backend,
                          "kind": r.get("kind"), "accuracy": accuracy, "reference": reference,
                          "drop": None if reference is None else reference - accuracy})
    return sorted(table, key=lambda e: (e["family"], e["workload"], e["backend"] != DENSE_CPU, e["backend"]))


def fastest(rows: Iterable[dict]) -> dict[str, dict[str, dict]]:
    """``{workload: {backend: row}}``: the fastest ``ok`` row of each (workload, backend).

    A CPU baseline counts only when measured (a modelled CPU number is no baseline).

    >>> rows = [make_row("w", "scipy", 3.0), make_row("w", "scipy", 2.0), make_row("w", "scipy", 1.0, status="failed")]
    >>> fastest(rows)["w"]["scipy"]["seconds"]
    2.0
    """
    out: dict[str, dict[str, dict]] = {}
    for r in rows:
        if r.get("status") != "ok" or not _positive(r.get("seconds")):
            continue
        if r["backend"] in CPU_BACKENDS and r.get("kind") != "measured":
            continue
        by_backend = out.setdefault(r["workload"], {})
        current = by_backend.get(r["backend"])
        if current is None or r["seconds"] < current["seconds"]:
            by_backend[r["backend"]] = r
    return out


def _quickest(candidates: Iterable[dict | None]) -> dict | None:
    present = [c for c in candidates if c is not None]
    return min(present, key=lambda r: r["seconds"]) if present else None


def _versus(x: dict | None, cpu: dict | None, dense: dict | None) -> dict:
    """Seconds, joules and ratios of row ``x`` against the best CPU and against cpu-dense."""
    if x is None:
        return {"backend": None, "kind": None, "seconds": None, "energy_j": None, "edp": None, "speedup": None,
                "energy_ratio": None, "edp_ratio": None, "speedup_vs_dense": None, "energy_ratio_vs_dense": None,
                "edp_ratio_vs_dense": None}
    energy, product = x.get("energy_j"), edp(x)
    return {
        "backend": x["backend"], "kind": x.get("kind"), "seconds": x["seconds"], "energy_j": energy, "edp": product,
        "speedup": ratio(cpu and cpu["seconds"], x["seconds"]),
        "energy_ratio": ratio(energy, cpu and cpu.get("energy_j")),
        "edp_ratio": ratio(product, edp(cpu)),
        "speedup_vs_dense": ratio(dense and dense["seconds"], x["seconds"]),
        "energy_ratio_vs_dense": ratio(energy, dense and dense.get("energy_j")),
        "edp_ratio_vs_dense": ratio(product, edp(dense)),
    }


def workload_table(rows: Sequence[dict]) -> list[dict]:
    """One entry per workload (sorted by family, then name): the best CPU and every target against it.

    Entry keys: ``workload``, ``family``, ``cpu_best`` (backend name or None), ``cpu_seconds``,
    ``cpu_energy_j``, ``cpu_edp``, ``dense_seconds``, ``dense_energy_j``, ``dense_edp`` and
    ``targets``: for each of ``TARGETS`` a dict with ``backend`` (the row's backend, e.g. which GPU
    backend), ``kind``, ``seconds``, ``energy_j``, ``edp``, ``speedup``, ``energy_ratio``,
    ``edp_ratio``, ``speedup_vs_dense``, ``energy_ratio_vs_dense`` and ``edp_ratio_vs_dense``; a
    value is None where its rows are missing. EDPs are those of the rows picked for speed (the
    best CPU is the fastest CPU backend, not the one of lowest EDP).

    >>> rows = [make_row("b", "cpu-dense", 1e-3, 0.1), make_row("b", "zeroskip-cpu", 3e-3, 0.3),
    ...         make_row("b", "accel-sparse", 2e-3, 1e-3, kind="modelled"),
    ...         make_row("b", "accel-dense", 2.5e-4, 4e-3, kind="modelled")]
    >>> entry = workload_table(rows)[0]
    >>> entry["cpu_best"], entry["targets"]["accel-best"]["backend"], entry["targets"]["accel-best"]["speedup"]
    ('cpu-dense', 'accel-dense', 4.0)
    >>> entry["targets"]["gpu"]["speedup"] is None
    True
    """
    best = fastest(rows)
    families: dict[str, str] = {}
    for r in rows:
        families.setdefault(r["workload"], r.get("family") or "")
    table = []
    for name in sorted(families, key=lambda n: (families[n], n)):
        by = best.get(name, {})
        cpu = _quickest(by.get(b) for b in CPU_BACKENDS)
        dense = by.get(DENSE_CPU)
        picks = {
            ACCEL_SPARSE: by.get(ACCEL_SPARSE),
            ACCEL_DENSE: by.get(ACCEL_DENSE),
            ACCEL_BEST: _quickest((by.get(ACCEL_SPARSE), by.get(ACCEL_DENSE))),
            ZEROSKIP_CPU: by.get(ZEROSKIP_CPU),
            GPU: next((by[b] for b in GPU_BACKENDS if b in by), None),
        }
        table.append({
            "workload": name, "family": families[name],
            "cpu_best": cpu and cpu["backend"], "cpu_seconds": cpu and cpu["seconds"],
            "cpu_energy_j": cpu and cpu.get("energy_j"), "cpu_edp": edp(cpu),
            "dense_seconds": dense and dense["seconds"], "dense_energy_j": dense and dense.get("energy_j"),
            "dense_edp": edp(dense),
            "targets": {t: _versus(x, cpu, dense) for t, x in picks.items()},
        })
    return table


def summary(rows: Sequence[dict], *, include_sweeps: bool = False) -> dict:
    """Geometric means of speedup, energy ratio and EDP ratio per (target, baseline), beside the Onyx claim.

    Returns ``{"workloads": n, "comparisons": [...], "claim": ONYX_CLAIM}``; each comparison has
    ``target`` (``accel-sparse``, ``accel-best``, ``zeroskip-cpu``, ``gpu``), ``baseline``
    (``best CPU`` or ``cpu-dense``), ``speedup``, ``energy_ratio`` and ``edp_ratio`` (geometric
    means, None without data) and ``n_speedup``/``n_energy``/``n_edp``, the workloads having both
    numbers of that ratio. Sweeps are
    left out unless ``include_sweeps``: one sweep is one workload at many sparsities, and counting
    each point would weigh it by the number of points.

    >>> rows = [make_row("a", "zeroskip-cpu", 2e-3, 0.2), make_row("a", "cpu-dense", 1e-2, 1.0),
    ...         make_row("a", "accel-sparse", 5e-4, 2e-3, kind="modelled"),
    ...         make_row("b", "cpu-dense", 1e-3, 0.1), make_row("b", "accel-sparse", 2e-3, 1e-3, kind="modelled")]
    >>> s = summary(rows)
    >>> c = s["comparisons"][0]
    >>> s["workloads"], c["target"], c["baseline"], round(c["speedup"], 6), c["n_speedup"]
    (2, 'accel-sparse', 'best CPU', 1.414214, 2)
    >>> round(c["edp_ratio"], 9), c["n_edp"]  # EDP ratios 1e-6/4e-4 and 2e-6/1e-4
    (0.007071068, 2)
    >>> s["claim"]["speedup"], round(1 / s["claim"]["energy_ratio"])
    (8.0, 70)
    """
    table = [w for w in workload_table(rows) if include_sweeps or w["family"] != SWEEP]
    comparisons = []
    for target in (ACCEL_SPARSE, ACCEL_BEST, ZEROSKIP_CPU, GPU):
        for baseline, suffix in (("best CPU", ""), (DENSE_CPU, "_vs_dense")):
            found = {key: [w["targets"][target][key + suffix] for w in table
                           if w["targets"][target][key + suffix] is not None]
                     for key in ("speedup", "energy_ratio", "edp_ratio")}
            comparisons.append({"target": target, "baseline": baseline,
                                "speedup": geomean(found["speedup"]), "n_speedup": len(found["speedup"]),
                                "energy_ratio": geomean(found["energy_ratio"]), "n_energy": len(found["energy_ratio"]),
                                "edp_ratio": geomean(found["edp_ratio"]), "n_edp": len(found["edp_ratio"])})
    return {"workloads": len(table), "comparisons": comparisons, "claim": dict(ONYX_CLAIM)}


def sweep_of(row: dict) -> str | None:
    """The sweep a row belongs to: ``config["sweep"]``, else the workload name before ``/``; None if no sweep.

    >>> sweep_of(make_row("spmm-sweep/s0.9", "scipy", 1.0, family="sweep")), sweep_of(make_row("x/y", "scipy", 1.0))
    ('spmm-sweep', None)
    """
    if row.get("family") != SWEEP:
        return None
    named = (row.get("config") or {}).get("sweep")
    return named if isinstance(named, str) and named else row["workload"].partition("/")[0]


def sweep_groups(rows: Iterable[dict]) -> list[str]:
    """The names of the sweeps among ``rows``, sorted.

    >>> sweep_groups([make_row("s/0", "scipy", 1.0, family="sweep"), make_row("k", "scipy", 1.0)])
    ['s']
    """
    return sorted({g for g in map(sweep_of, rows) if g is not None})


def _sparsity(row: dict) -> float | None:
    value = (row.get("metrics") or {}).get("sparsity")
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0
    return float(value) if ok else None


def sweep_points(rows: Sequence[dict], group: str) -> list[dict]:
    """The points of sweep ``group``, by increasing sparsity: ``{"workload", "sparsity", "seconds": {backend: s}}``.

    A point's sparsity is ``metrics["sparsity"]`` of its rows; points without one are left out.
    Raises ``ConfigError`` when there is no sweep of that name.

    >>> rows = [make_row("s/b", "scipy", 1.0, family="sweep", metrics={"sparsity": 0.9}),
    ...         make_row("s/a", "scipy", 3.0, family="sweep", metrics={"sparsity": 0.5})]
    >>> [(p["sparsity"], p["seconds"]) for p in sweep_points(rows, "s")]
    [(0.5, {'scipy': 3.0}), (0.9, {'scipy': 1.0})]
    """
    members = [r for r in rows if sweep_of(r) == group]
    if not members:
        raise ConfigError(f"no sweep named {group!r}; sweeps: {', '.join(sweep_groups(rows)) or 'none'}")
    sparsity: dict[str, float] = {}
    for r in members:
        s = _sparsity(r)
        if s is not None:
            sparsity.setdefault(r["workload"], s)
    best = fastest(members)
    points = [{"workload": w, "sparsity": s, "seconds": {b: r["seconds"] for b, r in best.get(w, {}).items()}}
              for w, s in sparsity.items()]
    return sorted(points, key=lambda p: (p["sparsity"], p["workload"]))


def _crossover(points: Sequence[dict], sparse: str, dense: str) -> float | None:
    """Lowest swept sparsity from which on ``sparse`` is faster than ``dense`` at every higher point."""
    both = [p for p in points if sparse in p["seconds"] and dense in p["seconds"]]
    found = None
    # Walk down from the sparsest point; the first point where sparse does not win ends the run.
    for p in reversed(both):
        if p["seconds"][sparse] >= p["seconds"][dense]:
            break
        found = p["sparsity"]
    return found


def crossover(rows: Sequence[dict], group: str) -> dict[str, float | None]:
    """For each pair of ``CROSSOVERS``, the lowest sparsity from which on the sparse backend is faster.

    Keys are ``"<sparse> vs <dense>"``; the value is the lowest swept sparsity at which the sparse
    backend is faster there and at every higher swept point (points missing either backend are
    not compared), or None when it is not faster at the sparsest point.

    >>> rows = [make_row(f"s/{s}", b, t, family="sweep", metrics={"sparsity": s})
    ...         for s, z, d in [(0.0, 5, 1), (0.5, 1, 2), (0.9, 3, 2), (0.99, 1, 2)]
    ...         for b, t in (("zeroskip-cpu", z), ("cpu-dense", d))]
    >>> crossover(rows, "s")["zeroskip-cpu vs cpu-dense"], crossover(rows, "s")["accel-sparse vs accel-dense"]
    (0.99, None)
    """
    points = sweep_points(rows, group)
    return {f"{sparse} vs {dense}": _crossover(points, sparse, dense) for sparse, dense in CROSSOVERS}


_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"))


def format_si(value: float | None, unit: str, digits: int = 3) -> str:
    """``value`` with an SI prefix and ``digits`` significant digits; an en dash for a missing value.

    >>> format_si(0.00123, "s"), format_si(2.5e-7, "J"), format_si(None, "J"), format_si(9.9996e-4, "s")
    ('1.23 ms', '250 nJ', '–', '1 ms')
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "–"
    if value == 0:
        return f"0 {unit}"
    # Seconds stay seconds above 1 s: "1.5 ks" reads worse than "1500 s".
    prefixes = _PREFIXES[3:] if unit == "s" else _PREFIXES
    i = next((k for k, (scale, _) in enumerate(prefixes) if abs(value) >= scale), len(prefixes) - 1)
    text = f"{value / prefixes[i][0]:.{digits}g}"
    if abs(float(text)) >= 1000 and i > 0:  # rounding carried into the next prefix (999.96 -> 1000)
        i -= 1
        text = f"{value / prefixes[i][0]:.{digits}g}"
    return f"{text} {prefixes[i][1]}{unit}"
