"""Pruning PyTorch models: masks from ``zeroskip.prune.masks``, kept applied through fine-tuning.

How masks stay applied: each pruned weight becomes a ``torch.nn.utils.parametrize``
parametrization ``weight = original * mask``. The weight a forward pass sees is computed from
the mask, so no optimizer can make a pruned weight nonzero: Adam's momentum, weight decay or a
custom update may move ``original`` at a pruned position, but the product stays exactly 0 (and
the gradient reaching a pruned position is 0 too). A forward pre-hook would leave nonzero weights
between a step and the next forward (and in ``state_dict``); re-applying after ``optimizer.step``
needs a hook on every optimizer the user builds. The masks are boolean buffers, so they move
with ``model.to(...)`` and are saved in ``state_dict`` (``load_pruned`` restores them); torch
refuses to pickle parametrized modules whole, so save pruned models through ``state_dict``.
``remove_pruning`` (or ``GradualPruner.remove``) makes the zeros permanent in plain weights.

torch is imported inside the functions only, so ``import zeroskip.prune`` stays light.

Example:
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    >>> state = prune_model(model, "nm", n=2, m=4)
    >>> sorted(state), state.sparsity()
    (['0', '2'], 0.5)
    >>> float((model[0].weight == 0).float().mean())
    0.5
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from zeroskip.errors import ConfigError, ShapeError
from zeroskip.prune.calibration import PADDING_MASK, _torch, activation_norms, as_batches, call_batch
from zeroskip.prune import masks as M
from zeroskip.prune.schedule import cubic_sparsity

METHODS = ("magnitude", "global", "nm", "block", "wanda")
GRADUAL_METHODS = ("magnitude", "global", "block")


@functools.cache
def _mask_class():
    torch = _torch()

    class _PruneMask(torch.nn.Module):
        """The parametrization ``weight = original * mask`` (mask: a boolean buffer)."""

        def __init__(self, mask):
            super().__init__()
            self.register_buffer("mask", mask.to(torch.bool))

        def forward(self, original):
            return original * self.mask

    return _PruneMask


class PruneState(Mapping):
    """The masks of a pruned model: layer name -> boolean keep-mask tensor (a snapshot, on the CPU).

    Example:
        >>> import torch
        >>> state = PruneState({"fc": torch.tensor([[True, False], [False, False]])}, method="magnitude")
        >>> state.sparsity(), state.layer_sparsity()
        (0.75, {'fc': 0.75})
    """

    def __init__(self, masks: Mapping, method: str = "magnitude"):
        self._masks = dict(masks)
        self.method = method

    def __getitem__(self, name: str):
        return self._masks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)

    def layer_sparsity(self) -> dict[str, float]:
        """Fraction of pruned weights per layer."""
        return {k: M.mask_sparsity(v.numpy()) for k, v in self._masks.items()}

    def sparsity(self) -> float:
        """Fraction of pruned weights over all layers."""
        total = sum(v.numel() for v in self._masks.values())
        kept = sum(int(v.sum()) for v in self._masks.values())
        return 0.0 if total == 0 else (total - kept) / total

    def __repr__(self) -> str:
        return f"PruneState(method={self.method!r}, layers={len(self)}, sparsity={self.sparsity():.4f})"


# ---------------------------------------------------------------------------------------------
# Layers, masks in and out of modules


def _prunable_types(include_conv: bool):
    nn = _torch().nn
    return (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d) if include_conv else (nn.Linear,)


def _select_layers(model, layers, include_conv: bool) -> dict:
    torch = _torch()
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(f"expected a torch.nn.Module, got {type(model).__name__}")
    named = dict(model.named_modules())
    if layers is None:
        kinds = _prunable_types(include_conv)
        chosen = {name: mod for name, mod in named.items() if isinstance(mod, kinds)}
    else:
        if isinstance(layers, str):
            layers = [layers]
        chosen = {}
        kinds = _prunable_types(True)
        for name in layers:
            if name not in named:
                raise ConfigError(f"layer {name!r} is not a submodule of the model")
            if not isinstance(named[name], kinds):
                raise ConfigError(f"layer {name!r} is a {type(named[name]).__name__}; only Linear and Conv layers prune")
            chosen[name] = named[name]
    if not chosen:
        raise ConfigError("the model has no layers to prune (no nn.Linear; pass include_conv=True for Conv layers)")
    return chosen


def _find_mask_module(module):
    parametrize = _torch().nn.utils.parametrize
    if not parametrize.is_parametrized(module, "weight"):
        return None
    cls = _mask_class()
    for p in module.parametrizations.weight:
        if isinstance(p, cls):
            return p
    return None


def _weight_numpy(module) -> np.ndarray:
    # the effective weight (original * mask when already pruned)
    return module.weight.detach().to("cpu", dtype=_torch().float64).numpy()


def _set_mask(module, mask: np.ndarray) -> None:
    """Attach (or update) the mask parametrization and zero the pruned originals in place."""
    torch = _torch()
    existing = _find_mask_module(module)
    with torch.no_grad():
        device = module.weight.device
        t = torch.from_numpy(np.ascontiguousarray(mask)).to(device=device, dtype=torch.bool)
        if existing is None:
            torch.nn.utils.parametrize.register_parametrization(module, "weight", _mask_class()(t))
        else:
            existing.mask.copy_(t)
        module.parametrizations.weight.original.mul_(t)


def _snapshot(chosen: dict, method: str) -> PruneState:
    return PruneState({name: _find_mask_module(mod).mask.detach().to("cpu").clone() for name, mod in chosen.items()},
                      method)


def current_masks(model) -> PruneState:
    """The masks now attached to a model's layers (every layer pruned by zeroskip)."""
    named = dict(_torch().nn.Module.named_modules(model))
    return _snapshot({n: m for n, m in named.items() if _find_mask_module(m) is not None}, "attached")


