"""``compile``: index notation to a Program (assignment, schedule, loop nest, SAM graph), and its interpreter.

The stages are pure functions, one line each in ``compile``, each followed by its check:
parse -> schedule -> loop nest -> dataflow graph. A Program is immutable; ``interpret`` converts
the operands to the formats the schedule chose, runs the dataflow reference interpreter on the
graph and returns the output canonical (no stored zeros) in the format the schedule gives it.

Example:
    >>> import numpy as np, zeroskip as zs
    >>> A = np.array([[1.0, 0, 2], [0, 0, 0], [0, 3, 0]])
    >>> p = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="sparse")
    >>> print(p.loopnest)
    forall i [A:0 | ]
      where
        y(i) = w0
      producer
        forall j [A:1 x:0 | ]
          w0 += A(i,j) * x(j)
    >>> p.interpret(A=A, x=np.array([1.0, 1.0, 0.0])).to_numpy().tolist()
    [1.0, 0.0, 3.0]
    >>> zs.compile("ik,kj->ij", A, A).interpret().to_numpy().tolist()
    [[1.0, 6.0, 2.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from zeroskip.compiler.backend import get_backend, get_simulator
from zeroskip.compiler.epilogue import Epilogue
from zeroskip.compiler.loopnest import LoopNest, build_loopnest, verify_loopnest
from zeroskip.compiler.memo import memo_key, recall, remember
from zeroskip.compiler.lower import LoweringError, constants, lower_to_graph
from zeroskip.compiler.schedule import OperandInfo, Schedule, ScheduleError, make_schedule
from zeroskip.dataflow.dot import write_dot
from zeroskip.dataflow.graph import Graph, Op
from zeroskip.dataflow.interpret import interpret as run_graph
from zeroskip.dataflow.ports import verify_graph
from zeroskip.errors import ShapeError
from zeroskip.formats.convert import as_tensor, dense_view, from_coo, from_numpy
from zeroskip.formats.format import Format, as_format
from zeroskip.formats.tensor import SparseTensor
from zeroskip.lang.ast import Access, Add, Assignment, Mul, Neg, Sub, accesses
from zeroskip.lang.einsum import default_names, parse_einsum
from zeroskip.lang.gold import evaluate_dense
from zeroskip.lang.parser import parse


@dataclass(frozen=True, slots=True)
class Program:
    """A compiled assignment: every stage's IR, the literals' values and any operands given at compile time."""

    assignment: Assignment
    schedule: Schedule
    loopnest: LoopNest
    graph: Graph
    constants: tuple[tuple[str, float], ...] = ()
    operands: tuple[tuple[str, SparseTensor], ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()  # a further use of a tensor read twice -> the tensor
    epilogue: Epilogue = Epilogue()

    @property
    def output_format(self) -> Format:
        """The format ``interpret`` returns: the schedule's, after its conversion of the output if any."""
        out = self.assignment.output
        final = [c.target for c in self.schedule.conversions if c.tensor == out]
        return final[-1] if final else self.schedule.format_of[out]

    def explain(self) -> str:
        """The schedule's reasons (loop order, formats, conversions) and what the lowering adds."""
        lines = [self.schedule.explain()]
        lines += [f"  {orig} is read more than once: the graph reads this use as {alias} ({self.schedule.assignment})"
                  for alias, orig in self.aliases]
        out = self.assignment.output
        written = self.graph.tensor(out).format
        if written != self.schedule.format_of[out]:
            why = ("the sparse accumulator writes it from compressed scans" if self.graph.nodes_of(Op.SPACC) else
                   "a dense level's loop skips coordinates, so that level is written compressed")
            lines.append(f"  the graph writes {out} as {written.spec} ({why}); "
                         f"converted to {self.output_format.spec} after the graph")
        if self.constants:
            lines.append("  literals are scalar inputs: " + ", ".join(f"{n}={v:g}" for n, v in self.constants))
        if not self.epilogue.empty:
            lines.append(f"  epilogue fused into the output writes: {self.epilogue}")
        lines.append("  " + get_backend("cpu").explain(self))
        return "\n".join(lines)

    def dot(self) -> str:
        """The graph in SAM's DOT convention."""
        return write_dot(self.graph)

    def interpret(self, *args, **operands) -> SparseTensor:
        """Run the graph on the operands (positional in input order, or by name; those given to
        ``compile`` are the defaults) and return the output as a canonical SparseTensor."""
        given = self._given(args, operands)
        tensors = {n: _canonical(t, self.graph.tensor(n).format, t.dtype) for n, t in given.items()}
        dtype = self._dtype(tensors)
        for alias, orig in self.aliases:
            tensors[alias] = _canonical(tensors[orig], self.graph.tensor(alias).format, tensors[orig].dtype)
        out = run_graph(self.graph, {**tensors, **dict(self.constants)})[self.assignment.output]
        if not self.epilogue.empty:
            out = _apply_epilogue(out, self)  # on every entry the graph wrote, before zeros are dropped
        return _canonical(out, self.output_format, dtype)

    def run(self, *args, threads: int | None = None, backend: str = "auto", **operands) -> SparseTensor:
        """Run on the CPU: the generated sparse kernel or dense numpy, as the cost model (or ``backend``:
        ``"sparse"``, ``"dense"``) says, on ``threads`` threads (default ``zeroskip.config.get_num_threads()``).

        >>> import numpy as np, zeroskip as zs
        >>> p = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="dense", epilogue=zs.Epilogue(bias=-1.0, relu=True))
        >>> p.run(A=np.array([[1.0, 2], [0, 0.5]]), x=np.array([1.0, 1.0])).to_numpy().tolist()
        [2.0, 0.0]
        """
        given = self._given(args, operands, in_schedule_formats=True)
        dtype = self._dtype(given)
        for alias, orig in self.aliases:
            given[alias] = given[orig]
        return get_backend("cpu").run(self, given, dtype, threads=threads, backend=backend)

    def bind(self, *, threads: int | None = None, backend: str = "auto", **operands):
        """Fix ``operands`` (by name) and return a ``Bound``: ``run`` of the other operands, with the work
        that depends only on the fixed ones done here once (``zeroskip.compiler.bound``).

        >>> import numpy as np, zeroskip as zs
        >>> layer = zs.compile("y(i) = W(i,j) * x(j)", W="csr", x="dense").bind(W=np.array([[0.0, 2], [1, 0]]))
        >>> layer(x=np.array([1.0, 3.0])).to_numpy().tolist()
        [6.0, 1.0]
        """
        from zeroskip.compiler.bound import Bound  # bound builds on this module

        return Bound(self, operands, threads, backend)

    def simulate(self, *args, arch=None, energy=None, mode: str = "sparse", **options_and_operands):
        """Map and simulate the graph on the modelled accelerator (``zeroskip.hardware.simulate``).

        Operands as for ``run``; ``arch``/``energy`` are specs (values, TOML paths or text; default
        the Onyx model), ``mode`` is "sparse", "dense" or "sam"; ``copies``, ``tiling`` and
        ``balance`` steer the firmware. Returns a ``SimResult`` (cycles, joules, breakdowns); the
        epilogue is not simulated.

        >>> import numpy as np, zeroskip as zs
        >>> r = zs.compile("y(i) = A(i,j) * x(j)", A=np.eye(3), x=np.ones(3)).simulate(mode="sam")
        >>> r.output.to_numpy().tolist(), r.cycles > 0
        ([1.0, 1.0, 1.0], True)
        """
        options = {k: options_and_operands.pop(k) for k in ("copies", "tiling", "balance") if k in options_and_operands}
        given = self._given(args, options_and_operands)
        tensors = {n: _canonical(t, self.graph.tensor(n).format, t.dtype) for n, t in given.items()}
        for alias, orig in self.aliases:
            tensors[alias] = _canonical(tensors[orig], self.graph.tensor(alias).format, tensors[orig].dtype)
        return get_simulator()(self.graph, {**tensors, **dict(self.constants)}, arch, energy, mode=mode, **options)

    def source(self) -> str:
        """The CPU kernel's generated source (numba), as compiled and cached."""
        return get_backend("cpu").source(self)

    def bound_tensors(self) -> dict[str, SparseTensor]:
        """The operands given to ``compile``, by input name (aliases included)."""
        tensors = dict(self.operands)
        for alias, orig in self.aliases:
            if orig in tensors:
                tensors[alias] = tensors[orig]
        return tensors

    def _given(self, args, operands, in_schedule_formats: bool = False) -> dict[str, SparseTensor]:
        """The operands by input name as SparseTensors, checked; numpy arrays made in the schedule's formats
        when ``in_schedule_formats`` (``run``: no conversion to a default format and then to the kernel's),
        views of them where that format is their own dense layout (the tensors live for the one call)."""
        inputs = self.assignment.inputs
        # Only read below: with nothing positional or bound, the keywords themselves serve.
        given = operands if not args and not self.operands else {**dict(self.operands), **_named(inputs, args), **operands}
        missing = [n for n in inputs if n not in given]
        if missing:
            raise ScheduleError(f"no tensor given for {', '.join(missing)} (inputs: {', '.join(inputs)})")
        if len(given) > len(inputs):  # every input is there: any other name is extra
            extra = sorted(set(given) - set(inputs))
            raise ScheduleError(f"{', '.join(extra)} are not inputs of {self.assignment}")
        orders = _run_facts(self.assignment).orders
        formats = self.schedule.format_of if in_schedule_formats else {}
        return {name: _operand(self.assignment, orders, name, given[name], formats.get(name), in_schedule_formats)
                for name in inputs}

    def _dtype(self, tensors: dict[str, SparseTensor]) -> np.dtype:
        """The output dtype: numpy's promotion of the operands' dtypes through the expression."""
        operands = tuple([(n, t.ndim, t.vals.dtype) for n, t in tensors.items()])
        dtypes = _run_facts(self.assignment).dtypes
        dtype = dtypes.get(operands)
        if dtype is None:
            if len(dtypes) >= 256:
                dtypes.clear()
            dtype = dtypes[operands] = _result_dtype(self.assignment, operands)
        return dtype

    def __str__(self) -> str:
        return "\n".join([str(self.assignment), self.explain(), str(self.loopnest), str(self.graph)])


