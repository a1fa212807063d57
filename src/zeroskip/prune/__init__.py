"""Pruning that creates the zeros: magnitude (per layer and global), N:M, block, Wanda; gradual schedules.

``masks`` holds pure numpy functions on weight arrays (True keeps a weight); ``torch_prune``
applies them to PyTorch models and keeps them applied through fine-tuning; ``calibration``
gathers Wanda's input norms (padding tokens left out); ``distill`` recovers a pruned model by
training it against the dense model's outputs, masks kept. torch is imported only
when a model is pruned, so importing this package stays light.

Example:
    >>> import numpy as np
    >>> from zeroskip.prune import magnitude_mask, cubic_sparsity
    >>> int(magnitude_mask(np.arange(10.0), 0.3).sum())
    7
    >>> cubic_sparsity(100, final=0.9, start=0, end=100)
    0.9
"""

from zeroskip.prune.calibration import activation_norms
from zeroskip.prune.distill import DistillResult, distill, mean_cosine
from zeroskip.prune.masks import (
    block_mask,
    global_magnitude_masks,
    global_score_masks,
    magnitude_mask,
    mask_sparsity,
    nm_mask,
    score_mask,
    wanda_mask,
    wanda_scores,
)
from zeroskip.prune.schedule import cubic_sparsity
from zeroskip.prune.torch_prune import (
    GradualPruner,
    LayerSparsity,
    PruneState,
    apply_masks,
    current_masks,
    format_report,
    load_pruned,
    prune_model,
    remove_pruning,
    sparsity_report,
)

__all__ = [
    "DistillResult",
    "GradualPruner",
    "LayerSparsity",
    "PruneState",
    "activation_norms",
    "apply_masks",
    "block_mask",
    "cubic_sparsity",
    "current_masks",
    "distill",
    "format_report",
    "global_magnitude_masks",
    "global_score_masks",
    "load_pruned",
    "magnitude_mask",
    "mask_sparsity",
    "mean_cosine",
    "nm_mask",
    "prune_model",
    "remove_pruning",
    "score_mask",
    "sparsity_report",
    "wanda_mask",
    "wanda_scores",
]