def apply_masks(model, masks: Mapping) -> PruneState:
    """Attach given keep-masks (layer name -> bool array or tensor of the weight's shape) and keep them applied.

    Example:
        >>> import torch
        >>> fc = torch.nn.Linear(2, 2)
        >>> apply_masks(torch.nn.Sequential(fc), {"0": [[True, False], [False, True]]}).sparsity()
        0.5
        >>> float(fc.weight.detach()[0, 1])
        0.0
    """
    torch = _torch()
    chosen = _select_layers(model, list(masks), include_conv=True)
    for name, mod in chosen.items():
        m = masks[name]
        arr = m.detach().cpu().numpy() if isinstance(m, torch.Tensor) else np.asarray(m)
        if arr.shape != tuple(mod.weight.shape):
            raise ShapeError(f"mask for {name!r} has shape {arr.shape}, the weight {tuple(mod.weight.shape)}")
        _set_mask(mod, arr.astype(bool))
    return _snapshot(chosen, "given")


def remove_pruning(model) -> None:
    """Make pruning permanent: every masked weight becomes a plain parameter holding the zeros."""
    parametrize = _torch().nn.utils.parametrize
    for mod in list(model.modules()):
        if _find_mask_module(mod) is not None:
            parametrize.remove_parametrizations(mod, "weight", leave_parametrized=True)


def load_pruned(model, state_dict: Mapping, strict: bool = True) -> PruneState:
    """Load a pruned model's ``state_dict`` into a fresh model of the same architecture, masks included.

    The masks in the state dict (keys ``<layer>.parametrizations.weight.0.mask``) are attached first,
    so the loaded model keeps them applied while it trains on.
    """
    suffix = ".parametrizations.weight.0.mask"
    masks = {k[: -len(suffix)]: v for k, v in state_dict.items() if k.endswith(suffix)}
    state = apply_masks(model, masks) if masks else PruneState({}, "given")
    model.load_state_dict(state_dict, strict=strict)
    return current_masks(model) if masks else state


# ---------------------------------------------------------------------------------------------
# One-shot pruning


def _layer_masks(chosen: dict, method: str, sparsity, n: int, m: int, block, norms=None,
                 previous: Mapping | None = None) -> dict[str, np.ndarray]:
    weights = {name: _weight_numpy(mod) for name, mod in chosen.items()}
    if previous is not None and method in ("magnitude", "global"):
        # gradual pruning is monotone: what was pruned ranks below every kept weight
        scores = {k: np.where(previous[k], np.abs(w), -np.inf) for k, w in weights.items()}
    else:
        scores = {k: np.abs(w) for k, w in weights.items()}
    if method == "magnitude":
        return {k: M.score_mask(s, sparsity) for k, s in scores.items()}
    if method == "global":
        return M.global_score_masks(scores, sparsity)
    if method == "nm":
        # the input dimension: Linear (out, in) axis 1; Conv (out, in, *kernel) input channels, axis 1
        return {k: M.nm_mask(w, n, m, axis=1) for k, w in weights.items()}
    if method == "block":
        out = {}
        for k, w in weights.items():
            flat = w.reshape(w.shape[0], -1)  # Conv weights as (out, in * kernel)
            out[k] = M.block_mask(flat, block, sparsity).reshape(w.shape)
        return out
    if method == "wanda":
        return {k: M.wanda_mask(w, norms[k], sparsity) for k, w in weights.items()}
    raise ConfigError(f"unknown pruning method {method!r}; expected one of {METHODS}")


