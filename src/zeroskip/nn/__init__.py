"""PyTorch models on zeroskip's CPU kernels: ``SparseLinear``, ``SparseConv2d``, ``sparsify``, the Graph Challenge DNN.

Imports torch; ``import zeroskip`` does not import this package.

Example:
    >>> import torch
    >>> from zeroskip.nn import sparsify, sparsify_report
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    >>> print(sparsify_report(model)[0])  # doctest: +ELLIPSIS
    0: Linear[4, 4] sparsity 0.000 -> dense: sparsity 0.000 < min_sparsity=0.5
"""

from zeroskip.nn.conv import SparseConv2d
from zeroskip.nn.graphchallenge import categories, graph_challenge_inputs, graph_challenge_model
from zeroskip.nn.linear import SparseLinear
from zeroskip.nn.simulation import LayerSimulation, ModelSimulation, simulate
from zeroskip.nn.sparsify import LayerDecision, sparsify, sparsify_report
from zeroskip.nn.trace import HostOp, TracedLayer, TracedModel, trace

__all__ = ["HostOp", "LayerDecision", "LayerSimulation", "ModelSimulation", "SparseConv2d", "SparseLinear", "TracedLayer",
           "TracedModel", "categories", "graph_challenge_inputs", "graph_challenge_model", "simulate", "sparsify",
           "sparsify_report", "trace"]
