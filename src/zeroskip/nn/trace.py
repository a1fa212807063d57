"""``trace(model, example_inputs)``: a PyTorch model as a sequence of zeroskip programs, with measured sparsity.

How a model is traced:

1. ``torch.fx`` symbolic tracing (``SparseLinear`` and ``torch.nn`` modules are leaves). When fx
   fails (data-dependent control flow, unsupported Python), the fallback registers forward hooks
   on the leaf modules and runs the model once: it sees only leaf modules, so functional code
   between them (``torch.matmul``, ``+``, softmax written as a function) is invisible; the trace
   then lists one host entry ``<functional code>`` saying so, and ``method`` says why fx failed.
2. The example inputs run through the graph (an ``fx.Interpreter``); every node's input and
   output tensors are recorded (copies, so in-place ops cannot rewrite them): shapes, and sparsity
   = the fraction of exact zeros.
3. Supported operations become programs, compiled with the measured tensors as operands:

   - ``nn.Linear``, ``SparseLinear``, ``F.linear``: ``Y(b,o) = X(b,i) * W(o,i)`` (leading input
     dimensions flattened into ``b``); W in CSR; X in CSR when at least ``ACT_CSR_SPARSITY`` (50%)
     of it is zero, else dense;
   - ``nn.Conv2d``, ``SparseConv2d``, ``F.conv2d`` (groups=1, zero padding) as an im2col matmul: the same
     ``Y(b,o) = X(b,i) * W(o,i)`` with X the unfolded input patches (one row per image and output
     pixel, ``i`` over in_channels x kh x kw) and W the weight as (out_channels, in_channels*kh*kw);
     ``Y`` is the output channels-last, (N*out_h*out_w, out_channels). A vector add after a conv is
     not fused (its last dimension is the width, not the channels);
   - ``torch.matmul`` / ``@`` / ``mm`` of two 2-D tensors: ``C(i,k) = A(i,j) * B(j,k)`` (each operand
     CSR or dense by the same 50% rule);
   - ``+``, ``*``, ``-`` of two same-shape tensors: ``C(i,j) = A(i,j) + B(i,j)`` etc. (flattened to 2-D).

   A program's single consumer that is a ReLU, Hardtanh/ReLU6/clamp, a bias add (a number, or a
   vector along the last dimension) or a scale (multiplication by a number) is fused as the
   program's epilogue (``zeroskip.Epilogue``: ``clamp(relu(scale * v + bias))``, fused in that
   order only) and gets no program of its own; the layer's note names it.
4. Everything else (softmax, layernorm, gelu, pooling, grouped convolutions, reshape/view/flatten/
   getitem, an epilogue with no program to fuse into, ...) is a host op: listed by name and type in
   ``TracedModel.host_ops`` ("run on the modelled host"), never dropped. Placeholders, parameters
   (``get_attr``) and the output node are not operations.

Example:
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4),
    ...                             torch.nn.Softmax(dim=-1))
    >>> traced = trace(model, torch.randn(2, 8))
    >>> [(layer.name, layer.op, layer.shapes["Y"]) for layer in traced.layers]
    [('0', 'Linear', (2, 16)), ('2', 'Linear', (2, 4))]
    >>> traced.layers[0].note
    'fused epilogue: bias, relu (1); X dense; W csr'
    >>> [str(h) for h in traced.host_ops]
    ['3: Softmax']
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual name
from torch import fx, nn

from zeroskip.compiler.epilogue import Epilogue
from zeroskip.compiler.program import Program
from zeroskip.compiler.program import compile as zs_compile
from zeroskip.formats.convert import as_tensor
from zeroskip.nn.conv import SparseConv2d, im2col
from zeroskip.nn.linear import SparseLinear, SparseWeights

__all__ = ["ACT_CSR_SPARSITY", "HostOp", "TracedLayer", "TracedModel", "channels_last_rows", "trace"]

ACT_CSR_SPARSITY = 0.5  # an operand with at least this fraction of zeros is passed in CSR, else dense
LINEAR = "Y(b,o) = X(b,i) * W(o,i)"
MATMUL = "C(i,k) = A(i,j) * B(j,k)"
ELEMENTWISE = {"add": "C(i,j) = A(i,j) + B(i,j)", "mul": "C(i,j) = A(i,j) * B(i,j)", "sub": "C(i,j) = A(i,j) - B(i,j)"}
_STAGES = ("scale", "bias", "relu", "clamp")  # the order Epilogue applies them in


@dataclass(frozen=True, slots=True, eq=False)
class TracedLayer:
    """One program of a traced model: its node name, op type, the Program, shapes and measured sparsity.

    ``operands``: the concrete tensors (2-D, as the program reads them) by program input name, bound
    into ``program`` already; ``output``: what torch computed for this layer including its fused
    epilogue (2-D); ``shapes``: operand and output (``Y`` or ``C``) shapes; ``weight_sparsity``:
    the weight's zero fraction (``None`` when no operand is a parameter); ``input_sparsity``: the
    activation's zero fraction.
    """

    name: str
    op: str
    program: Program | None
    shapes: dict[str, tuple[int, ...]]
    weight_sparsity: float | None
    input_sparsity: float
    operands: dict[str, torch.Tensor]
    note: str = ""
    expr: str = ""
    output: torch.Tensor | None = None
    output_sparsity: float = 0.0
    fused: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HostOp:
    """An operation the accelerator model does not run: it runs on the modelled host."""

    name: str
    op: str
    shape: tuple[int, ...] | None = None
    note: str = ""

    def __str__(self) -> str:
        return f"{self.name}: {self.op}" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True, slots=True, eq=False)
class TracedModel:
    """The programs (``layers``) and host ops of a model, in execution order, and how it was traced."""

    layers: list[TracedLayer]
    host_ops: list[HostOp]
    method: str = "torch.fx"
    outputs: tuple = field(default=(), repr=False)

    @property
    def programs(self) -> list[Program]:
        return [layer.program for layer in self.layers if layer.program is not None]

    def summary(self) -> str:
        """A text table: one row per layer (op, expression, shapes, sparsity, note), then the host ops.

        >>> print(TracedModel([], [HostOp("x", "Softmax")]).summary())
        traced with torch.fx: 0 programs, 1 host ops
        host ops (run on the modelled host, not mapped to the accelerator): x: Softmax
        """
        lines = [f"traced with {self.method}: {len(self.layers)} programs, {len(self.host_ops)} host ops"]
        if self.layers:
            lines.append(f"{'layer':<16} {'op':<16} {'shapes':<32} {'w.sp':>6} {'act.sp':>6} {'out.sp':>6}  note")
        for layer in self.layers:
            lines.append(f"{layer.name:<16} {layer.op:<16} {_shapes(layer.shapes):<32} {_pct(layer.weight_sparsity):>6} "
                         f"{_pct(layer.input_sparsity):>6} {_pct(layer.output_sparsity):>6}  {layer.note}")
        if self.host_ops:
            lines.append("host ops (run on the modelled host, not mapped to the accelerator): "
                         + ", ".join(str(h) for h in self.host_ops))
        return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def _shapes(shapes: dict) -> str:
    return " ".join(f"{k}{list(v)}" for k, v in shapes.items()).replace(" ", "")


def sparsity(t: torch.Tensor) -> float:
    """The fraction of zeros in ``t`` (0 for an empty tensor)."""
    return 1.0 - int(torch.count_nonzero(t)) / t.numel() if t.numel() else 0.0


# ---- recording ---------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Rec:
    """One executed operation: its values (snapshots), its producers and consumers by name."""

    name: str
    kind: str  # call_module, call_function, call_method
    target: object
    module: nn.Module | None
    args: tuple
    kwargs: dict
    output: object
    producers: tuple  # per positional arg: producer name or None
    params: frozenset  # producer names that are parameters / buffers (get_attr)
    users: list = field(default_factory=list)


def _snap(v):
    if isinstance(v, torch.Tensor):
        return v.detach().clone()
    if isinstance(v, (tuple, list)):
        return type(v)(_snap(x) for x in v)
    return v


class _Tracer(fx.Tracer):
    """torch.fx's tracer with SparseLinear and SparseConv2d (whose forwards branch on values) kept leaves."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, SparseWeights) or super().is_leaf_module(m, qualname)