def compile(expr, *args, loop_order=None, out=None, epilogue: Epilogue | None = None,  # noqa: A001 - the public name
            **operands) -> Program:
    """Compile ``expr`` for its operands (tensors of any kind ``as_tensor`` takes, formats, or ``OperandInfo``).

    ``expr`` is index notation (``"y(i) = A(i,j) * x(j)"``), an einsum string (operands named
    ``A``, ``B``, ... in order, output ``Out``) or an ``Assignment``. Operands come positionally
    (in order of first use) or by name; ``loop_order`` fixes the loops, ``out`` the output format,
    ``epilogue`` elementwise operations fused into the output writes (``zeroskip.Epilogue``). An
    ``OperandInfo(format, shape)`` tells the cost model an operand's shape without its values.

    >>> print(compile("y(i) = A(i,j) * x(j)", A="csr", x="dense", loop_order="ji").explain())  # doctest: +ELLIPSIS
    loop order j,i (user; estimated work ...)
      loop order j,i visits A(i,j) against its storage order i,j (ds): convert to ds[1,0]
      formats: A=csc, x=dense, y=sparse
      cpu: sparse kernel (no operands given at compile time; run(backend='auto') decides per call)
    >>> A = OperandInfo(as_format("csr"), shape=(5, 100_000))
    >>> dict(compile("y(i) = A(i,j) * x(j)", A=A, x="dense").schedule.dims)
    {'i': 5, 'j': 100000}
    """
    written = _assignment(expr, len(args))
    given = {**_named(written.inputs, args), **operands}
    unknown = sorted(set(given) - set(written.inputs))
    if unknown:
        raise ScheduleError(f"{', '.join(unknown)} are not inputs of {written} (inputs: {', '.join(written.inputs)})")
    tensors = {n: _tensor(v) for n, v in given.items() if not isinstance(v, (str, Format, OperandInfo))}
    infos = {n: OperandInfo.of(tensors.get(n, v), written.tensors.get(n)) for n, v in given.items()}
    assign, aliases = _one_name_per_use(written)  # a SAM joiner names each operand once
    infos.update({alias: infos[orig] for alias, orig in aliases if orig in infos})
    key = memo_key(assign, infos, out) if loop_order is None else None
    known = recall(key) if key is not None else None
    if known is not None:  # the search ran before for this expression and these formats: its choice
        order, ranking, chosen_by = known
        schedule = replace(make_schedule(assign, infos, loop_order=order, output_format=out, sam=True),
                           ranking=ranking, chosen_by=chosen_by)
    else:
        schedule = make_schedule(assign, infos, loop_order=loop_order, output_format=out, sam=True)
    nest, graph = _lower(schedule)
    if graph is None and loop_order is None:
        # The cheapest order may need a construct SAM lacks: take the cheapest one that lowers.
        for order, _ in schedule.ranking[1:]:
            candidate = make_schedule(assign, infos, loop_order=order, output_format=out, sam=True)
            nest, graph = _lower(candidate)
            if graph is not None:
                schedule = replace(candidate, ranking=schedule.ranking, chosen_by="cost model, first order SAM can express")
                break
    if graph is None:
        nest, graph = _lower(schedule, raise_errors=True)
    if key is not None and known is None:
        remember(key, schedule)
    epilogue = epilogue or Epilogue()
    # Checked against the sizes the operands given here tell (run checks it again on its own operands).
    known = {i: tensors[acc.tensor].shape[m] for acc in accesses(written.rhs) if acc.tensor in tensors
             for m, i in enumerate(acc.indices)}
    epilogue.check(known, written.lhs.indices)
    return Program(written, schedule, nest, graph, tuple(constants(nest).items()), tuple(tensors.items()), aliases,
                   epilogue)


