"""The benchmark report: summary numbers against hand computations, sweep crossovers, the HTML page."""

from __future__ import annotations

import os
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from zeroskip.bench.report import render_report, write_report
from zeroskip.bench.store import Result, ResultStore, StoreError
from zeroskip.bench.summary import (
    accuracy_table, crossover, edp, energy_per_inference, make_row, summary, sweep_groups, sweep_points, workload_table,
)
from zeroskip.errors import ConfigError, MissingDependencyError, ZeroskipError

MACHINE = {"cpu": "Test CPU 9000", "cores": 8, "usable_cores": 8, "memory_bytes": 64 * 2**30, "git": "abc123-dirty",
           "copy_bandwidth_Bps": 2.0e10, "dense_gflops": 200.0, "versions": {"numpy": "2.1.0", "scipy": "1.14.0"}}
BREAKDOWN = {"compute": 2e-4, "memory_tiles": 6e-4, "interconnect": 3e-4, "global_buffer": 2e-4, "dram": 6e-4,
             "static": 1e-4}
UTILIZATION = {"pe_used": 120, "pe_total": 384, "mem_used": 70, "mem_total": 128, "copies": 3,
               "copy_busy": [0.92, 0.81, 0.64]}
LAYERS = [{"name": f"layer{k}", "op": "spmm", "cycles": 1000 * (k + 1), "energy_j": 1e-3, "seconds": 2.5e-4,
           "weight_sparsity": 0.9, "input_sparsity": 0.5 + 0.1 * k} for k in range(4)]
SWEEP = (0.0, 0.5, 0.9, 0.99, 0.999)
EVIL = "<b>x</b>"  # a workload name that must come out escaped

# (workload, family, backend, kind, seconds, joules, extra fields) of the kernel and model workloads.
ROWS = [
    ("spmv/west0067", "kernel", "cpu-dense", "measured", 10e-3, 1.0, {"flops": 2e6, "bytes": 8e6}),
    ("spmv/west0067", "kernel", "zeroskip-cpu", "measured", 3e-3, 0.3, {"config": {"threads": 1}}),
    ("spmv/west0067", "kernel", "zeroskip-cpu", "measured", 2e-3, 0.2,
     {"config": {"threads": 8}, "flops": 2e4, "bytes": 1e5}),
    ("spmv/west0067", "kernel", "scipy", "measured", 4e-3, 0.4, {"flops": 2e4, "bytes": 1.2e5}),
    ("spmv/west0067", "kernel", "accel-sparse", "modelled", 0.5e-3, 2e-3,
     {"metrics": {"energy_breakdown": BREAKDOWN, "utilization": UTILIZATION}}),
    ("spmv/west0067", "kernel", "accel-dense", "modelled", 1e-3, 4e-3, {}),
    ("spmv/west0067", "kernel", "gpu-model", "modelled", 1e-3, 5e-2, {}),
    ("spmm/bcsstk02", "kernel", "cpu-dense", "measured", 1e-3, 0.1, {"flops": 1e8, "bytes": 2e6}),
    # A modelled CPU number (another configuration, so a row of its own) is no baseline.
    ("spmm/bcsstk02", "kernel", "cpu-dense", "modelled", 1e-9, 1e-9, {"config": {"model": "roofline"}}),
    ("spmm/bcsstk02", "kernel", "zeroskip-cpu", "measured", 3e-3, 0.3, {}),
    ("spmm/bcsstk02", "kernel", "scipy", "measured", 5e-3, 0.5, {}),
    ("spmm/bcsstk02", "kernel", "accel-sparse", "modelled", 2e-3, 1e-3, {"metrics": {"energy_breakdown": BREAKDOWN}}),
    ("spmm/bcsstk02", "kernel", "accel-dense", "modelled", 0.25e-3, 2e-3, {}),
    (EVIL, "kernel", "cpu-dense", "measured", 1e-3, 0.1, {}),
    (EVIL, "kernel", "gpu-model", "modelled", 0.5e-3, 0.05, {}),
    ("dnn/graphchallenge-1024", "dnn", "cpu-dense", "measured", 8e-3, 0.8, {}),
    ("dnn/graphchallenge-1024", "dnn", "zeroskip-cpu", "measured", 4e-3, 0.4, {}),
    ("dnn/graphchallenge-1024", "dnn", "accel-sparse", "modelled", 1e-3, 1e-2, {"metrics": {"layers": LAYERS}}),
]