class _Recorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule):
        super().__init__(gm)
        self.values: dict[str, object] = {}

    def run_node(self, n: fx.Node):
        result = super().run_node(n)
        self.values[n.name] = _snap(result)
        return result


def _fx_records(model: nn.Module, inputs: tuple) -> tuple[list[_Rec], object]:
    graph = _Tracer().trace(model)
    gm = fx.GraphModule(model, graph)
    rec = _Recorder(gm)
    with torch.no_grad():
        out = rec.run(*inputs)
    values = rec.values

    def value(a):
        return fx.node.map_arg(a, lambda n: values[n.name])

    names = {n.name: str(n.target) if n.op == "call_module" else n.name for n in graph.nodes}
    params = {n.name for n in graph.nodes if n.op == "get_attr"}
    records, by_name = [], {}
    for n in graph.nodes:
        if n.op in ("placeholder", "get_attr", "output"):
            continue
        producers = tuple(names[a.name] if isinstance(a, fx.Node) else None for a in n.args)
        module = gm.get_submodule(n.target) if n.op == "call_module" else None
        r = _Rec(names[n.name], n.op, n.target, module, value(n.args), value(n.kwargs), values[n.name], producers,
                 frozenset(names[p] for p in params))
        by_name[r.name] = r
        records.append(r)
    for n in graph.nodes:
        users = ["<output>" if u.op == "output" else names[u.name] for u in n.users]
        if names[n.name] in by_name:  # a returned tensor counts as a user: it cannot be fused away
            by_name[names[n.name]].users = list(dict.fromkeys(users))
    return records, out


