"""The accelerator simulator (issue 5): its speed against SAM's simulator, its fidelity, and the firmware's load balance.

Two result files, one per part (each part a runner benchmark; ``--part`` picks):

**speed** (``results/simulator.json``). Issue 5's floor: "the SAM repository's own Python simulator
takes about 37 s for an outer-product SpM*SpM of a random 2000x2000 matrix at 0.5% density and a
second operand of the same pattern (416k simulated cycles) on the 2-core machine. zeroskip must
simulate the same computation at least 1000x faster with the cycle-exact timing pass, and report
simulated token events per second." Case ``spmspm-2000``: A = scipy random 2000x2000 at 0.5%
(seed 0), B = A's pattern with new random values, ``C(i,j)=A(i,k)*B(k,j)`` in loop order k,i,j
(outer product) with A in CSC, B in CSR, C in DCSR (SAM's ``X:ss``). Backends, each in its own
process, warmed in setup (numba kernels loaded: one untimed call), median of the repeats:

- ``functional``: ``functional_pass`` alone (every stream and step trace);
- ``timing``: ``time_run(run, TimingModel.sam())`` alone (the run flattened into a network, then timed);
- ``simulate-sam``: the whole ``Program.simulate(mode="sam")`` (both passes, energy, output
  assembly): the row held to the floor, ``x vs SAM 37 s`` = 37 s / its median;
- ``simulate-onyx``: ``Program.simulate(mode="sparse", copies=1)``: the Onyx timing model (FIFO
  depth 2, latencies, SRAM ports) on one copy of the graph, tiled to 4 KB memory tiles;
- ``reference``: ``hardware.reference.simulate_cycles`` (the cycle-stepped simulator, pure
  Python) on the network the ``timing`` row times; it must give the same cycle for every step.
  ``x vs reference`` is thus a ratio measured on this machine beside the 37 s anchor.
  ``--quick`` runs it on ``spmspm-500`` only (the same computation at 500x500, seconds instead of
  about 12 s a call at 2000).

``tokens`` = tokens moved over all edges (the sum of the stream lengths; the energy model's FIFO
events are twice that: a push and a pop); ``Mtok/s`` = tokens / wall time, the "simulated token
events per second"; ``Mcyc/s`` = simulated cycles / wall time.

**model** (``results/simulator-model.json``; each case one process running its sweep once,
the sweep's wall time in the table and every number in the JSON and the summary's tables):

- ``loop-order``, issue 5's floor "loop order matters for sparse-times-sparse products
  (inner-product order far worse than Gustavson or outer product at high sparsity)": SpM*SpM of
  two independent random 500x500 matrices (``--quick``: 200x200) at 0.1%, 1%, 5%, 20%, loop
  orders i,j,k (inner: A csr, B csc), i,k,j (Gustavson: csr, csr), k,i,j (outer: csc, csr), in
  SAM mode and in sparse (Onyx) mode: cycles and joules. At 0.1% and 1% the same in SAM's own
  formats (every level compressed, as SAM's compiler emits matmul_ijk/ikj/kij.gv: dcsr/dcsc, C
  dcsr); at 5% and above every row and column is occupied and the two families coincide.
  Floor: at each of the two sparsest densities (>= 99% sparse), the inner product takes more cycles
  than both other orders and at least 5x the cycles of the better (faster) of Gustavson and outer
  product, in both timing models and both format families (the worst case is reported). Why 5x: "far worse" should be an effect the
  timing model cannot produce on its own; the same configuration's cycles differ by up to 4x
  (either way) between the SAM model and the Onyx model (FIFO depth, latencies, tiling), so a
  loop-order effect must exceed that spread to be about the loop order. At 0.1% (half an entry
  per row at 500x500) SAM's Gustavson cannot be that much better than the inner product: its
  graph intersects each row of A with B's whole outer level, so it pays rows(A) x rows(B) steps
  as the inner product pays rows(A) x cols(B) pairs, and the inner product's extra cost per pair
  is only the fibers' length, about 2 n d + 1 (2 at n=500, d=0.1%). That is SAM's algorithm
  (its own matmul_ikj.gv does the same), so a miss there is a finding about SAM's Gustavson,
  not a simulator error; the outer product stays 40-400x ahead of the inner product there.
- ``loop-order-suitesparse``: the same on SuiteSparse west0479 (``--quick``: west0067) times
  its copy with columns shifted by one (the kernels benchmark's convention). Context, no floor.
- ``crossover``, issue 5's floor "sparse configurations beat dense configurations of the same
  matrix product only at high sparsity": C = A*B, 256x256 (``--quick``: 64x64), A random at
  sparsity 0, 50, 80, 90, 95, 99, 99.9%, B dense. Why B dense: a pruned layer (sparse weights
  times dense activations, as in the linear benchmark) is where the question arises, and the
  effectual work then scales with A's density alone, so the crossover is a statement about one
  operand's sparsity; with both operands sparse the work falls as the density squared (shown as
  context at >= 90%). ``mode="sparse"`` takes the fastest of the three loop orders that compile
  (each simulated; the most energy-efficient is taken separately for the energy crossover),
  against ``mode="dense"`` (the product as dense MACs over the PE array). Floor ("only at high
  sparsity"): sparse slower than dense at 0% and 50%, faster at the highest sparsity measured.
- ``balance``, issue 5: "do better than round-robin, and show the difference". Skewed workloads
  large enough for many tiles: SpMV y = A x in column order (A csc, loop order j,i) on the
  SuiteSparse circuit matrices rajat01 (6833x6833, rows up to 228x the mean) and adder_dcop_05,
  and an outer-product SpM*SpM of power-law (Chung-Lu) 2000x2000 matrices. Each with
  ``tiling`` "nnz" and "coords" x ``balance`` "lpt" and "round_robin" at the default copies (as
  many as fit, the same for both balances): cycles, tiles, per-copy utilization (compute cycles
  over the total; min and max). Floor: LPT no slower than round-robin on every workload and
  tiling (the smallest round-robin/LPT ratio is reported).

``--quick`` shrinks the model sweeps (the sizes above), so its floors there are indicative only.
The machine's load is recorded with each run (``other_busy_cores``; NOISY rows); simulated cycles
and joules do not depend on it, wall times do.

    .venv/bin/python benchmarks/bench_simulator.py                  # both parts (several minutes)
    .venv/bin/python benchmarks/bench_simulator.py --quick          # well under a minute
    .venv/bin/python benchmarks/bench_simulator.py --part speed --backends simulate-sam,reference
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from zeroskip.bench.kernels import shifted
from zeroskip.bench.compare import assert_close
from zeroskip.bench.runner import Benchmark, Context, Finding, Prepared, Unavailable, floor, format_table
from zeroskip.bench.runner import main as runner_main

SEED = 0
EXPR = "C(i,j)=A(i,k)*B(k,j)"

# ---- part 1: speed -------------------------------------------------------------------------------------------

SAM_SECONDS = 37.0  # the SAM repository's simulator on this computation, 2-core machine (issue 5)
SAM_CYCLES = 416_000
SPEED_FLOOR = 1000.0
SPEED_DENSITY = 0.005
SPEED_SIZES = {"spmspm-2000": 2000, "spmspm-500": 500}
ANCHOR_CASE = "spmspm-2000"


@functools.cache
def outer_product(n: int):
    """The anchor computation at n x n: program (k,i,j; A csc, B csr, C dcsr), tensors, scipy gold."""
    import zeroskip as zs

    rng = np.random.default_rng(SEED)
    a = sp.random(n, n, density=SPEED_DENSITY, format="csr", rng=rng)
    b = a.copy()
    b.data = rng.random(b.nnz)  # A's pattern, new values
    program = zs.compile(EXPR, A="csc", B="csr", loop_order="kij", out="dcsr")
    tensors = {"A": zs.as_tensor(a, format="csc"), "B": zs.as_tensor(b, format="csr")}
    return program, tensors, (a @ b).tocsr()


def _rates(tokens: float, cycles: float) -> Callable:
    def metrics(t) -> dict:
        return {"sim cycles": int(cycles), "tokens": int(tokens), "Mtok/s": tokens / t.median_s / 1e6,
                "Mcyc/s": cycles / t.median_s / 1e6}
    return metrics


def _with_anchor(case: str, metrics: Callable) -> Callable:
    """``metrics`` plus ``x vs SAM 37 s`` on the anchor case."""
    def both(t) -> dict:
        out = metrics(t)
        if case == ANCHOR_CASE:
            out["x vs SAM 37 s"] = SAM_SECONDS / t.median_s
        return out
    return both


def functional_backend(case: str, ctx: Context) -> Prepared:
    from zeroskip.hardware.functional import functional_pass

    program, tensors, gold = outer_product(SPEED_SIZES[case])
    run = functional_pass(program.graph, tensors)  # warm: the numba kernels load here
    tokens = run.events()["tokens"]
    return Prepared(lambda: functional_pass(program.graph, tensors),
                    check=lambda r: assert_close(r.outputs["C"], gold),
                    metrics=lambda t: {"tokens": tokens, "Mtok/s": tokens / t.median_s / 1e6})


def timing_backend(case: str, ctx: Context) -> Prepared:
    from zeroskip.hardware.functional import functional_pass
    from zeroskip.hardware.timing import TimingModel, time_run

    program, tensors, _ = outer_product(SPEED_SIZES[case])
    run = functional_pass(program.graph, tensors)
    cycles = time_run(run, TimingModel.sam()).cycles  # warm
    tokens = run.events()["tokens"]
    return Prepared(lambda: time_run(run, TimingModel.sam()), metrics=_with_anchor(case, _rates(tokens, cycles)))


def simulate_backend(mode: str):
    def setup(case: str, ctx: Context) -> Prepared:
        program, tensors, gold = outer_product(SPEED_SIZES[case])
        options = {"copies": 1} if mode == "sparse" else {}
        first = program.simulate(**tensors, mode=mode, **options)  # warm
        tokens = first.events["fifo"] / 2
        note = first.notes.split(";")[0] if mode == "sparse" else ""
        metrics = _rates(tokens, first.cycles)
        return Prepared(lambda: program.simulate(**tensors, mode=mode, **options),
                        check=lambda r: assert_close(r.output, gold),
                        metrics=_with_anchor(case, metrics) if mode == "sam" else metrics, note=note)
    return setup


def reference_backend(case: str, ctx: Context) -> Prepared:
    try:
        from zeroskip.hardware.reference import simulate_cycles
    except ImportError as exc:
        raise Unavailable(f"the cycle-stepped reference simulator is not there yet ({exc})") from None
    if ctx.quick and case == ANCHOR_CASE:
        raise Unavailable("--quick: the reference runs on spmspm-500 only (about 12 s a call at 2000x2000)")
    from zeroskip.hardware.functional import functional_pass
    from zeroskip.hardware.timing import TimingModel, network, time_network

    program, tensors, _ = outer_product(SPEED_SIZES[case])
    run = functional_pass(program.graph, tensors)
    net = network(run, TimingModel.sam())
    fast = time_network(net)

    def check(slow) -> None:
        assert slow.cycles == fast.cycles, f"reference {slow.cycles} cycles, timing pass {fast.cycles}"
        bad = [b for b, (x, y) in enumerate(zip(slow.start, fast.start, strict=True)) if not np.array_equal(x, y)]
        assert not bad, f"step cycles differ from the timing pass's in blocks {bad} ({[net.labels[b] for b in bad]})"

    return Prepared(lambda: simulate_cycles(net), check=check, metrics=_rates(run.events()["tokens"], fast.cycles))


def _find(records, backend, case, threads):
    for r in records:
        if (r["backend"], r["case"], r["threads"], r["status"]) == (backend, case, threads, "ok"):
            return r
    return None


def speed_summary(records: list[dict]) -> list[Finding]:
    findings = []
    for threads in sorted({r["threads"] for r in records}):
        sim = _find(records, "simulate-sam", ANCHOR_CASE, threads)
        if any(r["backend"] == "simulate-sam" and r["case"] == ANCHOR_CASE for r in records):
            findings.append(floor(f"threads={threads}: {ANCHOR_CASE} outer product, simulate(mode='sam') vs SAM's "
                                  f"{SAM_SECONDS:g} s", SAM_SECONDS / sim["median_s"] if sim else None, SPEED_FLOOR))
        if sim:
            m = sim["metrics"]
            findings.append(Finding(f"  {m['sim cycles']} simulated cycles (SAM's simulator: about {SAM_CYCLES}), "
                                    f"{m['tokens']} tokens moved, {m['Mtok/s']:.3g} M tokens/s "
                                    f"({2 * m['Mtok/s']:.3g} M FIFO push+pop events/s), {m['Mcyc/s']:.3g} M cycles/s"))
        f, t = (_find(records, b, ANCHOR_CASE, threads) for b in ("functional", "timing"))
        if f and t:
            both = f["median_s"] + t["median_s"]
            findings.append(Finding(f"  functional pass {1e3 * f['median_s']:.1f} ms + timing pass "
                                    f"{1e3 * t['median_s']:.1f} ms = {1e3 * both:.1f} ms: {SAM_SECONDS / both:.3g}x "
                                    f"SAM's {SAM_SECONDS:g} s"))
        for case in SPEED_SIZES:
            ref, tim = _find(records, "reference", case, threads), _find(records, "timing", case, threads)
            if ref and tim:
                findings.append(Finding(
                    f"  {case}: reference cycle-stepped simulator {ref['median_s']:.3g} s "
                    f"({ref['metrics']['Mcyc/s'] * 1e3:.3g} k cycles/s) vs timing pass {1e3 * tim['median_s']:.3g} ms "
                    f"on the same network, same cycles: {ref['median_s'] / tim['median_s']:.3g}x measured here"))
        onyx = _find(records, "simulate-onyx", ANCHOR_CASE, threads)
        if onyx:
            findings.append(Finding(f"  Onyx timing (copies=1): {onyx['metrics']['sim cycles']} cycles "
                                    f"({onyx['note']}), simulated in {1e3 * onyx['median_s']:.3g} ms"))
    return findings


SPEED = Benchmark(
    name="simulator",
    title="Simulator speed: SAM-mode and Onyx-mode simulation of the 2000x2000 0.5% outer product vs SAM's 37 s",
    cases=lambda quick: list(SPEED_SIZES),
    backends={"functional": functional_backend, "timing": timing_backend, "simulate-sam": simulate_backend("sam"),
              "simulate-onyx": simulate_backend("sparse"), "reference": reference_backend},
    anchors=("reference",),
    columns=("sim cycles", "tokens", "Mtok/s", "Mcyc/s", "x vs SAM 37 s"),
    repeats=5,
    # Steady state: the setups load the numba kernels; three more calls let the heap grow to the size a
    # run reuses (zeroskip.hardware.heap), which takes a few runs of page faults (first call ~40-70 ms).
    warmup=3,
    quick_repeats=3,
    summarize=speed_summary,
)

# ---- part 2: fidelity and load balance -----------------------------------------------------------------------

ORDERS = {"ijk": "inner", "ikj": "Gustavson", "kij": "outer"}
# loop order -> (A format, B format); then the output format
FAMILIES = {
    "csr": ({"ijk": ("csr", "csc"), "ikj": ("csr", "csr"), "kij": ("csc", "csr")}, "csr"),
    "ss": ({"ijk": ("dcsr", "dcsc"), "ikj": ("dcsr", "dcsr"), "kij": ("dcsc", "dcsr")}, "dcsr"),
}
LOOP_DENSITIES = (0.001, 0.01, 0.05, 0.2)
SS_DENSITIES = (0.001, 0.01)  # where the compressed outer levels differ from csr's dense ones
LOOP_FLOOR = 5.0
SPARSITIES = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999)
BOTH_SPARSE_FROM = 0.9


def _simulate(program, operands: dict, mode: str, gold, **options) -> dict:
    """One simulation: cycles, joules, tokens, wall seconds; a wrong answer raises, another failure is recorded."""
    t0 = time.perf_counter()
    try:
        r = program.simulate(**operands, mode=mode, **options)
    except Exception as exc:  # a simulator failure on one configuration is reported, the sweep goes on
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
    wall = time.perf_counter() - t0
    if mode != "dense":
        assert_close(r.output, gold)
    out = {"cycles": r.cycles, "uJ": 1e6 * r.energy["total"], "tokens": int(r.events.get("fifo", 0) // 2),
           "wall_s": wall}
    if r.mapping is not None and mode == "sparse":
        out["tiles"], out["copies"] = len(r.mapping.tiles), r.mapping.copies
        busy = np.zeros(r.mapping.copies)
        for s in r.timeline:
            busy[s["copy"]] += s["compute_cycles"]
        util = busy / r.cycles if r.cycles else busy
        out["util_min"], out["util_max"] = float(util.min()), float(util.max())
    return out


def _warm() -> None:
    """Load the numba kernels (their disk cache) before a sweep, so the first configuration is not charged."""
    import zeroskip as zs

    a = sp.random(8, 8, density=0.3, format="csr", rng=np.random.default_rng(0))
    p = zs.compile(EXPR, A="csr", B="csr", loop_order="ikj", out="csr")
    for mode in ("sam", "sparse"):
        p.simulate(A=a, B=a, mode=mode)


def _random(n: int, density: float, rng) -> sp.csr_matrix:
    return sp.random(n, n, density=density, format="csr", rng=rng)


def _orders(a, b, gold, families: tuple[str, ...], label: dict) -> list[dict]:
    """Every loop order x format family x timing model of C = A*B."""
    import zeroskip as zs

    rows = []
    for family in families:
        formats, out = FAMILIES[family]
        for order, (fa, fb) in formats.items():
            program = zs.compile(EXPR, A=fa, B=fb, loop_order=order, out=out)
            ops = {"A": zs.as_tensor(a, format=fa), "B": zs.as_tensor(b, format=fb)}
            for mode in ("sam", "sparse"):
                rows.append({**label, "family": family, "order": order, "mode": mode,
                             **_simulate(program, ops, mode, gold)})
    return rows


def loop_order_sweep(ctx: Context) -> Callable[[], dict]:
    n = 200 if ctx.quick else 500

    def sweep() -> dict:
        rows = []
        for d in LOOP_DENSITIES:
            rng = np.random.default_rng(SEED)
            a, b = _random(n, d, rng), _random(n, d, rng)
            families = ("csr", "ss") if d in SS_DENSITIES else ("csr",)
            rows += _orders(a, b, (a @ b).tocsr(), families, {"n": n, "density": d})
        return {"configs": rows}
    return sweep


def suitesparse_sweep(ctx: Context) -> Callable[[], dict]:
    from zeroskip import load
    from zeroskip.bench.datasets import DataNotFoundError, data_root

    name = "west0067" if ctx.quick else "west0479"
    try:
        a = load(data_root(ctx.data) / "suitesparse" / f"{name}.mtx").to_scipy("csr").astype(np.float64)
    except (DataNotFoundError, FileNotFoundError) as exc:
        raise Unavailable(str(exc)) from None
    b = shifted(a, 1)

    def sweep() -> dict:
        label = {"matrix": name, "n": a.shape[0], "density": a.nnz / (a.shape[0] * a.shape[1])}
        return {"configs": _orders(a, b, (a @ b).tocsr(), ("csr", "ss"), label)}
    return sweep


def crossover_sweep(ctx: Context) -> Callable[[], dict]:
    import zeroskip as zs

    n = 64 if ctx.quick else 256
    # variant -> loop order -> (A format, B format, C format)
    variants = {"B dense": {"ijk": ("csr", "dense", "dense"), "ikj": ("csr", "dense", "dense"),
                            "kij": ("csc", "dense", "dense")},
                "B sparse": {order: (fa, fb, "csr") for order, (fa, fb) in FAMILIES["csr"][0].items()}}

    def sweep() -> dict:
        rows = []
        for variant, orders in variants.items():
            for s in SPARSITIES:
                if variant == "B sparse" and s < BOTH_SPARSE_FROM:
                    continue
                rng = np.random.default_rng(SEED)
                a = _random(n, 1.0 - s, rng)
                b = rng.standard_normal((n, n)) if variant == "B dense" else _random(n, 1.0 - s, rng)
                gold = a @ b
                gold = gold.tocsr() if sp.issparse(gold) else np.asarray(gold)
                label = {"variant": variant, "n": n, "sparsity": s}
                program = None
                for order, (fa, fb, fc) in orders.items():
                    program = zs.compile(EXPR, A=fa, B=fb, loop_order=order, out=fc)
                    ops = {"A": zs.as_tensor(a, format=fa), "B": zs.as_tensor(b, format=fb)}
                    rows.append({**label, "order": order, "mode": "sparse", **_simulate(program, ops, "sparse", gold)})
                rows.append({**label, "order": "-", "mode": "dense", **_simulate(program, ops, "dense", gold)})
        return {"configs": rows}
    return sweep


def chung_lu(n: int, nnz: int, alpha: float, seed: int) -> sp.csr_matrix:
    """A power-law random matrix: entry (i, j) drawn with probability proportional to (i+1)^-alpha (j+1)^-alpha."""
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, n + 1) ** alpha
    w /= w.sum()
    i, j = rng.choice(n, nnz, p=w), rng.choice(n, nnz, p=w)
    m = sp.csr_matrix((rng.standard_normal(nnz), (i, j)), shape=(n, n))
    m.sum_duplicates()
    return m


def balance_sweep(ctx: Context) -> Callable[[], dict]:
    import zeroskip as zs
    from zeroskip import load
    from zeroskip.bench.datasets import DataNotFoundError, data_root

    workloads = []  # (name, program, operands, gold)
    spmv = zs.compile("y(i)=A(i,j)*x(j)", A="csc", x="dense", out="dense", loop_order="ji")
    for name in ("rajat01", "adder_dcop_05"):
        try:
            a = load(data_root(ctx.data) / "suitesparse" / f"{name}.mtx").to_scipy("csr").astype(np.float64)
        except (DataNotFoundError, FileNotFoundError):
            continue
        rng = np.random.default_rng(SEED)
        a.data = rng.standard_normal(a.nnz)  # rajat01 is a pattern matrix
        x = rng.standard_normal(a.shape[1])
        workloads.append((f"SpMV {name}", spmv, {"A": zs.as_tensor(a, format="csc"), "x": x}, a @ x))
    n, nnz = (1000, 5000) if ctx.quick else (2000, 10000)
    a, b = chung_lu(n, nnz, 0.6, SEED), chung_lu(n, nnz, 0.6, SEED + 1)
    outer = zs.compile(EXPR, A="csc", B="csr", loop_order="kij", out="csr")
    workloads.append((f"SpM*SpM power-law {n}", outer, {"A": zs.as_tensor(a, format="csc"),
                                                         "B": zs.as_tensor(b, format="csr")}, (a @ b).tocsr()))

    def sweep() -> dict:
        rows = []
        for name, program, ops, gold in workloads:
            for tiling in ("nnz", "coords"):
                for balance in ("lpt", "round_robin"):
                    rows.append({"workload": name, "tiling": tiling, "balance": balance,
                                 **_simulate(program, ops, "sparse", gold, tiling=tiling, balance=balance)})
        return {"configs": rows}
    return sweep


SWEEPS = {"loop-order": loop_order_sweep, "loop-order-suitesparse": suitesparse_sweep,
          "crossover": crossover_sweep, "balance": balance_sweep}


def sweep_backend(case: str, ctx: Context) -> Prepared:
    sweep = SWEEPS[case](ctx)
    _warm()
    results: list[dict] = []

    def run() -> dict:
        results.append(sweep())
        return results[-1]

    def metrics(t) -> dict:
        rows = results[-1]["configs"]
        tokens = sum(r.get("tokens", 0) for r in rows)
        errors = [f"{_label(r)}: {r['error']}" for r in rows if "error" in r]
        return {"configs": len(rows), "errors": len(errors), "sim tokens": tokens, "Mtok/s": tokens / t.median_s / 1e6,
                "rows": rows, "error_list": errors}

    return Prepared(run, metrics=metrics)


def _label(r: dict) -> str:
    keys = ("workload", "matrix", "variant", "density", "sparsity", "family", "order", "mode", "tiling", "balance")
    return " ".join(f"{r[k]}" for k in keys if k in r)


# ---- part 2: the summary ----------------------------------------------------------------------------------------


def _rows(records: list[dict], case: str) -> list[dict]:
    r = next((r for r in records if r["case"] == case and r["status"] == "ok"), None)
    return r["metrics"]["rows"] if r else []


def _get(rows, **match):
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items()) and "error" not in r), None)


def _ratio(x, y):
    return x / y if x is not None and y else None


def _pct(x: float) -> str:
    return f"{100 * x:g}%"


def _loop_tables(rows: list[dict], title: str, key: str) -> tuple[list[Finding], dict]:
    """Cycles and joules per configuration, then inner/Gustavson and inner/outer; ``worst[(point)]`` for the floor."""
    table, ratios, worst = [], [], {}
    points = list(dict.fromkeys((r[key], r["family"]) for r in rows))
    for point, family in points:
        for order, alg in ORDERS.items():
            sam, onyx = (_get(rows, **{key: point}, family=family, order=order, mode=m) for m in ("sam", "sparse"))
            table.append([_pct(point) if key == "density" else point, family, f"{order} ({alg})",
                          *(sam and (sam["cycles"], sam["uJ"]) or (None, None)),
                          *(onyx and (onyx["cycles"], onyx["uJ"], onyx.get("tiles")) or (None, None, None)),
                          (onyx or sam or {}).get("tokens")])
        for mode in ("sam", "sparse"):
            get = {o: _get(rows, **{key: point}, family=family, order=o, mode=mode) for o in ORDERS}
            c = {o: g and g["cycles"] for o, g in get.items()}
            e = {o: g and g["uJ"] for o, g in get.items()}
            ig, io = _ratio(c["ijk"], c["ikj"]), _ratio(c["ijk"], c["kij"])
            ratios.append([_pct(point) if key == "density" else point, family, mode, ig, io,
                           _ratio(e["ijk"], e["ikj"]), _ratio(e["ijk"], e["kij"])])
            if point not in worst or worst[point] is not None:  # any configuration missing: not measured
                # The floor compares with the better of the other two orders; inner must also lose to both.
                ratio = None if ig is None or io is None else (max(ig, io) if min(ig, io) > 1 else min(ig, io))
                worst[point] = None if ratio is None else min(worst.get(point, ratio), ratio)
    text = format_table(table, [key, "formats", "loop order", "SAM cycles", "SAM uJ", "Onyx cycles", "Onyx uJ",
                                "Onyx tiles", "tokens"])
    rtext = format_table(ratios, [key, "formats", "timing", "inner/Gust cyc", "inner/outer cyc",
                                  "inner/Gust J", "inner/outer J"])
    return [Finding(f"{title}\n{text}\n{rtext}")], worst


def _crossover(rows: list[dict], variant: str, metric: str) -> tuple[list, str]:
    """Per sparsity: the best sparse order by ``metric`` and dense; where sparse starts to win for good."""
    table, wins = [], []
    for s in SPARSITIES:
        sparse = [r for r in rows if r.get("variant") == variant and r["sparsity"] == s and r["mode"] == "sparse"
                  and "error" not in r]
        dense = _get(rows, variant=variant, sparsity=s, mode="dense")
        if not sparse or dense is None:
            continue
        best = min(sparse, key=lambda r: r[metric])
        table.append((s, best, dense))
        wins.append((s, best[metric] < dense[metric]))
    first = next((s for k, (s, _) in enumerate(wins) if all(w for _, w in wins[k:])), None)
    if first is None:
        where = "sparse never wins for good in this sweep"
    else:
        below = [s for s, _ in wins if s < first]
        where = f"sparse wins from {_pct(first)} on" + (f" (loses at {_pct(below[-1])})" if below else "")
    return table, where


def model_summary(records: list[dict]) -> list[Finding]:
    findings: list[Finding] = []
    for r in records:
        if r["status"] == "ok" and r["metrics"].get("error_list"):
            findings.append(Finding(f"{r['case']}: {r['metrics']['errors']} configurations raised:\n  "
                                    + "\n  ".join(r["metrics"]["error_list"])))

    rows = _rows(records, "loop-order")
    if rows:
        n = rows[0]["n"]
        text, worst = _loop_tables(rows, f"loop order, SpM*SpM {n}x{n} (cycles; uJ):", "density")
        findings += text
        for d in sorted(worst)[:2]:
            findings.append(floor(f"loop order at {_pct(d)}: inner product's cycles over the better of Gustavson "
                                  f"and outer (worst of formats and timing models)", worst[d], LOOP_FLOOR))
    elif any(r["case"] == "loop-order" for r in records):
        findings.append(floor("loop order: inner product far worse at high sparsity", None, LOOP_FLOOR))

    rows = _rows(records, "loop-order-suitesparse")
    if rows:
        findings += _loop_tables(rows, f"loop order, SuiteSparse {rows[0]['matrix']} times itself shifted "
                                       f"({100 * rows[0]['density']:.2g}% dense):", "matrix")[0]

    rows = _rows(records, "crossover")
    if rows:
        n = rows[0]["n"]
        for variant in ("B dense", "B sparse"):
            by_cycles, where_c = _crossover(rows, variant, "cycles")
            by_energy, where_e = _crossover(rows, variant, "uJ")
            if not by_cycles:
                continue
            energy = {s: (best, dense) for s, best, dense in by_energy}
            table = [[_pct(s), best["order"], best["cycles"], dense["cycles"], dense["cycles"] / best["cycles"],
                      energy[s][0]["order"], energy[s][0]["uJ"], dense["uJ"], dense["uJ"] / energy[s][0]["uJ"]]
                     for s, best, dense in by_cycles]
            findings.append(Finding(
                f"sparse vs dense configuration, C = A*B {n}x{n}, A at the sparsity, {variant}"
                + (" (same sparsity; context)" if variant == "B sparse" else "") + ":\n"
                + format_table(table, ["sparsity", "fastest", "sparse cycles", "dense cycles", "speedup",
                                       "frugalest", "sparse uJ", "dense uJ", "energy gain"])
                + f"\n  cycles: {where_c}; energy: {where_e}"))
            if variant == "B dense":
                speed = {s: dense["cycles"] / best["cycles"] for s, best, dense in by_cycles}
                low = [speed[s] for s in speed if s <= 0.5]
                findings.append(floor("crossover: sparse over dense speedup at 0-50% sparsity, the largest (sparse "
                                      "must lose)", max(low) if len(low) == 2 else None, 1.0, at_least=False))
                findings.append(floor(f"crossover: sparse over dense speedup at the highest sparsity, "
                                      f"{_pct(max(speed))} (sparse must win there)", speed[max(speed)], 1.0))
    elif any(r["case"] == "crossover" for r in records):
        findings.append(floor("crossover: sparse wins only at high sparsity", None, 1.0))

    rows = _rows(records, "balance")
    if rows:
        table, summary, ratios = [], [], []
        for name in dict.fromkeys(r["workload"] for r in rows):
            cyc = {}
            for tiling in ("nnz", "coords"):
                for balance in ("lpt", "round_robin"):
                    g = _get(rows, workload=name, tiling=tiling, balance=balance)
                    cyc[tiling, balance] = g and g["cycles"]
                    if g:
                        table.append([name, tiling, balance, g["cycles"], g["tiles"], g["copies"], g["util_min"],
                                      g["util_max"], g["util_max"] - g["util_min"], g["wall_s"]])
                ratios.append(_ratio(cyc[tiling, "round_robin"], cyc[tiling, "lpt"]))
            summary.append([name, ratios[-2], ratios[-1], _ratio(cyc["coords", "lpt"], cyc["nnz", "lpt"]),
                            _ratio(cyc["coords", "round_robin"], cyc["nnz", "round_robin"])])
        findings.append(Finding("load balance (sparse mode, default copies; util = a copy's compute cycles / total):\n"
                                + format_table(table, ["workload", "tiling", "balance", "cycles", "tiles", "copies",
                                                       "util min", "util max", "spread", "wall s"])
                                + "\n" + format_table(summary, ["workload", "rr/lpt (nnz)", "rr/lpt (coords)",
                                                                 "coords/nnz (lpt)", "coords/nnz (rr)"])))
        measured = [x for x in ratios if x is not None]
        findings.append(floor("balance: round-robin cycles over LPT cycles, the smallest over workloads and tilings",
                              min(measured) if len(measured) == len(ratios) else None, 1.0))
        if measured:
            findings.append(Finding(f"  largest gain of LPT over round-robin: {max(measured):.3g}x"))
    elif any(r["case"] == "balance" for r in records):
        findings.append(floor("balance: LPT no slower than round-robin", None, 1.0))
    return findings


MODEL = Benchmark(
    name="simulator-model",
    title="Simulator fidelity (loop orders, sparse/dense crossover) and load balance, in simulated cycles and joules",
    cases=lambda quick: list(SWEEPS),
    backends={"zeroskip": sweep_backend},
    columns=("configs", "errors", "sim tokens", "Mtok/s"),
    repeats=1,
    warmup=0,
    quick_repeats=1,
    summarize=model_summary,
    single_shot=True,  # one process runs a sweep once: its numbers are simulated, not timed
)

PARTS = {"speed": SPEED, "model": MODEL}


def main(argv: list[str] | None = None) -> int:
    """Run the parts in turn (a worker runs the one its case belongs to); ``--cases``/``--backends`` filter parts."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--worker" in argv:
        case = argv[argv.index("--case") + 1]
        return runner_main(MODEL if case in SWEEPS else SPEED, __file__, argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--part", default="speed,model", help="comma-separated: speed, model")
    pre.add_argument("--cases")
    pre.add_argument("--backends")
    known, rest = pre.parse_known_args(argv)
    if "-h" in rest or "--help" in rest:
        print(__doc__ + "\nOptions: --part speed,model (default both), and the runner's, for each part:\n")
        return runner_main(SPEED, __file__, ["--help"])
    unknown = sorted(set(known.part.split(",")) - set(PARTS))
    if unknown:
        raise SystemExit(f"unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}")
    status = 0
    for part in known.part.split(","):
        bench = PARTS[part]
        args = list(rest)
        for flag, known_values in (("cases", [*bench.cases(False), *bench.cases(True)]), ("backends", list(bench.backends))):
            given = getattr(known, flag)
            if given:
                mine = [v for v in given.split(",") if v in known_values]
                if not mine:
                    break
                args += [f"--{flag}", ",".join(mine)]
        else:
            print(f"\n----- part {part}: {bench.title} -----", flush=True)
            status |= runner_main(bench, __file__, args)
    return status


if __name__ == "__main__":
    sys.exit(main())
