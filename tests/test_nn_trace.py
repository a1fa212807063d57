"""zeroskip.nn.trace and zeroskip.nn.simulate on tiny models (the full-size runs are benchmarks)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from zeroskip.nn import SparseLinear, simulate, sparsify, trace  # noqa: E402
from zeroskip.nn.trace import ACT_CSR_SPARSITY  # noqa: E402
from zeroskip.prune import prune_model  # noqa: E402


def _zeros(t) -> float:
    return float((t == 0).sum()) / t.numel()


@pytest.fixture
def mlp():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10))
    prune_model(model, "magnitude", 0.8)
    return model.eval()


@pytest.fixture
def x():
    torch.manual_seed(1)
    return torch.randn(4, 16)


def _check_programs(traced):
    for layer in traced.layers:
        want = layer.output.numpy()
        np.testing.assert_allclose(layer.program.interpret().to_numpy(), want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(layer.program.run().to_numpy(), want, rtol=1e-5, atol=1e-5)


def test_trace_mlp_shapes_and_measured_sparsity(mlp, x):
    traced = trace(mlp, x)
    assert traced.method == "torch.fx" and traced.host_ops == []
    first, second = traced.layers
    assert (first.name, first.op, second.name) == ("0", "Linear", "2")
    assert first.shapes == {"X": (4, 16), "W": (32, 16), "Y": (4, 32)}
    assert second.shapes == {"X": (4, 32), "W": (10, 32), "Y": (4, 10)}
    assert first.weight_sparsity == pytest.approx(_zeros(mlp[0].weight.detach()))
    assert first.weight_sparsity == pytest.approx(0.8, abs=0.01)
    assert first.input_sparsity == 0.0
    hidden = torch.relu(mlp[0](x)).detach()  # the activation after ReLU, by hand
    assert second.input_sparsity == pytest.approx(_zeros(hidden))
    assert 0 < second.input_sparsity < 1
    assert "relu (1)" in first.note and first.fused == ("1",)  # ReLU fused, no program of its own
    assert torch.equal(second.operands["X"], hidden)
    assert "2 programs" in traced.summary()
    _check_programs(traced)
    np.testing.assert_allclose(second.output.numpy(), mlp(x).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_sparse_activations_go_in_csr(mlp):
    x = torch.zeros(4, 16)
    x[:, :4] = 1.0  # 75% zeros
    first = trace(mlp, x).layers[0]
    assert first.input_sparsity == 0.75 >= ACT_CSR_SPARSITY
    assert "X csr" in first.note and "W csr" in first.note
    assert "X dense" in trace(mlp, torch.ones(4, 16)).layers[0].note
    _check_programs(trace(mlp, x))


class Attention(nn.Module):
    """Matmul, bias add, ReLU, elementwise ops, clamp, plus host-only ops (layernorm, softmax, gelu, view)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 8))
        self.b = nn.Parameter(torch.randn(8))
        self.ln = nn.LayerNorm(8)

    def forward(self, x, y):
        h = torch.relu(x @ self.w + self.b)
        z = torch.clamp(h * y + x, 0.0, 1.0)
        return torch.nn.functional.gelu(self.ln(z)).view(-1), torch.softmax(z, dim=-1)


def test_host_ops_and_elementwise_programs():
    torch.manual_seed(2)
    traced = trace(Attention(), (torch.randn(4, 8), torch.randn(4, 8)))
    assert [layer.expr for layer in traced.layers] == ["C(i,k) = A(i,j) * B(j,k)", "C(i,j) = A(i,j) * B(i,j)",
                                                       "C(i,j) = A(i,j) + B(i,j)"]
    assert traced.layers[0].weight_sparsity == 0.0 and traced.layers[1].weight_sparsity is None
    assert "bias (add)" in traced.layers[0].note and "relu (relu)" in traced.layers[0].note
    assert "clamp (clamp)" in traced.layers[2].note
    ops = {h.name: h.op for h in traced.host_ops}
    assert ops == {"ln": "LayerNorm", "gelu": "torch.gelu", "view": "Tensor.view", "softmax": "torch.softmax"}
    summary = traced.summary()
    assert "ln: LayerNorm" in summary and "softmax: torch.softmax" in summary
    _check_programs(traced)


