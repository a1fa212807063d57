"""Benchmarks: data sets, workloads, runner, results and reports (top layer)."""