def _hook_records(model: nn.Module, inputs: tuple) -> tuple[list[_Rec], object]:
    """Fallback: forward hooks on leaf modules; producers found by tensor identity."""
    records: list[_Rec] = []
    made: dict[int, str] = {}
    keep: list = []  # keeps the live tensors so their ids stay unique
    counts: dict[str, int] = {}

    def hook_for(name):
        def hook(module, args, output):
            counts[name] = counts.get(name, 0) + 1
            rname = name if counts[name] == 1 else f"{name}#{counts[name]}"
            producers = tuple(made.get(id(a)) if isinstance(a, torch.Tensor) else None for a in args)
            records.append(_Rec(rname, "call_module", module, module, _snap(args), {}, _snap(output), producers,
                                frozenset()))
            keep.extend([*args, output])
            if isinstance(output, torch.Tensor):
                made[id(output)] = rname
        return hook

    handles = [m.register_forward_hook(hook_for(name)) for name, m in model.named_modules()
               if name and (not list(m.children()) or isinstance(m, SparseWeights))]
    try:
        with torch.no_grad():
            out = model(*inputs)
    finally:
        for h in handles:
            h.remove()
    for r in records:
        for p in r.producers:
            for q in records:
                if q.name == p:
                    q.users.append(r.name)
    return records, out


# ---- classification ----------------------------------------------------------------------------------

_LINEAR_FNS = {F.linear}
_CONV_FNS = {F.conv2d, torch.conv2d}
_MATMUL_FNS = {torch.matmul, operator.matmul, torch.mm}
_ELEMENTWISE_FNS = {operator.add: "add", torch.add: "add", operator.iadd: "add", operator.mul: "mul",
                    torch.mul: "mul", operator.imul: "mul", operator.sub: "sub", torch.sub: "sub"}
_RELU_FNS = {F.relu, torch.relu}
_CLAMP_FNS = {torch.clamp, torch.clip}


def _arg(r: _Rec, i: int, key: str, default=None):
    return r.args[i] if len(r.args) > i else r.kwargs.get(key, default)


def _op_name(r: _Rec) -> str:
    if r.kind == "call_module":
        return type(r.module).__name__.removeprefix("Parametrized")
    if r.kind == "call_method":
        return f"Tensor.{r.target}"
    mod = getattr(r.target, "__module__", "") or ""
    prefix = {"torch.nn.functional": "F.", "_operator": "operator.", "operator": "operator."}.get(mod, "torch.")
    return prefix + getattr(r.target, "__name__", str(r.target))


