"""Recovering a pruned model by distillation: train the student to reproduce a dense teacher's outputs.

``distill(student, teacher, batches, steps=...)`` runs ``steps`` AdamW steps; each step calls both
models on one batch (cycled in a seeded shuffled order), selects the tensors to match with
``output`` and minimizes ``loss`` between them. The teacher runs under ``no_grad`` and its
targets are computed once per batch (it never changes).

How the zeros survive the optimizer: pruned layers keep their mask parametrizations
(``weight = original * mask``, see ``torch_prune``), so every step's weight is exactly zero where
the mask is. A layer with zeros but no mask (after ``remove_pruning``, or zeros from elsewhere) gets
a mask of its nonzeros for the duration when ``keep_zeros`` is on, removed again at the end with
the zeros in the plain weight; without it AdamW would grow the zeros back.

The student trains in eval mode (dropout off) unless ``dropout=True``: short recovery runs are
more stable without it, and a deterministic forward makes ``losses`` comparable step to step.

Example:
    >>> import copy, torch
    >>> from zeroskip.prune import prune_model
    >>> _ = torch.manual_seed(0)
    >>> teacher = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))
    >>> student = copy.deepcopy(teacher)
    >>> _ = prune_model(student, "magnitude", 0.75)
    >>> batches = [torch.randn(32, 8) for _ in range(4)]
    >>> before = mean_cosine(student, teacher, batches)
    >>> result = distill(student, teacher, batches, steps=40, lr=1e-2)
    >>> mean_cosine(student, teacher, batches) > before, float((student[0].weight == 0).float().mean())
    (True, 0.75)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from zeroskip.errors import ConfigError, ShapeError
from zeroskip.prune.calibration import _torch, as_batches, call_batch
from zeroskip.prune.torch_prune import _find_mask_module, _prunable_types, _set_mask

LOSSES = ("cosine", "mse")


@dataclass(frozen=True, slots=True)
class DistillResult:
    """What a ``distill`` run did: its loss at every step, the wall time, and which layers it held zeros in.

    ``held``: layers given a mask of their nonzeros for the run (``keep_zeros``); ``masked``: layers
    that kept the masks they already had.

    >>> DistillResult((0.5, 0.25), 1.0, (), ("fc",)).last_loss
    0.25
    """

    losses: tuple[float, ...]
    seconds: float
    held: tuple[str, ...]
    masked: tuple[str, ...]

    @property
    def steps(self) -> int:
        return len(self.losses)

    @property
    def first_loss(self) -> float:
        return self.losses[0] if self.losses else math.nan

    @property
    def last_loss(self) -> float:
        return self.losses[-1] if self.losses else math.nan


def default_output(out, batch=None):
    """The tensor a model's output is compared by: the output itself, the first element of a tuple or
    list, or the first tensor value of a mapping (Hugging Face's ``last_hidden_state``).

    >>> import torch
    >>> default_output((torch.ones(2), torch.zeros(1))).tolist()
    [1.0, 1.0]
    """
    torch = _torch()
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, Mapping):
        out = [v for v in out.values() if isinstance(v, torch.Tensor)]
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise ShapeError(f"cannot find the output tensor in a {type(out).__name__}; pass output=(out, batch) -> tensor")


def _as_tensors(selected) -> list:
    torch = _torch()
    items = [selected] if isinstance(selected, torch.Tensor) else list(selected)
    if not items or not all(isinstance(t, torch.Tensor) for t in items):
        raise ShapeError(f"output must return a tensor or a sequence of tensors, got {type(selected).__name__}")
    return items


def _loss(kind: str, student: list, teacher: list):
    """Mean over the selected tensors of (1 - cosine of the last-dimension vectors) or relative MSE."""
    torch = _torch()
    if len(student) != len(teacher):
        raise ShapeError(f"the student's output gives {len(student)} tensors, the teacher's {len(teacher)}")
    total = 0.0
    for s, t in zip(student, teacher, strict=True):
        if s.shape != t.shape:
            raise ShapeError(f"student output of shape {tuple(s.shape)} against teacher {tuple(t.shape)}")
        if kind == "cosine":
            total = total + (1.0 - torch.nn.functional.cosine_similarity(s, t, dim=-1, eps=1e-8)).mean()
        else:  # relative to the teacher's mean square, so outputs of different scales weigh alike
            total = total + ((s - t) ** 2).mean() / (t**2).mean().clamp_min(1e-12)
    return total / len(student)


def _hold_zeros(student, keep_zeros: bool) -> tuple[list[str], list[str]]:
    """Attach masks of the nonzeros to unmasked layers with zeros; (held layer names, already masked)."""
    held, masked = [], []
    for name, mod in student.named_modules():
        if not isinstance(mod, _prunable_types(True)):
            continue
        if _find_mask_module(mod) is not None:
            masked.append(name)
        elif keep_zeros and bool((mod.weight.detach() == 0).any()):
            _set_mask(mod, (mod.weight.detach() != 0).cpu().numpy())
            held.append(name)
    return held, masked


def _release(student, held: list[str]) -> None:
    parametrize = _torch().nn.utils.parametrize
    for name in held:
        parametrize.remove_parametrizations(student.get_submodule(name), "weight", leave_parametrized=True)


def _lr_factor(step: int, steps: int, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``steps``."""
    if step < warmup:
        return (step + 1) / warmup
    span = max(steps - warmup, 1)
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / span))


