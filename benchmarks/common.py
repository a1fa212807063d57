"""Helpers shared by the benchmark scripts: zeroskip's API check, weights, library conversions, floors.

The generic machinery (subprocess per run, timing, JSON, tables) is ``zeroskip.bench.runner``;
this module holds what several *workloads* share. The scripts run as ``python benchmarks/x.py``,
so this folder is on ``sys.path`` and ``import common`` finds this file.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from zeroskip.bench.runner import Finding, Unavailable, floor, require

# What the zeroskip rows call: a missing name means the CPU backend is not there yet, and the row is skipped.
ZEROSKIP_API = ("compile", "SparseTensor", "as_tensor", "set_num_threads", "Program.run")


def zeroskip_api(*extra: str):
    """``import zeroskip`` after checking that it has the API the benchmarks call (else ``Unavailable``)."""
    import zeroskip as zs

    missing = []
    for name in (*ZEROSKIP_API, *extra):
        obj = zs
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if obj is None:
            missing.append(f"zs.{name}")
    if missing:
        raise Unavailable(f"zeroskip CPU backend not available yet: {', '.join(missing)} missing")
    return zs


def torch_quiet():
    """``import torch`` (or ``Unavailable``) with its beta warning about sparse CSR silenced."""
    torch = require("torch")
    warnings.filterwarnings("ignore", message="Sparse (CSR|CSC|BSR|BSC) tensor support is in beta state")
    return torch


def torch_csr(matrix: sp.csr_matrix, index_dtype=np.int32):
    """A scipy CSR matrix as a torch sparse CSR tensor sharing its values, indices of ``index_dtype``."""
    torch = torch_quiet()
    return torch.sparse_csr_tensor(torch.from_numpy(matrix.indptr.astype(index_dtype)),
                                   torch.from_numpy(matrix.indices.astype(index_dtype)),
                                   torch.from_numpy(matrix.data), size=matrix.shape)


def random_weights(n: int, sparsity: float, seed: int = 0, dtype=np.float32) -> sp.csr_matrix:
    """An n x n CSR matrix, each entry kept with probability 1 - sparsity (uniform), normal values.

    int32 indices, sorted and unique, no stored zeros (a normal draw is never exactly 0 in practice,
    and any that is would only make the pattern sparser for every backend alike).
    """
    rng = np.random.default_rng(seed)
    mask = rng.random((n, n), dtype=np.float32) >= sparsity
    cols = np.nonzero(mask)[1].astype(np.int32)
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(mask.sum(axis=1), out=indptr[1:])
    vals = rng.standard_normal(cols.size, dtype=np.float32).astype(dtype, copy=False)
    return sp.csr_matrix((vals, cols, indptr), shape=(n, n))


def find(records: list[dict], backend: str, case: str, threads: int) -> dict | None:
    """The successful record of ``backend`` on ``case`` at ``threads``, if any."""
    for r in records:
        if (r["backend"], r["case"], r["threads"], r["status"]) == (backend, case, threads, "ok"):
            return r
    return None


def ran(records: list[dict], backend: str) -> bool:
    """Whether ``backend`` was asked for at all (floors about it are reported only then)."""
    return any(r["backend"] == backend for r in records)


def speedup_floors(records: list[dict], backend: str, case: str, floors: dict[str, float]) -> list[Finding]:
    """Floors of the form "``backend`` is at least N x faster than A" on ``case``, per thread count."""
    if not ran(records, backend):
        return []
    findings = []
    for threads in sorted({r["threads"] for r in records}):
        mine = find(records, backend, case, threads)
        for anchor, limit in floors.items():
            other = find(records, anchor, case, threads)
            value = other["median_s"] / mine["median_s"] if mine and other else None
            findings.append(floor(f"{case} threads={threads}: {backend} speedup over {anchor}", value, limit))
    return findings