def _kind(r: _Rec) -> str:
    """'linear', 'conv', 'matmul', 'add'/'mul'/'sub', 'relu', 'clamp', or 'host'."""
    t, m = r.target, r.module
    if r.kind == "call_module":
        if isinstance(m, (nn.Linear, SparseLinear)):
            return "linear"
        if isinstance(m, (nn.Conv2d, SparseConv2d)):
            return "conv"
        if isinstance(m, nn.ReLU):
            return "relu"
        if isinstance(m, nn.Hardtanh):
            return "clamp"
        return "host"
    if r.kind == "call_method":
        name = str(t).rstrip("_")
        return {"matmul": "matmul", "mm": "matmul", "add": "add", "mul": "mul", "sub": "sub", "relu": "relu",
                "clamp": "clamp", "clip": "clamp"}.get(name, "host")
    if t in _LINEAR_FNS:
        return "linear"
    if t in _CONV_FNS:
        return "conv"
    if t in _MATMUL_FNS:
        return "matmul"
    if t in _ELEMENTWISE_FNS:
        return _ELEMENTWISE_FNS[t]
    if t in _RELU_FNS:
        return "relu"
    if t in _CLAMP_FNS or t in (F.hardtanh, F.relu6):
        return "clamp"
    return "host"


def _clamp_bounds(r: _Rec):
    """(lo, hi) of a clamp-like op, or None when the bounds are not plain numbers."""
    if r.kind == "call_module":
        return float(r.module.min_val), float(r.module.max_val)
    if r.target is F.relu6:
        return 0.0, 6.0
    if r.target is F.hardtanh:
        return float(_arg(r, 1, "min_val", -1.0)), float(_arg(r, 2, "max_val", 1.0))
    lo, hi = _arg(r, 1, "min"), _arg(r, 2, "max")
    if any(isinstance(v, torch.Tensor) for v in (lo, hi)):
        return None
    return (None if lo is None else float(lo)), (None if hi is None else float(hi))


def _is_float(t) -> bool:
    return isinstance(t, torch.Tensor) and t.dtype.is_floating_point and t.dtype != torch.float16


def _epilogue_step(r: _Rec, source: str, out_shape: tuple) -> tuple[str, object] | None:
    """What ``r`` contributes to the epilogue of the program whose output is ``source``, if fusable."""
    kind = _kind(r)
    if r.producers[:1] != (source,) and kind in ("relu", "clamp"):
        return None
    if kind == "relu":
        return "relu", True
    if kind == "clamp":
        bounds = _clamp_bounds(r)
        return None if bounds is None else ("clamp", bounds)
    if kind in ("add", "mul") and len(r.args) == 2 and not r.kwargs:
        others = [a for a, p in zip(r.args, r.producers, strict=True) if p != source]
        if len(others) != 1 or r.producers.count(source) != 1:
            return None
        other = others[0]
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return ("bias", float(other)) if kind == "add" else ("scale", float(other))
        if kind == "add" and isinstance(other, torch.Tensor) and other.ndim == 1 and out_shape \
                and other.shape[0] == out_shape[-1] and other.shape[0] > 1:
            return "bias", other.detach().float().numpy().copy()
    return None


def _zero_sensitive(stages: dict) -> bool:
    """Whether the epilogue maps 0 to a nonzero (a bias, or a clamp range excluding 0)."""
    bias = stages.get("bias")
    lo, hi = stages.get("clamp") or (None, None)
    has_bias = bias is not None and bool(np.any(np.asarray(bias) != 0))
    return has_bias or (lo is not None and lo > 0) or (hi is not None and hi < 0)


def _fmt(t: torch.Tensor) -> str:
    return "csr" if sparsity(t) >= ACT_CSR_SPARSITY else "dense"


def _np(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().float().numpy())


def _to2d(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(1, -1) if t.ndim == 1 else t.reshape(-1, t.shape[-1])


def channels_last_rows(t: torch.Tensor) -> torch.Tensor:
    """A conv output (N, C, H, W) or (C, H, W) as the im2col program's (N*H*W, C) rows.

    >>> channels_last_rows(torch.arange(8.0).reshape(1, 2, 2, 2)).tolist()
    [[0.0, 4.0], [1.0, 5.0], [2.0, 6.0], [3.0, 7.0]]
    """
    t = t if t.ndim == 4 else t.unsqueeze(0)
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])


