"""Operands of the program commands: the expression's inputs, formats and shapes, tensors read from files.

Example:
    >>> a = assignment_of("y(i) = A(i,j) * x(j)")
    >>> a.inputs, default_format(2), default_format(1)
    (('A', 'x'), 'csr', 'sparse')
    >>> operand_specs(a, {"A": "csc"}, {"A": "4x5"})["A"].shape
    (4, 5)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from zeroskip.cli._common import UsageError, parse_pairs, parse_shape
from zeroskip.cli._output import progress
from zeroskip.errors import FileFormatError, FormatError

TENSOR_FILES = ".mtx, .mtx.gz, .tns, .npz (zeroskip or scipy.sparse) or .npy (a dense numpy array)"


def assignment_of(expr: str):
    """The Assignment of index notation (``"y(i) = A(i,j) * x(j)"``) or einsum (``"ij,j->i"``)."""
    from zeroskip.lang import parse, parse_einsum
    from zeroskip.lang.einsum import default_names

    if "=" not in expr:  # einsum operands are named A, B, ... in order, as zeroskip.compile names them
        return parse_einsum(expr, names=default_names(expr.split("->")[0].count(",") + 1))
    return parse(expr)


def default_format(order: int) -> str:
    """The format an input without ``--format`` gets: what ``load`` gives a file (CSR, CSF, compressed vector)."""
    return {0: "dense", 1: "sparse", 2: "csr"}.get(order, "csf")


def check_names(assign, names, option: str) -> None:
    """Every name given to ``option`` must be an input of ``assign``."""
    unknown = [n for n in names if n not in assign.inputs]
    if unknown:
        verb = "is not an input" if len(unknown) == 1 else "are not inputs"
        raise UsageError(f"{option} {', '.join(unknown)} {verb} of {assign} (inputs: {', '.join(assign.inputs)})")


def checked_format(name: str, spec: str, order: int):
    """``spec`` as a Format for input ``name`` of ``order``; a bad one names the option and the input."""
    from zeroskip.formats.format import as_format

    try:
        return as_format(spec, ndim=order)
    except FormatError as exc:
        raise FormatError(f"--format {name}={spec}: {exc}") from None


def operand_specs(assign, formats: Mapping[str, str], shapes: Mapping[str, str]) -> dict[str, object]:
    """What ``zeroskip.compile`` gets for each input when no tensor is given: a format, or an OperandInfo
    (format and shape) where ``--shape`` tells the size."""
    from zeroskip.compiler import OperandInfo

    check_names(assign, formats, "--format")
    check_names(assign, shapes, "--shape")
    specs: dict[str, object] = {}
    for name in assign.inputs:
        order = assign.tensors[name]
        fmt = checked_format(name, formats.get(name, default_format(order)), order)
        if name not in shapes:
            specs[name] = fmt
            continue
        shape = parse_shape(shapes[name], f"--shape {name}")
        if len(shape) != order:
            raise UsageError(f"--shape {name}={shapes[name]} has {len(shape)} sizes but {name} has {order} "
                             f"indices in {assign}")
        specs[name] = OperandInfo(fmt, shape=shape)
    return specs


def load_operand(name: str, path: str, fmt=None, shape: tuple[int, ...] | None = None):
    """The tensor in ``path``: a numpy array from ``.npy`` (never unpickled), else a SparseTensor from
    ``zeroskip.formats.io.load``; stored in ``fmt`` when given (``shape`` is for ``.tns`` files)."""
    from zeroskip.formats.convert import as_tensor
    from zeroskip.formats.io import load

    if not os.path.isfile(path):
        raise UsageError(f"{name}={path}: no such file")
    if path.lower().endswith(".npy"):
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise FileFormatError(f"{name}={path}: not a numpy .npy array file: {exc}") from None
        return array if fmt is None else as_tensor(array, format=fmt)
    tns = path.lower().endswith((".tns", ".tns.gz", ".tns.bz2"))
    tensor = load(path, **({"shape": shape} if tns and shape else {}))
    return tensor if fmt is None else tensor.asformat(fmt)


def load_operands(assign, items: list[str], formats: Mapping[str, str], shapes: Mapping[str, str],
                  show_progress: bool = True) -> dict[str, object]:
    """Every input of ``assign`` read from the ``NAME=FILE`` items (``--format`` re-stores one)."""
    files = parse_pairs(items, "operand")
    check_names(assign, files, "operand")
    check_names(assign, formats, "--format")
    missing = [n for n in assign.inputs if n not in files]
    if missing:
        raise UsageError(f"no file given for {', '.join(missing)}: add {missing[0]}=FILE ({TENSOR_FILES})")
    tensors = {}
    for name in progress(assign.inputs, "reading", enabled=show_progress):
        order = assign.tensors[name]
        fmt = checked_format(name, formats[name], order) if name in formats else None
        shape = parse_shape(shapes[name], f"--shape {name}") if name in shapes else None
        tensors[name] = load_operand(name, files[name], fmt, shape)
    return tensors


def dense(value) -> np.ndarray:
    """An operand or result as a numpy array (for the gold check)."""
    return value if isinstance(value, np.ndarray) else value.to_numpy()


def check_against_gold(assign, operands: Mapping[str, object], result: np.ndarray) -> dict:
    """Compare ``result`` with ``evaluate_dense`` on the operands made dense: ``{"ok", "max_abs_error"}``."""
    from zeroskip.lang import evaluate_dense

    gold = evaluate_dense(assign, {n: dense(operands[n]) for n in assign.inputs})
    if gold.shape != result.shape:
        return {"ok": False, "max_abs_error": None, "reason": f"shape {result.shape} but the gold has {gold.shape}"}
    error = float(np.max(np.abs(result - gold))) if gold.size else 0.0
    scale = float(np.max(np.abs(gold))) if gold.size else 0.0
    # Summation order differs from the gold's, so allow rounding relative to the result's magnitude.
    ok = bool(np.allclose(result, gold, rtol=1e-6, atol=1e-9 * max(scale, 1.0)))
    return {"ok": ok, "max_abs_error": error}


def write_result(path: str, tensor) -> None:
    """Write a result: ``.npy`` as a dense numpy array, anything else by ``zeroskip.formats.io.save``."""
    from zeroskip.formats.io import save

    if path.lower().endswith(".npy"):
        np.save(path, tensor.to_numpy(), allow_pickle=False)
        return
    save(path, tensor)
