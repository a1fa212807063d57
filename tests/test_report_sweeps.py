"""The report's sweep views: Pareto fronts, sensitivity and best configurations by hand, and the page's section."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from test_report import Tables, matplotlib_present  # noqa: F401  (the fixture, shared)
from zeroskip.bench import sweepviews as sv
from zeroskip.bench.report import render_report, write_report
from zeroskip.bench.store import ResultStore
from zeroskip.bench.summary import make_row
from zeroskip.bench.sweepviews import point

EVIL = "<b>x</b>"


def front_of(points, **kw):
    return {w: [(p["seconds"], p["energy_j"]) for p in f] for w, f in sv.pareto_front(points, **kw).items()}


# --- Pareto fronts ---------------------------------------------------------------------------------------------------

def test_pareto_front_by_hand():
    pts = [point("w", 1, 5, copies=1),       # same latency as (1, 3), more energy: dominated
           point("w", 1, 3, copies=2),       # front
           point("w", 2, 3, copies=3),       # same energy as (1, 3), slower: dominated
           point("w", 3, 1, copies=4),       # front: least energy
           point("w", 1, 3, copies=5),       # a duplicate of (1, 3): neither dominates, both stay
           point("w", 4, 1, copies=6),       # same energy as (3, 1), slower: dominated
           point("w", 0.5, 10, copies=7),    # front: fastest
           point("w", 2, 2, copies=8),       # front: between (1, 3) and (3, 1)
           point("w", 2.5, 2, copies=9),     # dominated by (2, 2)
           point("w", 0.1, 0.1, status="failed", copies=10),   # failed points are ignored
           point("w", 0.1, None, copies=11),                    # no energy: does not count
           point("w", 0.0, 0.1, copies=12),                     # zero latency: does not count
           point("v", 5, 5, copies=1), point("v", 6, 6, copies=2)]
    fronts = sv.pareto_front(pts)
    assert front_of(pts) == {"v": [(5, 5)], "w": [(0.5, 10), (1, 3), (1, 3), (2, 2), (3, 1)]}
    assert sorted(p["params"]["copies"] for p in fronts["w"][1:3]) == [2, 5]
    assert [len(g) for g in sv.ties(fronts["w"])] == [1, 2, 1, 1]
    assert sv.pareto_front([point("w", None, None, status="timeout")]) == {}


def dominated(p, q) -> bool:
    """Whether q dominates p, by the definition."""
    return (q[0] <= p[0] and q[1] <= p[1]) and (q[0] < p[0] or q[1] < p[1])


def test_pareto_front_matches_the_definition_on_random_points():
    rng = random.Random(8)
    for _ in range(200):
        # a coarse grid makes ties and duplicates common
        pts = [point("w", rng.choice((1, 2, 3, 4)), rng.choice((1, 2, 3, 4)), status=rng.choice(("ok", "ok", "failed")))
               for _ in range(rng.randint(1, 12))]
        ok = [(p["seconds"], p["energy_j"]) for p in pts if p["status"] == "ok"]
        expected = sorted(p for p in ok if not any(dominated(p, q) for q in ok))
        assert front_of(pts).get("w", []) == expected


def test_pareto_front_per_workload_and_sparsity():
    pts = [point("w", 1, 2, sparsity=0.9), point("w", 2, 1, sparsity=0.9), point("w", 4, 4, sparsity=0.5),
           point("w", 3, 5, sparsity=0.5), point("m", 1, 1, sparsity=None)]
    assert front_of(pts) == {"m": [(1, 1)], "w, sparsity=0.5": [(3, 5), (4, 4)], "w, sparsity=0.9": [(1, 2), (2, 1)]}
    assert front_of(pts, inputs=()) == {"m": [(1, 1)], "w": [(1, 2), (2, 1)]}  # the sparser input wins all


def test_thin_keeps_both_ends_and_at_most_the_limit():
    front = [point("w", s, 100 - s) for s in range(1, 41)]
    kept = sv.thin(front, 15)
    assert len(kept) == 15 and kept[0] is front[0] and kept[-1] is front[-1]
    assert sv.thin(front[:5], 15) == front[:5]


# --- axes, statuses, reasons -----------------------------------------------------------------------------------------

def test_axes_of_excludes_key_sweep_and_workload_and_counts_missing_as_none():
    pts = [point("a", 1, 1, copies=1, mode="sparse", array="8x16"), point("b", 1, 1, copies=2, mode="sparse"),
           point("c", None, None, status="failed", copies=2, mode="sparse", array="8x16")]
    assert sv.axes_of(pts) == ["array", "copies"]  # "array" missing in one point varies; failed points count
    assert sv.fixed_settings(pts) == {"mode": "sparse"}
    # Per sweep: a setting fixed in each sweep, but different between them, is no axis.
    two = [point("a", 1, 1, sweep="s1", mode="sparse"), point("a", 1, 1, sweep="s2", mode="dense")]
    assert sv.axes_of(two) == [] and list(sv.by_sweep(two)) == ["s1", "s2"]


def test_status_counts_and_failure_reasons():
    pts = [point("w", 1, 1), point("w", None, None, status="timeout", error="stopped: over the time limit of 60 s"),
           point("v", None, None, status="failed", error="zeroskip.errors.ResourceError: needs 36 tiles but has 32"),
           point("w", None, None, status="failed", error="zeroskip.errors.ResourceError: needs 40 tiles but has 32"),
           point("w", None, None, status="failed", error="ot)\n  1 repeat at step 3 of 19: waits for a token on x"),
           point("w", None, None, status="memory", error=None)]
    assert sv.status_counts(pts) == {"ok": 1, "failed": 3, "timeout": 1, "memory": 1}
    assert sv.failure_reasons(pts) == [
        {"status": "failed", "reason": "ResourceError: needs N tiles but has N", "count": 2, "workloads": ["v", "w"]},
        {"status": "failed", "reason": "deadlock: blocks wait on each other (message cut at its start)", "count": 1,
         "workloads": ["w"]},
        {"status": "memory", "reason": "no reason given", "count": 1, "workloads": ["w"]},
        {"status": "timeout", "reason": "stopped: over the time limit of N s", "count": 1, "workloads": ["w"]}]
    assert len(sv.failure_reasons(pts, top=2)) == 2
    whole = "DeadlockError: deadlock: no block can take its next step\n  1 x at step 3 of 19: waits for room in y"
    assert sv.failure_reason(whole) == "DeadlockError: deadlock: no block can take its next step"


# --- sensitivity -----------------------------------------------------------------------------------------------------

def test_sensitivity_by_hand():
    rows = [  # copies, array, seconds, joules, status
        (1, "8x16", 8.0, 1.0, "ok"), (1, "8x16", 4.0, 3.0, "ok"), (1, "16x32", 2.0, 2.0, "ok"),
        (2, "8x16", 1.0, 2.0, "ok"), (2, "16x32", 1.0, 2.0, "ok"), (2, "16x32", 0.1, 0.1, "failed"),
        (4, "8x16", None, None, "memory"),
    ]
    pts = [point("w", s, e, status=st, copies=c, array=a, sparsity=None) for c, a, s, e, st in rows]
    pts += [point("v", 1.0, 1.0, copies=1, array="8x16", sparsity=0.5),
            point("v", 3.0, 1.0, copies=1, array="8x16", sparsity=0.9)]
    table = sv.sensitivity(pts)
    assert list(table) == ["v", "w"]
    # w: sparsity never varies for it (always None): no entry; copies: medians 4, 1, none; array: 8x16 4, 16x32 1.5
    w = {e["axis"]: e for e in table["w"]}
    assert [e["axis"] for e in table["w"]] == ["copies", "array"]  # by spread: 4 over 2.67
    copies = w["copies"]
    assert [(v["value"], v["n"], v["total"], v["seconds"], v["energy_j"]) for v in copies["values"]] == [
        (1, 3, 3, 4.0, 2.0), (2, 2, 3, 1.0, 2.0), (4, 0, 1, None, None)]
    assert (copies["seconds_spread"], copies["energy_spread"], copies["spread"]) == (4.0, 1.0, 4.0)
    array = w["array"]
    assert [v["value"] for v in array["values"]] == ["8x16", "16x32"]  # natural order of the values
    # 8x16: seconds 8, 4, 1 -> 4; joules 1, 3, 2 -> 2. 16x32: seconds 2, 1 -> 1.5; joules 2, 2 -> 2
    assert array["seconds_spread"] == pytest.approx(4 / 1.5) and array["energy_spread"] == 1.0
    # v: only sparsity varies for it (copies and array are axes of the sweep, fixed for v)
    (v,) = table["v"]
    assert (v["axis"], v["seconds_spread"], v["energy_spread"]) == ("sparsity", 3.0, 1.0)
    # One value with ok points is no spread.
    lone = sv.sensitivity([point("u", 1, 1, copies=1), point("u", None, None, status="failed", copies=2)])
    assert lone["u"][0]["spread"] is None and lone["u"][0]["seconds_spread"] is None


# --- best configurations ---------------------------------------------------------------------------------------------

def test_best_configs_by_hand():
    pts = [point("w", 1.0, 9.0, copies=1),     # fastest; EDP 9
           point("w", 2.0, 2.0, copies=2),     # EDP 4: the least
           point("w", 4.0, 1.0, copies=4),     # EDP 4 too, but slower: the tie goes to the faster
           point("w", 5.0, 1.0, copies=8),     # as frugal as copies=4 but slower
           point("w", 0.5, 0.5, status="failed", copies=16),
           point("f", None, None, status="failed", copies=1)]
    best = sv.best_configs(pts)
    w = best["w"]
    assert (w["edp"]["params"]["copies"], w["fastest"]["params"]["copies"], w["least_energy"]["params"]["copies"],
            w["n"], w["total"]) == (2, 1, 4, 4, 5)
    assert best["f"] == {"edp": None, "fastest": None, "least_energy": None, "n": 0, "total": 1}
    assert sv.settings_text(w["edp"], ["copies"]) == "copies=2"


# --- the page --------------------------------------------------------------------------------------------------------

def sweep_points() -> list[dict]:
    """A sweep over copies and fifo depth on two workloads (one at two sparsities), with failures and an evil name."""
    pts = []
    for (workload, sparsity), copies, fifo in itertools.product(
            (("spmv/random:8", 0.5), ("spmv/random:8", 0.9), (EVIL, None)), (1, 2, 4), (1, 2)):
        scale = 1.0 if sparsity != 0.9 else 0.5
        if fifo == 1 and copies == 4:
            pts.append(point(workload, None, None, status="failed", sweep="demo", sparsity=sparsity, copies=copies,
                             **{"arch.fifo_depth": fifo}, error="DeadlockError: <deadlock> & more"))
            continue
        pts.append(point(workload, scale * 4e-6 / copies, scale * 1e-6 * copies**2 * (1 + 0.1 * fifo), sweep="demo",
                         sparsity=sparsity, copies=copies, **{"arch.fifo_depth": fifo}))
    return pts


@pytest.fixture(scope="module")
def page(matplotlib_present) -> str:  # noqa: F811
    return render_report([], points=sweep_points())


def test_sweeps_only_page_has_the_section_and_not_only_no_results(page):
    assert "<section id='sweeps'>" in page and "<a href='#sweeps'>" in page
    assert "There are no results in this database" not in page and "No benchmark-suite results" in page
    assert "18 sweep points in 1 sweep." in page
    assert "no tile areas" in page  # area: said why it is missing, not invented
    assert page.count("<svg") == 2
    assert 'aria-label="Pareto fronts of energy against latency in sweep demo"' in page
    assert 'aria-label="sensitivity of each workload to each axis in sweep demo"' in page


def test_page_is_escaped(page):
    assert EVIL not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "<deadlock>" not in page and "DeadlockError: &lt;deadlock&gt; &amp; more" in page
    assert "<script" not in page.lower()
    ids = re.findall(r"""\bid=["']([^"']+)""", page)
    assert len(ids) == len(set(ids))


def test_page_tables_by_hand(page):
    tables = Tables(page).tables  # cell text as shown (the parser unescapes)
    assert tables["sweep-0-failures"] == [["failed", "3", "DeadlockError: <deadlock> & more",
                                           "<b>x</b>, spmv/random:8"]]
    pareto = tables["sweep-0-pareto"]
    # Seconds 4 µs / copies, joules copies² (1 + fifo / 10) µJ, halved at sparsity 0.9; fifo 1 with 4 copies fails.
    # Each front: copies 4 with fifo 2 (the only 4 that is ok), then copies 2 and 1 with fifo 1 (less energy).
    assert [r[0] for r in pareto] == ["<b>x</b>", "", "", "spmv/random:8, sparsity=0.5", "", "",
                                      "spmv/random:8, sparsity=0.9", "", ""]
    # columns: workload, arch.fifo_depth, copies, latency, energy, EDP, points
    assert pareto[0][1:] == ["2", "4", "1 µs", "19.2 µJ", "19.2 pJ·s", "1"]
    assert pareto[1][1:] == ["1", "2", "2 µs", "4.4 µJ", "8.8 pJ·s", "1"]
    assert pareto[2][1:] == ["1", "1", "4 µs", "1.1 µJ", "4.4 pJ·s", "1"]
    assert pareto[6][1:] == ["2", "4", "500 ns", "9.6 µJ", "4.8 pJ·s", "1"]
    best = {r[0]: r for r in tables["sweep-0-best"]}
    # columns: workload, ok / all, arch.fifo_depth, copies, latency, energy, EDP, fastest, least energy
    assert best["spmv/random:8, sparsity=0.9"] == ["spmv/random:8, sparsity=0.9", "5/6", "1", "1", "2 µs",
                                                   "550 nJ", "1.1 pJ·s", "500 ns: arch.fifo_depth=2, copies=4",
                                                   "550 nJ: the same"]
    sens = tables["sweep-0-sensitivity"]
    assert [r[:2] for r in sens] == [["<b>x</b>", "copies"], ["", "arch.fifo_depth"], ["spmv/random:8", "copies"],
                                     ["", "arch.fifo_depth"], ["", "sparsity"]]
    # <b>x</b> by copies: medians over fifo 1 and 2 of 4, 2, 1 µs and 1.15, 4.6, 19.2 µJ (copies 4: fifo 2 only)
    assert sens[0][2:4] == ["4×", "16.7×"] and sens[0][5] == "2/2, 2/2, 1/2"
    assert sens[0][4] == "1: 4 µs, 1.15 µJ; 2: 2 µs, 4.6 µJ; 4: 1 µs, 19.2 µJ"
    # spmv by sparsity: medians 2 µs, 4.4 µJ at 0.5 and half of both at 0.9
    assert sens[4][2:4] == ["2×", "2×"]


def test_long_fronts_are_thinned():
    pts = [point("w", 1e-6 * k, 1e-6 / k, sweep="long", copies=k) for k in range(1, 41)]
    html = render_report([], points=pts)
    rows = Tables(html).tables["sweep-0-pareto"]
    assert len(rows) == 15 and rows[0][0] == "w (15 of 40 shown)"
    assert rows[0][2] == "1 µs" and rows[-1][2] == "40 µs"


def test_empty_points_add_no_section(matplotlib_present):  # noqa: F811
    html = render_report([make_row("spmv/a", "scipy", 1e-3, 0.1)])
    assert "id='sweeps'" not in html and "#sweeps" not in html and "sweep points" not in html
    assert render_report([make_row("spmv/a", "scipy", 1e-3, 0.1)], points=()).count("<section") == html.count(
        "<section")


def test_write_report_reads_the_stored_points(tmp_path, matplotlib_present):  # noqa: F811
    pts = sweep_points()
    with ResultStore(tmp_path / "r.db") as store:
        run = store.begin_run(command="t")
        from zeroskip.bench.store import Result

        store.put(Result("spmv/a", "kernel", "scipy", {}, seconds=1e-3, energy_j=0.1), run)
        rows = [{k: p[k] for k in ("key", "status", "seconds", "energy_j", "error")} for p in pts]
        store.put_points(rows, {p["key"]: p["params"] for p in pts})
    html = write_report(tmp_path / "r.db", tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<section id='sweeps'>" in html and "<a href='#sweeps'>sweeps</a>" in html
    assert "<section id='summary-section'>" in html  # the suite's sections stay
    assert html.index("id='plots'") < html.index("id='sweeps'") < html.index("id='layers'")
    assert html.count("<svg") >= 2 and "Sweep demo" in html


def test_two_sweeps_get_two_parts_with_distinct_ids(matplotlib_present):  # noqa: F811
    pts = [point("w", 1e-6, 2e-6, sweep=name, copies=c) for name in ("b", "a") for c in (1, 2)]
    html = render_report([], points=pts)
    assert html.index("Sweep a") < html.index("Sweep b") and "id='sweep-1-pareto'" in html
    ids = re.findall(r"""\bid=["']([^"']+)""", html)
    assert len(ids) == len(set(ids))
