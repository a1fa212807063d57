"""zeroskip.nn.SparseConv2d against nn.Conv2d, sparsify's conv decisions, and convolutions traced as im2col programs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
nn = torch.nn

from zeroskip.errors import ConfigError, ShapeError  # noqa: E402
from zeroskip.nn import SparseConv2d, SparseLinear, simulate, sparsify, sparsify_report, trace  # noqa: E402
from zeroskip.nn.conv import conv_output_size, im2col  # noqa: E402
from zeroskip.nn.trace import channels_last_rows  # noqa: E402

ATOL = 1e-5


def pruned_conv(c_in=3, c_out=5, kernel=3, sparsity=0.7, seed=0, **kw):
    torch.manual_seed(seed)
    conv = nn.Conv2d(c_in, c_out, kernel, **kw)
    with torch.no_grad():
        conv.weight[torch.rand(conv.weight.shape) < sparsity] = 0
    return conv


CASES = [  # pruned_conv keyword arguments, input shape
    (dict(kernel=3), (1, 3, 8, 8)),
    (dict(kernel=3, padding=1), (4, 3, 8, 8)),
    (dict(kernel=3, stride=2, padding=1), (2, 3, 9, 7)),
    (dict(kernel=(2, 3), stride=(2, 1), padding=(1, 0), dilation=(1, 2)), (3, 3, 9, 10)),
    (dict(kernel=3, dilation=2, bias=False), (2, 3, 9, 9)),
    (dict(kernel=4, padding="same"), (2, 3, 6, 7)),  # even kernel: torch pads one more on the far side
    (dict(kernel=3, padding="valid"), (1, 3, 5, 5)),
    (dict(kernel=1), (3, 3, 4, 4)),  # a 1x1 convolution is a Linear over channels
    (dict(kernel=3, padding=1), (3, 6, 6)),  # unbatched
    (dict(kernel=3, padding=1), (0, 3, 6, 6)),  # no images
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's own note on even kernels
@pytest.mark.parametrize("backend", ["sparse", "auto", "dense"])
@pytest.mark.parametrize("kw,shape", CASES, ids=str)
def test_sparse_conv_equals_conv(kw, shape, backend):
    conv = pruned_conv(**kw)
    layer = SparseConv2d.from_dense(conv, backend=backend, threads=2)
    x = torch.randn(*shape)
    with torch.no_grad():
        want = conv(x)
    got = layer(x)
    assert got.dtype == torch.float32 and got.shape == want.shape
    torch.testing.assert_close(got, want, atol=ATOL, rtol=1e-5)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2),
       st.integers(1, 2), st.booleans(), st.integers(0, 3), st.floats(0.0, 1.0))
def test_sparse_conv_property(c_in, c_out, kernel, stride, padding, dilation, bias, images, sparsity):
    size = dilation * (kernel - 1) + 1 + stride  # at least two output pixels per side before padding
    conv = pruned_conv(c_in, c_out, kernel, sparsity, stride=stride, padding=padding, dilation=dilation, bias=bias)
    x = torch.randn(images, c_in, size, size + 1)
    with torch.no_grad():
        want = conv(x)
    torch.testing.assert_close(SparseConv2d.from_dense(conv, backend="sparse")(x), want, atol=ATOL, rtol=1e-5)


def test_zero_weights_give_the_bias():
    conv = pruned_conv(sparsity=1.0, padding=1)
    layer = SparseConv2d.from_dense(conv, backend="sparse")
    assert layer.sparsity == 1.0
    y = layer(torch.randn(2, 3, 5, 5))
    torch.testing.assert_close(y, conv.bias.detach()[None, :, None, None].expand(2, 5, 5, 5))


def test_im2col_rows_follow_the_weight_layout():
    x = torch.randn(2, 3, 6, 5)
    w = torch.randn(4, 3, 3, 2)
    cols, (oh, ow) = im2col(x, (3, 2), stride=(1, 2), padding=1)
    y = (w.reshape(4, -1) @ cols).reshape(2, 4, oh, ow)
    torch.testing.assert_close(y, torch.nn.functional.conv2d(x, w, stride=(1, 2), padding=1), atol=ATOL, rtol=1e-5)
    assert conv_output_size((6, 5), (3, 2), (1, 2), 1) == (oh, ow) == (6, 3)


def test_refusals_name_the_value():
    with pytest.raises(ConfigError, match="groups=2"):
        SparseConv2d.from_dense(nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(ConfigError, match="'reflect'"):
        SparseConv2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ConfigError, match="stride=\\(2, 2\\)"):
        SparseConv2d(1, 1, 3, stride=2, padding="same")
    layer = SparseConv2d.from_dense(pruned_conv(), backend="sparse")
    with pytest.raises(ShapeError, match=r"\(1, 4, 8, 8\).*in_channels=3"):
        layer(torch.randn(1, 4, 8, 8))
    with pytest.raises(ShapeError, match="smaller than the kernel"):
        layer(torch.randn(1, 3, 2, 2))


def test_gradients_fall_back_to_dense_torch():
    conv = pruned_conv()
    layer = SparseConv2d.from_dense(conv, backend="sparse")
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


def test_weight_change_rebuilds_the_program():
    layer = SparseConv2d.from_dense(pruned_conv(), backend="sparse")
    x = torch.randn(1, 3, 6, 6)
    first = layer(x)
    with torch.no_grad():
        layer.weight.mul_(2.0)
        layer.bias.zero_()
    torch.testing.assert_close(layer(x), torch.nn.functional.conv2d(x, layer.weight), atol=ATOL, rtol=1e-5)
    assert not torch.allclose(first, layer(x))


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 6, 3, padding=1)
        self.c2 = nn.Conv2d(6, 4, 3, stride=2, bias=False)
        self.grouped = nn.Conv2d(4, 4, 1, groups=2)
        self.head = nn.Linear(4 * 3 * 3, 5)
        self.w = nn.Parameter(torch.randn(3, 4, 1, 1))

    def forward(self, x):
        y = self.c2(torch.relu(self.c1(x)))
        z = torch.nn.functional.conv2d(y, self.w, None, 1, 0)
        return self.head(self.grouped(y).flatten(1)), z


def _pruned_cnn():
    torch.manual_seed(0)
    model = CNN().eval()
    with torch.no_grad():
        for m in (model.c1, model.c2, model.grouped, model.head):
            m.weight[torch.rand(m.weight.shape) < 0.8] = 0
    return model


def test_sparsify_replaces_convs_and_reports_them():
    model = _pruned_cnn()
    fast = sparsify(model, backend="sparse")
    assert (type(fast.c1), type(fast.c2), type(fast.grouped), type(fast.head)) == \
        (SparseConv2d, SparseConv2d, nn.Conv2d, SparseLinear)
    x = torch.randn(3, 2, 8, 8)
    with torch.no_grad():
        for got, want in zip(fast(x), model(x), strict=True):
            torch.testing.assert_close(got, want, atol=ATOL, rtol=1e-5)
    report = {d.name: d for d in sparsify_report(model)}
    assert report["c1"].kind == "Conv2d" and "im2col" in report["c1"].reason and report["c1"].shape == (6, 2, 3, 3)
    assert not report["grouped"].sparse and "groups=2" in report["grouped"].reason
    assert {d.name for d in sparsify_report(fast, backend="sparse") if d.kind == "SparseConv2d"} == {"c1", "c2"}
    tiny = {d.name: d for d in sparsify_report(model, image_size=(2, 2))}  # c2's 3x3 kernel, no padding
    assert not tiny["c2"].sparse and "no prediction at image_size=(2, 2)" in tiny["c2"].reason
    dense = _pruned_cnn()
    with torch.no_grad():
        dense.c1.weight.normal_()  # a 0%-sparse conv stays dense under the rule
    assert not {d.name: d for d in sparsify_report(dense)}["c1"].sparse


def test_state_dict_round_trip():
    model = _pruned_cnn()
    fast = sparsify(model, backend="sparse")
    state = fast.state_dict()
    assert set(state) == set(model.state_dict())
    fresh = sparsify(CNN(), backend="sparse", min_sparsity=0.0)
    fresh.load_state_dict(state)
    x = torch.randn(2, 2, 8, 8)
    torch.testing.assert_close(fresh(x)[0], fast(x)[0], atol=ATOL, rtol=1e-5)
    plain = CNN()
    plain.load_state_dict(state)  # sparsified keys load into the dense model too
    with torch.no_grad():
        torch.testing.assert_close(plain(x)[0], model(x)[0])


def test_trace_maps_convs_to_im2col_programs_equal_to_torch():
    model = _pruned_cnn()
    x = torch.randn(2, 2, 8, 8)
    traced = trace(model, x)
    layers = {layer.name: layer for layer in traced.layers}
    assert set(layers) == {"c1", "c2", "conv2d", "head"}
    assert [h.op for h in traced.host_ops if h.name == "grouped"] == ["Conv2d"]  # groups=2: on the host
    with torch.no_grad():
        h1 = torch.relu(model.c1(x))
        y = model.c2(h1)
        wants = {"c1": h1, "c2": y, "conv2d": torch.nn.functional.conv2d(y, model.w)}
    assert layers["c1"].fused == ("relu",) and layers["c1"].shapes == {"X": (128, 18), "W": (6, 18), "Y": (128, 6)}
    for name, want in wants.items():
        got = layers[name].program.interpret().to_numpy()
        n, c, oh, ow = want.shape
        as_torch = torch.from_numpy(got).reshape(n, oh, ow, c).permute(0, 3, 1, 2)
        torch.testing.assert_close(as_torch, want, atol=ATOL, rtol=1e-5)
        np.testing.assert_allclose(layers[name].program.run().to_numpy(), channels_last_rows(want).numpy(),
                                   atol=ATOL, rtol=1e-5)
    assert layers["c2"].weight_sparsity == pytest.approx(float((model.c2.weight == 0).float().mean()))


def test_simulate_runs_the_conv_programs():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    sim = simulate(model, torch.randn(1, 1, 5, 5), measure_cpu=False)
    assert [(s.op, s.error) for s in sim.layers] == [("Conv2d", None)] and sim.total_cycles > 0


def test_prediction_follows_weight_writes():
    # Before a forward rebuilds the program, predict must not answer from the old weights' timings.
    conv = torch.nn.Conv2d(8, 16, 3, padding=1)
    with torch.no_grad():
        conv.weight[torch.rand(conv.weight.shape) < 0.99] = 0
    layer = SparseConv2d.from_dense(conv)
    sparse_before, _ = layer.predict(4, (16, 16))
    with torch.no_grad():
        layer.weight.fill_(1.0)  # every entry stored: the sparse kernel's work grows a hundredfold
    sparse_after, _ = layer.predict(4, (16, 16))
    assert sparse_after > sparse_before
