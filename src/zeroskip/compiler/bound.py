"""``Program.bind``: some operands fixed once (a layer's weights, a graph), a callable of the others.

The inspector/executor split of sparse libraries (MKL's ``mkl_sparse_optimize``, cuSPARSE's
descriptors): what depends only on the fixed operands (their conversion to the kernel's formats,
their kernel arguments, the chunk bounds of a matrix that drives the loops) is done at ``bind``,
so each call pays only for the operands it brings. The fixed operands are taken as they are at
``bind``: a later change to an array they were made from is not seen. Operands given to
``compile`` are not fixed unless given to ``bind`` too.

Example:
    >>> import numpy as np, zeroskip as zs
    >>> p = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="dense")
    >>> mv = p.bind(A=np.array([[1.0, 2], [0, 3]]))
    >>> mv(x=np.array([1.0, 1.0])).to_numpy().tolist(), mv.free
    ([3.0, 3.0], ('x',))
"""

from __future__ import annotations

import numpy as np

from zeroskip.compiler.backend import get_backend
from zeroskip.compiler.program import _operand, _run_facts
from zeroskip.compiler.schedule import ScheduleError
from zeroskip.formats.convert import dense_view
from zeroskip.formats.tensor import SparseTensor


ARRAY_SHAPES = 64  # array shapes remembered per bound program for the shortest path


class Bound:
    """``program.run`` with the operands in ``fixed`` fixed; called with the others (``free``), by name or in order."""

    def __init__(self, program, fixed: dict, threads: int | None, backend: str) -> None:
        inputs = program.assignment.inputs
        unknown = sorted(set(fixed) - set(inputs))
        if unknown:
            raise ScheduleError(f"{', '.join(unknown)} are not inputs of {program.assignment} "
                                f"(inputs: {', '.join(inputs)})")
        self.program = program
        self.free = tuple(n for n in inputs if n not in fixed)
        self._orders = _run_facts(program.assignment).orders
        self._formats = program.schedule.format_of
        # Free operands whose format is plain dense (the array's own layout): a numpy array is taken as a view.
        self._views = {n: self._formats[n] for n in self.free if self._formats[n].is_plain_dense}
        self._fixed: dict[str, SparseTensor] = {}
        self._arrays: dict[tuple, tuple] = {}  # the one free operand's array shape -> (dtype, strides, the backend's array call)
        for name, value in fixed.items():
            self._fixed[name] = self._checked(name, value)
        self._aliases = program.aliases
        self._dtypes: dict[tuple, object] = {}  # the free operands' dtypes -> the output's
        for alias, orig in self._aliases:
            if orig in self._fixed:
                self._fixed[alias] = self._fixed[orig]
        self._run = get_backend("cpu").bind(program, self._fixed, threads=threads, backend=backend)

    def __call__(self, *args, **operands) -> SparseTensor:
        """The program's output for these operands of ``free`` (SparseTensors or anything ``as_tensor`` takes)."""
        if self._arrays:  # one free operand, given as a numpy array like one seen before: the shortest path
            a = args[0] if len(args) == 1 and not operands else operands.get(self.free[0]) if len(operands) == 1 else None
            if type(a) is np.ndarray:
                hit = self._arrays.get(a.shape)  # (its dtype, its strides, the call): identity and strides, not
                if hit is not None and hit[0] is a.dtype and hit[1] == a.strides:  # hashes, cost least when cold
                    return hit[2](a)
        if args:
            if len(args) > len(self.free):
                raise ScheduleError(f"{len(args)} operands given positionally but only {len(self.free)} are free "
                                    f"({', '.join(self.free)})")
            operands = {**dict(zip(self.free, args)), **operands}
        if len(operands) != len(self.free) or any(n not in operands for n in self.free):
            self._complain(operands)
        tensors = dict(self._fixed)
        dtypes = []
        viewed = 0  # free operands taken as views of their arrays
        for name in self.free:
            value = operands[name]
            t = None
            if name in self._views and type(value) is np.ndarray and value.ndim == self._orders[name]:
                t = dense_view(value, self._views[name])  # one call's operand: no copy
                viewed += t is not None
            t = tensors[name] = self._checked(name, value) if t is None else t
            dtypes.append(t.vals.dtype)
        dtype = self._dtypes.get(key := tuple(dtypes))  # the fixed operands' dtypes are fixed
        if dtype is None:
            dtype = self._dtypes[key] = self.program._dtype({n: tensors[n] for n in self.program.assignment.inputs})
        for alias, orig in self._aliases:
            tensors[alias] = tensors[orig]
        out = self._run(tensors, dtype)
        if viewed and len(self.free) == 1 and not self._aliases and len(self._arrays) < ARRAY_SHAPES:
            lookup = getattr(self._run, "array_call", None)
            go = lookup(tensors, dtype) if lookup is not None else None
            if go is not None:
                value = operands[self.free[0]]  # a view was taken of it: C-contiguous, native, a kernel dtype
                self._arrays[value.shape] = (value.dtype, value.strides, go)
        return out

    def _checked(self, name: str, value) -> SparseTensor:
        # A numpy array goes straight to the kernel's format: no conversion per call.
        return _operand(self.program.assignment, self._orders, name, value, self._formats[name])

    def _complain(self, operands: dict) -> None:
        fixed = sorted(n for n in operands if n in self._fixed)
        if fixed:
            raise ScheduleError(f"{', '.join(fixed)} fixed by bind; call with the free operands "
                                f"({', '.join(self.free)}) only")
        extra = sorted(n for n in operands if n not in self.free)
        if extra:
            raise ScheduleError(f"{', '.join(extra)} are not inputs of {self.program.assignment}")
        missing = [n for n in self.free if n not in operands]
        raise ScheduleError(f"no tensor given for {', '.join(missing)} (free operands: {', '.join(self.free)})")

    def __repr__(self) -> str:
        return f"Bound({self.program.assignment}; fixed {', '.join(sorted(self._fixed))}; free {', '.join(self.free)})"