def _lower(schedule: Schedule, raise_errors: bool = False):
    """The verified LoopNest and Graph of a schedule (Graph None if SAM cannot express it)."""
    nest = build_loopnest(schedule.assignment, schedule.loop_order, schedule.format_of)
    verify_loopnest(nest)
    try:
        graph = lower_to_graph(nest, dict(schedule.dims))
    except LoweringError:
        if raise_errors:
            raise
        return nest, None
    verify_graph(graph)
    return nest, graph


def _one_name_per_use(assign: Assignment) -> tuple[Assignment, tuple[tuple[str, str], ...]]:
    """``assign`` with each further use of a tensor renamed (``A(i,k) * A(j,k)`` reads ``A`` and ``A_2``)."""
    taken, seen, aliases = set(assign.tensors), set(), []

    def rename(e):
        if isinstance(e, Access):
            if e.tensor not in seen:
                seen.add(e.tensor)
                return e
            k = 2
            while f"{e.tensor}_{k}" in taken:
                k += 1
            taken.add(f"{e.tensor}_{k}")
            aliases.append((f"{e.tensor}_{k}", e.tensor))
            return Access(f"{e.tensor}_{k}", e.indices)
        if isinstance(e, Neg):
            return Neg(rename(e.operand))
        if isinstance(e, (Add, Sub, Mul)):
            return type(e)(rename(e.left), rename(e.right))
        return e

    if len(accesses(assign.rhs)) == len(assign.inputs):
        return assign, ()
    return Assignment(assign.lhs, rename(assign.rhs)), tuple(aliases)


