"""``sparsify(model)``: replace the Linear and Conv2d layers worth it by ``SparseLinear`` / ``SparseConv2d``.

The rule, per ``nn.Linear``: its weight has at least ``min_sparsity`` zeros AND the cost model
predicts the sparse kernel faster than dense BLAS at the typical batch (``batch`` rows of dense
activations, on ``threads`` threads). Per ``nn.Conv2d``: the same, with the cost model asked about
``batch`` images of spatial size ``image_size`` (the im2col product plus its copies, see
``SparseConv2d``), and only for ``groups=1`` with zero padding (other convolutions stay dense, and
the report says why). Other layers stay as they are.

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
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from zeroskip.errors import ShapeError
from zeroskip.nn.conv import SparseConv2d
from zeroskip.nn.linear import SparseLinear, SparseWeights


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
            backend: str, image_size: tuple[int, int]) -> LayerDecision | None:
    if isinstance(module, SparseWeights):
        kind = type(module).__name__
        return LayerDecision(name, kind, tuple(module.weight.shape), module.sparsity, True, f"already a {kind}")
    if isinstance(module, nn.Conv2d):
        return _decide_conv(name, module, min_sparsity, threads, batch, backend, image_size)
    if not isinstance(module, nn.Linear):
        return None
    return _decide_weight(name, "Linear", tuple(module.weight.shape), _weight_sparsity(module.weight.detach()),
                          min_sparsity, backend, f"batch {batch}",
                          lambda: SparseLinear.from_dense(module, threads=threads).predict(batch))


def _decide_weight(name: str, kind: str, shape: tuple[int, ...], sparsity: float, min_sparsity: float, backend: str,
                   at: str, predict: Callable[[], tuple[float, float]]) -> LayerDecision:
    """The rule for one layer of ``kind``: enough zeros, then ``backend`` forced or the cost model's
    ``predict()`` (sparse seconds, dense seconds) at ``at`` (the shape asked about, for the reason)."""
    if sparsity < min_sparsity:
        return LayerDecision(name, kind, shape, sparsity, False, f"sparsity {sparsity:.3f} < {min_sparsity=}")
    if backend != "auto":
        return LayerDecision(name, kind, shape, sparsity, True, f"{sparsity=:.3f} >= {min_sparsity=}, "
                             f"backend={backend!r} forced")
    sparse_s, dense_s = predict()
    gain = sparse_s <= dense_s
    return LayerDecision(name, kind, shape, sparsity, gain,
                         f"cost model at {at}: predicted sparse {sparse_s * 1e3:.3g} ms "
                         f"{'<=' if gain else '>'} dense {dense_s * 1e3:.3g} ms")


def _decide_conv(name: str, module: nn.Conv2d, min_sparsity: float, threads: int | None, batch: int,
                 backend: str, image_size: tuple[int, int]) -> LayerDecision:
    shape, sparsity = tuple(module.weight.shape), _weight_sparsity(module.weight.detach())
    if module.groups != 1 or module.padding_mode != "zeros":
        return LayerDecision(name, "Conv2d", shape, sparsity, False, f"groups={module.groups}, padding_mode="
                             f"{module.padding_mode!r}: only groups=1 with zero padding is sparsified")
    try:
        return _decide_weight(name, "Conv2d", shape, sparsity, min_sparsity, backend,
                              f"{batch} images of {list(image_size)} (im2col)",
                              lambda: SparseConv2d.from_dense(module, threads=threads).predict(batch, image_size))
    except ShapeError as exc:  # the kernel does not fit the assumed image: say so, stay dense
        return LayerDecision(name, "Conv2d", shape, sparsity, False, f"no prediction at {image_size=}: {exc}")


def sparsify_report(model: nn.Module, *, min_sparsity: float = 0.5, threads: int | None = None, batch: int = 64,
                    backend: str = "auto", image_size: tuple[int, int] = (32, 32)) -> list[LayerDecision]:
    """Each Linear and Conv2d (and SparseLinear, SparseConv2d) layer's decision under ``sparsify``'s rule,
    in module order.

    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Conv2d(1, 1, 3))
    >>> [(d.name, d.kind, d.sparse) for d in sparsify_report(model)]
    [('0', 'Linear', False), ('1', 'Conv2d', False)]
    """
    decisions = [_decide(name, m, min_sparsity, threads, batch, backend, image_size)
                 for name, m in model.named_modules()]
    return [d for d in decisions if d is not None]


def _replacement(module: nn.Module, threads: int | None, backend: str, activation_sparse) -> nn.Module:
    if isinstance(module, nn.Conv2d):
        return SparseConv2d.from_dense(module, threads=threads, backend=backend)
    return SparseLinear.from_dense(module, threads=threads, backend=backend, activation_sparse=activation_sparse)


def sparsify(model: nn.Module, *, min_sparsity: float = 0.5, threads: int | None = None, inplace: bool = False,
             batch: int = 64, backend: str = "auto", activation_sparse: bool | float | None = None,
             image_size: tuple[int, int] = (32, 32)) -> nn.Module:
    """``model`` (a deep copy unless ``inplace``) with each ``nn.Linear`` and ``nn.Conv2d`` that passes the rule
    (module docstring) replaced by a ``SparseLinear`` / ``SparseConv2d`` built with ``threads`` and
    ``backend`` (``activation_sparse`` goes to the SparseLinear layers).

    ``sparsify`` on a bare ``nn.Linear`` or ``nn.Conv2d`` returns the sparse layer (or the layer) itself.

    >>> conv = torch.nn.Conv2d(2, 2, 3)
    >>> with torch.no_grad():
    ...     _ = conv.weight.zero_()
    >>> sparsify(conv, backend="sparse")
    SparseConv2d(2, 2, kernel_size=(3, 3), stride=(1, 1), padding=(0, 0), dilation=(1, 1), bias=True, sparsity=1.000, backend='sparse')
    """
    if not 0.0 <= min_sparsity <= 1.0:
        raise ValueError(f"min_sparsity must lie in [0, 1], got {min_sparsity=}")
    target = model if inplace else copy.deepcopy(model)
    chosen = {d.name for d in sparsify_report(target, min_sparsity=min_sparsity, threads=threads, batch=batch,
                                              backend=backend, image_size=image_size)
              if d.sparse and d.kind in ("Linear", "Conv2d")}
    if "" in chosen:  # the model is one layer
        return _replacement(target, threads, backend, activation_sparse)
    for name in sorted(chosen, key=lambda n: -n.count(".")):
        parent_name, _, child = name.rpartition(".")
        parent = target.get_submodule(parent_name)
        setattr(parent, child, _replacement(getattr(parent, child), threads, backend, activation_sparse))
    return target
