"""Design-space sweeps: the sweep file, points and keys, limits, exactly-once storage, resume, a killed worker."""

from __future__ import annotations

import os
import signal
import time

import pytest

from zeroskip.bench.store import ResultStore
from zeroskip.sweep.engine import run_batch, run_sweep
from zeroskip.sweep.point import arch_spec, evaluate, evaluate_batch_limited, evaluate_limited, reset_sandbox
from zeroskip.sweep.spec import SweepError, load_sweep, point_key

SMALL = """
name = "t"
[fixed]
mode = "sparse"
[axes]
workload = ["spmspv/random:16", "elemmul/west0067"]
sparsity = [0.5, 0.9]
"arch.fifo_depth" = [2, 4]
"""


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "s.db") as s:
        yield s


def test_points_are_the_product_with_sparsity_only_where_it_applies():
    spec = load_sweep(SMALL)
    points = spec.points()
    # spmspv: 2 sparsities x 2 depths; west0067 ignores sparsity: 2 depths
    assert len(points) == 6
    assert {p["sparsity"] for p in points if p["workload"] == "elemmul/west0067"} == {None}
    assert len({p["key"] for p in points}) == 6
    assert all(p["key"] == point_key(p) for p in points)
    assert points[0]["energy"] == "onyx12nm" and points[0]["sweep"] == "t"
    assert point_key({**points[0], "copies": 3}) != points[0]["key"]


@pytest.mark.parametrize("text, message", [
    ('name = "t"\n[axes]\nworkload = []', "axes.workload = []: an axis is a non-empty list"),
    ('name = "t"\n[axes]\nworkload = ["spmspv/random:8"]\n"arch.fifo_dept" = [1]', "did you mean 'fifo_depth'"),
    ('name = "t"\n[axes]\nworkload = ["spmspv/random:8"]\ncopeis = [1]', "did you mean 'copies'"),
    ('name = "t"\n[axes]\nworkload = ["spmspv/random:8"]\nsparsity = [0.5, 1.5]', "axes.sparsity[1] = 1.5"),
    ('name = "t"\n[axes]\nworkload = ["spmspx/random:8"]', "unknown kernel 'spmspx'"),
    ('name = "t"\n[axes]\nworkload = ["ttv/west0067"]', "ttv takes a 3-tensor"),
    ('name = "t"\n[axes]\nworkload = ["spmspv/west0068"]', "no bundled matrix 'west0068'; did you mean 'west0067'"),
    ('name = "t"\n[axes]\nworkload = ["spmspv/random:8"]\narray = ["16by32"]', "axes.array[0] = '16by32'"),
    ('name = "t"\n[axes]\nworkload = ["spmspv/random:8"]\n"arch.fifo_depth" = [0]', "axes.arch.fifo_depth = 0"),
    ('name = "t"\n[axes]\nworkload = ["spmspv/random:8"]\nmode = ["fast"]', "must be one of sparse, dense"),
    ('name = "t"\n[fixed]\ncopies = 1\n[axes]\ncopies = [1]\nworkload = ["spmspv/random:8"]', "both fixed and an axis"),
    ('[axes]\nworkload = ["spmspv/random:8"]', "a sweep needs a non-empty name"),
    ('name = "t"\n[axes]\ncopies = [1]', "no workload"),
    ('name = "t"\n[limits]\ntime_s = -1\n[axes]\nworkload = ["spmspv/random:8"]', "limits.time_s = -1"),
    ('name = "t"\n[axes\n', "not valid TOML"),
])
def test_bad_sweep_files_are_refused_with_their_path(text, message):
    with pytest.raises(SweepError, match=None) as info:
        load_sweep(text)
    assert message in str(info.value)


def test_missing_sweep_file(tmp_path):
    with pytest.raises(SweepError, match="no sweep file"):
        load_sweep(tmp_path / "none.toml")


def test_arch_overrides_and_array_shape():
    spec = arch_spec({"arch": "onyx", "array": "8x16", "arch.fifo_depth": 4})
    assert spec["rows"] == 8 and spec["cols"] == 16 and spec["mem_columns"] == [3, 7, 11, 15]
    assert spec["fifo_depth"] == 4 and spec["base"] == "onyx"
    assert arch_spec({"arch": "onyx"}) == {"base": "onyx"}