def _assignment(expr, positional: int) -> Assignment:
    if isinstance(expr, Assignment):
        return expr
    if isinstance(expr, str) and "=" not in expr:
        operands = expr.split("->")[0].count(",") + 1
        return parse_einsum(expr, names=default_names(operands))
    return parse(expr)


def _named(inputs: tuple[str, ...], args: tuple) -> dict:
    if len(args) > len(inputs):
        raise ScheduleError(f"{len(args)} operands given positionally but the expression has {len(inputs)} inputs "
                            f"({', '.join(inputs)})")
    return dict(zip(inputs, args))


def _operand(assign: Assignment, orders: dict[str, int], name: str, value, fmt: Format | None = None,
             view: bool = False) -> SparseTensor:
    """``value`` as the SparseTensor ``assign`` reads as ``name`` (a numpy array of the right order made in
    ``fmt`` when given; with ``view``, for one call only, a view of it where ``fmt`` is its own dense
    layout), refused with a ShapeError when its order is not the expression's."""
    if isinstance(value, SparseTensor):
        t = value
    elif fmt is not None and isinstance(value, np.ndarray) and value.ndim == orders[name]:
        t = dense_view(value, fmt) if view and fmt.is_plain_dense else None
        t = as_tensor(value, format=fmt) if t is None else t
    else:
        t = as_tensor(value)
    if t.ndim != orders[name]:
        raise ShapeError(f"{name} has shape {t.shape} but {assign} uses it with {orders[name]} indices")
    return t


