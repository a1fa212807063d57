"""PyTorch models on zeroskip's CPU kernels: ``SparseLinear``, ``sparsify``, the Graph Challenge DNN.

Imports torch; ``import zeroskip`` does not import this package.

Example:
    >>> import torch
    >>> from zeroskip.nn import sparsify, sparsify_report
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    >>> print(sparsify_report(model)[0])  # doctest: +ELLIPSIS
    0: Linear[4, 4] sparsity 0.000 -> dense: sparsity 0.000 < min_sparsity=0.5
"""

from zeroskip.nn.graphchallenge import categories, graph_challenge_inputs, graph_challenge_model
from zeroskip.nn.linear import SparseLinear
from zeroskip.nn.sparsify import LayerDecision, sparsify, sparsify_report

__all__ = ["LayerDecision", "SparseLinear", "categories", "graph_challenge_inputs", "graph_challenge_model",
           "sparsify", "sparsify_report"]
