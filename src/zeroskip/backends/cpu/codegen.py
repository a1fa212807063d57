"""Numba source from a LoopNest: co-iterating loops, workspaces, output assembly and a fused epilogue.

Each ``forall`` becomes one of three loops, chosen by its merge lattice:

- **dense**: ``for c in range(n)``, locating full levels and keeping a finger into each sparse
  level that the lattice does not bound (it matches when its coordinate equals ``c``);
- **intersection**: a ``for`` over the one sparse iterator, or a two-finger ``while`` over several;
- **union**: one ``while`` per lattice point, in lattice order, each running while all its
  iterators have coordinates left (TACO's merge code, Kjolstad et al. OOPSLA 2017, section 6).

Inside a loop, operands that may or may not hold the current coordinate give cases: the body
is specialized for each set of present operands (``specialize.zero_out``), largest set first.
Workspaces: a scalar temporary is a local variable; a dense one an array reset after its
consumer; a sparse one-index workspace a Gustavson accumulator (values, flags and the list of
touched coordinates, sorted before the consumer reads it). A dense workspace whose consumer only
copies it into a dense output is elided: the producer accumulates into the output directly.
Dense outputs are written in place; sparse outputs are appended as sorted coordinates and
values (zeros dropped) and assembled afterwards. The root loop takes a coordinate range
``[lo_, hi_)`` so that the caller can split it across threads.

Example:
    >>> from zeroskip.lang import parse
    >>> from zeroskip.formats import as_format
    >>> from zeroskip.compiler import build_loopnest
    >>> f = {"X": as_format("csr"), "A": as_format("csr"), "B": as_format("dd")}
    >>> nest = build_loopnest(parse("X(i,j) = A(i,j) * B(i,j)"), ("i", "j"), f)
    >>> source = generate(nest).source
    >>> print(source[source.index("# X(i,j)"):].rstrip())
    # X(i,j) = A(i,j) * B(i,j)
    # loop order i,j; formats X=ds, A=ds, B=dd
    @njit(cache=True, nogil=True, boundscheck=False, error_model='numpy',
          fastmath={'contract', 'nsz'})
    def kernel(lo_, hi_, n_i, n_j, pos1_A, crd1_A, v_A, v_B, oc1_, ov_, n_out_, cnt_, zero_, vt_):
        cap_ = len(ov_)
        row_ = n_out_
        for c_i in range(lo_, hi_):
            row_ = n_out_
            p0_A = c_i
            for p1_A in range(pos1_A[p0_A], pos1_A[p0_A + 1]):
                c_j = crd1_A[p1_A]
                v_ = v_A[p1_A] * v_B[c_i, c_j]
                if v_ != 0:
                    if n_out_ == cap_:
                        return row_, c_i, True
                    oc1_[n_out_] = c_j
                    ov_[n_out_] = v_
                    n_out_ += 1
            cnt_[c_i] = n_out_ - row_
        return n_out_, hi_, False
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from zeroskip.backends.cpu.specialize import rhs_accesses, zero_out
from zeroskip.backends.cpu.writes import OutputWriter
from zeroskip.compiler.epilogue import Epilogue
from zeroskip.compiler.lattice import MergeLattice
from zeroskip.compiler.loopnest import Assign, Forall, LoopNest, Stmt, Temporary, Where
from zeroskip.errors import ZeroskipError
from zeroskip.lang.ast import Access, Add, Expr, Literal, Mul, Neg, Sub

MAX_CASE_OPERANDS = 6  # 2**6 specialized bodies per loop at most
UNROLL = 4  # partial sums of an unrolled dot product
MAP_LIMIT = 1 << 26  # coordinates a position map may cover (256 MB of int32); beyond, the kernel merges


class CodegenError(ZeroskipError, ValueError):
    """A loop nest the CPU code generator cannot express (reported with the construct)."""


@dataclass(frozen=True, slots=True)
class KernelPlan:
    """Generated source and what the caller must pass and expect."""

    source: str
    args: tuple[str, ...]
    inputs: tuple[str, ...]
    literals: tuple[float | int, ...]
    dense_output: bool
    output_levels: int
    root_index: str | None  # the index of the root loop, which runs over [lo_, hi_)
    split_index: str | None  # the root index when chunks of it may run in parallel
    root_tensors: tuple[str, ...]  # inputs whose top level the root loop walks
    mask: bool  # the dense output records written entries (an epilogue that maps 0 elsewhere)
    count_parents: bool  # the kernel counts entries per parent of the output's one compressed (last) level
    bias_mode: int | None  # the output mode a vector bias runs along
    driver: bool = False  # the source has ``driver(bounds_, ...)``: the chunks on numba's threads (prange)
    appended: bool = False  # an all-compressed output appended level by level (``oc``/``os`` per level, ``nl_``)


def generate(nest: LoopNest, epilogue: Epilogue | None = None) -> KernelPlan:
    """The numba source of ``nest`` (function ``kernel``), fusing ``epilogue`` into the output writes."""
    return _Emitter(nest, epilogue or Epilogue()).run()


class _Emitter(OutputWriter):
    def __init__(self, nest: LoopNest, epilogue: Epilogue) -> None:
        self.nest, self.epilogue = nest, epilogue
        self.formats = nest.format_of
        self.out = nest.assignment.lhs
        self.out_fmt = self.formats[self.out.tensor]
        self.dense_out = all(lv.full for lv in self.out_fmt.levels)
        self.mask = self.dense_out and not epilogue.zero_maps_to_zero()
        # A sparse output then stores only the entries a product reached: workspaces record which.
        self.track = not self.dense_out and not epilogue.zero_maps_to_zero()
        levels = self.out_fmt.levels
        # Dense levels over one compressed level (CSR, a sparse vector): the kernel counts entries
        # per parent position, so pos is a prefix sum and the dense levels need no coordinates.
        self.count_parents = (not self.dense_out and not levels[-1].full and all(lv.full for lv in levels[:-1]))
        # CSR written row by row from the root loop: one count per row, not an increment per entry
        # (a load and store of the same counter per entry serializes the appends). A sparse vector's
        # one count is its length, known from the buffer.
        root = nest.body
        self.row_counts = (self.count_parents and len(levels) == 2 and isinstance(root, Forall)
                           and self.out.indices[self.out_fmt.mode_order[0]] == root.index)
        self.per_entry_counts = self.count_parents and len(levels) > 1 and not self.row_counts
        # Every level compressed (DCSR, CSF) and the root loop over the top level's index: the kernel
        # appends each level's nodes as it meets them (a coordinate, and where its children start),
        # so the output needs no assembly pass (TACO's append assembly).
        self.appended = (not self.dense_out and len(levels) > 1 and all(lv.has_pos and lv.unique for lv in levels)
                         and isinstance(root, Forall) and self.out.indices[self.out_fmt.mode_order[0]] == root.index)
        self.index_of = {a.tensor: a.indices for a in rhs_accesses(nest.body)} | {self.out.tensor: self.out.indices}
        self.temps: dict[str, str] = {t.name: _temp_kind(t) for t in nest.temporaries}
        self.elided: set[str] = set()
        self.scanned: set[str] = set()  # sparse accumulators read by scanning their flags
        self.cleared: set[str] = set()  # scanned accumulators whose scan also cleared them
        self.alias: dict[str, str] = {}  # index -> coordinate variable, inside an unrolled copy
        self.literals: list[float | int] = []
        self.lines: list[str] = []
        self.maps: list[str] = []  # position maps built once per call, before the root loop
        self.mapped: set[str] = set()  # the names of those maps
        self.depth = 1

    # ---- driver ------------------------------------------------------------------------------
    def run(self) -> KernelPlan:
        a = self.nest.assignment
        indices = sorted(set(a.all_indices))
        args = ["lo_", "hi_", *(f"n_{i}" for i in indices)]
        for name in a.inputs:
            for level, lv in enumerate(self.formats[name].levels):
                if not lv.full:
                    args += [f"pos{level}_{name}", f"crd{level}_{name}"]
            args.append(f"v_{name}")
        if self.dense_out:
            args.append(f"v_{self.out.tensor}")
            if self.mask:
                args.append(f"m_{self.out.tensor}")
        else:
            if self.appended:  # every level's coordinates (per node above the last), then where children start
                levels = range(len(self.out_fmt.levels))
                args += [f"oc{lv}_" for lv in levels] + [f"os{lv}_" for lv in levels[1:]]
            else:
                args += [f"oc{lv}_" for lv in self._coordinate_levels()]
            args += ["ov_", "n_out_"]
            args += ["cnt_"] if self.count_parents else ["nl_"] if self.appended else []
        args += self._epilogue_args()
        self._workspaces()
        if not self.dense_out:
            self._open_buffers()
        top = len(self.lines)
        root = self.nest.body
        self.stmt(root, {}, root=isinstance(root, Forall))
        self.lines[top:top] = self.maps
        if self.appended:
            self.emit("; ".join(f"nl_[{lv}] = n{lv}_" for lv in self._upper_levels()))
        self.emit("return 0, hi_, False" if self.dense_out else "return n_out_, hi_, False")
        args += [f"L{k}_" for k in range(len(self.literals))] + ["zero_", "vt_"]
        head = ["import numpy as np", "from numba import njit, prange",
                "from zeroskip.backends.cpu.alloc import clear, empty, zeros",
                "from zeroskip.backends.cpu.support import lower_bound, sort_prefix, sorts_faster, trailing_zeros",
                "", "",
                f"# {a}",
                f"# loop order {','.join(self.nest.loop_order)}; formats "
                + ", ".join(f"{n}={f.spec or 'scalar'}" for n, f in self.nest.formats)
                + (f"; epilogue {self.epilogue}" if not self.epilogue.empty else ""),
                "@njit(cache=True, nogil=True, boundscheck=False, error_model='numpy',",
                "      fastmath={'contract', 'nsz'})",
                f"def kernel({', '.join(args)}):"]
        split = self._split_index()
        tail = _driver(args) if self.dense_out and split is not None else []
        root_index = root.index if isinstance(root, Forall) else None
        root_tensors = tuple(t for t in a.inputs if root_index is not None and self.index_of.get(t)
                             and self.index_of[t][self.formats[t].mode_order[0]] == root_index)
        bias_mode = self.epilogue.bias_axis(self.out.indices)
        return KernelPlan("\n".join(head + self.lines + tail) + "\n", tuple(args), a.inputs, tuple(self.literals),
                          self.dense_out, len(self.out_fmt.levels), root_index, split, root_tensors,
                          self.mask, self.count_parents, bias_mode, bool(tail), self.appended)

    def _split_index(self) -> str | None:
        root = self.nest.body
        if not isinstance(root, Forall) or root.index not in self.out.indices:
            return None  # a reduction at the root: chunks would write the same entries
        first = self.out.indices[self.out_fmt.mode_order[0]] if self.out.indices else None
        return root.index if self.dense_out or root.index == first else None

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def _workspaces(self) -> None:
        for temp in self.nest.temporaries:
            kind, name = self.temps[temp.name], temp.name
            shape = ", ".join(f"n_{i}" for i in (temp.indices[m] for m in temp.format.mode_order))
            if kind == "dense":
                self.emit(f"v_{name} = zeros(({shape},), vt_.dtype)")
                if self.track:
                    self.emit(f"t_{name} = zeros(({shape},), np.bool_)")
            elif kind == "spa":
                # Flags as a bitset: a dense row is read back by its set bits, not by a branch per coordinate.
                self.emit(f"v_{name} = zeros({shape}, vt_.dtype)")
                self.emit(f"f_{name} = zeros(({shape} + 63) >> 6, np.uint64)")
                self.emit(f"l_{name} = empty({shape}, np.int64)")
                self.emit(f"n_{name}_ = 0")

    # ---- statements --------------------------------------------------------------------------
    def stmt(self, stmt: Stmt, scope: dict, root: bool = False) -> None:
        if isinstance(stmt, Forall):
            self.forall(stmt, scope, root)
        elif isinstance(stmt, Where):
            self.where(stmt, scope)
        else:
            self.assign(stmt, scope)

    def where(self, w: Where, scope: dict) -> None:
        temp, kind = w.temp, self.temps[w.temp.name]
        if kind == "scalar":
            self.emit(f"s_{temp.name} = zero_")
            if self.track:
                self.emit(f"t_{temp.name} = False")
        if self.dense_out and kind == "dense" and _copies_into_output(w.consumer, temp, self.out.tensor):
            self.elided.add(temp.name)
            self.stmt(w.producer, scope)
            if not self.epilogue.empty or self.mask:
                self._epilogue_pass(temp, scope)
            return
        self.stmt(w.producer, scope)
        if kind == "spa":
            self._consume_spa(w, scope)
            return
        self.stmt(w.consumer, scope)
        if kind == "dense":
            self.emit(f"clear(v_{temp.name})")
            if self.track:
                self.emit(f"clear(t_{temp.name})")

    def _consume_spa(self, w: Where, scope: dict) -> None:
        """Read a sparse accumulator in coordinate order: sort the few touched, or scan the flags of many."""
        name, index = w.temp.name, w.temp.indices[0]
        self.emit(f"if sorts_faster(n_{name}_, n_{index}):")
        self.depth += 1
        self.emit(f"sort_prefix(l_{name}, n_{name}_)")
        self.stmt(w.consumer, scope)
        self.emit(f"for q_ in range(n_{name}_):")
        self.emit(f"    v_{name}[l_{name}[q_]] = 0")
        self.emit(f"    f_{name}[l_{name}[q_] >> 6] = 0")
        self.depth -= 1
        self.emit("else:")
        self.depth += 1
        self.scanned.add(name)  # the consumer's loop over the workspace becomes a scan of its flags
        self.stmt(w.consumer, scope)
        self.scanned.discard(name)
        if name not in self.cleared:
            self.emit(f"clear(v_{name})")
            self.emit(f"clear(f_{name})")
        self.cleared.discard(name)
        self.depth -= 1
        self.emit(f"n_{name}_ = 0")

    def _epilogue_pass(self, temp: Temporary, scope: dict) -> None:
        """After an elided workspace's producer: the epilogue over the output region it filled."""
        start = self.depth
        for index in temp.indices:
            self.emit(f"for c_{index} in range(n_{index}):")
            self.depth += 1
        target = self._value(self.out, scope)
        self.emit(f"v_ = {target}")
        self._apply_epilogue()
        self.emit(f"{target} = v_")
        if self.mask:
            self.emit(f"m_{self.out.tensor}{self._coords(self.out)} = True")
        self.depth = start

    def assign(self, a: Assign, scope: dict, rhs: str | None = None) -> None:
        rhs = self.expr(a.rhs, scope, top=True) if rhs is None else rhs
        name = a.lhs.tensor
        op = "+=" if a.accumulate else "="
        if name in self.elided:
            self.emit(f"v_{self.out.tensor}{self._coords(self.out)} += {rhs}")
        elif name in self.temps:
            kind = self.temps[name]
            if kind == "scalar":
                self.emit(f"s_{name} {op} {rhs}")
            elif kind == "dense":
                self.emit(f"v_{name}{self._coords(a.lhs)} {op} {rhs}")
            if self.track and kind in ("scalar", "dense"):
                reached = self._reached(a.rhs)
                flag = f"t_{name}" + (self._coords(a.lhs) if kind == "dense" else "")
                self.emit(f"{flag} = True" if reached == "True" else f"{flag} = {flag} or {reached}")
            if kind == "spa":
                c = f"c_{a.lhs.indices[0]}"
                self.emit(f"fb_ = np.uint64(1) << np.uint64({c} & 63)")
                self.emit(f"if not f_{name}[{c} >> 6] & fb_:")
                self.emit(f"    f_{name}[{c} >> 6] |= fb_")
                self.emit(f"    l_{name}[n_{name}_] = {c}")
                self.emit(f"    n_{name}_ += 1")
                self.emit(f"v_{name}[{c}] {op} {rhs}")
        elif self.dense_out:
            if a.accumulate:
                raise CodegenError(f"the output {name} is accumulated into outside a workspace: {a}")
            if self.epilogue.empty:
                self.emit(f"v_{name}{self._coords(a.lhs)} = {rhs}")
                return
            self.emit(f"v_ = {rhs}")
            self._apply_epilogue()
            self.emit(f"v_{name}{self._coords(a.lhs)} = v_")
            if self.mask:
                self.emit(f"m_{name}{self._coords(a.lhs)} = True")
        else:
            self._append(a, rhs)

    # ---- loops -------------------------------------------------------------------------------
    def forall(self, f: Forall, scope: dict, root: bool) -> None:
        index, lattice = f.index, f.lattice
        levels = self._levels(f.body, index)
        sparse = [(t, lv) for t, lv, full in levels if not full]
        full = [(t, lv) for t, lv, full in levels if full]
        start = self.depth
        if not root and len(sparse) == 1 and sparse[0][0] in self.scanned and all(pt.iterators for pt in lattice.points):
            self._bitset_loop(f, sparse[0][0], full, scope)
        # A point with no sparse iterator (a union with a dense operand) makes the loop visit every coordinate.
        elif any(not pt.iterators or all(it.full or it.tensor in self.scanned for it in pt.iterators)
               for pt in lattice.points):
            for t, lv in sparse:
                self._open_finger(t, lv, scope, root)
            low, high = ("lo_", "hi_") if root else ("0", f"n_{index}")
            self.emit(f"for c_{index} in range({low}, {high}):")
            self.depth += 1
            self._mark_row(root)
            for t, lv in sparse:
                if t in self.scanned:
                    self.emit(f"h{lv}_{t} = (f_{t}[c_{index} >> 6] >> np.uint64(c_{index} & 63)) & np.uint64(1) != 0")
                else:
                    self.emit(f"h{lv}_{t} = p{lv}_{t} < e{lv}_{t} and {self._crd(t, lv)}[p{lv}_{t}] == c_{index}")
            self._cases(f.body, sparse, [], full, scope, index)
            for t, lv in sparse:
                if t not in self.scanned:
                    self.emit(f"if h{lv}_{t}:")
                    self.emit(f"    p{lv}_{t} += 1")
            self._close_row(root, index)
        else:
            iterators = [(it.tensor, it.level) for it in lattice.iterators]
            extras = [s for s in sparse if s not in iterators]
            for t, lv in extras:
                self._open_finger(t, lv, scope, root)
            if lattice.intersection and len(iterators) == 1 and not extras and not root and self._reduces(f.body):
                self._unrolled_reduction(f, iterators[0], full, scope)
            elif lattice.intersection and len(iterators) == 1 and not extras and not root and self._scatters(f, full):
                self._unrolled_scatter(f, iterators[0], scope)
            elif lattice.intersection and len(iterators) == 1:
                t, lv = iterators[0]
                begin, end = self._bounds(t, lv, scope, root)
                self.emit(f"for p{lv}_{t} in range({begin}, {end}):")
                self.depth += 1
                self.emit(f"c_{index} = {self._crd(t, lv)}[p{lv}_{t}]")
                self._mark_row(root)
                self._cases(f.body, extras, iterators, full, scope, index, search=extras)
                self._close_row(root, index)
            elif lattice.intersection and (mapped := self._mappable(iterators, root)):
                self._mapped_loop(f, iterators, mapped, extras, full, scope, root)
            elif lattice.intersection:
                self._merge_loop(f.body, iterators, extras, full, scope, index, root, True)
            else:
                self._union(f, lattice, extras, full, scope, root)
        self.depth = start

    def _bitset_loop(self, f: Forall, name: str, full, scope: dict) -> None:
        """A loop over the one sparse operand, a scanned accumulator: its set bits in order, each word
        and value cleared as it is read (the accumulator is then empty for the next row)."""
        index, depth = f.index, self.depth
        word, bits = f"qw{depth}_", f"bw{depth}_"
        self.emit(f"for {word} in range(len(f_{name})):")
        self.depth += 1
        self.emit(f"{bits} = f_{name}[{word}]")
        self.emit(f"if {bits} == 0:")
        self.emit("    continue")
        self.emit(f"f_{name}[{word}] = 0")
        self.emit(f"while {bits} != 0:")
        self.depth += 1
        self.emit(f"c_{index} = ({word} << 6) + np.int64(trailing_zeros({bits}))")
        self.emit(f"{bits} &= {bits} - np.uint64(1)")
        self._cases(f.body, [], [], full, scope, index)
        self.emit(f"v_{name}[c_{index}] = 0")
        self.cleared.add(name)

    def _mappable(self, iterators, root: bool) -> list[tuple[str, int]]:
        """Intersected top levels of operands that every pass of this inner loop reads whole.

        Such a fiber (the sparse ``x`` of ``A(i,j) * x(j)``) is the same for every outer
        coordinate, so a map from coordinate to position, built once per call, replaces the merge
        with one lookup per coordinate of the other operands (TACO's locate into a workspace).
        """
        if root:
            return []
        mapped = [(t, lv) for t, lv in iterators if lv == 0 and t not in self.temps
                  and not self.formats[t].levels[0].full and self.formats[t].levels[0].unique]
        return mapped[1:] if len(mapped) == len(iterators) else mapped

    def _mapped_loop(self, f: Forall, iterators, mapped, extras, full, scope, root) -> None:
        """The intersection driven by the unmapped operands, the mapped ones located (merged if too big)."""
        index = f.index
        for t, lv in mapped:
            m = f"m{lv}_{t}"
            if m in self.mapped:
                continue
            self.mapped.add(m)
            # Position + 1, 0 where absent: any index dtype holds it (unsigned ones too).
            self.maps += [f"    u{m} = n_{index} <= {MAP_LIMIT}",
                          f"    {m} = zeros(n_{index} if u{m} else 0, pos{lv}_{t}.dtype)",
                          f"    for q_ in range(pos{lv}_{t}[0], pos{lv}_{t}[1]):",
                          f"        {m}[crd{lv}_{t}[q_]] = q_ + 1"]
        drivers = [it for it in iterators if it not in mapped]
        start = self.depth
        self.emit("if " + " and ".join(f"um{lv}_{t}" for t, lv in mapped) + ":")
        self.depth += 1
        if len(drivers) == 1:
            t, lv = drivers[0]
            begin, end = self._bounds(t, lv, scope, root)
            self.emit(f"for p{lv}_{t} in range({begin}, {end}):")
            self.depth += 1
            self.emit(f"c_{index} = {self._crd(t, lv)}[p{lv}_{t}]")
            self._located(mapped, index)
            self._cases(f.body, extras, iterators, full, scope, index, search=extras)
        else:
            self._merge_loop(f.body, drivers, extras, full, scope, index, root, True, mapped=mapped)
        self.depth = start
        self.emit("else:")
        self.depth += 1
        self._merge_loop(f.body, iterators, extras, full, scope, index, root, True)
        self.depth = start

    def _located(self, mapped, index: str) -> None:
        """Look the coordinate up in each map; the body that follows runs where all hold it."""
        for t, lv in mapped:
            self.emit(f"g{lv}_{t} = m{lv}_{t}[c_{index}]")
        self.emit("if " + " and ".join(f"g{lv}_{t} != 0" for t, lv in mapped) + ":")
        self.depth += 1
        for t, lv in mapped:
            self.emit(f"p{lv}_{t} = g{lv}_{t} - 1")

    def _reduces(self, body: Stmt) -> bool:
        return (isinstance(body, Assign) and body.accumulate and self.temps.get(body.lhs.tensor) == "scalar"
                and (not self.track or self._reached(body.rhs) == "True"))  # reached wherever the fiber has entries

    def _unrolled_reduction(self, f: Forall, iterator, full, scope) -> None:
        """A dot product over one sparse fiber with four partial sums, so that adds overlap.

        (A vectorized gather is slow on many x86 cores; four scalar chains keep the loop at the
        speed of its loads, as unrolled CSR SpMV kernels do.)
        """
        t, lv = iterator
        name, index, depth = f.body.lhs.tensor, f.index, self.depth
        begin, end = self._bounds(t, lv, scope, False)
        q, e = f"q{depth}_", f"qe{depth}_"
        partial = [f"s_{name}"] + [f"r{depth}_{u}_" for u in range(1, UNROLL)]
        self.emit(f"{q} = {begin}")
        self.emit(f"{e} = {end}")
        if self.track:
            self.emit(f"t_{name} = t_{name} or {q} < {e}")
        for var in partial[1:]:
            self.emit(f"{var} = zero_")
        inner = {**scope, (t, lv): f"p{lv}_{t}"}

        def step(offset: str, target: str) -> None:
            self.emit(f"p{lv}_{t} = {q}{offset}")
            self.emit(f"c_{index} = {self._crd(t, lv)}[p{lv}_{t}]")
            for ft, flv in full:
                self._locate(ft, flv, inner, index)
            self.emit(f"{target} += {self.expr(f.body.rhs, inner, top=True)}")

        self.emit(f"while {q} + {UNROLL - 1} < {e}:")
        self.depth += 1
        for u, var in enumerate(partial):
            step(f" + {u}" if u else "", var)
        self.emit(f"{q} += {UNROLL}")
        self.depth -= 1
        self.emit(f"while {q} < {e}:")
        self.depth += 1
        step("", partial[0])
        self.emit(f"{q} += 1")
        self.depth -= 1
        self.emit(f"s_{name} += " + " + ".join(partial[1:]))

    def _scatters(self, f: Forall, full) -> bool:
        """``forall k (sparse) forall j (dense) target(..j) += rhs``: the SpMM inner loops."""
        inner = f.body
        if not (isinstance(inner, Forall) and isinstance(inner.body, Assign) and inner.body.accumulate):
            return False
        if any(pt.iterators and not all(it.full for it in pt.iterators) for pt in inner.lattice.points):
            return False
        target = inner.body.lhs.tensor
        if f.index in inner.body.lhs.indices:
            return False  # each entry writes its own row: nothing to share
        dense_target = target in self.elided or self.temps.get(target) == "dense"
        no_positions = all(t in self.temps or lv >= self._leading(t) for t, lv in full)
        inner_full = all(full_ for _, _, full_ in self._levels(inner.body, inner.index))
        inner_positions = all(t in self.temps or lv >= self._leading(t)
                              for t, lv, _ in self._levels(inner.body, inner.index))
        return dense_target and no_positions and inner_full and inner_positions

    def _unrolled_scatter(self, f: Forall, iterator, scope) -> None:
        """Four sparse entries per pass over the dense row: one load and store of the target per four
        multiply-adds (register blocking over ``k``, as in CSR x dense kernels)."""
        t, lv = iterator
        inner, depth, index = f.body, self.depth, f.index
        begin, end = self._bounds(t, lv, scope, False)
        q, e = f"q{depth}_", f"qe{depth}_"
        self.emit(f"{q} = {begin}")
        self.emit(f"{e} = {end}")
        self.emit(f"while {q} + {UNROLL - 1} < {e}:")
        self.depth += 1
        terms = []
        for u in range(UNROLL):
            self.emit(f"p{lv}_{t}_{u} = {q} + {u}" if u else f"p{lv}_{t}_{u} = {q}")
            self.emit(f"c_{index}_{u} = {self._crd(t, lv)}[p{lv}_{t}_{u}]")
            self.alias[index] = f"c_{index}_{u}"
            terms.append(self.expr(inner.body.rhs, {**scope, (t, lv): f"p{lv}_{t}_{u}"}))
            del self.alias[index]
        self.emit(f"for c_{inner.index} in range(0, n_{inner.index}):")
        self.depth += 1
        self.assign(inner.body, scope, rhs=" + ".join(terms))
        self.depth -= 1
        self.emit(f"{q} += {UNROLL}")
        self.depth -= 1
        self.emit(f"while {q} < {e}:")
        self.depth += 1
        self.emit(f"p{lv}_{t} = {q}")
        self.emit(f"c_{index} = {self._crd(t, lv)}[p{lv}_{t}]")
        self.stmt(inner, {**scope, (t, lv): f"p{lv}_{t}"})
        self.emit(f"{q} += 1")
        self.depth -= 1

    def _union(self, f: Forall, lattice: MergeLattice, extras, full, scope, root) -> None:
        top = [(it.tensor, it.level) for it in lattice.iterators]
        for t, lv in top:
            begin, end = self._bounds(t, lv, scope, root)
            self.emit(f"p{lv}_{t} = {begin}")
            self.emit(f"e{lv}_{t} = {end}")
        for point in lattice.points:
            its = [(it.tensor, it.level) for it in point.iterators]
            # Iterators outside this point ran out (or cannot contribute without the ones that did).
            gone = frozenset(t for t, lv in top if (t, lv) not in its)
            self._merge_loop(f.body, its, extras, full, scope, f.index, root, False, opened=True, gone=gone)

    def _merge_loop(self, body, its, extras, full, scope, index, root, intersect, opened=False,
                    gone=frozenset(), mapped=()) -> None:
        """A ``while`` over ``its`` together: an intersection (all present) or one point of a union."""
        start = self.depth
        if not opened:
            for t, lv in its:
                begin, end = self._bounds(t, lv, scope, root)
                self.emit(f"p{lv}_{t} = {begin}")
                self.emit(f"e{lv}_{t} = {end}")
        self.emit("while " + " and ".join(f"p{lv}_{t} < e{lv}_{t}" for t, lv in its) + ":")
        self.depth += 1
        for t, lv in its:
            self.emit(f"k{lv}_{t} = {self._crd(t, lv)}[p{lv}_{t}]")
        first = f"k{its[0][1]}_{its[0][0]}"
        self.emit(f"c_{index} = " + (first if len(its) == 1 else f"min({', '.join(f'k{lv}_{t}' for t, lv in its)})"))
        self._mark_row(root)
        if intersect:
            self.emit("if " + " and ".join(f"k{lv}_{t} == c_{index}" for t, lv in its) + ":")
            self.depth += 1
            if mapped:
                self._located(mapped, index)
            self._cases(body, extras, [*its, *mapped], full, scope, index, search=extras)
            self.depth -= 2 if mapped else 1
        else:
            for t, lv in its:
                self.emit(f"h{lv}_{t} = k{lv}_{t} == c_{index}")
            self._cases(body, [*its, *extras], [], full, scope, index, search=extras, gone=gone)
        for t, lv in its:
            self.emit(f"if k{lv}_{t} == c_{index}:")
            self.emit(f"    p{lv}_{t} += 1")
        self._close_row(root, index)
        self.depth = start

    def _cases(self, body, uncertain, present, full, scope, index, search=(), gone=frozenset()) -> None:
        """The body for each set of ``uncertain`` operands holding the coordinate, largest set first.

        ``search`` are fingers this loop does not drive: they first catch up to the coordinate.
        """
        inner = dict(scope)
        for t, lv in [*present, *uncertain]:
            inner[(t, lv)] = f"p{lv}_{t}"
        for t, lv in search:
            crd = self._crd(t, lv)
            self.emit(f"while p{lv}_{t} < e{lv}_{t} and {crd}[p{lv}_{t}] < c_{index}:")
            self.emit(f"    p{lv}_{t} += 1")
            self.emit(f"h{lv}_{t} = p{lv}_{t} < e{lv}_{t} and {crd}[p{lv}_{t}] == c_{index}")
        for t, lv in full:
            if t not in gone:
                self._locate(t, lv, inner, index)
        if len(uncertain) > MAX_CASE_OPERANDS:
            raise CodegenError(f"{len(uncertain)} operands may be absent at {index}; at most {MAX_CASE_OPERANDS}")
        bodies = []
        for size in range(len(uncertain), -1, -1):
            for chosen in itertools.combinations(uncertain, size):
                absent = gone | frozenset(t for t, lv in uncertain if (t, lv) not in chosen)
                specialized = zero_out(body, absent, self.formats)
                if specialized is not None:
                    bodies.append((chosen, specialized))
        if not bodies:
            self.emit("pass")
            return
        for n, (chosen, specialized) in enumerate(bodies):
            if not chosen:  # nothing uncertain present: the last case, or the only one
                if n:
                    self.emit("else:")
                    self.depth += 1
                self.stmt(specialized, inner)
                self.depth -= 1 if n else 0
                return
            self.emit(f"{'if' if n == 0 else 'elif'} " + " and ".join(f"h{lv}_{t}" for t, lv in chosen) + ":")
            self.depth += 1
            self.stmt(specialized, inner)
            self.depth -= 1

    # ---- levels and positions ----------------------------------------------------------------
    def _levels(self, body: Stmt, index: str) -> list[tuple[str, int, bool]]:
        """(tensor, storage level, full) of every operand read in ``body`` that has ``index``."""
        out = []
        for acc in rhs_accesses(body):
            if index in acc.indices:
                fmt = self.formats[acc.tensor]
                level = fmt.mode_order.index(acc.indices.index(index))
                item = (acc.tensor, level, fmt.levels[level].full)
                if item not in out:
                    out.append(item)
        return out

    def _parent(self, t: str, lv: int, scope: dict) -> str:
        return "0" if lv == 0 else scope[(t, lv - 1)]

    def _bounds(self, t: str, lv: int, scope: dict, root: bool) -> tuple[str, str]:
        if self.temps.get(t) == "spa":
            return "0", f"n_{t}_"
        parent = self._parent(t, lv, scope)
        begin, end = f"pos{lv}_{t}[{parent}]", f"pos{lv}_{t}[{parent} + 1]"
        if root:
            crd = self._crd(t, lv)
            return f"lower_bound({crd}, {begin}, {end}, lo_)", f"lower_bound({crd}, {begin}, {end}, hi_)"
        return begin, end

    def _crd(self, t: str, lv: int) -> str:
        return f"l_{t}" if self.temps.get(t) == "spa" else f"crd{lv}_{t}"

    def _open_finger(self, t: str, lv: int, scope: dict, root: bool) -> None:
        if t in self.scanned:
            return  # present where its flag is set: no position to keep
        begin, end = self._bounds(t, lv, scope, root)
        self.emit(f"p{lv}_{t} = {begin}")
        self.emit(f"e{lv}_{t} = {end}")

    def _locate(self, t: str, lv: int, scope: dict, index: str) -> None:
        if t in self.temps or lv >= self._leading(t):
            return  # read by coordinates: no position needed
        parent = self._parent(t, lv, scope)
        self.emit(f"p{lv}_{t} = c_{index}" if parent == "0" else f"p{lv}_{t} = {parent} * n_{index} + c_{index}")
        scope[(t, lv)] = f"p{lv}_{t}"

    def _leading(self, t: str) -> int:
        """Levels down to the last compressed one; the dense levels below it index the values directly."""
        levels = self.formats[t].levels
        return max((k + 1 for k, lv in enumerate(levels) if not lv.full), default=0)

    # ---- expressions -------------------------------------------------------------------------
    def _c(self, index: str) -> str:
        """The variable holding ``index``'s coordinate (an unrolled copy has its own)."""
        return self.alias.get(index, f"c_{index}")

    def _coords(self, acc: Access) -> str:
        order = self.formats[acc.tensor].mode_order
        if not acc.indices:
            return "[0]"
        return "[" + ", ".join(self._c(acc.indices[m]) for m in order) + "]"

    def _value(self, acc: Access, scope: dict) -> str:
        name = acc.tensor
        kind = self.temps.get(name)
        if kind == "scalar":
            return f"s_{name}"
        if kind == "spa":
            return f"v_{name}[{self._c(acc.indices[0])}]"
        k = 0 if kind == "dense" or name == self.out.tensor else self._leading(name)
        if k == 0:
            return f"v_{name}{self._coords(acc)}"
        order = self.formats[name].mode_order
        trailing = [self._c(acc.indices[m]) for m in order[k:]]
        return f"v_{name}[" + ", ".join([scope[(name, k - 1)], *trailing]) + "]"

    def expr(self, e: Expr, scope: dict, top: bool = False) -> str:
        if isinstance(e, (Add, Sub, Mul)) and top:
            symbol = {Add: "+", Sub: "-", Mul: "*"}[type(e)]
            return f"{self.expr(e.left, scope)} {symbol} {self.expr(e.right, scope)}"
        if isinstance(e, Access):
            return self._value(e, scope)
        if isinstance(e, Literal):
            self.literals.append(e.value)
            return f"L{len(self.literals) - 1}_"
        if isinstance(e, Neg):
            return f"(-{self.expr(e.operand, scope)})"
        symbol = {Add: "+", Sub: "-", Mul: "*"}[type(e)]
        return f"({self.expr(e.left, scope)} {symbol} {self.expr(e.right, scope)})"


