"""The output side of the generated kernels: buffers, appends of sparse entries, the fused epilogue.

``OutputWriter`` is the part of the code generator (``codegen._Emitter``) that writes the output.
A dense output is written in place (in ``codegen``). A sparse output is appended as the loops meet
its entries, in order, zeros dropped: each entry's last-level coordinate and value, and

- CSR and sparse vectors (dense levels over one compressed level): a count per parent, whose
  prefix sum is pos;
- DCSR and CSF (every level compressed, the root loop over the top level): a node on each upper
  level when its coordinate changes, with where its children start, so pos and crd come out
  whole (TACO's append assembly);
- other formats: every level's coordinate per entry, assembled afterwards (``output.assemble``).

When a buffer fills, the kernel returns where the current root coordinate began, with the counts
of that moment, and the caller grows the buffers and resumes there.
"""

from __future__ import annotations

from zeroskip.compiler.loopnest import Assign, Forall
from zeroskip.lang.ast import Access, Add, Expr, Mul, Neg, Sub


class OutputWriter:
    """Mixin of ``codegen._Emitter``: it reads the emitter's output format, epilogue and flags."""

    def _epilogue_args(self) -> list[str]:
        e, out = [], self.epilogue
        if out.scale is not None:
            e.append("ep_scale_")
        if out.bias is not None:
            e.append("ep_bvec_" if out.vector_bias else "ep_bias_")
        if out.clamp is not None:
            e += ["ep_lo_"] if out.clamp[0] is not None else []
            e += ["ep_hi_"] if out.clamp[1] is not None else []
        return e

    def _coordinate_levels(self) -> list[int]:
        """Output levels whose coordinates the kernel records per entry (an appending kernel: the last;
        its upper levels' coordinates are recorded per node, by ``_append_nodes``)."""
        levels = range(len(self.out_fmt.levels))
        return [levels[-1]] if self.count_parents or self.appended else list(levels)

    def _upper_levels(self) -> range:
        """The output levels above the last, whose nodes an appending kernel counts in ``nl_``."""
        return range(len(self.out_fmt.levels) - 1)

    def _open_buffers(self) -> None:
        # Buffers come from the caller and are never reassigned here: a reassigned array in a
        # loop costs numba a reference count per access (4x slower). When one fills up, the
        # kernel returns where the current root coordinate began and the caller grows and resumes.
        self.emit("cap_ = len(ov_)")
        self.emit("row_ = n_out_")
        for lv in self._upper_levels() if self.appended else ():
            # Nodes so far, at the current root coordinate's start, and the last node's coordinate.
            self.emit(f"n{lv}_ = nl_[{lv}]")
            self.emit(f"r{lv}_ = n{lv}_")
            self.emit(f"k{lv}_ = -1")

    def _append(self, a: Assign, rhs: str) -> None:
        levels = len(self.out_fmt.levels)
        start = self.depth
        reached = self._reached(a.rhs) if self.track else "True"
        if reached != "True":
            self.emit(f"if {reached}:")  # no product reached the entry: it is not stored, whatever f(0) is
            self.depth += 1
        self.emit(f"v_ = {rhs}")
        self._apply_epilogue()
        self.emit("if v_ != 0:")
        self.depth += 1
        self.emit("if n_out_ == cap_:")
        root = self.nest.body
        if self.appended:  # the unfinished root coordinate's nodes are dropped with its entries
            self.emit("    " + "; ".join(f"nl_[{lv}] = r{lv}_" for lv in self._upper_levels()))
        self.emit(f"    return row_, c_{root.index}, True" if isinstance(root, Forall) else "    return 0, lo_, True")
        if self.appended:
            self._append_nodes(a)
        for lv in self._coordinate_levels():
            self.emit(f"oc{lv}_[n_out_] = c_{a.lhs.indices[self.out_fmt.mode_order[lv]]}")
        if self.per_entry_counts:
            parent = "0"
            for lv in range(levels - 1):
                index = a.lhs.indices[self.out_fmt.mode_order[lv]]
                parent = f"c_{index}" if parent == "0" else f"({parent}) * n_{index} + c_{index}"
            self.emit(f"cnt_[{parent}] += 1")
        self.emit("ov_[n_out_] = v_")
        self.emit("n_out_ += 1")
        self.depth = start

    def _append_nodes(self, a: Assign) -> None:
        """Before an entry: a node on each upper level whose coordinate differs from that level's last node
        (entries come sorted, so that is a new node), with where its children start; a new node makes
        its child level's next coordinate new too."""
        last = len(self.out_fmt.levels) - 1
        for lv in self._upper_levels():
            c = f"c_{a.lhs.indices[self.out_fmt.mode_order[lv]]}"
            child = "n_out_" if lv + 1 == last else f"n{lv + 1}_"
            self.emit(f"if {c} != k{lv}_:")
            self.emit(f"    oc{lv}_[n{lv}_] = {c}")
            self.emit(f"    os{lv + 1}_[n{lv}_] = {child}")
            self.emit(f"    n{lv}_ += 1")
            self.emit(f"    k{lv}_ = {c}")
            if lv + 1 < last:
                self.emit(f"    k{lv + 1}_ = -1")

    def _reached(self, e: Expr) -> str:
        """A condition: some product reached this entry (operands read here are present; workspaces say)."""
        if isinstance(e, Access):
            kind = self.temps.get(e.tensor)
            if kind == "scalar":
                return f"t_{e.tensor}"
            return f"t_{e.tensor}{self._coords(e)}" if kind == "dense" else "True"
        if isinstance(e, Neg):
            return self._reached(e.operand)
        if isinstance(e, (Add, Sub, Mul)):
            parts = [self._reached(e.left), self._reached(e.right)]
            if isinstance(e, Mul):
                parts = [p for p in parts if p != "True"]
                return " and ".join(f"({p})" for p in parts) or "True"
            return "True" if "True" in parts else " or ".join(f"({p})" for p in parts)
        return "True"  # a literal

    def _apply_epilogue(self) -> None:
        e = self.epilogue
        if e.scale is not None:
            self.emit("v_ = v_ * ep_scale_")
        if e.vector_bias:
            self.emit(f"v_ = v_ + ep_bvec_[c_{self.out.indices[e.bias_axis(self.out.indices)]}]")
        elif e.bias is not None:
            self.emit("v_ = v_ + ep_bias_")
        if e.relu:
            self.emit("if v_ < 0:")
            self.emit("    v_ = zero_")
        if e.clamp is not None:
            if e.clamp[0] is not None:
                self.emit("if v_ < ep_lo_:")
                self.emit("    v_ = ep_lo_")
            if e.clamp[1] is not None:
                self.emit("if v_ > ep_hi_:")
                self.emit("    v_ = ep_hi_")

    def _mark_row(self, root: bool) -> None:
        """Where the output stood when this root coordinate began: the resume point if a buffer fills."""
        if root and not self.dense_out:
            self.emit("row_ = n_out_")
            for lv in self._upper_levels() if self.appended else ():
                self.emit(f"r{lv}_ = n{lv}_")

    def _close_row(self, root: bool, index: str) -> None:
        """At the end of a root coordinate's body: the entries it appended are its row's count."""
        if root and self.row_counts:
            self.emit(f"cnt_[c_{index}] = n_out_ - row_")
