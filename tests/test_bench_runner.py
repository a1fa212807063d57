"""The benchmark runner on a toy benchmark: a process per run, thread settings, statuses, ratios, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from zeroskip.bench.runner import format_table
from zeroskip.bench.timing import measure

TOY = textwrap.dedent('''
    import os, sys
    from zeroskip.bench.runner import Benchmark, Finding, Prepared, Unavailable, main

    def fast(case, ctx):
        return Prepared(lambda: os.environ["OMP_NUM_THREADS"], check=lambda r: None, metrics=lambda t: {"n": 10})

    def slow(case, ctx):
        return Prepared(lambda: sum(range(200_000)))

    def wrong(case, ctx):
        def check(result):
            assert result == 1, f"{result=}, expected 1"
        return Prepared(lambda: 2, check=check)

    def missing(case, ctx):
        raise Unavailable("not here")

    def rep(case, ctx):
        return Prepared(lambda: None, metrics=lambda t: {"rep": ctx.rep, "env": int(os.environ["TOY_REP"])})

    BENCH = Benchmark("toy", "a toy", cases=lambda quick: ["a", "b"] if not quick else ["a"],
                      backends={"fast": fast, "slow": slow, "wrong": wrong, "missing": missing, "rep": rep},
                      anchors=("slow",), columns=("n",), repeats=4, warmup=1,
                      summarize=lambda records: [Finding("checked", True)],
                      env=lambda case, backend, ctx: {"TOY_REP": str(ctx.rep)},
                      single_shot=bool(os.environ.get("TOY_SINGLE")))

    if __name__ == "__main__":
        sys.exit(main(BENCH, __file__))
''')


@pytest.fixture
def toy(tmp_path):
    script = tmp_path / "bench_toy.py"
    script.write_text(TOY)

    def run(*args, env=None):
        import os

        # No reruns of disturbed runs: under the parallel test suite every run is disturbed, and each
        # rerun would first wait up to two minutes for a quiet machine.
        done = subprocess.run([sys.executable, str(script), "--results", str(tmp_path / "out"), "--retry-noisy", "0",
                               *args],
                              capture_output=True, text=True, env={**os.environ, **(env or {})})
        results = tmp_path / "out" / ("toy-quick.json" if "--quick" in args else "toy.json")
        return done, json.loads(results.read_text()) if results.exists() else None

    return run


def test_runs_each_backend_in_its_own_process_with_threads_set(toy):
    done, doc = toy("--backends", "fast,slow,missing", "--threads", "1")
    assert done.returncode == 0, done.stderr
    by = {(r["case"], r["backend"]): r for r in doc["records"]}
    assert set(by) == {(c, b) for c in "ab" for b in ("fast", "slow", "missing")}
    fast = by["a", "fast"]
    assert fast["status"] == "ok" and len(fast["times"]) == 4 and fast["threads"] == 1
    assert fast["metrics"] == {"n": 10} and fast["ratios"]["x vs slow"] > 1
    assert by["a", "missing"]["status"] == "skipped" and by["a", "missing"]["note"] == "not here"
    assert doc["machine"]["versions"]["numpy"] and doc["summary"] == [{"text": "checked", "ok": True}]
    assert "x vs slow" in done.stdout and "checked" in done.stdout


def test_a_wrong_answer_fails_the_run(toy):
    done, doc = toy("--backends", "wrong", "--quick")
    assert done.returncode == 1
    (record,) = doc["records"]
    assert record["status"] == "failed" and "expected 1" in record["note"]


def test_single_shot_pools_one_process_per_repeat(toy):
    done, doc = toy("--backends", "rep", "--cases", "a", "--repeats", "3", env={"TOY_SINGLE": "1"})
    assert done.returncode == 0, done.stderr
    (record,) = doc["records"]
    assert len(record["times"]) == 3 and record["metrics"] == {"rep": 1, "env": 1}  # medians of 0, 1, 2


def test_unknown_backend_is_refused(toy):
    done, _ = toy("--backends", "nope")
    assert done.returncode != 0 and "unknown backend" in done.stderr


def test_measure_checks_the_first_answer_before_timing():
    seen = []
    result = measure(lambda: len(seen), repeats=2, warmup=1, before_each=lambda: seen.append(1), on_first=seen.append)
    assert seen == [1, 1, 1, 1] and len(result.timing.times) == 2 and result.result == 4


def test_format_table_aligns_numbers_and_blanks_none():
    text = format_table([["a", 1.23456, None], ["bb", 10.0, 3]], ["name", "x", "y"])
    assert text.splitlines() == ["name      x  y", "----  -----  -", "a     1.235", "bb       10  3"]
