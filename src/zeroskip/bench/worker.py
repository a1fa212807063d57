"""One backend's process of the suite: prepare each workload, time or simulate it, send one result line each.

The parent (``zeroskip.bench.suite``) starts ``python -m zeroskip.bench.worker`` with the thread
variables set in its environment and writes a JSON job to its stdin; the worker answers on stdout
with lines ``ZSINFO {json}`` (a workload's description, when asked) and ``ZSRESULT {json}`` (a
``store.Result``), one per workload, as each finishes. Anything libraries print goes to stderr, so
the protocol stays clean.

Measured backends (``cpu-dense``, ``scipy``, ``graphblas``, ``zeroskip-cpu``, ``gpu-cuda``): one
untimed call whose answer is checked against the gold, then ``repeats`` timed calls (median) with
RAPL read around them (else package power x time, labelled an estimate). Modelled backends:
``accel-sparse`` and ``accel-dense`` simulate every layer of the workload on the architecture (one
after another: cycles, seconds and joules add up); a single-layer sparse simulation's output is
checked against the gold too. ``gpu-model`` is the roofline of a named GPU (``hardware.gpu``).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

from zeroskip.bench.store import Result, jsonable
from zeroskip.bench.workloads import Problem, Unavailable, Workload, prepare

MEASURED = ("cpu-dense", "scipy", "graphblas", "torch-sparse", "zeroskip-cpu", "gpu-cuda")
MODELLED = ("accel-sparse", "accel-dense", "gpu-model")
BACKENDS = MEASURED + MODELLED


def _measured(problem: Problem, backend: str, job: dict) -> dict:
    from zeroskip.bench.timing import measure, set_threads
    from zeroskip.hardware.baseline import cpu_energy_baseline, measure_rapl

    threads = job["threads"]
    if backend == "gpu-cuda":
        import torch

        if not torch.cuda.is_available() or problem.torch_dense is None:
            raise Unavailable("no CUDA device here" if not torch.cuda.is_available()
                              else "no torch version of this workload")
        fn = problem.torch_dense("cuda")
    elif backend not in problem.backends:
        raise Unavailable(f"no {backend} version of this workload")
    else:
        fn = problem.backends[backend](threads)
    set_threads(threads)
    first = fn()  # compiles or loads kernels, warms caches; its answer is checked
    problem.check(first)
    with measure_rapl() as reading:
        timing = measure(fn, job["repeats"], job["warmup"]).timing
    joules = None if reading.joules is None else reading.joules / (job["repeats"] + job["warmup"])
    energy = cpu_energy_baseline(timing.median_s, measured_joules=joules)
    out = {"seconds": timing.median_s, "energy_j": energy["joules"], "energy_method": energy["method"],
           "metrics": {"samples": list(timing.times), "iqr_s": timing.iqr_s, "threads": threads,
                       "energy_label": energy["label"]}}
    if problem.accuracy is not None:
        out["accuracy"] = problem.accuracy(first)
    return out


def _utilization(sim, arch) -> dict:
    mapping = sim.mapping
    if mapping is None:
        return {}
    if mapping.dense is not None:  # one dense configuration over the array: busy while it computes
        d = mapping.dense
        return {"pe_used": d.pe_tiles_used, "pe_total": arch.pe_tiles, "mem_used": 0, "mem_total": arch.mem_tiles,
                "copies": 1, "copy_busy": [d.compute_cycles / d.cycles if d.cycles else 0.0]}
    else:
        sites = mapping.placement.sites if mapping.placement is not None else ()
        pe = sum(s.kind == "pe" for s in sites)
        mem = sum(s.kind == "mem" for s in sites)
    busy = [0] * max(mapping.copies, 1)
    for slot in sim.timeline:
        busy[slot["copy"]] += slot["compute_cycles"]
    return {"pe_used": pe, "pe_total": arch.pe_tiles, "mem_used": mem, "mem_total": arch.mem_tiles,
            "copies": mapping.copies, "copy_busy": [b / sim.cycles if sim.cycles else 0.0 for b in busy]}


def _accelerator(problem: Problem, backend: str, job: dict) -> dict:
    mode = backend.removeprefix("accel-")
    if mode == "sparse" and problem.flops > job["sim_budget"]:
        raise Unavailable(f"{problem.flops:.3g} useful flops exceed the sparse simulation budget of "
                          f"{job['sim_budget']:.3g} (--sim-budget)")
    layers = problem.layers()
    cycles, seconds, energy, rows, util, checked = 0, 0.0, {}, [], {}, "not checked (several layers)"
    for layer in layers:
        sim = layer.program.simulate(arch=job["arch"], energy=job["energy"], mode=mode)
        cycles += sim.cycles
        seconds += sim.seconds
        for key, value in sim.energy.items():
            energy[key] = energy.get(key, 0.0) + float(value)
        rows.append({"name": layer.name, "op": layer.op, "cycles": int(sim.cycles), "seconds": float(sim.seconds),
                     "energy_j": float(sim.energy["total"]), "weight_sparsity": layer.weight_sparsity,
                     "input_sparsity": layer.input_sparsity})
        if not util or sim.cycles > util.get("_cycles", 0):
            util = _utilization(sim, sim.arch) | {"_cycles": sim.cycles, "layer": layer.name}
        if len(layers) == 1 and mode == "sparse":
            problem.check(sim.output)
            checked = "output equals the gold"
        arch_name, table = sim.arch.name, sim.energy_table
    util.pop("_cycles", None)
    total = energy.pop("total")
    metrics = {"cycles": cycles, "energy_breakdown": energy, "utilization": util, "layers": rows,
               "arch": arch_name, "energy_table": table, "output_check": checked if mode == "sparse" else "no output"}
    out = {"seconds": seconds, "energy_j": total, "energy_method": f"model: {table}", "metrics": metrics}
    if "modelled_accuracy" in problem.info:  # the accelerator computes what the pruned model computes
        out["accuracy"] = problem.info["modelled_accuracy"]
    return out


def _gpu_model(problem: Problem, job: dict) -> dict:
    from zeroskip.hardware.gpu import load_gpu

    gpu = load_gpu(job["gpu"])
    r = gpu.roofline(flops=problem.flops, bytes=problem.bytes, dtype=problem.dtype, kernels=problem.kernels)
    return {"seconds": r["seconds"], "energy_j": r["joules"], "energy_method": "model: board power x roofline time",
            "metrics": {"device": r["device"], "bound": r["bound"], "kernels": r["kernels"], "gpu": gpu.name}}


def run_one(workload: Workload, backend: str, config: dict, job: dict, cache: dict) -> Result:
    """The result row of ``backend`` on ``workload`` (failed or skipped rows carry the reason)."""
    kind = "modelled" if backend in MODELLED else "measured"
    base = {"workload": workload.name, "family": workload.family, "backend": backend, "config": config, "kind": kind}
    try:
        if workload.name not in cache:
            cache.clear()  # one problem at a time keeps memory bounded
            cache[workload.name] = prepare(workload, job.get("data"))
        problem = cache[workload.name]
        if backend in MEASURED:
            values = _measured(problem, backend, job)
        elif backend == "gpu-model":
            values = _gpu_model(problem, job)
        else:
            values = _accelerator(problem, backend, job)
    except Unavailable as exc:
        return Result(**base, status="skipped", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a failing point is recorded, the suite goes on
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return Result(**base, status="failed", error=detail[-2000:])
    seconds = values["seconds"]
    metrics = values.pop("metrics") | {"items": problem.items, "item_unit": problem.item_unit}
    if problem.item_unit == "runs":
        throughput, unit = problem.flops / seconds if seconds else None, "FLOP/s"
    else:
        throughput, unit = problem.items / seconds if seconds else None, f"{problem.item_unit}/s"
    if "sparsity" in problem.info:
        metrics["sparsity"] = problem.info["sparsity"]
    return Result(**base, **values, throughput=throughput, throughput_unit=unit, flops=problem.flops,
                  bytes=problem.bytes, metrics=metrics)


def main() -> int:
    """Read the job from stdin, answer on the original stdout (libraries' prints go to stderr)."""
    job = json.loads(sys.stdin.read())
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    cache: dict = {}
    for item in job["items"]:
        workload = Workload(**item["workload"])
        started = time.perf_counter()
        result = run_one(workload, job["backend"], item["config"], job, cache)
        if item.get("want_info") and workload.name in cache:
            p = cache[workload.name]
            info = p.info | {"flops": p.flops, "bytes": p.bytes, "items": p.items}
            protocol.write("ZSINFO " + json.dumps(jsonable({"workload": item["workload"], "info": info})) + "\n")
        row = result.to_dict()
        row["metrics"]["wall_s"] = time.perf_counter() - started
        protocol.write("ZSRESULT " + json.dumps(jsonable(row)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