def sweep_seconds(s: float) -> dict[str, float]:
    """A sweep point: zeroskip-cpu wins from 0.9, accel-sparse over cpu-dense from 0.5, over accel-dense from 0.99."""
    return {"cpu-dense": 1e-3, "zeroskip-cpu": (1 - s) * 5e-3 + 1e-5, "accel-sparse": (1 - s) * 1.5e-3 + 5e-6,
            "accel-dense": 1e-4}


def build_store(path: Path) -> Path:
    """A results database holding every kind of row the report shows."""
    with ResultStore(path) as store:
        run = store.begin_run(command="zeroskip bench --preset test", preset="test", machine=MACHINE, arch="onyx",
                              energy_table="horowitz-12nm", settings={"threads": [1, 8]})
        spy = {"A": {"shape": [67, 67], "grid": [[(i * 7 + j) % 5 if abs(i - j) < 3 else 0 for j in range(16)]
                                                   for i in range(16)]},
               "x": {"shape": [67, 1], "grid": [[1]] * 16}}
        store.put_workload("spmv/west0067", "kernel", "SpMV of west0067", info={"spy": spy})
        store.put_workload(EVIL, "kernel", "a name <i>with</i> markup", info={"spy": {"B": {"shape": [8, 8],
                                                                                         "grid": [[1, 0], [0, 3]]}}})
        for workload, family, backend, kind, seconds, joules, extra in ROWS:
            extra = dict(extra)
            store.put(Result(workload, family, backend, extra.pop("config", {}), kind=kind, seconds=seconds,
                             energy_j=joules, energy_method="model" if kind == "modelled" else "estimate: 65 W",
                             **extra), run)
        for s in SWEEP:
            for backend, seconds in sweep_seconds(s).items():
                store.put(Result(f"sweep-spmm/s{s}", "sweep", backend, {"sweep": "sweep-spmm", "sparsity": s},
                                 kind="modelled" if backend.startswith("accel") else "measured", seconds=seconds,
                                 energy_j=seconds * 50, metrics={"sparsity": s}), run)
        store.put(Result("spmv/west0067", "kernel", "graphblas", {}, status="skipped",
                         error="python-graphblas is not installed"), run)
        store.put(Result("spmv/west0067", "kernel", "torch-sparse", {}, status="failed",
                         error="RuntimeError: <boom> & friends\n  at line 3"), run)
        store.finish_run(run)
    return path


def store_rows(tmp_path: Path) -> list[dict]:
    with ResultStore(build_store(tmp_path / "r.db")) as store:
        return store.results()


# --- summary numbers ---------------------------------------------------------------------------------------------


def test_workload_table_picks_the_fastest_measured_cpu(tmp_path):
    table = {w["workload"]: w for w in workload_table(store_rows(tmp_path))}
    west = table["spmv/west0067"]
    assert (west["cpu_best"], west["cpu_seconds"], west["cpu_energy_j"]) == ("zeroskip-cpu", 2e-3, 0.2)
    assert west["targets"]["accel-sparse"]["speedup"] == pytest.approx(4.0)
    assert west["targets"]["accel-sparse"]["energy_ratio"] == pytest.approx(0.01)
    assert west["targets"]["accel-sparse"]["speedup_vs_dense"] == pytest.approx(20.0)
    assert west["targets"]["gpu"]["backend"] == "gpu-model"
    assert west["targets"]["zeroskip-cpu"]["speedup"] == pytest.approx(1.0)
    bcs = table["spmm/bcsstk02"]
    assert (bcs["cpu_best"], bcs["cpu_seconds"]) == ("cpu-dense", 1e-3)  # the modelled 1 ns row is ignored
    assert bcs["targets"]["accel-best"]["backend"] == "accel-dense"
    assert bcs["targets"]["accel-best"]["speedup"] == pytest.approx(4.0)
    assert bcs["targets"]["accel-best"]["energy_ratio"] == pytest.approx(0.02)
    evil = table[EVIL]
    assert evil["targets"]["accel-sparse"]["speedup"] is None and evil["targets"]["gpu"]["speedup"] == pytest.approx(2)