def prune_model(model, method: str = "magnitude", sparsity: float | None = 0.5, *, n: int = 2, m: int = 4,
                block: tuple[int, int] = (4, 4), calibration=None, layers=None,
                include_conv: bool = False, padding_mask: str | None = PADDING_MASK) -> PruneState:
    """Prune a model's layers in place and keep the masks applied through later training.

    ``method``: ``"magnitude"`` (per layer), ``"global"`` (one threshold over all chosen layers),
    ``"nm"`` (``n`` of every ``m`` along the input dimension; ``sparsity`` is ignored), ``"block"``
    (``block`` tiles of lowest L2 norm; Conv weights are viewed as (out, in * kernel)) or
    ``"wanda"`` (needs ``calibration``, an iterable of input batches; with ``n``/``m`` it is
    N:M Wanda when ``sparsity`` is None; a mapping batch's ``padding_mask`` entry, default
    ``attention_mask``, keeps padding tokens out of the norms: see ``activation_norms``). ``layers``: names of submodules (default: every
    ``nn.Linear``, plus Conv layers with ``include_conv``). Masks are computed from the current
    effective weights. Returns the masks (a snapshot).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        >>> state = prune_model(model, "wanda", 0.5, calibration=[torch.randn(16, 4)])
        >>> state.layer_sparsity()
        {'0': 0.5, '2': 0.5}
    """
    if method not in METHODS:
        raise ConfigError(f"unknown pruning method {method!r}; expected one of {METHODS}")
    chosen = _select_layers(model, layers, include_conv)
    norms = None
    if method == "wanda":
        if calibration is None:
            raise ConfigError("method='wanda' needs calibration input batches (calibration=[batch, ...])")
        norms = activation_norms(model, calibration, chosen, padding_mask=padding_mask)
        if sparsity is None:
            weights = {k: _weight_numpy(mod) for k, mod in chosen.items()}
            masks = {k: M.wanda_mask(w, norms[k], nm=(n, m)) for k, w in weights.items()}
            for name, mod in chosen.items():
                _set_mask(mod, masks[name])
            return _snapshot(chosen, method)
    if method != "nm":
        sparsity = M._check_sparsity(sparsity)
    masks = _layer_masks(chosen, method, sparsity, n, m, block, norms)
    for name, mod in chosen.items():
        _set_mask(mod, masks[name])
    return _snapshot(chosen, method)


# ---------------------------------------------------------------------------------------------
# Gradual pruning


class GradualPruner:
    """Prune while fine-tuning on the cubic schedule of Zhu and Gupta (2017); call ``step`` from your loop.

    Masks (all ones at first) are attached at construction and stay applied; ``step(global_step)``
    raises the sparsity to ``cubic_sparsity(global_step, ...)`` on pruning steps (every
    ``frequency`` steps from ``start_step``, and at ``end_step``). Pruning is monotone: a pruned
    weight never comes back. ``remove()`` makes the pruning permanent.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> model = torch.nn.Sequential(torch.nn.Linear(8, 8))
        >>> pruner = GradualPruner(model, 0.75, start_step=0, end_step=4, frequency=2)
        >>> [pruner.step(t) for t in range(6)]
        [0.0, 0.0, 0.65625, 0.65625, 0.75, 0.75]
        >>> pruner.remove(); float((model[0].weight == 0).float().mean())
        0.75
    """

    def __init__(self, model, final_sparsity: float, start_step: int, end_step: int, frequency: int = 1,
                 method: str = "magnitude", *, initial_sparsity: float = 0.0, layers=None,
                 include_conv: bool = False, block: tuple[int, int] = (4, 4)):
        if method not in GRADUAL_METHODS:
            raise ConfigError(f"gradual pruning supports methods {GRADUAL_METHODS}, got {method!r}")
        self.schedule = dict(initial=initial_sparsity, final=final_sparsity, start=start_step, end=end_step,
                             frequency=frequency)
        cubic_sparsity(start_step, **self.schedule)  # validates the schedule now, not at the first step
        self.model, self.method, self.block = model, method, block
        self._layers = _select_layers(model, layers, include_conv)
        for mod in self._layers.values():
            if _find_mask_module(mod) is None:
                _set_mask(mod, np.ones(tuple(mod.weight.shape), dtype=bool))
        self.current = 0.0
        self._removed = False

    def target(self, global_step: int) -> float:
        """The scheduled sparsity at a step."""
        return cubic_sparsity(global_step, **self.schedule)

    def step(self, global_step: int) -> float:
        """Update the masks to the scheduled sparsity (if it rose) and return the sparsity now in force."""
        if self._removed:
            raise ConfigError("this GradualPruner was removed; pruning is already permanent")
        target = self.target(global_step)
        if target > self.current:
            previous = {k: _find_mask_module(mod).mask.detach().cpu().numpy() for k, mod in self._layers.items()}
            masks = _layer_masks(self._layers, self.method, target, 0, 0, self.block, previous=previous)
            for name, mod in self._layers.items():
                _set_mask(mod, masks[name])
            self.current = target
        return self.current

    @property
    def state(self) -> PruneState:
        """The masks now applied."""
        return _snapshot(self._layers, self.method)

    def remove(self) -> None:
        """Make the pruning permanent (plain weights with zeros) and stop pruning."""
        for mod in self._layers.values():
            if _find_mask_module(mod) is not None:
                _torch().nn.utils.parametrize.remove_parametrizations(mod, "weight", leave_parametrized=True)
        self._removed = True


