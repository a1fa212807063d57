"""zeroskip.prune: mask methods on arrays (table + hypothesis), the cubic schedule, and pruning torch models."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from zeroskip.errors import ConfigError, DTypeError, ShapeError, ZeroskipError
from zeroskip.prune import (
    block_mask,
    cubic_sparsity,
    global_magnitude_masks,
    magnitude_mask,
    mask_sparsity,
    nm_mask,
    score_mask,
    wanda_mask,
)

RNG = np.random.default_rng(0)

# ---------------------------------------------------------------------------------------------
# unstructured magnitude: exact counts over a table of shapes x sparsities x value kinds

SHAPES = [(1,), (1, 1), (3,), (2, 3), (8, 8), (5, 7, 3), (0,), (0, 4)]
SPARSITIES = [0.0, 0.1, 0.25, 0.5, 0.9, 0.999]
KINDS = {
    "normal": lambda shape: RNG.standard_normal(shape),
    "zeros": lambda shape: np.zeros(shape),
    "ties": lambda shape: RNG.integers(-2, 3, size=shape).astype(np.float32),
    "int": lambda shape: RNG.integers(-100, 100, size=shape),
}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("sparsity", SPARSITIES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_magnitude_mask_prunes_exactly_round_sparsity_times_size(shape, sparsity, kind):
    w = KINDS[kind](shape)
    keep = magnitude_mask(w, sparsity)
    assert keep.shape == w.shape and keep.dtype == np.bool_
    assert int((~keep).sum()) == round(sparsity * w.size)
    if keep.any() and (~keep).any():  # every kept |w| >= every pruned |w|
        assert np.abs(w)[keep].min() >= np.abs(w)[~keep].max()
    np.testing.assert_array_equal(keep, magnitude_mask(w.copy(), sparsity))  # deterministic


def test_magnitude_ties_prune_the_lower_index_first():
    np.testing.assert_array_equal(magnitude_mask(np.ones(6), 0.5), [False] * 3 + [True] * 3)
    np.testing.assert_array_equal(magnitude_mask(np.array([-1.0, 1.0, 2.0]), 0.34), [False, True, True])


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6),
                  elements=st.floats(-1e6, 1e6, allow_nan=False)),
       st.floats(0.0, 0.999))
def test_magnitude_mask_property(w, sparsity):
    keep = magnitude_mask(w, sparsity)
    assert int((~keep).sum()) == round(sparsity * w.size)
    if keep.any() and (~keep).any():
        assert np.abs(w)[keep].min() >= np.abs(w)[~keep].max()
    assert mask_sparsity(keep) == (0.0 if w.size == 0 else round(sparsity * w.size) / w.size)


def test_global_differs_from_per_layer_on_layers_of_different_scales():
    weights = {"small": RNG.standard_normal((8, 8)) * 0.01, "big": RNG.standard_normal((8, 16))}
    glob = global_magnitude_masks(weights, 0.5)
    total = sum(w.size for w in weights.values())
    assert sum(int((~m).sum()) for m in glob.values()) == round(0.5 * total)
    assert mask_sparsity(glob["small"]) == 1.0  # the small layer goes first under one threshold
    assert mask_sparsity(glob["big"]) == pytest.approx((96 - 64) / 128)
    per_layer = {k: magnitude_mask(w, 0.5) for k, w in weights.items()}
    assert all(mask_sparsity(m) == 0.5 for m in per_layer.values())
    kept = np.concatenate([np.abs(w)[glob[k]] for k, w in weights.items()])
    pruned = np.concatenate([np.abs(w)[~glob[k]] for k, w in weights.items()])
    assert kept.min() >= pruned.max()
    assert global_magnitude_masks({}, 0.5) == {}


# ---------------------------------------------------------------------------------------------
# N:M

NM = [(1, 1), (1, 2), (2, 4), (4, 8), (3, 5), (1, 4), (4, 4)]


@pytest.mark.parametrize("n,m", NM)
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_nm_structure_holds_in_every_group(n, m, axis):
    shape = [2 * m, 3 * m, m]
    w = RNG.standard_normal(shape)
    keep = nm_mask(w, n, m, axis=axis)
    groups = np.moveaxis(keep, axis, -1).reshape(-1, m)
    assert (groups.sum(axis=1) == n).all()
    vals = np.moveaxis(np.abs(w), axis, -1).reshape(-1, m)
    for g, v in zip(groups, vals, strict=True):  # the kept are the n largest of the group
        if n < m:
            assert v[g].min() >= v[~g].max()


@given(st.integers(1, 8).flatmap(lambda m: st.tuples(st.integers(1, m), st.just(m))),
       st.integers(1, 4), st.integers(1, 3), st.booleans())
def test_nm_property_including_ties(nm, groups, rows, ties):
    n, m = nm
    w = (RNG.integers(0, 2, size=(rows, groups * m)) if ties else RNG.standard_normal((rows, groups * m)))
    keep = nm_mask(w, n, m)
    assert (keep.reshape(-1, m).sum(axis=1) == n).all()
    np.testing.assert_array_equal(keep, nm_mask(w, n, m))


# ---------------------------------------------------------------------------------------------
# block

@pytest.mark.parametrize("shape,block", [((8, 8), (4, 4)), ((4, 12), (2, 3)), ((16, 16), (16, 16)),
                                         ((6, 4), (1, 1)), ((2, 4, 6), (1, 2, 3))])
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.75])
def test_block_masks_are_block_constant_and_prune_lowest_norms(shape, block, sparsity):
    w = RNG.standard_normal(shape)
    keep = block_mask(w, block, sparsity)
    grid = tuple(d // b for d, b in zip(shape, block, strict=True))
    blocks = keep.reshape(tuple(x for p in zip(grid, block, strict=True) for x in p))
    inner = tuple(range(1, 2 * len(shape), 2))
    assert (blocks.all(axis=inner) == blocks.any(axis=inner)).all()  # constant on each block
    kept_blocks = blocks.all(axis=inner)
    assert int((~kept_blocks).sum()) == round(sparsity * kept_blocks.size)
    norms = np.sqrt(np.square(w.reshape(blocks.shape)).sum(axis=inner))
    if kept_blocks.any() and (~kept_blocks).any():
        assert norms[kept_blocks].min() >= norms[~kept_blocks].max()


def test_block_prunes_the_block_of_small_weights():
    w = np.ones((4, 4))
    w[2:, :2] = 0.01
    keep = block_mask(w, (2, 2), 0.25)
    assert not keep[2:, :2].any() and keep.sum() == 12


# ---------------------------------------------------------------------------------------------
# Wanda

def test_wanda_prunes_per_row_and_keeps_the_feature_with_a_huge_norm():
    w = RNG.standard_normal((6, 8))
    w[:, 3] = 1e-3  # tiny weights everywhere on feature 3 ...
    norms = np.ones(8)
    norms[3] = 1e6  # ... but a huge input norm: Wanda keeps them, magnitude would not
    keep = wanda_mask(w, norms, 0.5)
    assert (keep.sum(axis=1) == 4).all()
    assert keep[:, 3].all()
    assert not magnitude_mask(w, 0.5)[:, 3].any()
    # with equal norms Wanda is per-row magnitude
    plain = wanda_mask(w, np.ones(8), 0.5)
    for row, k in zip(np.abs(w), plain, strict=True):
        assert row[k].min() >= row[~k].max()


@pytest.mark.parametrize("n,m", [(2, 4), (1, 2), (4, 8)])
def test_wanda_with_nm(n, m):
    w = RNG.standard_normal((4, 16))
    keep = wanda_mask(w, RNG.random(16) + 0.1, nm=(n, m))
    assert (keep.reshape(-1, m).sum(axis=1) == n).all()


@given(st.integers(1, 5), st.integers(1, 9), st.floats(0, 0.99))
def test_wanda_every_row_loses_the_same_number(rows, cols, sparsity):
    keep = wanda_mask(RNG.standard_normal((rows, cols)), RNG.random(cols), sparsity)
    assert ((~keep).sum(axis=1) == round(sparsity * cols)).all()


# ---------------------------------------------------------------------------------------------
# errors name the bad value

ERRORS = [
    (lambda: magnitude_mask(np.ones(4), 1.0), ConfigError, "1.0"),
    (lambda: magnitude_mask(np.ones(4), -0.1), ConfigError, "-0.1"),
    (lambda: magnitude_mask(np.ones(4), float("nan")), ConfigError, "nan"),
    (lambda: magnitude_mask(np.ones(4), "half"), ConfigError, "half"),
    (lambda: magnitude_mask(np.array([1.0, np.nan]), 0.5), ConfigError, "NaN"),
    (lambda: magnitude_mask(np.array(["a"]), 0.5), DTypeError, "<U1"),
    (lambda: nm_mask(np.ones((2, 8)), 5, 4), ConfigError, "n=5, m=4"),
    (lambda: nm_mask(np.ones((2, 8)), 0, 4), ConfigError, "n=0"),
    (lambda: nm_mask(np.ones((2, 6)), 2, 4), ShapeError, "6"),
    (lambda: nm_mask(np.ones((2, 8)), 2, 4, axis=2), ShapeError, "axis=2"),
    (lambda: block_mask(np.ones((6, 8)), (4, 4), 0.5), ShapeError, "6 % 4"),
    (lambda: block_mask(np.ones((8, 8)), (4,), 0.5), ShapeError, "block=(4,)"),
    (lambda: block_mask(np.ones((8, 8)), (0, 4), 0.5), ConfigError, "(0, 4)"),
    (lambda: wanda_mask(np.ones((2, 4)), np.ones(3), 0.5), ShapeError, "(3,)"),
    (lambda: wanda_mask(np.ones((2, 4)), -np.ones(4), 0.5), ConfigError, "-1.0"),
    (lambda: wanda_mask(np.ones((2, 4)), np.ones(4), 0.5, nm=(2, 4)), ConfigError, "nm=(2, 4)"),
    (lambda: wanda_mask(np.ones((2, 4)), np.ones(4)), ConfigError, "sparsity or nm"),
    (lambda: score_mask([1.0], 1.5), ConfigError, "1.5"),
    (lambda: cubic_sparsity(0, final=1.0, start=0, end=10), ConfigError, "final=1.0"),
    (lambda: cubic_sparsity(0, final=0.5, start=10, end=0), ConfigError, "start=10, end=0"),
    (lambda: cubic_sparsity(0, final=0.5, start=0, end=10, frequency=0), ConfigError, "frequency=0"),
    (lambda: cubic_sparsity(0.5, final=0.5, start=0, end=10), ConfigError, "0.5"),
]


@pytest.mark.parametrize("call,error,text", ERRORS, ids=range(len(ERRORS)))
def test_errors_name_the_bad_value(call, error, text):
    with pytest.raises(error, match=None) as info:
        call()
    assert isinstance(info.value, ZeroskipError) and isinstance(info.value, ValueError | TypeError)
    assert text in str(info.value)


# ---------------------------------------------------------------------------------------------
# cubic schedule

def test_cubic_endpoints_and_clamping():
    kw = dict(initial=0.1, final=0.9, start=10, end=110)
    assert cubic_sparsity(-5, **kw) == cubic_sparsity(10, **kw) == 0.1
    assert cubic_sparsity(110, **kw) == cubic_sparsity(10**6, **kw) == 0.9
    assert cubic_sparsity(60, **kw) == pytest.approx(0.9 - 0.8 * 0.125)
    assert cubic_sparsity(5, final=0.5, start=5, end=5) == 0.5  # a zero-length schedule jumps to final


@given(st.floats(0, 0.99), st.floats(0, 0.99), st.integers(0, 50), st.integers(0, 100), st.integers(1, 20))
def test_cubic_is_monotone_and_stepwise(a, b, start, length, frequency):
    initial, final = min(a, b), max(a, b)
    kw = dict(initial=initial, final=final, start=start, end=start + length, frequency=frequency)
    values = [cubic_sparsity(t, **kw) for t in range(start - 2, start + length + 3)]
    assert all(x <= y + 1e-12 for x, y in zip(values, values[1:]))
    assert values[0] == initial and values[-1] == final
    assert all(initial - 1e-12 <= v <= final + 1e-12 for v in values)
    # constant between pruning steps
    for t in range(start, start + length):
        if (t - start) % frequency:
            assert cubic_sparsity(t, **kw) == cubic_sparsity(t - 1, **kw)


# ---------------------------------------------------------------------------------------------
# torch models

torch = pytest.importorskip("torch")

from zeroskip.prune import (  # noqa: E402
    GradualPruner,
    activation_norms,
    distill,
    format_report,
    load_pruned,
    mean_cosine,
    prune_model,
    remove_pruning,
    sparsity_report,
)


def _mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8), torch.nn.ReLU(),
                               torch.nn.Linear(8, 4))


def _zeros(model):
    return {n: float((m.weight == 0).float().mean()) for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear)}


def _train(model, steps=5, lr=0.05, weight_decay=0.0):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay) if weight_decay \
        else torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.randn(32, 16), torch.randn(32, 4)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("method,kw,expected", [
    ("magnitude", dict(sparsity=0.75), {"0": 0.75, "2": 0.75, "4": 0.75}),
    ("nm", dict(n=2, m=4), {"0": 0.5, "2": 0.5, "4": 0.5}),
    ("nm", dict(n=1, m=8), {"0": 0.875, "2": 0.875, "4": 0.875}),
    ("block", dict(sparsity=0.5, block=(4, 4)), {"0": 0.5, "2": 0.5, "4": 0.5}),
    ("wanda", dict(sparsity=0.5), {"0": 0.5, "2": 0.5, "4": 0.5}),
    ("wanda", dict(sparsity=None, n=2, m=4), {"0": 0.5, "2": 0.5, "4": 0.5}),
])
def test_prune_model_applies_masks_and_adam_keeps_the_zeros(method, kw, expected):
    model = _mlp()
    calibration = [torch.randn(8, 16) for _ in range(3)] if method == "wanda" else None
    state = prune_model(model, method, calibration=calibration, **kw)
    assert state.layer_sparsity() == expected
    assert _zeros(model) == expected
    pruned = {n: ~state[n] for n in state}
    _train(model, steps=5)
    _train(model, steps=3, weight_decay=0.1)  # weight decay moves the originals, never the product
    mods = dict(model.named_modules())
    for name, off in pruned.items():
        assert (mods[name].weight.detach()[off] == 0).all()
        assert (mods[name].weight.detach()[~off] != 0).any()  # the kept weights trained
    assert (state["0"] == dict(model.named_modules())["0"].parametrizations.weight[0].mask).all()


def test_global_pruning_of_a_model_hits_the_total_and_differs_per_layer():
    model = _mlp()
    with torch.no_grad():
        model[0].weight.mul_(0.01)
    state = prune_model(model, "global", 0.5)
    total = sum(m.numel() for m in state.values())
    assert sum(int((~m).sum()) for m in state.values()) == round(0.5 * total)
    per_layer = state.layer_sparsity()
    assert per_layer["0"] > 0.7 and per_layer["2"] < 0.1 and per_layer["4"] < 0.1  # 400 of 800 pruned


def test_wanda_in_a_model_keeps_the_loud_feature():
    model = _mlp()
    batches = [torch.randn(8, 16) for _ in range(2)]
    for b in batches:
        b[:, 5] *= 1000.0
    with torch.no_grad():
        model[0].weight[:, 5] = 0.001  # the smallest weights of all, on the loudest feature
    state = prune_model(model, "wanda", 0.5, calibration=batches)
    assert state["0"][:, 5].all()
    assert ((~state["0"]).sum(dim=1) == 8).all()  # each row loses half


def test_conv_layers_only_when_asked():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3), torch.nn.Flatten(), torch.nn.Linear(8 * 16, 4))
    assert list(prune_model(model, "magnitude", 0.5)) == ["2"]
    state = prune_model(model, "nm", n=2, m=4, include_conv=True)
    assert list(state) == ["0", "2"]
    groups = state["0"].permute(0, 2, 3, 1).reshape(-1, 4)  # along the input channels
    assert (groups.sum(dim=1) == 2).all()
    model(torch.randn(1, 4, 6, 6))


def test_prune_model_errors():
    model = _mlp()
    with pytest.raises(ConfigError, match="'sparse'"):
        prune_model(model, "sparse")
    with pytest.raises(ConfigError, match="calibration"):
        prune_model(model, "wanda", 0.5)
    with pytest.raises(ConfigError, match="'nope'"):
        prune_model(model, layers=["nope"])
    with pytest.raises(ConfigError, match="ReLU"):
        prune_model(model, layers=["1"])
    with pytest.raises(ConfigError, match="1.2"):
        prune_model(model, sparsity=1.2)
    with pytest.raises(ShapeError, match="multiple of m=3"):
        prune_model(model, "nm", n=1, m=3)


def test_gradual_pruner_reaches_final_sparsity_at_end_step_while_training():
    model = _mlp()
    pruner = GradualPruner(model, 0.8, start_step=2, end_step=10, frequency=2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    x, y = torch.randn(16, 16), torch.randn(16, 4)
    seen, masks = [], None
    for t in range(14):
        s = pruner.step(t)
        seen.append(s)
        now = pruner.state
        if masks is not None:  # monotone: nothing pruned comes back
            assert all((now[k] <= masks[k]).all() for k in now)
        masks = now
        assert now.sparsity() == pytest.approx(s, abs=0.01)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    assert seen[:3] == [0.0, 0.0, 0.0] and seen[9] < 0.8 and seen[10] == 0.8 == seen[-1]
    assert all(a <= b for a, b in zip(seen, seen[1:]))
    expected = {"0": 410 / 512, "2": 205 / 256, "4": 26 / 32}  # round(0.8 * size) pruned per layer
    assert _zeros(model) == pytest.approx(expected)
    pruner.remove()
    assert not torch.nn.utils.parametrize.is_parametrized(model[0])
    assert _zeros(model) == pytest.approx(expected)
    with pytest.raises(ConfigError, match="removed"):
        pruner.step(20)
    with pytest.raises(ConfigError, match="'nm'"):
        GradualPruner(model, 0.5, 0, 10, method="nm")


def test_sparsity_report_numbers():
    model = _mlp()
    prune_model(model, "magnitude", 0.5, layers=["0", "2"])
    x = torch.randn(64, 16)
    rows = sparsity_report(model, x)
    assert [(r.name, r.shape, r.weight_sparsity) for r in rows] == [
        ("0", (32, 16), 0.5), ("2", (8, 32), 0.5), ("4", (4, 8), 0.0)]
    assert rows[0].input_sparsity == 0.0
    h1 = torch.relu(model[0](x))
    h2 = torch.relu(model[2](h1))
    assert rows[1].input_sparsity == pytest.approx(float((h1 == 0).float().mean()))
    assert rows[2].input_sparsity == pytest.approx(float((h2 == 0).float().mean()))
    assert 0.2 < rows[1].input_sparsity < 0.8  # after a ReLU about half are zero
    assert rows[0].output_sparsity == 0.0
    # two batches count together; no inputs: no activation numbers
    both = sparsity_report(model, [x[:32], x[32:]])
    assert both[1].input_sparsity == pytest.approx(rows[1].input_sparsity)
    assert sparsity_report(model)[1].input_sparsity is None
    text = format_report(rows)
    assert text.splitlines()[0].split() == ["layer", "kind", "shape", "weights", "inputs", "outputs"]
    assert text.splitlines()[1].split()[:3] == ["0", "Linear", "32x16"]
    assert "32x16" in text and "50.0%" in text and text.splitlines()[-1].split()[:2] == ["total", "800"]


def test_state_dict_round_trip_of_a_pruned_model(tmp_path):
    model = _mlp()
    state = prune_model(model, "nm", n=2, m=4)
    _train(model, steps=2)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    fresh = _mlp(seed=1)
    loaded = load_pruned(fresh, torch.load(buf, weights_only=True))
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    x = torch.randn(4, 16)
    assert torch.equal(fresh(x), model(x))
    _train(fresh, steps=2)  # masks stay applied in the loaded model
    assert all(v == 0.5 for k, v in _zeros(fresh).items())
    # made permanent: a plain state dict that loads into an unpruned model
    remove_pruning(model)
    plain = _mlp(seed=2)
    plain.load_state_dict(model.state_dict())
    assert torch.equal(plain(x), model(x)) and _zeros(plain)["0"] == 0.5



# ---------------------------------------------------------------------------------------------
# Wanda calibration with padding, and recovery by distillation


class _Tokens(torch.nn.Module):
    """A tiny token model called like a Hugging Face encoder: keyword inputs with a padding mask."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(8, 6)
        self.pool = torch.nn.Linear(6, 3)  # one row per sequence: the padding mask does not apply

    def forward(self, inputs_embeds, attention_mask):
        h = torch.tanh(self.fc(inputs_embeds))
        return self.pool((h * attention_mask[..., None]).sum(dim=1))


