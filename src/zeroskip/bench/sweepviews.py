"""The numbers of the report's sweep views: Pareto fronts, sensitivity to each axis, best configurations.

Pure functions over the rows of ``ResultStore.points()`` (dicts with ``key``, ``sweep``,
``params``, ``status``, ``seconds``, ``energy_j``, ``error``...). A point *counts* when its status
is ``ok`` and its modelled ``seconds`` and ``energy_j`` are positive finite numbers; the others
show only in the status counts and failure reasons.

- ``axes_of``: the settings that vary within a sweep (its axes, ``workload`` left out);
- ``pareto_front``: per workload, the points no other point beats in both latency and energy;
- ``sensitivity``: per workload and axis, the median latency and energy at each value of the axis
  and their spread (largest median over smallest): how much that axis moves the workload;
- ``best_configs``: per workload, the point of least energy-delay product, the fastest and the
  least-energy one.

Sparsity describes the workload's input, not the design: a design cannot choose it, and the
sparsest input would win every front. ``pareto_front`` and ``best_configs`` therefore group by
workload *and* the settings of ``INPUTS`` (``"spmspv/random:32, sparsity=0.9"``; a workload
without a sparsity keeps its bare name); pass ``inputs=()`` to group by workload alone.
``sensitivity`` keeps sparsity as an axis: how much the input moves a workload is worth seeing.
Functions grouping by workload expect the points of one sweep (``by_sweep`` splits them).

Example:
    >>> pts = [point("w", 1.0, 5.0, copies=1), point("w", 2.0, 2.0, copies=2), point("w", 3.0, 3.0, copies=4)]
    >>> [p["params"]["copies"] for p in pareto_front(pts)["w"]], axes_of(pts)
    ([1, 2], ['copies'])
    >>> best_configs(pts)["w"]["edp"]["params"]["copies"]
    2
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence

STATUSES = ("ok", "failed", "timeout", "memory")
NOT_AXES = ("key", "sweep", "workload")
INPUTS = ("sparsity",)  # settings of the workload's input: with the workload, they name the problem
AREA_NOTE = ("Area is not shown: the architecture spec gives no tile areas, so no point has an area to trade "
             "against latency and energy.")


def point(workload: str, seconds: float | None, energy_j: float | None, *, status: str = "ok", sweep: str = "s",
          error: str | None = None, **params) -> dict:
    """A point row shaped as ``ResultStore.points()`` returns it, for examples and tests.

    >>> point("spmv/random:8", 1e-6, 2e-6, copies=2)["params"]
    {'workload': 'spmv/random:8', 'sweep': 's', 'copies': 2}
    """
    key = json.dumps([workload, sweep, params, seconds, energy_j, status], sort_keys=True, default=str)
    return {"key": key, "sweep": sweep, "params": {"workload": workload, "sweep": sweep, **params}, "status": status,
            "seconds": seconds, "energy_j": energy_j, "cycles": None, "metrics": {}, "error": error, "wall_s": None}


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def counts(p: dict) -> bool:
    """Whether a point counts: ``ok`` with positive finite seconds and joules.

    >>> counts(point("w", 1.0, 2.0)), counts(point("w", 1.0, None)), counts(point("w", 1.0, 2.0, status="failed"))
    (True, False, False)
    """
    return p.get("status") == "ok" and _positive(p.get("seconds")) and _positive(p.get("energy_j"))


def edp(p: dict) -> float:
    """Energy-delay product of a counting point (joules times seconds)."""
    return p["seconds"] * p["energy_j"]


def workload_of(p: dict) -> str:
    return str((p.get("params") or {}).get("workload", "?"))


def by_sweep(points: Iterable[dict]) -> dict[str, list[dict]]:
    """``{sweep: [points]}``, sweeps sorted by name, points in their given order.

    >>> list(by_sweep([point("w", 1, 1, sweep="b"), point("w", 1, 1, sweep="a")]))
    ['a', 'b']
    """
    out: dict[str, list[dict]] = {}
    for p in points:
        out.setdefault(str(p.get("sweep")), []).append(p)
    return dict(sorted(out.items()))


def problem_of(p: dict, inputs: Sequence[str] = INPUTS) -> str:
    """The workload with the point's input settings (those not None): the problem a design is judged on.

    >>> problem_of(point("spmv/random:8", 1, 1, sparsity=0.9)), problem_of(point("spmv/w", 1, 1, sparsity=None))
    ('spmv/random:8, sparsity=0.9', 'spmv/w')
    """
    params = p.get("params") or {}
    return workload_of(p) + "".join(f", {k}={value_text(params[k])}" for k in inputs if params.get(k) is not None)


def by_workload(points: Iterable[dict], inputs: Sequence[str] = ()) -> dict[str, list[dict]]:
    """``{workload: [points]}`` (with ``inputs``: by ``problem_of``), in natural order of the names."""
    out: dict[str, list[dict]] = {}
    for p in points:
        out.setdefault(problem_of(p, inputs), []).append(p)
    return dict(sorted(out.items(), key=lambda kv: _problem_order(kv[1][0], inputs)))


def _problem_order(p: dict, inputs: Sequence[str]) -> tuple:
    params = p.get("params") or {}
    return (natural(workload_of(p)), *(natural(params.get(k)) for k in inputs))


def _ident(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def natural(value) -> tuple:
    """A sort key ordering None first, numbers by value, text with its numbers by value ("8x16" before "16x32").

    >>> sorted(["16x32", "8x16", None, 2, 0.5], key=natural)
    [None, 0.5, 2, '8x16', '16x32']
    """
    if value is None:
        return (0,)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, float(value))
    parts = re.split(r"(\d+)", str(value))
    return (2, tuple((1, int(s), "") if s.isdigit() else (0, 0, s) for s in parts))


def axes_of(points: Iterable[dict]) -> list[str]:
    """The settings whose values vary within a sweep, sorted (``key``, ``sweep`` and ``workload`` left out).

    A setting one point lacks counts as None there. Every point counts, whatever its status.

    >>> axes_of([point("a", 1, 1, copies=1, mode="sparse"), point("b", 1, 1, copies=2, mode="sparse")])
    ['copies']
    """
    found: set[str] = set()
    for members in by_sweep(points).values():
        keys = {k for p in members for k in (p.get("params") or {})} - set(NOT_AXES)
        found |= {k for k in keys if len({_ident((p.get("params") or {}).get(k)) for p in members}) > 1}
    return sorted(found)


def fixed_settings(points: Sequence[dict]) -> dict:
    """The settings every point shares, with their value (``key``, ``sweep`` and ``workload`` left out).

    >>> fixed_settings([point("a", 1, 1, copies=1, mode="sparse"), point("b", 1, 1, copies=2, mode="sparse")])
    {'mode': 'sparse'}
    """
    if not points:
        return {}
    varying = set(axes_of(points)) | set(NOT_AXES)
    keys = sorted({k for p in points for k in (p.get("params") or {})} - varying)
    return {k: points[0]["params"].get(k) for k in keys}


def setting(points: dict | Sequence[dict], axis: str) -> str:
    """The value of ``axis`` in a point, or in several (ties): their distinct values joined by "|".

    >>> setting(point("w", 1, 1, copies=2), "copies"), setting([point("w", 1, 1, g=8.0), point("w", 1, 1, g=4.0)], "g")
    ('2', '4.0|8.0')
    """
    group = [points] if isinstance(points, dict) else points
    values = {_ident(v): v for v in ((p.get("params") or {}).get(axis) for p in group)}
    return "|".join(value_text(v) for v in sorted(values.values(), key=natural))


def settings_text(points: dict | Sequence[dict], axes: Iterable[str]) -> str:
    """The values of ``axes`` in a point (or in tied points, see ``setting``) as ``axis=value`` pairs.

    >>> settings_text(point("w", 1, 1, copies=2, array="8x16"), ["array", "copies"])
    'array=8x16, copies=2'
    """
    return ", ".join(f"{a}={setting(points, a)}" for a in axes)


def ties(front: Sequence[dict]) -> list[list[dict]]:
    """A front's points grouped by equal (seconds, energy): several settings giving the same numbers.

    >>> [len(g) for g in ties([point("w", 1, 3), point("w", 1, 3), point("w", 2, 1)])]
    [2, 1]
    """
    groups: dict[tuple, list[dict]] = {}
    for p in front:
        groups.setdefault((p.get("seconds"), p.get("energy_j")), []).append(p)
    return list(groups.values())


def value_text(value) -> str:
    """A setting's value as text: strings as they are, ``None`` as "none", numbers as JSON writes them.

    >>> value_text(None), value_text(4.0), value_text(0.95), value_text("16x32")
    ('none', '4.0', '0.95', '16x32')
    """
    if value is None:
        return "none"
    return value if isinstance(value, str) else _ident(value)


def status_counts(points: Iterable[dict]) -> dict[str, int]:
    """How many points have each status (every status of ``STATUSES``, others after them).

    >>> status_counts([point("w", 1, 1), point("w", None, None, status="timeout")])
    {'ok': 1, 'failed': 0, 'timeout': 1, 'memory': 0}
    """
    found = Counter(str(p.get("status")) for p in points)
    return {s: found.get(s, 0) for s in STATUSES} | {s: n for s, n in sorted(found.items()) if s not in STATUSES}


_EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w]*\.)*([A-Z]\w*(?:Error|Exception|Interrupt|Exit))\b")
_BLOCKED = re.compile(r"at step \d+ of \d+: waits for (?:a token|room)")


def failure_reason(error: str | None) -> str:
    """A short reason shared by like failures: the error's first line, numbers as N, module path dropped.

    A message cut at its start (the store keeps the end of long errors) that lists blocks waiting
    on FIFOs is the simulator's deadlock report.

    >>> failure_reason("zeroskip.errors.ResourceError: needs 36 memory tiles but onyx has 32")
    'ResourceError: needs N memory tiles but onyx has N'
    >>> failure_reason("de root)\\n  1 repeat at step 3 of 19: waits for a token on input x"), failure_reason(None)
    ('deadlock: blocks wait on each other (message cut at its start)', 'no reason given')
    """
    text = (error or "").strip()
    if not text:
        return "no reason given"
    first = text.splitlines()[0].strip()
    match = _EXCEPTION.match(first)
    if match:
        first = match.group(1) + first[match.end():]
    elif _BLOCKED.search(text) and not first.lower().startswith("deadlock"):
        return "deadlock: blocks wait on each other (message cut at its start)"
    first = re.sub(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?", "N", first)
    return first if len(first) <= 140 else first[:139] + "…"


def failure_reasons(points: Iterable[dict], top: int = 5) -> list[dict]:
    """The ``top`` most common reasons among the points that are not ``ok``, most common first.

    Each: ``status``, ``reason`` (``failure_reason``), ``count`` and ``workloads`` (sorted names).

    >>> bad = [point(w, None, None, status="failed", error=f"ValueError: bad {k}") for w, k in (("b", 1), ("a", 22))]
    >>> failure_reasons([*bad, point("w", 1, 1)])
    [{'status': 'failed', 'reason': 'ValueError: bad N', 'count': 2, 'workloads': ['a', 'b']}]
    """
    found: dict[tuple[str, str], list[str]] = {}
    for p in points:
        if p.get("status") != "ok":
            found.setdefault((str(p.get("status")), failure_reason(p.get("error"))), []).append(workload_of(p))
    ranked = sorted(found.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [{"status": status, "reason": reason, "count": len(names), "workloads": sorted(set(names), key=natural)}
            for (status, reason), names in ranked[:top]]


def pareto_front(points: Iterable[dict], inputs: Sequence[str] = INPUTS) -> dict[str, list[dict]]:
    """Per workload (and input, see the module docstring), the counting points no other dominates, fastest first.

    A point dominates another when it is at most as slow and at most as costly in energy, and
    strictly better in one of the two. Identical (latency, energy) points dominate neither one
    another: both stay on the front. Points that do not count are ignored.

    >>> pts = [point("w", 1, 5), point("w", 1, 3), point("w", 2, 3), point("w", 3, 1), point("w", 1, 3),
    ...        point("w", 0.5, 0.1, status="failed")]
    >>> [(p["seconds"], p["energy_j"]) for p in pareto_front(pts)["w"]]
    [(1, 3), (1, 3), (3, 1)]
    """
    fronts = {}
    for workload, members in by_workload((p for p in points if counts(p)), inputs).items():
        front, best = [], None  # best: (seconds, joules) of the least energy so far
        for p in sorted(members, key=lambda p: (p["seconds"], p["energy_j"], str(p.get("key")))):
            here = (p["seconds"], p["energy_j"])
            if best is None or here[1] < best[1]:
                best = here
                front.append(p)
            elif here == best:  # a duplicate of the last front point
                front.append(p)
        fronts[workload] = front
    return fronts


def thin(front: Sequence[dict], most: int = 15) -> list[dict]:
    """At most ``most`` points of a front, evenly spread along it, both ends kept.

    >>> [p["seconds"] for p in thin([point("w", s, 1) for s in range(10)], 4)]
    [0, 3, 6, 9]
    """
    if len(front) <= most:
        return list(front)
    if most < 2:
        return list(front[:most])
    picks = sorted({round(k * (len(front) - 1) / (most - 1)) for k in range(most)})
    return [front[k] for k in picks]


def sensitivity(points: Iterable[dict]) -> dict[str, list[dict]]:
    """Per workload, how much each axis moves its latency and energy, the most moving axis first.

    For each axis that takes more than one value among the workload's points, and each such value:
    ``n`` (counting points), ``total`` (all points), and the median ``seconds`` and ``energy_j``
    of the counting points (None without any). ``seconds_spread`` and ``energy_spread`` are the
    largest of those medians over the smallest (1: the axis changes nothing; None with fewer than
    two values having counting points); ``spread`` is the larger of the two, the sort key.

    >>> pts = [point("w", s, e, copies=c, mode=m) for c, m, s, e in
    ...        [(1, "a", 4.0, 1.0), (1, "b", 4.0, 1.0), (2, "a", 1.0, 1.0), (2, "b", 1.0, 3.0)]]
    >>> [(e["axis"], e["seconds_spread"], e["energy_spread"]) for e in sensitivity(pts)["w"]]
    [('copies', 4.0, 2.0), ('mode', 1.0, 2.0)]
    >>> [(v["value"], v["seconds"], v["energy_j"]) for v in sensitivity(pts)["w"][0]["values"]]
    [(1, 4.0, 1.0), (2, 1.0, 2.0)]
    """
    points = list(points)
    axes = axes_of(points)
    out = {}
    for workload, members in by_workload(points).items():
        entries = []
        for axis in axes:
            groups: dict[str, list[dict]] = {}
            for p in members:
                groups.setdefault(_ident((p.get("params") or {}).get(axis)), []).append(p)
            if len(groups) < 2:
                continue
            values = []
            for group in groups.values():
                ok = [p for p in group if counts(p)]
                values.append({"value": (group[0].get("params") or {}).get(axis), "n": len(ok), "total": len(group),
                               "seconds": statistics.median(p["seconds"] for p in ok) if ok else None,
                               "energy_j": statistics.median(p["energy_j"] for p in ok) if ok else None})
            values.sort(key=lambda v: natural(v["value"]))
            spreads = {key: _spread([v[key] for v in values]) for key in ("seconds", "energy_j")}
            known = [s for s in spreads.values() if s is not None]
            entries.append({"axis": axis, "values": values, "seconds_spread": spreads["seconds"],
                            "energy_spread": spreads["energy_j"], "spread": max(known) if known else None})
        entries.sort(key=lambda e: (e["spread"] is None, -(e["spread"] or 0.0), e["axis"]))
        out[workload] = entries
    return out


def _spread(medians: Sequence[float | None]) -> float | None:
    known = [m for m in medians if m is not None]
    return max(known) / min(known) if len(known) >= 2 else None


def best_configs(points: Iterable[dict], inputs: Sequence[str] = INPUTS) -> dict[str, dict]:
    """Per workload (and input, see the module docstring): the counting point of least energy-delay product
    (``edp``), the ``fastest`` and the ``least_energy`` one (ties go to the other metric, then the key), with
    ``n`` counting of ``total`` points.

    Workloads without a counting point have None for the three.

    >>> pts = [point("w", 1.0, 9.0, copies=1), point("w", 2.0, 2.0, copies=2), point("w", 5.0, 1.0, copies=4),
    ...        point("v", None, None, status="memory")]
    >>> b = best_configs(pts)
    >>> [b["w"][k]["params"]["copies"] for k in ("edp", "fastest", "least_energy")], b["w"]["n"], b["v"]["edp"]
    ([2, 1, 4], 3, None)
    """
    out = {}
    for workload, members in by_workload(points, inputs).items():
        ok = [p for p in members if counts(p)]
        pick = {  # each ranked by its metric, then the other, then the key (a stable, reproducible choice)
            "edp": min(ok, key=lambda p: (edp(p), p["seconds"], str(p.get("key"))), default=None),
            "fastest": min(ok, key=lambda p: (p["seconds"], p["energy_j"], str(p.get("key"))), default=None),
            "least_energy": min(ok, key=lambda p: (p["energy_j"], p["seconds"], str(p.get("key"))), default=None),
        }
        out[workload] = pick | {"n": len(ok), "total": len(members)}
    return out