def _conv_spec(r: _Rec):
    """(expr, operands, weight name, bias) of a Conv2d as an im2col matmul, or (None, reason)."""
    if r.kind == "call_module":
        m = r.module
        x, w, b = r.args[0], m.weight, m.bias
        stride, padding, dilation, groups = m.stride, m.padding, m.dilation, m.groups
        if getattr(m, "padding_mode", "zeros") != "zeros":
            return None, f"padding_mode={m.padding_mode!r}: only zero padding is mapped"
    else:
        x, w, b = r.args[0], _arg(r, 1, "weight"), _arg(r, 2, "bias")
        stride, padding = _arg(r, 3, "stride", 1), _arg(r, 4, "padding", 0)
        dilation, groups = _arg(r, 5, "dilation", 1), _arg(r, 6, "groups", 1)
    if groups != 1:
        return None, f"groups={groups}: only groups=1 convolutions are mapped"
    if not (_is_float(x) and _is_float(w) and x.ndim in (3, 4) and w.ndim == 4):
        return None, "conv2d of non-float operands or of an input that is not (N, C, H, W) / (C, H, W)"
    xb = x.detach().float() if x.ndim == 4 else x.detach().float().unsqueeze(0)
    cols, _ = im2col(xb, tuple(w.shape[-2:]), stride, padding, dilation)
    patches = cols.transpose(1, 2).reshape(-1, cols.shape[1])  # (images * out pixels, in * kh * kw)
    return (LINEAR, {"X": patches, "W": w.detach().reshape(w.shape[0], -1)}, "W", b), ""


def _mappable(r: _Rec, kind: str):
    """(expr, operands, weight-operand name, bias) when ``r`` maps onto a program, else (None, reason)."""
    if kind == "linear":
        if r.kind == "call_module":
            x, w, b = r.args[0], r.module.weight, r.module.bias
        else:
            x, w, b = r.args[0], _arg(r, 1, "weight"), _arg(r, 2, "bias")
        if not (_is_float(x) and _is_float(w) and x.ndim >= 1):
            return None, "linear of non-float or scalar operands"
        return (LINEAR, {"X": _to2d(x.detach()), "W": w.detach()}, "W", b), ""
    if kind == "conv":
        return _conv_spec(r)
    if kind == "matmul":
        a, bmat = r.args[0], r.args[1] if len(r.args) > 1 else None
        if not (_is_float(a) and _is_float(bmat) and a.ndim == 2 and bmat.ndim == 2):
            shapes = [tuple(v.shape) for v in (a, bmat) if isinstance(v, torch.Tensor)]
            return None, f"matmul of shapes {shapes}: only 2-D x 2-D is mapped"
        weight = "B" if r.producers[1:2] and r.producers[1] in r.params else None
        return (MATMUL, {"A": a.detach(), "B": bmat.detach()}, weight, None), ""
    a, b = (_arg(r, 0, "input"), _arg(r, 1, "other"))
    if r.kwargs.get("alpha", 1) != 1 or not (_is_float(a) and _is_float(b)) or a.shape != b.shape or a.ndim == 0:
        return None, "elementwise op of different shapes, a number, or with alpha (only same-shape tensors mapped)"
    weight = "B" if r.producers[1:2] and r.producers[1] in r.params else None
    return (ELEMENTWISE[kind], {"A": _to2d(a.detach()), "B": _to2d(b.detach())}, weight, None), ""


