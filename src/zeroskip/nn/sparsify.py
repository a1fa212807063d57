"""``sparsify(model)``: replace the Linear layers worth it by ``SparseLinear``, and say why for each.

The rule, per ``nn.Linear``: its weight has at least ``min_sparsity`` zeros AND the cost model
predicts the sparse kernel faster than dense BLAS at the typical batch (``batch`` rows of dense
activations, on ``threads`` threads). Other layers stay as they are; Conv2d is not sparsified yet.

Example:
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8))
    >>> with torch.no_grad():
    ...     model[0].weight[torch.rand(64, 64) < 0.95] = 0
    >>> fast = sparsify(model, backend="sparse")  # "auto" would also ask the cost model
    >>> [type(m).__name__ for m in fast]
    ['SparseLinear', 'ReLU', 'Linear']
    >>> x = torch.randn(5, 64)
    >>> torch.allclose(fast(x), model(x).detach(), atol=1e-5)
    True
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from zeroskip.nn.linear import SparseLinear


@dataclass(frozen=True, slots=True)
class LayerDecision:
    """One layer's decision: its qualified name, kind, shape, weight sparsity, and why."""

    name: str
    kind: str
    shape: tuple[int, ...]
    sparsity: float
    sparse: bool
    reason: str

    def __str__(self) -> str:
        verdict = "sparse" if self.sparse else "dense"
        return f"{self.name or '<model>'}: {self.kind}{list(self.shape)} sparsity {self.sparsity:.3f} -> {verdict}: {self.reason}"


def _weight_sparsity(weight: torch.Tensor) -> float:
    return 1.0 - int(torch.count_nonzero(weight)) / max(weight.numel(), 1)


def _decide(name: str, module: nn.Module, min_sparsity: float, threads: int | None, batch: int,
            backend: str) -> LayerDecision | None:
    if isinstance(module, SparseLinear):
        return LayerDecision(name, "SparseLinear", tuple(module.weight.shape), module.sparsity, True,
                             "already a SparseLinear")
    if isinstance(module, nn.Conv2d):
        return LayerDecision(name, "Conv2d", tuple(module.weight.shape), _weight_sparsity(module.weight), False,
                             "Conv2d is not sparsified yet (no im2col path): stays dense")
    if not isinstance(module, nn.Linear):
        return None
    shape, sparsity = tuple(module.weight.shape), _weight_sparsity(module.weight.detach())
    if sparsity < min_sparsity:
        return LayerDecision(name, "Linear", shape, sparsity, False, f"sparsity {sparsity:.3f} < {min_sparsity=}")
    if backend != "auto":
        return LayerDecision(name, "Linear", shape, sparsity, True, f"{sparsity=:.3f} >= {min_sparsity=}, "
                             f"backend={backend!r} forced")
    candidate = SparseLinear.from_dense(module, threads=threads)
    sparse_s, dense_s = candidate.predict(batch)
    gain = sparse_s <= dense_s
    return LayerDecision(name, "Linear", shape, sparsity, gain,
                         f"cost model at batch {batch}: predicted sparse {sparse_s * 1e3:.3g} ms "
                         f"{'<=' if gain else '>'} dense {dense_s * 1e3:.3g} ms")


def sparsify_report(model: nn.Module, *, min_sparsity: float = 0.5, threads: int | None = None, batch: int = 64,
                    backend: str = "auto") -> list[LayerDecision]:
    """Each Linear (and Conv2d, SparseLinear) layer's decision under ``sparsify``'s rule, in module order.

    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Conv2d(1, 1, 3))
    >>> [(d.name, d.kind, d.sparse) for d in sparsify_report(model)]
    [('0', 'Linear', False), ('1', 'Conv2d', False)]
    """
    decisions = [_decide(name, m, min_sparsity, threads, batch, backend) for name, m in model.named_modules()]
    return [d for d in decisions if d is not None]


def sparsify(model: nn.Module, *, min_sparsity: float = 0.5, threads: int | None = None, inplace: bool = False,
             batch: int = 64, backend: str = "auto", activation_sparse: bool | float | None = None) -> nn.Module:
    """``model`` (a deep copy unless ``inplace``) with each ``nn.Linear`` that passes the rule (module
    docstring) replaced by a ``SparseLinear`` built with ``threads``, ``backend`` and ``activation_sparse``.

    ``sparsify`` on a bare ``nn.Linear`` returns the SparseLinear (or the layer) itself.
    """
    if not 0.0 <= min_sparsity <= 1.0:
        raise ValueError(f"min_sparsity must lie in [0, 1], got {min_sparsity=}")
    target = model if inplace else copy.deepcopy(model)
    chosen = {d.name for d in sparsify_report(target, min_sparsity=min_sparsity, threads=threads, batch=batch,
                                              backend=backend) if d.sparse and d.kind == "Linear"}
    if "" in chosen:  # the model is one Linear
        return SparseLinear.from_dense(target, threads=threads, backend=backend, activation_sparse=activation_sparse)
    for name in sorted(chosen, key=lambda n: -n.count(".")):
        parent_name, _, child = name.rpartition(".")
        parent = target.get_submodule(parent_name)
        layer = SparseLinear.from_dense(getattr(parent, child), threads=threads, backend=backend,
                                        activation_sparse=activation_sparse)
        setattr(parent, child, layer)
    return target
