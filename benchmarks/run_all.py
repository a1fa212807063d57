"""Run every benchmark of this folder in turn (each script in its own process), forwarding the common options.

    .venv/bin/python benchmarks/run_all.py --quick           # smoke test: small cases, few repeats
    .venv/bin/python benchmarks/run_all.py                   # the full runs (tens of minutes)
    .venv/bin/python benchmarks/run_all.py --only dnn,spmv --threads 1,2

Exit status 1 when any benchmark had a wrong answer or crashed (or, with --strict, missed a floor).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("compile", "dnn", "linear", "spmv", "kernels", "simulator", "models", "sweep")  # cheap and telling first


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    p.add_argument("--quick", action="store_true", help="small cases and few repeats")
    p.add_argument("--threads", help="thread counts, comma-separated (default: cores)")
    p.add_argument("--repeats", type=int, help="timed calls per run (default: each benchmark's own)")
    p.add_argument("--data", help="data folder")
    p.add_argument("--results", help="folder for the JSON results (default: benchmarks/results)")
    p.add_argument("--strict", action="store_true", help="fail also when a floor is not met")
    p.add_argument("--retry-noisy", type=int, help="reruns of a run disturbed by other processes (default 2)")
    args = p.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(unknown)}")
    forwarded = ["--quick"] * args.quick + ["--strict"] * args.strict
    for flag in ("threads", "repeats", "data", "results", "retry_noisy"):
        if getattr(args, flag) is not None:
            forwarded += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    statuses = {}
    for name in chosen:
        print(f"\n===== {name} =====", flush=True)
        statuses[name] = subprocess.run([sys.executable, str(HERE / f"bench_{name}.py"), *forwarded]).returncode
    print("\n" + "\n".join(f"{name}: {'ok' if rc == 0 else f'exit {rc}'}" for name, rc in statuses.items()))
    return 0 if all(rc == 0 for rc in statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