def _build_layer(r: _Rec, kind: str, spec, records: dict[str, _Rec]) -> tuple[TracedLayer, set[str]]:
    expr, operands, weight, bias = spec
    out_index = "o" if kind in ("linear", "conv") else ("k" if kind == "matmul" else "j")
    stages: dict[str, object] = {}
    if bias is not None:
        stages["bias"] = bias.detach().float().numpy().copy()
    fused: list[str] = []
    fused_desc: list[str] = []
    current, out = r, r.output
    while len(current.users) == 1 and current.users[0] in records:
        nxt = records[current.users[0]]
        step = _epilogue_step(nxt, current.name, () if kind == "conv" else tuple(out.shape))  # () : no vector bias
        if step is None:
            break
        stage, value = step
        last = max((_STAGES.index(s) for s in stages), default=-1)
        if _STAGES.index(stage) <= last:
            break  # Epilogue applies clamp(relu(scale * v + bias)): a later op cannot come earlier
        stages[stage] = value
        fused.append(nxt.name)
        fused_desc.append(f"{stage} ({nxt.name})")
        current, out = nxt, nxt.output
    epilogue = Epilogue(scale=stages.get("scale"), bias=stages.get("bias"), relu=bool(stages.get("relu")),
                        clamp=stages.get("clamp"), bias_index=out_index if "bias" in stages else None)
    formats = {n: ("csr" if n == "W" else _fmt(t)) for n, t in operands.items()}
    out_format = None  # the schedule's choice, unless the epilogue turns zeros into nonzeros:
    if _zero_sensitive(stages):  # then every output entry must be written, as torch does
        out_format = "dense"
        if kind not in ("linear", "conv", "matmul"):  # SAM cannot write a dense output from an intersection
            formats = dict.fromkeys(operands, "dense")
    program = zs_compile(expr, out=out_format, epilogue=epilogue,
                         **{n: as_tensor(_np(t), format=formats[n]) for n, t in operands.items()})
    to_rows = channels_last_rows if kind == "conv" else _to2d
    output = to_rows(out.detach()) if isinstance(out, torch.Tensor) else out
    first = next(iter(operands))
    out_name = expr.split("(")[0]
    notes = [f"{n} {formats[n]}" for n in operands]
    if kind == "conv":
        notes.insert(0, "im2col: X = input patches, Y channels-last")
    if bias is not None:
        fused_desc.insert(0, "bias")
    if fused_desc:
        notes.insert(0, "fused epilogue: " + ", ".join(fused_desc))
    layer = TracedLayer(
        name=r.name, op=_op_name(r), program=program,
        shapes={**{n: tuple(t.shape) for n, t in operands.items()}, out_name: tuple(output.shape)},
        weight_sparsity=None if weight is None else sparsity(operands[weight]),
        input_sparsity=sparsity(operands[first]), operands=operands,
        note="; ".join(notes), expr=expr, output=output,
        output_sparsity=sparsity(output), fused=tuple(fused))
    return layer, set(fused)


def _inputs(example_inputs) -> tuple:
    return tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)


def trace(model: nn.Module, example_inputs) -> TracedModel:
    """Trace ``model`` on ``example_inputs`` (a tensor or a tuple of them) into programs and host ops.

    See the module docstring for what maps and what stays on the host.

    >>> m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    >>> t = trace(m, torch.ones(2, 4))
    >>> [layer.expr for layer in t.layers], [h.op for h in t.host_ops]
    (['Y(b,o) = X(b,i) * W(o,i)'], ['LayerNorm'])
    """
    inputs = _inputs(example_inputs)
    was_training = model.training
    model.eval()
    try:
        try:
            records, outputs = _fx_records(model, inputs)
            method, extra = "torch.fx", []
        except Exception as exc:  # noqa: BLE001 - any fx failure falls back to module hooks, and says why
            records, outputs = _hook_records(model, inputs)
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:160]
            method = f"module hooks (torch.fx failed: {reason})"
            extra = [HostOp("<functional code>", "untraced",
                            note="module hooks see leaf modules only; functional ops between them are not listed")]
    finally:
        model.train(was_training)
    by_name = {r.name: r for r in records}
    layers: list[TracedLayer] = []
    host: list[HostOp] = []
    fused: set[str] = set()
    for r in records:
        if r.name in fused:
            continue
        kind = _kind(r)
        shape = tuple(r.output.shape) if isinstance(r.output, torch.Tensor) else None
        if kind in ("linear", "conv", "matmul", "add", "mul", "sub"):
            spec, why = _mappable(r, kind)
            if spec is not None:
                layer, absorbed = _build_layer(r, kind, spec, by_name)
                layers.append(layer)
                fused |= absorbed
                continue
            host.append(HostOp(r.name, _op_name(r), shape, why))
        elif kind in ("relu", "clamp"):
            host.append(HostOp(r.name, _op_name(r), shape, "no producing program to fuse into"))
        else:
            host.append(HostOp(r.name, _op_name(r), shape))
    return TracedModel(layers, host + extra, method, outputs)
