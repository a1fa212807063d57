"""Compile time per kernel: first compile (fresh process, empty cache) and cached load (fresh process, same cache).

For each kernel (the Onyx set, and the DNN layer, linear layer and SpMV of the other benchmarks)
and each repeat, two processes run one after the other with one kernel cache folder
(``ZEROSKIP_CACHE_DIR``, and ``NUMBA_CACHE_DIR`` inside it): ``first`` starts with the folder
empty, ``cached`` finds what ``first`` left. Each times ``zs.compile`` plus the first
``program.run`` on small operands (where a lazy backend compiles or loads its kernel), after
the imports (numpy, scipy, zeroskip, numba: reported apart as ``import_s``, as is the steady
run time after the first).
The median over the repeats' processes is reported. Floors: first under 2 s, cached under 50 ms.

    .venv/bin/python benchmarks/bench_compile.py
    .venv/bin/python benchmarks/bench_compile.py --quick --cases spmspm,dnn
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before numpy, scipy and zeroskip load: import_s counts them all

import re
import shutil
import sys

import numpy as np
import scipy.sparse as sp

from common import find, zeroskip_api
from zeroskip.bench.kernels import KERNELS, Tensor3, random_tensor3, zeroskip_inputs
from zeroskip.bench.runner import Benchmark, Context, Finding, Prepared, floor, main

FIRST_FLOOR_S = 2.0
CACHED_FLOOR_S = 0.05
SIZE, TENSOR_SIZE, DENSITY = 64, 16, 0.1  # small operands: the time is the compile's, not the run's

# name -> (expression, input formats, output format, value dtype, with the DNN epilogue)
SPECS = {k.name: (k.expr, k.formats, k.out, np.float64, False) for k in KERNELS.values()}
SPECS.update({
    "dnn": ("Y(i,j) = X(i,k) * W(k,j)", {"X": "csr", "W": "csr"}, "csr", np.float32, True),
    "linear": ("C(i,j) = W(i,k) * X(k,j)", {"W": "csr", "X": "dense"}, "dense", np.float32, False),
    "spmv": ("y(i) = W(i,j) * x(j)", {"W": "csr", "x": "dense"}, "dense", np.float32, False),
})
QUICK = ("spmspm", "dnn", "linear")


def small_operands(expr: str, formats: dict[str, str], dtype, rng: np.random.Generator) -> dict:
    """Random operands for ``expr``: every index of size SIZE (TENSOR_SIZE where a 3-tensor takes part)."""
    accesses = [(name, len(indices.split(","))) for name, indices in re.findall(r"(\w+)\(([^)]*)\)", expr.split("=")[1])]
    size = TENSOR_SIZE if any(ndim == 3 for _, ndim in accesses) else SIZE
    ops = {}
    for name, ndim in accesses:
        shape = (size,) * ndim
        if formats[name] == "dense":
            ops[name] = rng.standard_normal(shape).astype(dtype)
        elif ndim == 3:
            t = random_tensor3(shape, DENSITY, seed=int(rng.integers(1 << 30)))
            ops[name] = Tensor3(t.coords, t.vals.astype(dtype), t.shape)
        elif ndim == 2:
            ops[name] = sp.random(*shape, density=DENSITY, format="csr", dtype=dtype, rng=rng)
        else:
            ops[name] = np.where(rng.random(shape) < DENSITY, rng.standard_normal(shape), 0).astype(dtype)
    return ops


def cache_env(case: str, backend: str, ctx: Context) -> dict[str, str]:
    """One cache folder per (case, threads, repeat): emptied before ``first``, reused by ``cached``."""
    cache = ctx.scratch / f"cache-{case}-t{ctx.threads}-r{ctx.rep}"
    if backend == "first":
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
    return {"ZEROSKIP_CACHE_DIR": str(cache), "NUMBA_CACHE_DIR": str(cache / "numba")}


def compile_and_run(case: str, ctx: Context) -> Prepared:
    """Setup finishes the imports (timed apart, from the top of this file); the timed call compiles and runs once."""
    expr, formats, out, dtype, epilogue = SPECS[case]
    zs = zeroskip_api(*(["Epilogue"] if epilogue else []))
    import numba  # noqa: F401 - imported here so its import is not counted as compile time

    import_s = time.perf_counter() - STARTED
    extra = {"epilogue": zs.Epilogue(bias=-0.3, relu=True, clamp=(None, 32.0))} if epilogue else {}
    inputs = zeroskip_inputs(zs, formats, small_operands(expr, formats, dtype, np.random.default_rng(0)))
    parts: dict[str, float] = {}
    programs = []

    def run():
        t0 = time.perf_counter()
        program = zs.compile(expr, out=out, **formats, **extra)
        t1 = time.perf_counter()
        result = program.run(**inputs, threads=ctx.threads, backend="sparse")
        parts.update(compile_s=t1 - t0, first_run_s=time.perf_counter() - t1)
        programs.append(program)
        return result

    def metrics(timing) -> dict:
        t0 = time.perf_counter()
        programs[-1].run(**inputs, threads=ctx.threads, backend="sparse")
        return {"import_s": import_s, **parts, "steady_run_s": time.perf_counter() - t0}

    return Prepared(run, metrics=metrics)


def summarize(records: list[dict]) -> list[Finding]:
    findings = []
    for threads in sorted({r["threads"] for r in records}):
        for backend, limit in (("first", FIRST_FLOOR_S), ("cached", CACHED_FLOOR_S)):
            if not any(r["backend"] == backend for r in records):
                continue
            cases = list(dict.fromkeys(r["case"] for r in records))
            times = {c: r["median_s"] for c in cases if (r := find(records, backend, c, threads))}
            complete = len(times) == len(cases)
            worst = max(times, key=times.get) if times and complete else None
            label = f"threads={threads}: {backend} compile, slowest kernel" + (f" ({worst})" if worst else "")
            findings.append(floor(label, times[worst] if worst else None, limit, at_least=False, unit=" s"))
            over = sorted(c for c, t in times.items() if t > limit)
            if over:
                findings.append(Finding(f"  over the floor: {', '.join(over)}"))
            if not complete:
                findings.append(Finding(f"  not measured: {', '.join(c for c in cases if c not in times)}"))
    return findings


BENCH = Benchmark(
    name="compile",
    title=__doc__.splitlines()[0],
    cases=lambda quick: list(QUICK if quick else SPECS),
    backends={"first": compile_and_run, "cached": compile_and_run},
    columns=("import_s", "compile_s", "first_run_s", "steady_run_s"),
    repeats=3,
    quick_repeats=1,
    warmup=0,
    summarize=summarize,
    env=cache_env,
    single_shot=True,
)

if __name__ == "__main__":
    sys.exit(main(BENCH, __file__))
