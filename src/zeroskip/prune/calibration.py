"""Running batches through a model, and Wanda's calibration: per-feature input norms of each layer.

A batch is a tensor, a tuple of positional arguments or a mapping of keyword arguments (a
tokenizer's output). When a mapping batch holds a padding mask (``attention_mask``, 1 on real
tokens, 0 on padding), a layer input whose leading dimensions hold one row per token counts the
real tokens only: padding rows are whatever the model computes for tokens nobody reads, and their
norms would steer Wanda's scores (a long padded batch would weigh the padding most).

torch is imported inside the functions only, so ``import zeroskip.prune`` stays light.

Example:
    >>> import torch
    >>> lin = torch.nn.Linear(2, 1)
    >>> activation_norms(lin, [torch.tensor([[3.0, 0.0], [4.0, 1.0]])], {"fc": lin})["fc"].tolist()
    [5.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from zeroskip.errors import ConfigError, MissingDependencyError, ShapeError

PADDING_MASK = "attention_mask"  # the key Hugging Face tokenizers give the padding mask


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError(
            "PyTorch is needed to prune models; install the `torch` extra (pip install 'zeroskip[torch]')"
        ) from exc
    return torch


def call_batch(model, batch):
    """``model(**batch)`` for a mapping, ``model(*batch)`` for a tuple, else ``model(batch)``.

    >>> call_batch(abs, -2)
    2
    """
    if isinstance(batch, Mapping):
        return model(**batch)
    if isinstance(batch, tuple):
        return model(*batch)
    return model(batch)


def as_batches(inputs) -> list:
    """A tensor, a tuple or a mapping is one batch; any other iterable (list, generator, DataLoader) yields batches.

    >>> len(as_batches(iter([1, 2, 3])))
    3
    """
    torch = _torch()
    if isinstance(inputs, (torch.Tensor, tuple, Mapping)):
        return [inputs]
    if isinstance(inputs, Iterable):
        return list(inputs)
    raise ConfigError(f"inputs must be a tensor, a tuple of arguments, or an iterable of batches, got "
                      f"{type(inputs).__name__}")


def padding_rows(batch, key: str | None):
    """The batch's padding mask as a flat boolean tensor (True: a real token), or None when it has none.

    >>> import torch
    >>> padding_rows({"attention_mask": torch.tensor([[1, 0]])}, "attention_mask").tolist()
    [True, False]
    """
    torch = _torch()
    if key is None or not isinstance(batch, Mapping) or key not in batch:
        return None
    mask = batch[key]
    if not isinstance(mask, torch.Tensor):
        raise ConfigError(f"the padding mask {key!r} must be a tensor, got {type(mask).__name__}")
    return mask.detach().reshape(-1).to("cpu") != 0


def token_rows(x, rows):
    """``x`` (..., features) as a 2-D (rows, features) tensor; given a padding mask ``rows`` with one entry
    per leading position, only the real tokens' rows (other shapes, e.g. a pooled (batch, features)
    input, keep every row).

    >>> import torch
    >>> token_rows(torch.arange(6.0).reshape(1, 3, 2), torch.tensor([True, False, True])).tolist()
    [[0.0, 1.0], [4.0, 5.0]]
    """
    flat = x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)
    if rows is not None and flat.shape[0] == rows.numel():
        return flat[rows.to(flat.device)]
    return flat


def activation_norms(model, calibration, layers: Mapping, *, padding_mask: str | None = PADDING_MASK
                     ) -> dict[str, np.ndarray]:
    """Per-input-feature L2 norms of each layer's inputs over the calibration batches (forward hooks).

    Every batch runs through the model under ``no_grad``; a Linear's input (..., in) counts every
    leading position as one sample, except padding: a mapping batch whose ``padding_mask`` key
    (default ``attention_mask``; None counts every position) holds a mask counts only the
    positions where it is nonzero (module docstring).

    >>> import torch
    >>> lin = torch.nn.Linear(1, 1)
    >>> class Tokens(torch.nn.Module):
    ...     def forward(self, x, attention_mask):
    ...         return lin(x)
    >>> batch = {"x": torch.tensor([[[3.0], [1e6]]]), "attention_mask": torch.tensor([[1, 0]])}
    >>> activation_norms(Tokens(), [batch], {"fc": lin})["fc"].tolist()
    [3.0]
    """
    torch = _torch()
    sums: dict[str, torch.Tensor] = {}
    handles = []
    current: dict[str, object] = {"rows": None}

    def hook_for(name):
        def hook(module, args, output):
            if not args or not isinstance(args[0], torch.Tensor):
                raise ShapeError(f"layer {name!r} was called without a positional input tensor; Wanda reads it")
            x = token_rows(args[0].detach(), current["rows"]).to(torch.float64)
            sq = (x * x).sum(dim=0).cpu()
            sums[name] = sq if name not in sums else sums[name] + sq
        return hook

    for name, mod in layers.items():
        if not isinstance(mod, torch.nn.Linear):
            raise ConfigError(f"Wanda prunes nn.Linear layers only; {name!r} is a {type(mod).__name__}")
        handles.append(mod.register_forward_hook(hook_for(name)))
    try:
        with torch.no_grad():
            for batch in as_batches(calibration):
                current["rows"] = padding_rows(batch, padding_mask)
                call_batch(model, batch)
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in layers if n not in sums]
    if missing:
        raise ConfigError(f"the calibration batches never reached layers {missing}; give at least one batch")
    return {n: np.sqrt(sums[n].numpy()) for n in layers}