def _padded_batch(padding_value):
    torch.manual_seed(1)
    x = torch.randn(3, 5, 8)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    x[mask == 0] = padding_value * torch.arange(1.0, 9.0)  # huge and uneven across the features
    return {"inputs_embeds": x, "attention_mask": mask}


def test_wanda_ignores_padded_positions():
    quiet, loud = _padded_batch(0.0), _padded_batch(1e6)
    masks = {}
    for name, batch, key in (("quiet", quiet, "attention_mask"), ("loud", loud, "attention_mask"),
                             ("unmasked", loud, None)):
        model = _Tokens()
        masks[name] = prune_model(model, "wanda", 0.5, calibration=[batch], layers=["fc", "pool"], padding_mask=key)
    assert torch.equal(masks["loud"]["fc"], masks["quiet"]["fc"])
    assert torch.equal(masks["loud"]["pool"], masks["quiet"]["pool"])
    assert not torch.equal(masks["unmasked"]["fc"], masks["quiet"]["fc"])  # the padding would have decided
    model = _Tokens()
    norms = activation_norms(model, [loud], {"fc": model.fc})["fc"]
    real = loud["inputs_embeds"][loud["attention_mask"] == 1].double()
    np.testing.assert_allclose(norms, real.pow(2).sum(dim=0).sqrt().numpy(), rtol=1e-12)


