"""A disk memo of the loop orders ``compile`` chose, so that a new process skips the search.

Choosing a loop order builds and costs a loop nest per candidate order (24 for four indices):
7-10 ms of a fresh process's 40-50 ms to compile a program and load its cached kernel. The
choice depends only on the expression, the operands' formats and shapes, the output format
and the scheduler's code, so it is kept in ``<cache>/schedules/<key>.json``: the order, the
ranking of all candidates and how it was chosen, everything ``explain`` shows. The key hashes
those inputs with the source of every module that takes part in the choice, so an edited
scheduler never reads an old choice. Operands given as tensors (their statistics steer the
cost model) and user-fixed loop orders are not memoized. A file that cannot be read or written
is ignored: the search runs as without the memo.

Example:
    >>> from zeroskip.compiler.schedule import OperandInfo
    >>> from zeroskip.formats.format import as_format
    >>> from zeroskip.lang import parse
    >>> infos = {"A": OperandInfo(as_format("csr")), "x": OperandInfo(as_format("d"))}
    >>> len(memo_key(parse("y(i) = A(i,j) * x(j)"), infos, None)), memo_key(parse("y(i) = A(i,j) * x(j)"), {}, None)
    (32, None)
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import tempfile
from pathlib import Path

from zeroskip.config import cache_dir

# Modules whose code decides the chosen order: their source is part of the key.
_DECIDERS = ("zeroskip.compiler.schedule", "zeroskip.compiler.lattice", "zeroskip.compiler.loopnest",
             "zeroskip.compiler.lower", "zeroskip.compiler.lower_values", "zeroskip.compiler.program")
_fingerprint: str | None = None


def _code_fingerprint() -> str:
    global _fingerprint
    if _fingerprint is None:
        digest = hashlib.sha256(sys.version.encode())
        for name in _DECIDERS:
            path = getattr(importlib.import_module(name), "__file__", None)
            digest.update(Path(path).read_bytes() if path else name.encode())
        _fingerprint = digest.hexdigest()
    return _fingerprint


def memo_key(assign, infos: dict, out) -> str | None:
    """The key of a search for ``assign`` with these ``OperandInfo``s and output format; None when an
    operand carries statistics (a tensor given) or no operand is described."""
    if not infos or any(info.nnz is not None or info.mean_lengths is not None for info in infos.values()):
        return None
    described = sorted((name, info.format.spec, info.shape) for name, info in infos.items())
    text = "\n".join([_code_fingerprint(), str(assign), repr(described), repr(getattr(out, "spec", out))])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def recall(key: str) -> tuple[tuple[str, ...], tuple, str] | None:
    """The memoized (loop order, ranking, chosen by) of ``key``, or None."""
    try:
        data = json.loads((cache_dir() / "schedules" / f"{key}.json").read_text())
        ranking = tuple((tuple(order), float(cost)) for order, cost in data["ranking"])
        return tuple(data["loop_order"]), ranking, str(data["chosen_by"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(key: str, schedule) -> None:
    """Keep ``schedule``'s choice under ``key`` (atomically; silently not where the cache cannot be written)."""
    data = {"loop_order": list(schedule.loop_order), "chosen_by": schedule.chosen_by,
            "ranking": [[list(order), cost] for order, cost in schedule.ranking]}
    try:
        folder = cache_dir() / "schedules"
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            json.dump(data, out)
        os.replace(tmp, folder / f"{key}.json")
    except OSError:
        pass
