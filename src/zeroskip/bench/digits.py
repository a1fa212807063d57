"""The pruned digits MLP: scikit-learn's bundled digits, an MLP trained dense, then pruned while fine-tuning.

Data: 1797 8x8 images, 10 classes, a stratified 75/25 split (seed 0), pixels scaled to [0, 1].
Training is deterministic (``torch.use_deterministic_algorithms``, fixed seeds, one thread): Adam
with cosine decay, batch 64; the pruned copy starts from the dense weights and is fine-tuned while
``zeroskip.prune.GradualPruner`` (global magnitude, cubic schedule over the first 60% of the
steps, masks every 10 steps) prunes it. ``trained_mlp`` caches both models' weights as ``.npz``
(never pickles) under the cache folder, keyed by every setting, so later processes load them.

Example:
    >>> model = mlp(hidden=8)
    >>> [tuple(m.weight.shape) for m in model if hasattr(m, "weight")]
    [(8, 64), (8, 8), (10, 8)]
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from zeroskip.config import cache_dir

SEED = 0
BATCH = 64  # training minibatch
PRUNE_UNTIL = 0.6  # the cubic schedule reaches its final sparsity after this fraction of the fine-tuning steps
PRUNE_EVERY = 10  # steps between mask updates


def digits_split(seed: int = SEED):
    """(x_train, y_train, x_test, y_test) as torch tensors: float32 pixels in [0, 1], int64 labels."""
    import torch
    from sklearn.datasets import load_digits  # the bench extra
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    parts = train_test_split(x, digits.target.astype(np.int64), test_size=0.25, stratify=digits.target,
                             random_state=seed)
    x_tr, x_te, y_tr, y_te = (torch.from_numpy(np.ascontiguousarray(p)) for p in parts)
    return x_tr, y_tr, x_te, y_te


def mlp(hidden: int = 1024, seed: int = SEED):
    """The untrained 64-hidden-hidden-10 MLP with ReLU (seeded)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def accuracy(model, x, y) -> float:
    """Test accuracy in percent."""
    import torch

    with torch.no_grad():
        return 100.0 * float((model(x).argmax(dim=1) == y).float().mean())


def fit(model, x, y, epochs: int, lr: float, seed: int, before_step=None) -> int:
    """Adam with cosine decay over ``epochs`` of shuffled minibatches; ``before_step(global_step)`` each step."""
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    per_epoch = (len(x) + BATCH - 1) // BATCH
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * per_epoch)
    gen = torch.Generator().manual_seed(seed)
    step = 0
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), BATCH):
            idx = order[i:i + BATCH]
            if before_step is not None:
                before_step(step)
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
    model.eval()
    return step


def prune_tuned(dense, x, y, sparsity: float, *, hidden: int, epochs: int, lr: float, method: str = "global"):
    """A copy of ``dense`` fine-tuned ``epochs`` while pruned gradually to ``sparsity`` (masks removed after)."""
    from zeroskip.prune import GradualPruner

    model = mlp(hidden)
    model.load_state_dict(dense.state_dict())
    steps = epochs * ((len(x) + BATCH - 1) // BATCH)
    pruner = GradualPruner(model, sparsity, start_step=0, end_step=int(PRUNE_UNTIL * steps), frequency=PRUNE_EVERY,
                           method=method)
    fit(model, x, y, epochs, lr, seed=SEED + 2, before_step=pruner.step)
    pruner.remove()
    return model


def trained_mlp(*, hidden: int, sparsity: float, dense_epochs: int, tune_epochs: int, dense_lr: float = 1e-3,
                tune_lr: float = 5e-4) -> tuple[object, object, dict]:
    """(dense model, pruned model, info with both test accuracies), trained once and cached as .npz."""
    import torch

    settings = {"hidden": hidden, "sparsity": sparsity, "dense_epochs": dense_epochs, "tune_epochs": tune_epochs,
                "dense_lr": dense_lr, "tune_lr": tune_lr, "torch": torch.__version__, "seed": SEED}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(cache_dir()) / "models" / f"digits-mlp-{key}"
    x_tr, y_tr, x_te, y_te = digits_split()
    models = {"dense": mlp(hidden), "pruned": mlp(hidden)}
    if (folder / "info.json").exists():
        for name, model in models.items():
            with np.load(folder / f"{name}.npz", allow_pickle=False) as saved:
                model.load_state_dict({k: torch.from_numpy(saved[k]) for k in saved.files})
            model.eval()
        return models["dense"], models["pruned"], json.loads((folder / "info.json").read_text())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the weights must not depend on the thread count of whoever trains
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        dense = models["dense"]
        fit(dense, x_tr, y_tr, dense_epochs, dense_lr, seed=SEED + 1)
        pruned = prune_tuned(dense, x_tr, y_tr, sparsity, hidden=hidden, epochs=tune_epochs, lr=tune_lr)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
    info = settings | {"dense_accuracy": accuracy(dense, x_te, y_te), "pruned_accuracy": accuracy(pruned, x_te, y_te)}
    folder.mkdir(parents=True, exist_ok=True)
    for name, model in (("dense", dense), ("pruned", pruned)):
        np.savez(folder / f"{name}.npz", **{k: v.detach().numpy() for k, v in model.state_dict().items()})
    tmp = folder / f"info.json.{os.getpid()}"
    tmp.write_text(json.dumps(info, indent=1))
    tmp.replace(folder / "info.json")  # written last: its presence means both weight files are there
    return dense, pruned, info