@pytest.fixture
def one_thread():
    """Tiny models on one thread: on a shared 2-core machine torch's thread pool only adds waiting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _teacher_student(sparsity=0.75):
    torch.manual_seed(0)
    teacher = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 8))
    student = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 8))
    student.load_state_dict(teacher.state_dict())
    prune_model(student, "magnitude", sparsity)
    return teacher, student


@pytest.mark.parametrize("loss", ["cosine", "mse"])
def test_distill_keeps_the_masks_and_improves_cosine(loss, one_thread):
    teacher, student = _teacher_student()
    before_teacher = {k: v.clone() for k, v in teacher.state_dict().items()}
    pruned = {n: student.get_submodule(n).weight.detach() == 0 for n in ("0", "2")}
    batches = [torch.randn(64, 16) for _ in range(4)]
    held_out = [torch.randn(64, 16)]
    before = mean_cosine(student, teacher, held_out)
    result = distill(student, teacher, batches, steps=60, lr=1e-2, loss=loss, weight_decay=0.1)
    after = mean_cosine(student, teacher, held_out)
    assert after > before + 0.01, (before, after)
    assert result.steps == 60 and result.last_loss < result.first_loss
    assert result.masked == ("0", "2") and result.held == ()
    for name, off in pruned.items():
        weight = student.get_submodule(name).weight.detach()
        assert (weight[off] == 0).all() and float(off.float().mean()) == 0.75
        assert torch.nn.utils.parametrize.is_parametrized(student.get_submodule(name))  # its masks stay on
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in before_teacher.items())  # the teacher untouched


@pytest.mark.parametrize("keep_zeros", [True, False])
def test_distill_holds_the_zeros_of_a_plain_pruned_model(keep_zeros, one_thread):
    teacher, student = _teacher_student()
    remove_pruning(student)
    zeros = student[0].weight.detach() == 0
    result = distill(student, teacher, [torch.randn(32, 16)], steps=5, lr=1e-2, keep_zeros=keep_zeros)
    weight = student[0].weight.detach()
    assert not torch.nn.utils.parametrize.is_parametrized(student[0])  # plain weights again
    if keep_zeros:
        assert result.held == ("0", "2") and (weight[zeros] == 0).all()
    else:  # without the masks AdamW grows the zeros back: the test above can fail
        assert result.held == () and (weight[zeros] != 0).any()


def test_distill_with_an_output_selector_and_keyword_batches():
    teacher, student = _Tokens(), _Tokens()
    prune_model(student, "magnitude", 0.5, layers=["fc"])
    batch = _padded_batch(0.0)
    result = distill(student, teacher, [batch], steps=3, lr=1e-3, output=lambda out, b: (out, out[:1]))
    assert result.steps == 3 and all(np.isfinite(result.losses))


def test_distill_errors():
    teacher, student = _teacher_student()
    x = [torch.randn(4, 16)]
    with pytest.raises(ConfigError, match="'l1'"):
        distill(student, teacher, x, steps=1, loss="l1")
    with pytest.raises(ConfigError, match="-1"):
        distill(student, teacher, x, steps=-1)
    with pytest.raises(ConfigError, match="lr"):
        distill(student, teacher, x, steps=1, lr=0.0)
    with pytest.raises(ConfigError, match="same module"):
        distill(student, student, x, steps=1)
    with pytest.raises(ConfigError, match="at least one batch"):
        distill(student, teacher, [], steps=1)
    with pytest.raises(ShapeError, match=r"\(4, 8\) against teacher \(4, 3\)"):
        distill(student, torch.nn.Linear(16, 3), x, steps=1)