def _driver(args: list[str]) -> list[str]:
    """A parallel loop over chunks of the root loop for a kernel that writes a dense output in place:
    chunks write disjoint entries and return nothing, so numba's threads (OpenMP or TBB, workers that
    spin before they sleep) can run them, a tenth of a Python pool's hand-off."""
    rest = ", ".join(args[2:])
    return ["", "",
            "@njit(cache=True, nogil=True, parallel=True)",
            f"def driver(bounds_, {rest}):",
            "    for t_ in prange(len(bounds_) - 1):",
            f"        kernel(bounds_[t_], bounds_[t_ + 1], {rest})",
            "    return 0"]


def _temp_kind(temp: Temporary) -> str:
    if not temp.indices:
        return "scalar"
    if all(lv.full for lv in temp.format.levels):
        return "dense"
    if len(temp.indices) == 1:
        return "spa"
    raise CodegenError(f"workspace {temp.name}({','.join(temp.indices)}) is sparse in {len(temp.indices)} "
                       f"dimensions; the CPU backend builds such workspaces dense")


def _copies_into_output(consumer: Stmt, temp: Temporary, out: str) -> bool:
    """The consumer only loops over the workspace and copies it into the output (``X(i,j) = w(j)``)."""
    for index in temp.indices:
        if not (isinstance(consumer, Forall) and consumer.index == index):
            return False
        consumer = consumer.body
    return (isinstance(consumer, Assign) and consumer.lhs.tensor == out and not consumer.accumulate
            and consumer.rhs == Access(temp.name, temp.indices))