def test_softmax_layernorm_model_lists_host_ops(mlp, x):
    model = nn.Sequential(mlp[0], nn.LayerNorm(32), nn.Linear(32, 10), nn.Softmax(dim=-1))
    traced = trace(model, x)
    assert [layer.name for layer in traced.layers] == ["0", "2"]
    assert [(h.name, h.op) for h in traced.host_ops] == [("1", "LayerNorm"), ("3", "Softmax")]


def test_sparsified_model_traces(mlp, x):
    fast = sparsify(mlp, backend="sparse")
    assert isinstance(fast[0], SparseLinear)
    traced = trace(fast, x)
    assert [layer.op for layer in traced.layers] == ["SparseLinear", "SparseLinear"]
    assert traced.layers[0].weight_sparsity == pytest.approx(trace(mlp, x).layers[0].weight_sparsity)
    _check_programs(traced)


class Branchy(nn.Module):
    """Value-dependent control flow: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(4, 3)

    def forward(self, img):
        h = self.conv(img).flatten(1)
        if h.sum() > 0:
            h = h * 2
        return self.fc(h)


def test_unsupported_model_raises_nothing_and_lists_ops():
    torch.manual_seed(3)
    img = torch.randn(2, 1, 4, 3)  # conv -> (2, 2, 2, 1) -> flatten -> (2, 4)
    model = Branchy()
    traced = trace(model, img)
    assert traced.method.startswith("module hooks (torch.fx failed")
    assert [layer.name for layer in traced.layers] == ["conv", "fc"]  # the conv as an im2col program
    assert [h.op for h in traced.host_ops] == ["untraced"]
    assert "functional ops" in traced.host_ops[-1].note
    # fx-traceable but nothing maps: everything is listed, nothing raised
    plain = nn.Sequential(nn.AvgPool2d(2, 1), nn.Flatten(), nn.GELU())
    traced = trace(plain, img)
    assert traced.layers == [] and [h.op for h in traced.host_ops] == ["AvgPool2d", "Flatten", "GELU"]
    sim = simulate(plain, img, measure_cpu=False)
    assert sim.total_cycles == 0 and len(sim.host_ops) == 3


def test_simulate_mlp_totals_labels_and_json(mlp, x):
    model = nn.Sequential(*mlp, nn.Softmax(dim=-1))
    sim = simulate(model, x, repeats=2)
    assert len(sim.layers) == 2 and all(s.error is None for s in sim.layers)
    assert all(s.cycles > 0 and s.seconds > 0 and s.energy["total"] > 0 for s in sim.layers)
    assert sim.total_cycles == sum(s.cycles for s in sim.layers)
    assert sim.total_seconds == pytest.approx(sum(s.seconds for s in sim.layers))
    assert sim.total_energy_j == pytest.approx(sum(s.energy["total"] for s in sim.layers))
    assert [h.op for h in sim.host_ops] == ["Softmax"]
    for key in ("dense", "sparsified"):
        assert sim.cpu[key]["seconds"] > 0 and sim.cpu[key]["energy_j"] > 0
        assert sim.cpu[key]["energy_kind"] in ("measured", "estimated")
    assert sim.speedup() == pytest.approx(sim.cpu["dense"]["seconds"] / sim.total_seconds)
    text = sim.summary()
    for word in ("modelled", "measured", "host ops not modelled", "3: Softmax", "speedup", "energy ratio", "uJ"):
        assert word in text
    data = json.loads(json.dumps(sim.to_dict()))
    assert data["total"]["cycles"] == sim.total_cycles
    assert data["layers"][1]["shapes"]["W"] == [10, 32]
    assert data["labels"]["cpu.seconds"] == "measured" and data["labels"]["layers"].startswith("modelled")
    assert data["host_ops"][0]["op"] == "Softmax"


def test_simulate_reports_layer_errors_without_raising(mlp, x):
    sim = simulate(mlp, x, mode="no-such-mode", measure_cpu=False)
    assert sim.cpu is None and all(s.error for s in sim.layers) and sim.total_cycles == 0
    assert "error" in sim.summary() and "CPU not measured" in sim.summary()