def test_evaluate_matches_a_direct_simulation_and_records_failures():
    point = load_sweep(SMALL).points()[0]
    row = evaluate(point)
    assert row["status"] == "ok" and row["cycles"] > 0 and row["energy_j"] > 0
    assert sum(row["metrics"]["energy_breakdown"].values()) == pytest.approx(row["energy_j"])
    from zeroskip.sweep.point import _layers

    _, layers = _layers(point["workload"], point["sparsity"])
    direct = layers[0].program.simulate(arch={"base": "onyx", "fifo_depth": point["arch.fifo_depth"]})
    assert row["cycles"] == direct.cycles
    too_many = evaluate({**point, "array": "4x4", "copies": 8, "key": "x"})
    assert too_many["status"] == "failed" and "ResourceError" in too_many["error"]


def test_limited_evaluation_equals_the_plain_one_and_stops_runaways(monkeypatch):
    points = load_sweep(SMALL).points()[:3]
    plain = [evaluate(p) for p in points]
    limited = evaluate_batch_limited(points, time_s=60, memory_mb=2048)
    assert [r["cycles"] for r in limited] == [r["cycles"] for r in plain]
    import zeroskip.sweep.point as point_module

    def slow(p):
        time.sleep(30)

    monkeypatch.setattr(point_module, "evaluate", slow)
    reset_sandbox()  # the next child is forked with the patch in place
    started = time.perf_counter()
    rows = evaluate_batch_limited(points[:2], time_s=0.5, memory_mb=2048)
    assert [r["status"] for r in rows] == ["timeout", "timeout"] and time.perf_counter() - started < 10
    assert "time limit of 0.5 s" in rows[0]["error"]
    reset_sandbox()


def test_memory_limit_and_a_dying_child(monkeypatch):
    import numpy as np

    import zeroskip.sweep.point as point_module
    point = load_sweep(SMALL).points()[0]

    def hog(p):
        return {"key": p["key"], "status": "ok", "size": np.ones(1 << 30).size}  # 8 GB

    monkeypatch.setattr(point_module, "evaluate", hog)
    reset_sandbox()
    row = evaluate_limited(point, time_s=30, memory_mb=64)
    assert row["status"] == "memory" and "memory limit" in row["error"]

    def die(p):
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(point_module, "evaluate", die)
    reset_sandbox()
    row = evaluate_limited(point, time_s=30, memory_mb=512)
    assert row["status"] == "failed" and "signal 9" in row["error"]
    monkeypatch.undo()
    reset_sandbox()
    assert evaluate_limited(point, time_s=30, memory_mb=512)["status"] == "ok"  # a new child after a death


def test_serial_sweep_stores_each_point_once_and_resumes(store):
    spec = load_sweep(SMALL)
    seen = []
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, store, scheduler="serial", batch=2,
                  on_batch=lambda rows, progress, client: seen.append(len(rows)) or (_ for _ in ()).throw(
                      KeyboardInterrupt))
    assert len(store.points("t")) == 2  # the first batch was stored before the interrupt
    progress = run_sweep(spec, store, scheduler="serial", batch=2)
    assert progress.already == 2 and progress.done == 4 and progress.total == 6
    points = store.points("t")
    assert len(points) == 6 and len({p["key"] for p in points}) == 6
    assert run_sweep(spec, store, scheduler="serial").done == 0
    assert store.put_points([{"key": points[0]["key"], "status": "failed"}], {points[0]["key"]: points[0]["params"]}) == 0
    again = run_sweep(spec, store, scheduler="serial", redo=True)
    assert again.done == 6 and len(store.points("t")) == 6


def test_run_batch_without_limits_is_plain_evaluation():
    points = load_sweep(SMALL).points()[:2]
    assert [r["cycles"] for r in run_batch(points, None)] == [evaluate(p)["cycles"] for p in points]


def test_a_killed_worker_loses_no_point_and_duplicates_none(store):
    pytest.importorskip("distributed")
    spec = load_sweep(SMALL.replace('"arch.fifo_depth" = [2, 4]', '"arch.fifo_depth" = [1, 2, 3, 4]\ncopies = [1, 2]'))
    total = len(spec.points())
    killed = []

    def kill_one(rows, progress, client):
        if not killed:
            pids = client.run(os.getpid)  # worker address -> pid
            pid = next(iter(pids.values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    progress = run_sweep(spec, store, workers=2, batch=1, on_batch=kill_one)
    assert killed and progress.total == total
    points = store.points(spec.name)
    assert len(points) == total and len({p["key"] for p in points}) == total
    assert {p["key"] for p in points} == {p["key"] for p in spec.points()}
    assert all(p["status"] in ("ok", "failed") for p in points)
    assert not any("KilledWorker" in (p["error"] or "") for p in points)  # lost work was rerun, not given up