def _tensor(value) -> SparseTensor:
    """An operand as a SparseTensor; a dense array more than a third nonzero stays dense."""
    if isinstance(value, SparseTensor):
        return value
    if isinstance(value, np.ndarray) and value.ndim and np.count_nonzero(value) * 3 > value.size:
        return as_tensor(value, format=as_format("dense", ndim=value.ndim))
    return as_tensor(value)


class _RunFacts:
    """What every call of ``run`` reads of an assignment, made once: each tensor's order (a walk of the
    expression) and a memo of output dtypes by the operands' (name, order, dtype)."""

    __slots__ = ("assignment", "orders", "dtypes")

    def __init__(self, assign: Assignment) -> None:
        self.assignment = assign
        self.orders: dict[str, int] = assign.tensors
        self.dtypes: dict[tuple, np.dtype] = {}


_RUN_FACTS: dict[int, _RunFacts] = {}


def _run_facts(assign: Assignment) -> _RunFacts:
    """The assignment's _RunFacts, found by ``id`` without hashing the expression tree.

    The entry holds the assignment and is checked with ``is``, so an id reused after the
    assignment died misses instead of answering for another expression.
    """
    hit = _RUN_FACTS.get(id(assign))
    if hit is None or hit.assignment is not assign:
        if len(_RUN_FACTS) >= 1024:
            _RUN_FACTS.clear()
        hit = _RUN_FACTS[id(assign)] = _RunFacts(assign)
    return hit


def _result_dtype(assign: Assignment, operands: tuple) -> np.dtype:
    ones = {n: np.ones((1,) * ndim, dtype) for n, ndim, dtype in operands if n in assign.inputs}
    return evaluate_dense(assign, ones).dtype


def _apply_epilogue(out: SparseTensor, program: Program) -> SparseTensor:
    """The reference epilogue, on every entry the graph wrote (all of a dense output)."""
    e = program.epilogue
    # A dense output gets it on every entry, also where a sparse accumulator wrote the graph's output sparse.
    axis = e.bias_axis(program.assignment.lhs.indices)
    if all(lv.full for lv in program.schedule.format_of[program.assignment.output].levels):
        return from_numpy(e.apply_dense(out.to_numpy(), axis), out.format, keep_zeros=True)
    coords, vals = out.to_coo(keep_zeros=True)
    vals = e.apply(vals, None if axis is None else coords[:, axis])
    return from_coo(coords, vals, out.shape, out.format, keep_zeros=True)


def _canonical(t: SparseTensor, fmt: Format, dtype) -> SparseTensor:
    """``t`` in ``fmt`` with no stored zeros (the graph writes the zeros its loops visit, as SAM does)."""
    coords, vals = t.to_coo()
    return from_coo(coords, vals.astype(dtype), t.shape, as_format(fmt, ndim=t.ndim), index_dtype=t.index_dtype)