def test_workload_table_edp_by_hand(tmp_path):
    table = {w["workload"]: w for w in workload_table(store_rows(tmp_path))}
    west = table["spmv/west0067"]  # best CPU: zeroskip-cpu at 8 threads, 2 ms x 0.2 J; cpu-dense 10 ms x 1 J
    assert west["cpu_edp"] == pytest.approx(4e-4) and west["dense_edp"] == pytest.approx(1e-2)
    sparse = west["targets"]["accel-sparse"]  # 0.5 ms x 2 mJ
    assert sparse["edp"] == pytest.approx(1e-6)
    assert sparse["edp_ratio"] == pytest.approx(1e-6 / 4e-4) and sparse["edp_ratio_vs_dense"] == pytest.approx(1e-4)
    assert sparse["edp_ratio"] == pytest.approx(sparse["energy_ratio"] / sparse["speedup"])
    gpu = table[EVIL]["targets"]["gpu"]  # 0.5 ms x 50 mJ against 1 ms x 100 mJ
    assert gpu["edp_ratio"] == pytest.approx(2.5e-5 / 1e-4)
    assert table[EVIL]["targets"]["accel-sparse"]["edp"] is None and table[EVIL]["targets"]["accel-sparse"]["edp_ratio"] is None


def test_edp_and_energy_per_inference_helpers():
    assert edp(make_row("w", "scipy", 2e-3, 0.5)) == pytest.approx(1e-3)
    assert edp(make_row("w", "scipy", 2e-3, 0.5, edp=7.0)) == 7.0  # the stored column wins
    assert edp(make_row("w", "scipy", 2e-3, None)) is None and edp(make_row("w", "scipy", None, 0.5)) is None
    assert edp(make_row("w", "scipy", 2e-3, 0.0)) is None and edp(None) is None
    many = {"items": 450, "item_unit": "inferences"}
    assert energy_per_inference(make_row("m", "scipy", 1e-3, 0.09, metrics=many)) == pytest.approx(2e-4)
    assert energy_per_inference(make_row("m", "scipy", 1e-3, None, metrics=many)) is None
    assert energy_per_inference(make_row("g", "scipy", 1e-3, 0.09, metrics={"items": 1, "item_unit": "inferences"})) is None
    assert energy_per_inference(make_row("k", "scipy", 1e-3, 0.09, metrics={"items": 8, "item_unit": "runs"})) is None
    assert energy_per_inference(make_row("k", "scipy", 1e-3, 0.09)) is None
    # one missing energy: no EDP, so no EDP ratio, while the speedup stays
    t = workload_table([make_row("w", "cpu-dense", 1e-3, None), make_row("w", "accel-sparse", 1e-4, 1e-3,
                                                                        kind="modelled")])[0]
    assert t["cpu_edp"] is None and t["targets"]["accel-sparse"]["edp"] == pytest.approx(1e-7)
    assert t["targets"]["accel-sparse"]["edp_ratio"] is None and t["targets"]["accel-sparse"]["speedup"] == pytest.approx(10)


def test_summary_geometric_means_by_hand(tmp_path):
    s = summary(store_rows(tmp_path))
    got = {(c["target"], c["baseline"]): c for c in s["comparisons"]}
    assert s["workloads"] == 4  # west0067, bcsstk02, <b>x</b>, the DNN; the sweep is left out
    sparse = got["accel-sparse", "best CPU"]  # speedups 4, 0.5, 4; energy ratios 0.01, 0.01, 0.025
    assert sparse["speedup"] == pytest.approx(2.0) and sparse["n_speedup"] == 3
    assert sparse["energy_ratio"] == pytest.approx((0.01 * 0.01 * 0.025) ** (1 / 3)) and sparse["n_energy"] == 3
    # EDP ratios: 1e-6/4e-4, 2e-6/1e-4, 1e-5/1.6e-3
    assert sparse["edp_ratio"] == pytest.approx((0.0025 * 0.02 * 0.00625) ** (1 / 3)) and sparse["n_edp"] == 3
    best = got["accel-best", "best CPU"]  # speedups 4, 4, 4; energy ratios 0.01, 0.02, 0.025
    assert best["speedup"] == pytest.approx(4.0)
    assert best["energy_ratio"] == pytest.approx((0.01 * 0.02 * 0.025) ** (1 / 3))
    dense = got["accel-sparse", "cpu-dense"]  # 10/0.5, 1/2, 8/1; 2e-3/1, 1e-3/0.1, 1e-2/0.8
    assert dense["speedup"] == pytest.approx(80 ** (1 / 3))
    assert dense["energy_ratio"] == pytest.approx((0.002 * 0.01 * 0.0125) ** (1 / 3))
    assert dense["edp_ratio"] == pytest.approx((1e-6 / 1e-2 * 2e-6 / 1e-4 * 1e-5 / 6.4e-3) ** (1 / 3))
    gpu = got["gpu", "best CPU"]  # 2e-3/1e-3 and 1e-3/0.5e-3
    assert gpu["speedup"] == pytest.approx(2.0) and gpu["n_speedup"] == 2
    assert s["claim"]["speedup"] == 8.0 and s["claim"]["energy_ratio"] == pytest.approx(1 / 70)
    assert "VLSI 2024" in s["claim"]["source"] and "IEEE Micro 2025" in s["claim"]["source"]
    with_sweeps = summary(store_rows(tmp_path), include_sweeps=True)
    assert with_sweeps["workloads"] == 4 + len(SWEEP)


