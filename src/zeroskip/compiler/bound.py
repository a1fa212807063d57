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

from zeroskip.compiler.backend import get_backend
from zeroskip.compiler.program import _operand, _run_facts
from zeroskip.compiler.schedule import ScheduleError
from zeroskip.formats.tensor import SparseTensor


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
        self._fixed: dict[str, SparseTensor] = {}
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
        if args:
            if len(args) > len(self.free):
                raise ScheduleError(f"{len(args)} operands given positionally but only {len(self.free)} are free "
                                    f"({', '.join(self.free)})")
            operands = {**dict(zip(self.free, args)), **operands}
        if len(operands) != len(self.free) or any(n not in operands for n in self.free):
            self._complain(operands)
        tensors = dict(self._fixed)
        dtypes = []
        for name in self.free:
            t = tensors[name] = self._checked(name, operands[name])
            dtypes.append(t.vals.dtype)
        dtype = self._dtypes.get(key := tuple(dtypes))  # the fixed operands' dtypes are fixed
        if dtype is None:
            dtype = self._dtypes[key] = self.program._dtype({n: tensors[n] for n in self.program.assignment.inputs})
        for alias, orig in self._aliases:
            tensors[alias] = tensors[orig]
        return self._run(tensors, dtype)

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
