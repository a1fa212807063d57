"""zeroskip.nn: SparseLinear against nn.Linear, sparsify's decisions, state_dict, the Graph Challenge DNN."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import zeroskip.nn as znn  # noqa: E402
from zeroskip.errors import ShapeError  # noqa: E402
from zeroskip.nn import SparseLinear, sparsify, sparsify_report  # noqa: E402
from zeroskip.nn import linear  # noqa: E402

ATOL = 1e-5


def pruned_linear(n_in, n_out, sparsity=0.8, bias=True, seed=0):
    torch.manual_seed(seed)
    lin = torch.nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        lin.weight[torch.rand(n_out, n_in) < sparsity] = 0
    return lin


CASES = [  # (in, out, bias, input shape, sparsity)
    (16, 8, True, (16,), 0.8),
    (16, 8, True, (1, 16), 0.8),
    (16, 8, True, (7, 16), 0.8),
    (16, 8, True, (2, 3, 16), 0.8),
    (16, 8, False, (7, 16), 0.8),
    (16, 8, True, (7, 16), 1.0),  # all-zero weight: the bias alone
    (1, 1, True, (3, 1), 0.0),
    (1, 1, True, (1, 1), 1.0),
    (40, 33, True, (0, 40), 0.9),  # empty batch
]


@pytest.mark.parametrize("backend", ["sparse", "auto", "dense"])
@pytest.mark.parametrize("n_in,n_out,bias,shape,sparsity", CASES)
def test_sparse_linear_equals_linear(n_in, n_out, bias, shape, sparsity, backend):
    lin = pruned_linear(n_in, n_out, sparsity, bias)
    layer = SparseLinear.from_dense(lin, backend=backend, threads=2)
    x = torch.randn(*shape)
    y = layer(x)
    assert y.dtype == torch.float32 and y.shape == (*shape[:-1], n_out)
    torch.testing.assert_close(y, lin(x).detach(), atol=ATOL, rtol=1e-5)


@pytest.mark.parametrize("rows", [1, 5, 40])
def test_sparse_activations_give_the_same_result(rows):
    lin = pruned_linear(64, 32, 0.9)
    x = torch.relu(torch.randn(rows, 64))
    x[torch.rand(rows, 64) < 0.6] = 0
    on = SparseLinear.from_dense(lin, backend="sparse", activation_sparse=True)
    off = SparseLinear.from_dense(lin, backend="sparse", activation_sparse=False)
    assert on._use_sparse_activations(x) and not off._use_sparse_activations(x)
    torch.testing.assert_close(on(x), off(x), atol=ATOL, rtol=1e-5)
    torch.testing.assert_close(on(x), lin(x).detach(), atol=ATOL, rtol=1e-5)


def test_activation_rule():
    layer = SparseLinear(8, 4)
    half = torch.tensor([[0.0, 1] * 4])
    assert layer._use_sparse_activations(half)  # auto: half zeros, one row
    assert not layer._use_sparse_activations(torch.ones(1, 8))
    assert not layer._use_sparse_activations(torch.zeros(linear.AUTO_MAX_ROWS + 1, 8))  # too many rows
    assert not SparseLinear(8, 4, activation_sparse=0.9)._use_sparse_activations(half)
    assert SparseLinear(8, 4, activation_sparse=0.9)._use_sparse_activations(torch.zeros(100, 8))


def test_wrong_feature_size_is_named():
    layer = SparseLinear.from_dense(pruned_linear(16, 8))
    with pytest.raises(ShapeError, match=r"has 15 features .* in_features=16"):
        layer(torch.randn(3, 15))


def test_gradients_fall_back_to_dense_torch():
    lin = pruned_linear(16, 8)
    layer = SparseLinear.from_dense(lin, backend="sparse")
    x = torch.randn(4, 16, requires_grad=True)
    layer(x).sum().backward()
    lin(x.detach().requires_grad_()).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


def test_weight_change_rebuilds_the_programs():
    layer = SparseLinear.from_dense(pruned_linear(16, 8), backend="sparse")
    x = torch.randn(3, 16)
    layer(x)
    with torch.no_grad():
        layer.weight.mul_(2)
    torch.testing.assert_close(layer(x), torch.nn.functional.linear(x, layer.weight, layer.bias), atol=ATOL, rtol=1e-5)


def model_of(sparsities, seed=0):
    torch.manual_seed(seed)
    layers = []
    for k, s in enumerate(sparsities):
        layers += [pruned_linear(32, 32, s, seed=seed + k), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers)


def test_sparsify_keeps_dense_layers_dense():
    model = model_of([0.2, 0.95, 0.6])
    fast = sparsify(model, min_sparsity=0.7, backend="sparse", threads=2)
    assert [type(m).__name__ for m in fast[::2]] == ["Linear", "SparseLinear", "Linear"]
    assert all(isinstance(m, torch.nn.Linear) for m in model[::2])  # a copy: the original is untouched
    x = torch.randn(5, 32)
    torch.testing.assert_close(fast(x), model(x).detach(), atol=ATOL, rtol=1e-5)
    decisions = {d.name: d for d in sparsify_report(model, min_sparsity=0.7)}
    assert not decisions["0"].sparse and "min_sparsity" in decisions["0"].reason


def test_sparsify_nested_and_inplace():
    model = torch.nn.Sequential(torch.nn.Sequential(pruned_linear(16, 16, 0.9)), torch.nn.ReLU())
    same = sparsify(model, backend="sparse", inplace=True)
    assert same is model and isinstance(model[0][0], SparseLinear)


def test_sparsify_uses_the_cost_model():
    decisions = sparsify_report(model_of([0.95]), batch=64)
    assert decisions[0].kind == "Linear" and "cost model at batch 64" in decisions[0].reason


def test_state_dict_round_trip():
    model = model_of([0.9, 0.3])
    fast = sparsify(model, backend="sparse")
    state = fast.state_dict()
    assert set(state) == set(model.state_dict())
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value)
    fresh = sparsify(model_of([0.9, 0.3], seed=5), backend="sparse")  # other weights, same structure
    x = torch.randn(4, 32)
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh(x), fast(x), atol=0, rtol=0)
    dense = model_of([0.1, 0.1], seed=9)
    dense.load_state_dict(fast.state_dict())  # sparsified keys load into the plain model too
    torch.testing.assert_close(dense(x).detach(), fast(x), atol=ATOL, rtol=1e-5)


def test_explain_names_the_paths():
    text = SparseLinear.from_dense(pruned_linear(32, 32, 0.9)).explain(rows=(1, 64))
    assert "rows=64, dense activations" in text and "predicted sparse" in text


def test_prediction_follows_weight_writes():
    # predict and explain must not answer from timings of the weights before an in-place write.
    layer = SparseLinear.from_dense(pruned_linear(256, 256, 0.99))
    sparse_before, _ = layer.predict(64)
    with torch.no_grad():
        layer.weight.fill_(1.0)  # every entry stored: the sparse kernel's work grows a hundredfold
    sparse_after, _ = layer.predict(64)
    assert sparse_after > sparse_before


def test_graph_challenge_categories(tmp_path):
    from zeroskip.bench.datasets import DataNotFoundError, data_root

    try:
        root = data_root()
    except DataNotFoundError:
        pytest.skip("no shared data folder")
    model = znn.graph_challenge_model(root)  # all 30 layers: about a second
    x, truth = znn.graph_challenge_inputs(root)
    fast = sparsify(model, threads=2, activation_sparse=0.5, backend="sparse")
    assert sum(isinstance(m, SparseLinear) for m in fast) == 30
    with torch.no_grad():
        found = znn.categories(fast(x))
    assert found.sum() == 19 and np.array_equal(found, truth)


@pytest.mark.parametrize("name", ["zeroskip.nn", "zeroskip.nn.linear", "zeroskip.nn.sparsify", "zeroskip.nn.graphchallenge"])
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