def test_summary_of_nothing_has_no_means():
    s = summary([])
    assert s["workloads"] == 0 and all(c["speedup"] is None and c["n_speedup"] == 0 for c in s["comparisons"])
    assert all(c["edp_ratio"] is None and c["n_edp"] == 0 for c in s["comparisons"])


# --- crossovers ----------------------------------------------------------------------------------------------------


def sweep_rows(pattern: dict[float, tuple[float | None, float | None]], name: str = "d", sparse: str = "zeroskip-cpu",
               dense: str = "cpu-dense") -> list[dict]:
    """Rows of a sweep named by its workload prefix: {sparsity: (sparse seconds, dense seconds)}; None: no row."""
    return [make_row(f"{name}/{s}", b, t, family="sweep", metrics={"sparsity": s})
            for s, pair in pattern.items() for b, t in zip((sparse, dense), pair, strict=True) if t is not None]


@pytest.mark.parametrize("pattern, expected", [
    ({0.0: (5, 1), 0.5: (1, 2), 0.9: (3, 2), 0.99: (1, 2), 0.999: (1, 2)}, 0.99),  # an early win does not count
    ({0.0: (1, 2), 0.5: (1, 2), 0.9: (1, 2)}, 0.0),  # faster everywhere
    ({0.0: (1, 2), 0.5: (1, 2), 0.9: (3, 2)}, None),  # slower at the sparsest point
    ({0.0: (2, 2), 0.5: (1, 2)}, 0.5),  # a tie is no win
    ({0.0: (3, 2), 0.5: (1, 2), 0.9: (None, 2), 0.99: (1, None)}, 0.5),  # points missing a backend are skipped
])
def test_crossover_by_hand(pattern, expected):
    got = crossover(sweep_rows(pattern), "d")
    assert got["zeroskip-cpu vs cpu-dense"] == expected
    assert got["accel-sparse vs accel-dense"] is None and got["accel-sparse vs cpu-dense"] is None


def test_crossover_of_the_stored_sweep(tmp_path):
    rows = store_rows(tmp_path)
    assert sweep_groups(rows) == ["sweep-spmm"]
    assert [p["sparsity"] for p in sweep_points(rows, "sweep-spmm")] == list(SWEEP)
    assert crossover(rows, "sweep-spmm") == {"zeroskip-cpu vs cpu-dense": 0.9, "accel-sparse vs accel-dense": 0.99,
                                             "accel-sparse vs cpu-dense": 0.5}


def test_sweep_points_skip_rows_without_sparsity_and_unknown_sweeps_raise():
    rows = sweep_rows({0.2: (1, 2)}) + [make_row("d/bad", "zeroskip-cpu", 1.0, family="sweep", metrics={"sparsity": 1.5}),
                                        make_row("d/none", "zeroskip-cpu", 1.0, family="sweep")]
    assert [p["workload"] for p in sweep_points(rows, "d")] == ["d/0.2"]
    with pytest.raises(ConfigError, match="no sweep named 'nope'; sweeps: d"):
        crossover(rows, "nope")


# --- the HTML page -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def matplotlib_present():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("matplotlib (the report extra) must be installed in CI: pip install 'zeroskip[report]'")
        pytest.skip("matplotlib is not installed: pip install 'zeroskip[report]'")