# ---------------------------------------------------------------------------------------------
# Sparsity report


@dataclass(frozen=True, slots=True)
class LayerSparsity:
    """One row of a sparsity report; activation sparsities are None without sample inputs."""

    name: str
    kind: str
    shape: tuple[int, ...]
    weight_sparsity: float
    input_sparsity: float | None = None
    output_sparsity: float | None = None

    @property
    def weights(self) -> int:
        return int(np.prod(self.shape))


def _layer_kind(module) -> str:
    cls = type(module)
    if _torch().nn.utils.parametrize.is_parametrized(module):
        cls = cls.__bases__[0]  # parametrize swaps in a subclass named Parametrized<Kind>
    return cls.__name__


def sparsity_report(model, sample_inputs=None, *, include_conv: bool = True) -> list[LayerSparsity]:
    """Per-layer sparsity: the fraction of exact zeros in each Linear (and Conv) layer's weight and,
    given ``sample_inputs``, in its inputs and outputs, measured with forward hooks.

    ``sample_inputs``: a tensor or a tuple of arguments is one batch; a list or other iterable
    yields batches. Activation sparsity is counted over every element of every batch.

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
        >>> with torch.no_grad():
        ...     _ = model[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        ...     _ = model[0].bias.zero_()
        >>> rows = sparsity_report(model, torch.tensor([[1.0, 2.0]]))
        >>> [(r.name, r.weight_sparsity, r.input_sparsity) for r in rows]
        [('0', 0.5, 0.0), ('2', 0.0, 0.5)]
    """
    torch = _torch()
    kinds = _prunable_types(include_conv)
    layers = {n: mod for n, mod in model.named_modules() if isinstance(mod, kinds)}
    counts = {n: [0, 0, 0, 0] for n in layers}  # input zeros, input total, output zeros, output total
    if sample_inputs is not None:
        handles = []

        def hook_for(name):
            def hook(module, args, output):
                c = counts[name]
                x = args[0].detach()
                c[0] += int((x == 0).sum())
                c[1] += x.numel()
                if isinstance(output, torch.Tensor):
                    c[2] += int((output.detach() == 0).sum())
                    c[3] += output.numel()
            return hook

        for name, mod in layers.items():
            handles.append(mod.register_forward_hook(hook_for(name)))
        try:
            with torch.no_grad():
                for batch in as_batches(sample_inputs):
                    call_batch(model, batch)
        finally:
            for h in handles:
                h.remove()
    rows = []
    for name, mod in layers.items():
        w = mod.weight.detach()
        ws = 0.0 if w.numel() == 0 else int((w == 0).sum()) / w.numel()
        c = counts[name]
        rows.append(LayerSparsity(
            name=name, kind=_layer_kind(mod), shape=tuple(w.shape), weight_sparsity=ws,
            input_sparsity=(c[0] / c[1]) if sample_inputs is not None and c[1] else None,
            output_sparsity=(c[2] / c[3]) if sample_inputs is not None and c[3] else None,
        ))
    return rows


def format_report(rows: Iterable[LayerSparsity]) -> str:
    """A plain-text table of a sparsity report, with a total weight-sparsity line.

    Example:
        >>> print(format_report([LayerSparsity("fc", "Linear", (4, 2), 0.5, None, None)]))
        layer  kind    shape  weights  inputs  outputs
        fc     Linear  4x2    50.0%    -       -
        total          8      50.0%
    """
    rows = list(rows)

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    table = [("layer", "kind", "shape", "weights", "inputs", "outputs")]
    for r in rows:
        table.append((r.name or "(model)", r.kind, "x".join(map(str, r.shape)), pct(r.weight_sparsity),
                      pct(r.input_sparsity), pct(r.output_sparsity)))
    total = sum(r.weights for r in rows)
    zeros = sum(r.weight_sparsity * r.weights for r in rows)
    footer = ("total", "", str(total), pct(zeros / total if total else 0.0))
    widths = [max(len(row[i]) for row in [*table, footer] if i < len(row)) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [*table, footer]]
    return "\n".join(lines)