def distill(student, teacher, batches, *, steps: int, lr: float = 1e-4, loss: str = "cosine",
            output: Callable | None = None, parameters: Sequence | None = None, keep_zeros: bool = True,
            weight_decay: float = 0.0, warmup: int = 0, clip: float | None = 1.0, dropout: bool = False,
            seed: int = 0, log: Callable[[int, float], None] | None = None) -> DistillResult:
    """Train ``student`` for ``steps`` AdamW steps to match ``teacher``'s outputs on ``batches``; masks stay applied.

    ``batches``: one batch (a tensor, a tuple of arguments or a mapping of keyword arguments) or an
    iterable of them, each run as ``model(batch)`` / ``model(*batch)`` / ``model(**batch)``.
    ``output(out, batch)``: the tensor, or sequence of tensors, to match (default
    ``default_output``); select rows with it, e.g. the real tokens of a padded batch.
    ``loss``: ``"cosine"`` (mean 1 - cosine similarity of the last-dimension vectors) or ``"mse"``
    (mean squared error over the teacher's mean square). ``parameters``: what trains (default:
    every student parameter that requires grad). Learning rate: ``lr`` after ``warmup`` linear
    steps, cosine decay to 0; gradients clipped to norm ``clip``. ``keep_zeros``: see the module
    docstring. ``log(step, loss)`` is called after every step. The teacher is not modified.

    >>> import torch
    >>> net = torch.nn.Linear(2, 2)
    >>> distill(net, torch.nn.Linear(2, 2), [torch.ones(1, 2)], steps=3).steps
    3
    """
    torch = _torch()
    if loss not in LOSSES:
        raise ConfigError(f"loss must be one of {LOSSES}, got {loss!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigError(f"steps must be a non-negative integer, got {steps!r}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ConfigError(f"lr must be a positive number, got {lr!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ConfigError(f"warmup must be a non-negative integer, got {warmup!r}")
    if student is teacher:
        raise ConfigError("student and teacher are the same module; distill a pruned copy against the dense model")
    data = as_batches(batches)
    if not data:
        raise ConfigError("distill needs at least one batch")
    select = default_output if output is None else output
    held, masked = _hold_zeros(student, keep_zeros)
    params = [p for p in (student.parameters() if parameters is None else parameters) if p.requires_grad]
    if steps and not params:
        _release(student, held)
        raise ConfigError("no student parameter requires grad: nothing to train")
    was_training, teacher_training = student.training, teacher.training
    student.train(dropout)
    teacher.eval()
    targets: dict[int, list] = {}
    losses: list[float] = []
    generator = torch.Generator().manual_seed(seed)
    order: list[int] = []
    started = time.perf_counter()
    try:
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay) if steps else None
        for step in range(steps):
            if not order:
                order = torch.randperm(len(data), generator=generator).tolist()
            index = order.pop()
            batch = data[index]
            if index not in targets:
                with torch.no_grad():
                    targets[index] = [t.detach() for t in _as_tensors(select(call_batch(teacher, batch), batch))]
            for group in optimizer.param_groups:
                group["lr"] = lr * _lr_factor(step, steps, warmup)
            value = _loss(loss, _as_tensors(select(call_batch(student, batch), batch)), targets[index])
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            losses.append(float(value.detach()))
            if log is not None:
                log(step, losses[-1])
    finally:
        student.train(was_training)
        teacher.train(teacher_training)
        _release(student, held)
    return DistillResult(tuple(losses), time.perf_counter() - started, tuple(held), tuple(masked))


def mean_cosine(student, teacher, batches, output: Callable | None = None) -> float:
    """The mean cosine similarity between the student's and the teacher's output vectors (last dimension),
    over every row of every batch; both models run in eval mode under ``no_grad``.

    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> round(mean_cosine(net, net, torch.randn(5, 3)), 6)
    1.0
    """
    torch = _torch()
    select = default_output if output is None else output
    total, rows = 0.0, 0
    modes = student.training, teacher.training
    student.eval()
    teacher.eval()
    try:
        with torch.no_grad():
            for batch in as_batches(batches):
                s = _as_tensors(select(call_batch(student, batch), batch))
                t = _as_tensors(select(call_batch(teacher, batch), batch))
                for a, b in zip(s, t, strict=True):
                    cos = torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=-1, eps=1e-8).reshape(-1)
                    total += float(cos.double().sum())
                    rows += cos.numel()
    finally:
        student.train(modes[0])
        teacher.train(modes[1])
    if rows == 0:
        raise ShapeError("the batches gave no output rows to compare")
    return total / rows