@pytest.fixture(scope="module")
def page(tmp_path_factory, matplotlib_present) -> str:
    folder = tmp_path_factory.mktemp("report")
    out = write_report(build_store(folder / "r.db"), folder / "out" / "report.html")
    assert out == folder / "out" / "report.html"
    return out.read_text(encoding="utf-8")


class Tables(HTMLParser):
    """The text of every cell of every table with an id: {id: [[cell, ...], ...]} (body rows only)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._id = self._cell = None
        self._in_body = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._id = dict(attrs).get("id")
            if self._id:
                self.tables[self._id] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._id and self._in_body:
            self.tables[self._id].append([])
        elif tag == "td" and self._id and self._in_body:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.tables[self._id][-1].append(self._cell)
            self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._id = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def test_page_has_the_summary_table_with_the_hand_numbers(page):
    summary_rows = {(r[0], r[1]): r for r in Tables(page).tables["summary"]}
    # EDP ratio: (0.0025 * 0.02 * 0.00625) ** (1/3) = 0.006786, 1/147.4
    assert summary_rows["accelerator, sparse mode (modelled)", "best CPU"][2:6] == [
        "2×", "0.0136 (1/73.7)", "0.00679 (1/147)", "3 / 3 / 3"]
    assert summary_rows["accelerator, faster of sparse/dense (modelled)", "best CPU"][2] == "4×"
    claim = summary_rows["Onyx, as published", "CPU"]  # EDP derived: (1/70) / 8 = 1/560
    assert claim[2:5] == ["8×", "0.0143 (1/70)", "0.00179 (1/560)"] and "IEEE Micro 2025" in claim[5]


def test_page_per_workload_table_shows_dashes_for_missing_backends(page):
    rows = {r[0]: r for r in Tables(page).tables["workload-table"]}
    assert set(rows) == {"spmv/west0067", "spmm/bcsstk02", EVIL, "dnn/graphchallenge-1024",
                         *(f"sweep-spmm/s{s}" for s in SWEEP)}
    evil = rows[EVIL]  # only cpu-dense and gpu-model: every accelerator and zeroskip column is a dash
    assert evil[2:6] == ["cpu-dense", "1 ms", "100 mJ", "1 ms"] and evil[6:18] == ["–"] * 12
    assert evil[18:21] == ["2×", "0.5 (1/2)", "2×"]
    west = rows["spmv/west0067"]
    assert west[2:6] == ["zeroskip-cpu", "2 ms", "200 mJ", "10 ms"] and west[6:9] == ["4×", "0.01 (1/100)", "20×"]
    assert rows["spmm/bcsstk02"][12] == "4× (dense)"


def test_page_has_every_plot_inline(page):
    assert page.count("<svg") == 7  # speedup, sweep, energy, utilization, roofline, two spy figures
    for label in ("speedup and energy ratio per workload", "sweep sweep-spmm", "energy breakdown",
                  "tile utilization", "roofline", "spy plots of spmv/west0067"):
        assert f'aria-label="{label}' in page
    assert "data:image/png;base64," in page  # the spy grids, embedded in their SVG
    assert "crossover zeroskip-cpu vs cpu-dense: sparsity &gt;= 0.9" in page


def test_page_is_self_contained_and_escaped(page):
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "<script" not in page.lower() and "<?xml" not in page and "<!DOCTYPE svg" not in page
    assert EVIL not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "<boom>" not in page and "RuntimeError: &lt;boom&gt; &amp; friends" in page
    assert "<i>with</i>" not in page
    ids = re.findall(r"""\bid=["']([^"']+)""", page)
    assert len(ids) == len(set(ids)), "SVG ids of different figures collide"


def test_page_has_runs_kinds_layers_and_problems(page):
    for text in ("Test CPU 9000", "abc123-dirty", "20 GB/s", "200 GFLOP/s", "horowitz-12nm", "numpy 2.1.0",
                 "Measured rows", "Modelled rows", "estimate: 65 W", "python-graphblas is not installed"):
        assert text in page
    layers = re.search(r"<h3>dnn/graphchallenge-1024 · accel-sparse.*?</table>", page, re.S).group(0)
    assert layers.count("<tr") == 1 + len(LAYERS) + 1  # header, layers, total
    assert "10,000" in layers and "90.0%" in layers and "80.0%" in layers  # total cycles; sparsities


def test_empty_database_gives_a_page_saying_so(tmp_path, matplotlib_present):
    with ResultStore(tmp_path / "empty.db") as store:
        text = write_report(store, tmp_path / "empty.html").read_text(encoding="utf-8")
    assert "There are no results in this database" in text and "<svg" not in text and text.rstrip().endswith("</html>")


def test_missing_database_is_an_error_not_a_new_file(tmp_path, matplotlib_present):
    with pytest.raises(StoreError, match="no results database at"):
        write_report(tmp_path / "nope.db", tmp_path / "r.html")
    assert not (tmp_path / "nope.db").exists()


def test_missing_matplotlib_names_the_report_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    with pytest.raises(MissingDependencyError, match=re.escape("pip install 'zeroskip[report]'")) as info:
        write_report(tmp_path / "any.db", tmp_path / "r.html")
    assert isinstance(info.value, ZeroskipError)


def test_render_report_without_runs_or_plots(matplotlib_present):
    text = render_report([make_row("solo", "scipy", 1e-3, status="failed", error="boom")])
    assert "None: every row is ok." not in text and "boom" in text and "No runs recorded." in text
    assert "No workload has a CPU baseline" in text


def test_malformed_rows_degrade_without_errors_or_warnings(matplotlib_present, recwarn):
    rows = [
        make_row("sweep/a", "zeroskip-cpu", None, status="failed", family="sweep", metrics={"sparsity": 0.5}),
        make_row("k", "cpu-dense", 1e-3, 0.0),  # zero energy: no energy ratio
        make_row("k", "accel-sparse", 1e-4, None, kind="modelled",
                 metrics={"layers": [{"name": "l0"}, "junk"], "energy_breakdown": {"compute": 0.0},
                          "utilization": {"pe_used": 1, "pe_total": 0, "copy_busy": []}}),
    ]
    workloads = {"k": {"family": "kernel", "info": {"spy": {"A": {"shape": ["x"], "grid": [[1, 2], [3]]},
                                                            "B": {"shape": "8x8", "grid": [[0, 5]]}}}}}
    text = render_report(rows, [], workloads)
    assert "No sweep point has a sparsity to plot." in text  # the sweep's only row failed
    assert "No accelerator row has an energy breakdown." in text  # all zeros is nothing to share out
    assert text.count("<svg") == 3  # speedup, utilization (zeros), spy of B only (A's grid is ragged)
    k = Tables(text).tables["workload-table"][0]
    assert k[6:9] == ["10×", "–", "10×"]
    assert "l0" in text and not [str(w.message) for w in recwarn]


# --- all results, model accuracy, EDP in the page ------------------------------------------------------------------

ITEMS = {"items": 450, "item_unit": "inferences"}
# A pruned MLP (450 inferences a run), an MLP without a dense accuracy, and one kernel: numbers chosen to print exactly.
MODEL_ROWS = [
    make_row("mlp/digits", "cpu-dense", 5e-4, 0.045, family="mlp", accuracy=95.5, throughput=9e5,
             throughput_unit="inferences/s", energy_method="estimate: 65 W", metrics=ITEMS),
    make_row("mlp/digits", "zeroskip-cpu", 2.5e-4, 0.018, family="mlp", accuracy=95.0, throughput=1.8e6,
             throughput_unit="inferences/s", energy_method="rapl", metrics=ITEMS),
    make_row("mlp/digits", "zeroskip-cpu", 3e-4, 0.02, family="mlp", accuracy=10.0, status="failed", metrics=ITEMS),
    make_row("mlp/digits", "accel-sparse", 1e-4, 9e-4, kind="modelled", family="mlp", accuracy=96.25,
             throughput=4.5e6, throughput_unit="inferences/s", energy_method="model: onyx-12nm", metrics=ITEMS),
    make_row("mlp/digits", "gpu-model", 1e-5, 4.5e-3, kind="modelled", family="mlp", throughput=4.5e7,
             throughput_unit="inferences/s", energy_method="model: roofline", metrics=ITEMS),
    make_row("mlp/nodense", "cpu-dense", 1e-3, 0.05, family="mlp", metrics=ITEMS),
    make_row("mlp/nodense", "zeroskip-cpu", 5e-4, None, family="mlp", accuracy=90.0, metrics=ITEMS),
    make_row("spmv/k", "scipy", 1e-3, 0.065, throughput=2e9, throughput_unit="FLOP/s", energy_method="estimate: 65 W",
             metrics={"items": 1, "item_unit": "runs"}),
]


def test_accuracy_table_drop_by_hand():
    table = accuracy_table(MODEL_ROWS)
    got = [(e["workload"], e["backend"], e["kind"], e["accuracy"], e["reference"], e["drop"]) for e in table]
    assert got == [("mlp/digits", "cpu-dense", "measured", 95.5, 95.5, 0.0),  # the reference first
                   ("mlp/digits", "accel-sparse", "modelled", 96.25, 95.5, pytest.approx(-0.75)),
                   ("mlp/digits", "zeroskip-cpu", "measured", 95.0, 95.5, pytest.approx(0.5)),  # the failed row is out
                   ("mlp/nodense", "zeroskip-cpu", "measured", 90.0, None, None)]  # no dense accuracy: no drop
    # Of several rows the fastest speaks for the backend; a modelled CPU row is no reference.
    rows = [make_row("m", "zeroskip-cpu", 2.0, accuracy=80.0), make_row("m", "zeroskip-cpu", 1.0, accuracy=81.0),
            make_row("m", "cpu-dense", 1e-9, accuracy=99.0, kind="modelled")]
    assert [(e["accuracy"], e["drop"]) for e in accuracy_table(rows)] == [(81.0, None)]
    assert accuracy_table([make_row("k", "scipy", 1.0)]) == []


def test_model_rows_edp_by_hand():
    entry = {w["workload"]: w for w in workload_table(MODEL_ROWS)}["mlp/digits"]
    # best CPU zeroskip-cpu: 0.25 ms x 18 mJ = 4.5 µJ·s; cpu-dense 0.5 ms x 45 mJ = 22.5 µJ·s; accel 0.1 ms x 0.9 mJ
    assert entry["cpu_best"] == "zeroskip-cpu" and entry["cpu_edp"] == pytest.approx(4.5e-6)
    assert entry["dense_edp"] == pytest.approx(2.25e-5)
    sparse = entry["targets"]["accel-sparse"]
    assert sparse["edp"] == pytest.approx(9e-8) and sparse["edp_ratio"] == pytest.approx(0.02)
    assert sparse["edp_ratio_vs_dense"] == pytest.approx(0.004)
    got = {(c["target"], c["baseline"]): c for c in summary(MODEL_ROWS)["comparisons"]}
    assert got["accel-sparse", "best CPU"]["edp_ratio"] == pytest.approx(0.02) and got["accel-sparse", "best CPU"]["n_edp"] == 1
    # nodense has no best-CPU EDP (its fastest CPU row has no energy); its speedup still counts
    assert got["zeroskip-cpu", "cpu-dense"]["n_speedup"] == 2 and got["zeroskip-cpu", "cpu-dense"]["n_edp"] == 1
    assert got["zeroskip-cpu", "cpu-dense"]["edp_ratio"] == pytest.approx(4.5e-6 / 2.25e-5)


@pytest.fixture(scope="module")
def model_page(matplotlib_present) -> str:
    return render_report(MODEL_ROWS)


def test_page_all_results_table_by_hand(model_page):
    rows = Tables(model_page).tables["all-results-table"]
    assert [r[:3] for r in rows] == [  # ok rows only, by workload then backend
        ["mlp/digits", "accel-sparse", "modelled"], ["mlp/digits", "cpu-dense", "measured"],
        ["mlp/digits", "gpu-model", "modelled"], ["mlp/digits", "zeroskip-cpu", "measured"],
        ["mlp/nodense", "cpu-dense", "measured"], ["mlp/nodense", "zeroskip-cpu", "measured"],
        ["spmv/k", "scipy", "measured"]]
    by = {(r[0], r[1]): r[3:] for r in rows}
    # latency, throughput, energy / run, energy / inference, EDP, accuracy, energy method
    assert by["mlp/digits", "cpu-dense"] == ["500 µs", "900k inferences/s", "45 mJ", "100 µJ", "22.5 µJ·s", "95.50%",
                                             "estimate: 65 W"]
    assert by["mlp/digits", "zeroskip-cpu"] == ["250 µs", "1.8M inferences/s", "18 mJ", "40 µJ", "4.5 µJ·s", "95.00%",
                                                "rapl"]
    assert by["mlp/digits", "accel-sparse"] == ["100 µs", "4.5M inferences/s", "900 µJ", "2 µJ", "90 nJ·s", "96.25%",
                                                "model: onyx-12nm"]
    assert by["mlp/digits", "gpu-model"] == ["10 µs", "45M inferences/s", "4.5 mJ", "10 µJ", "45 nJ·s", "–",
                                             "model: roofline"]
    # Missing values are dashes: no energy, no throughput, no accuracy, one run is no inference, no method.
    assert by["mlp/nodense", "zeroskip-cpu"] == ["500 µs", "–", "–", "–", "–", "90.00%", "–"]
    assert by["spmv/k", "scipy"] == ["1 ms", "2 GFLOP/s", "65 mJ", "–", "65 µJ·s", "–", "estimate: 65 W"]
    section = re.search(r"<section id='all-results'>.*?</section>", model_page, re.S).group(0)
    assert "class='compact'" in section and "<div class='scroll'>" in section
    assert section.count("<tr class='modelled'>") == 2


def test_page_accuracy_table_by_hand(model_page):
    rows = Tables(model_page).tables["accuracy-table"]
    assert rows == [
        ["mlp/digits", "cpu-dense", "dense", "measured", "95.50%", "0 (reference)"],
        ["mlp/digits", "accel-sparse", "pruned", "modelled", "96.25%", "-0.75"],
        ["mlp/digits", "zeroskip-cpu", "pruned, sparsified", "measured", "95.00%", "+0.50"],
        ["mlp/nodense", "zeroskip-cpu", "pruned, sparsified", "measured", "90.00%", "–"],
    ]


def test_page_summary_edp_column_for_models(model_page):
    summary_rows = {(r[0], r[1]): r for r in Tables(model_page).tables["summary"]}
    assert summary_rows["accelerator, sparse mode (modelled)", "best CPU"][2:6] == ["2.5×", "0.05 (1/20)",
                                                                                     "0.02 (1/50)", "1 / 1 / 1"]
    assert summary_rows["accelerator, sparse mode (modelled)", "cpu-dense"][4] == "0.004 (1/250)"
    assert summary_rows["accelerator, faster of sparse/dense (modelled)", "best CPU"][2:5] == ["2.5×", "0.05 (1/20)",
                                                                                                "0.02 (1/50)"]
    assert summary_rows["zeroskip CPU (measured)", "cpu-dense"][4:6] == ["0.2 (1/5)", "2 / 1 / 1"]
    assert summary_rows["GPU (gpu-cuda measured, else gpu-model)", "best CPU"][2:5] == ["25×", "0.25 (1/4)",
                                                                                         "0.01 (1/100)"]


def test_page_nav_and_new_sections_on_the_stored_database(page):
    for anchor in ("all-results", "accuracy"):
        assert f"<a href='#{anchor}'>" in page and f"<section id='{anchor}'>" in page
    assert "No result row reports an accuracy." in page  # the kernel and DNN rows carry none
    rows = Tables(page).tables["all-results-table"]
    assert len(rows) == len(ROWS) + 4 * len(SWEEP)  # every ok row; skipped and failed are elsewhere
    keys = [(r[0], r[1]) for r in rows]
    assert keys == sorted(keys)
    by = {(r[0], r[1]): r for r in rows}
    # the two zeroskip-cpu rows of west0067 differ by thread count only, and say so
    one, eight = by["spmv/west0067", "zeroskip-cpu (threads=1)"], by["spmv/west0067", "zeroskip-cpu (threads=8)"]
    assert one[3:8] == ["3 ms", "–", "300 mJ", "–", "900 µJ·s"] and eight[3:8] == ["2 ms", "–", "200 mJ", "–", "400 µJ·s"]
    # the modelled and the measured cpu-dense rows of bcsstk02 differ by configuration
    assert by["spmm/bcsstk02", "cpu-dense (model=roofline)"][2:4] == ["modelled", "1 ns"]
    assert by["spmm/bcsstk02", "cpu-dense"][2:4] == ["measured", "1 ms"]
    assert by["spmv/west0067", "accel-sparse"][2:] == ["modelled", "500 µs", "–", "2 mJ", "–", "1 µJ·s", "–", "model"]
    assert by[EVIL, "cpu-dense"][9] == "estimate: 65 W"
