"""The Graph Challenge sparse DNN as an ``nn.Module``: per layer ``Y = min(max(Y @ W + b, 0), 32)``.

Each layer is an ``nn.Linear(1024, 1024)`` holding W^T (the challenge multiplies ``Y @ W``) with
bias -0.3, then ``nn.Hardtanh(0, 32)``. The challenge adds the bias to the stored entries of the
product only; adding it everywhere, as ``nn.Linear`` does, gives the same activations, since an
entry no product reaches is 0 and ``min(max(0 - 0.3, 0), 32) = 0``. An input's category is true
when its final activation row has a nonzero.

Example:
    >>> from zeroskip.nn import graph_challenge_model
    >>> model = graph_challenge_model("../shared/data", layers=2)  # doctest: +SKIP
    >>> x, truth = graph_challenge_inputs("../shared/data")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from zeroskip.formats.io import load

BIAS = -0.3  # the challenge's bias for 1024-neuron networks
CAP = 32.0  # activations are clipped at 32
FOLDER = "graphchallenge-dnn"


def _folder(root) -> Path:
    """``root`` itself when it holds the layer files, else ``root/graphchallenge-dnn``."""
    root = Path(root)
    for folder in (root, root / FOLDER):
        if (folder / "n1024-l1.mtx").exists():
            return folder
    raise FileNotFoundError(f"no n1024-l1.mtx in {root} or {root / FOLDER}")


def _dense(path: Path) -> np.ndarray:
    return load(path).to_numpy().astype(np.float32)


def graph_challenge_model(root, layers: int | None = None) -> nn.Sequential:
    """The first ``layers`` (default all) layers from ``root`` (the data folder or its graphchallenge-dnn)."""
    folder = _folder(root)
    paths = sorted(folder.glob("n1024-l*.mtx"), key=lambda p: int(p.stem.split("-l")[1]))
    if layers is not None:
        if not 1 <= layers <= len(paths):
            raise ValueError(f"layers must lie in 1..{len(paths)}, got {layers=}")
        paths = paths[:layers]
    modules: list[nn.Module] = []
    for path in paths:
        w = _dense(path)  # (in, out): the challenge computes Y @ W
        linear = nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            linear.bias.fill_(BIAS)
        modules += [linear, nn.Hardtanh(0.0, CAP)]
    return nn.Sequential(*modules)


def graph_challenge_inputs(root) -> tuple[torch.Tensor, np.ndarray]:
    """The input images (float32, 1200 x 1024) and the true categories (bool per input)."""
    folder = _folder(root)
    images = torch.from_numpy(_dense(folder / "sparse-images-1024_subset.mtx"))
    coords, _ = load(folder / "neuron1024-l120-categories_subset.mtx").to_coo()
    truth = np.zeros(images.shape[0], dtype=bool)
    truth[coords[:, 0]] = True
    return images, truth


def categories(activations: torch.Tensor) -> np.ndarray:
    """True for each row of the final activations that has a nonzero."""
    return (activations != 0).any(dim=1).numpy()
