"""from_torch / to_torch: one table of layouts x dtypes x shapes x densities against a dense gold."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import zeroskip as zs  # noqa: E402
from zeroskip.errors import DenseLimitError, DTypeError, FormatError, MissingDependencyError, ShapeError  # noqa: E402
from zeroskip.formats.torch_io import from_torch, to_torch  # noqa: E402

# torch warns that its CSR/BSR support is beta when our tests build them; that is torch talking.
pytestmark = pytest.mark.filterwarnings("ignore:Sparse .* tensor support is in beta state")

LAYOUTS = ["strided", "coo", "coo_dup", "csr", "csc", "bsr"]
DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
SHAPES = [(0, 0), (1, 1), (0, 5), (7, 3), (64, 48)]
DENSITIES = [0.0, 0.05, 0.5, 1.0]
DEFAULT_FORMAT = {"strided": "csr", "coo": "coo", "coo_dup": "coo", "csr": "csr", "csc": "csc", "bsr": "csr"}
TORCH_LAYOUT = {"strided": "strided", "coo": "sparse_coo", "csr": "sparse_csr", "csc": "sparse_csc"}


def gold_array(shape, dtype, density, seed=0) -> np.ndarray:
    """A dense array with about ``density`` nonzeros, none of them -0.0 (a zero to sparse storage)."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < density
    if np.dtype(dtype) == np.bool_:
        return mask
    if np.dtype(dtype).kind == "f":
        vals = rng.standard_normal(shape).astype(dtype)
        vals[vals == 0] = 1
    else:
        vals = rng.integers(1, 100, shape).astype(dtype) * rng.choice(np.array([-1, 1], dtype=dtype), shape)
    return np.where(mask, vals, np.zeros((), dtype=dtype))


def uncoalesced(dense: torch.Tensor, seed=0) -> torch.Tensor:
    """A COO tensor with duplicates (split values, a pair at a zero) in shuffled order; sums to ``dense``.

    Every coordinate gets at most two entries, so float sums are exact in any order.
    """
    coo = dense.to_sparse()
    idx, vals = coo.indices(), coo.values()
    if dense.dtype == torch.bool:
        parts = [(idx, vals), (idx, vals)]  # True + True is True
        pair = torch.tensor([False, False])  # an explicit zero, stored twice
    else:
        if dense.dtype.is_floating_point:
            finite = torch.isfinite(vals)  # inf - inf/2 would be NaN: infinities go whole, plus a 0
            half = torch.where(finite, vals / 2, vals)
            rest = torch.where(finite, vals - half, torch.zeros_like(vals))
        else:
            half = vals // 2
            rest = vals - half
        parts = [(idx, half), (idx, rest)]
        pair = torch.tensor([3, -3], dtype=dense.dtype)  # cancels to an explicit zero
    zeros = torch.nonzero(dense == 0)
    if len(zeros):
        parts.append((zeros[:1].T.repeat(1, 2), pair))
    all_idx = torch.cat([p[0] for p in parts], dim=1)
    all_vals = torch.cat([p[1] for p in parts])
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(all_vals.numel()))
    out = torch.sparse_coo_tensor(all_idx[:, perm], all_vals[perm], dense.shape, check_invariants=True)
    assert not out.is_coalesced() or dense.numel() == 0  # torch calls an empty COO coalesced
    return out


def block_size(shape):
    return tuple(next(b for b in (4, 2, 1) if n % b == 0) if n else 1 for n in shape)


def make_torch(gold: np.ndarray, layout: str) -> torch.Tensor:
    dense = torch.from_numpy(gold.copy())
    return {
        "strided": lambda: dense,
        "coo": lambda: dense.to_sparse(),
        "coo_dup": lambda: uncoalesced(dense),
        "csr": lambda: dense.to_sparse_csr(),
        "csc": lambda: dense.to_sparse_csc(),
        "bsr": lambda: dense.to_sparse_bsr(block_size(gold.shape)),
        "bsc": lambda: dense.to_sparse_bsc(block_size(gold.shape)),
    }[layout]()


def assert_bits(actual: np.ndarray, expected: np.ndarray) -> None:
    """Same shape, dtype and bytes (so -0.0 vs 0.0 or a NaN payload would count as different)."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, (actual, expected)
    assert np.ascontiguousarray(actual).tobytes() == np.ascontiguousarray(expected).tobytes(), (actual, expected)


def assert_torch_same(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Same layout, shape and, per layout, the same index arrays (dtype too) and value bits."""
    assert actual.layout == expected.layout and actual.shape == expected.shape
    if actual.layout == torch.strided:
        assert_bits(actual.numpy(), expected.numpy())
        return
    if actual.layout == torch.sparse_coo:
        assert actual.is_coalesced()
        parts = [(actual.indices(), expected.coalesce().indices())]
        parts.append((actual.values(), expected.coalesce().values()))
    elif actual.layout == torch.sparse_csr:
        parts = [(actual.crow_indices(), expected.crow_indices()), (actual.col_indices(), expected.col_indices())]
        parts.append((actual.values(), expected.values()))
    else:
        parts = [(actual.ccol_indices(), expected.ccol_indices()), (actual.row_indices(), expected.row_indices())]
        parts.append((actual.values(), expected.values()))
    for got, want in parts:
        assert_bits(got.numpy(), want.numpy())


def assert_same_structure(a: zs.SparseTensor, b: zs.SparseTensor) -> None:
    assert a.shape == b.shape and a.format == b.format and a.index_dtype == b.index_dtype
    for la, lb in zip(a.levels, b.levels, strict=True):
        for x, y in ((la.pos, lb.pos), (la.crd, lb.crd)):
            assert (x is None) == (y is None)
            if x is not None:
                assert_bits(x, y)
    assert_bits(a.vals, b.vals)


def torch_reference(dense: torch.Tensor, layout: str, index_dtype) -> torch.Tensor:
    """torch's own conversion of the dense gold, with index arrays cast to ``index_dtype``."""
    if layout == "strided":
        return dense
    if layout == "coo":
        return dense.to_sparse()
    ref = dense.to_sparse_csr() if layout == "csr" else dense.to_sparse_csc()
    ctor = torch.sparse_csr_tensor if layout == "csr" else torch.sparse_csc_tensor
    pos, crd = (ref.crow_indices(), ref.col_indices()) if layout == "csr" else (ref.ccol_indices(), ref.row_indices())
    idx = getattr(torch, np.dtype(index_dtype).name)
    return ctor(pos.to(idx), crd.to(idx), ref.values(), size=ref.shape, check_invariants=True)


@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_table(layout, dtype, shape, density):
    gold_np = gold_array(shape, dtype, density)
    x = make_torch(gold_np, layout)
    gold = x.to_dense().numpy()  # for duplicates: torch's own sum is the definition
    t = from_torch(x)
    t.verify(canonical=True)
    assert t.format.name == DEFAULT_FORMAT[layout]
    assert_bits(t.to_numpy(), gold)
    if layout in ("csr", "csc"):
        assert t.index_dtype == np.int64  # torch's int64 metadata is kept
    dense = torch.from_numpy(gold)
    for out in ("strided", "coo", "csr", "csc"):
        y = to_torch(t, out)
        assert y.layout == getattr(torch, TORCH_LAYOUT[out])
        assert_bits(y.to_dense().numpy(), gold)
        assert_torch_same(y, torch_reference(dense, out, t.index_dtype))
        if out != "strided":
            assert_same_structure(from_torch(y, t.format, index_dtype=t.index_dtype), t)


@pytest.mark.parametrize("layout", ["strided", "coo", "coo_dup"])
@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5), (0, 3, 2), (4, 1, 0, 2)], ids=str)
@pytest.mark.parametrize("density", [0.0, 0.3, 1.0])
def test_higher_order(layout, shape, density):
    gold_np = gold_array(shape, np.float64, density, seed=1)
    x = make_torch(gold_np, layout)
    t = from_torch(x)
    assert t.format.name == ("coo" if layout != "strided" else "csf")
    assert_bits(t.to_numpy(), x.to_dense().numpy())
    dense = torch.from_numpy(gold_np)
    for out in ("strided", "coo"):
        assert_torch_same(to_torch(t, out), torch_reference(dense, out, t.index_dtype))
    with pytest.raises(ShapeError, match=f"order {len(shape)}"):
        to_torch(t, "csr")


@pytest.mark.parametrize("fmt", ["csc", "dcsr", "dense", "coo", "ds", "sd"])
def test_to_torch_from_any_format(fmt):
    gold = gold_array((9, 6), np.float32, 0.3, seed=2)
    t = zs.as_tensor(gold, format=fmt)
    dense = torch.from_numpy(gold)
    for out in ("strided", "coo", "csr", "csc"):
        assert_torch_same(to_torch(t, out), torch_reference(dense, out, np.int32))


def test_int32_csr_round_trip():
    x = torch.from_numpy(gold_array((20, 30), np.float32, 0.2)).to_sparse_csr()
    x32 = torch.sparse_csr_tensor(x.crow_indices().int(), x.col_indices().int(), x.values(), size=x.shape,
                                  check_invariants=True)
    t = from_torch(x32)
    assert t.index_dtype == np.int32
    y = to_torch(t, "csr")
    assert y.crow_indices().dtype == torch.int32 and y.col_indices().dtype == torch.int32
    assert_torch_same(y, x32)
    # zeroskip's own int32 choice (from numpy) gives int32 torch CSR and CSC too
    t_np = zs.as_tensor(x.to_dense().numpy(), format="coo")
    assert t_np.index_dtype == np.int32
    assert to_torch(t_np, "csr").crow_indices().dtype == torch.int32
    assert to_torch(t_np, "csc").row_indices().dtype == torch.int32
    assert to_torch(zs.as_tensor(x.to_dense().numpy(), index_dtype=np.int64), "csr").crow_indices().dtype == torch.int64
    assert from_torch(x32, index_dtype=np.int64).index_dtype == np.int64


def test_bsc_and_keep_zeros_in_blocks():
    gold = gold_array((8, 12), np.float64, 0.3, seed=3)
    for layout, name in (("bsr", "csr"), ("bsc", "csc")):
        x = make_torch(gold, layout)
        t = from_torch(x)
        assert t.format.name == name
        assert_bits(t.to_numpy(), gold)
        kept = from_torch(x, keep_zeros=True)
        assert kept.nstored == x.values().numel() > t.nstored  # zeros inside blocks kept on request
        assert_bits(kept.to_numpy(), gold)
        assert to_torch(kept, "csr").values().numel() == kept.nstored


def test_keep_zeros_coo():
    x = torch.sparse_coo_tensor(torch.tensor([[0, 1, 2], [1, 0, 2]]), torch.tensor([1.0, 0.0, 2.0]), (3, 3),
                                check_invariants=True)
    assert from_torch(x).nstored == 2
    kept = from_torch(x, keep_zeros=True)
    assert kept.nstored == 3
    assert_torch_same(to_torch(kept, "coo"), x.coalesce())


def test_requires_grad_is_detached():
    w = torch.tensor([[0.0, 1.5], [-2.0, 0.0]], requires_grad=True)
    t = from_torch(w * 1)
    assert_bits(t.to_numpy(), w.detach().numpy())
    assert from_torch(w.detach().to_sparse().requires_grad_()).nnz == 2
    assert not to_torch(t, "strided").requires_grad


def test_scalars():
    t = from_torch(torch.tensor(2.5))
    assert t.shape == () and t.nnz == 1
    assert_torch_same(to_torch(t, "strided"), torch.tensor(2.5, dtype=torch.float32))
    s = torch.sparse_coo_tensor(torch.zeros((0, 2), dtype=torch.int64), torch.tensor([1.0, 2.0]), (),
                                check_invariants=True)  # two entries of a scalar: they add up
    assert_bits(from_torch(s).to_numpy(), np.array(3.0, dtype=np.float32))
    assert to_torch(from_torch(s), "coo").to_dense().item() == 3.0


def test_no_aliasing():
    gold = gold_array((5, 4), np.float64, 0.5, seed=4)
    for fmt in ("csr", "dense", "coo"):
        t = zs.as_tensor(gold, format=fmt)
        before = t.vals.copy()
        for out in ("strided", "coo", "csr", "csc"):
            y = to_torch(t, out)
            values = y if out == "strided" else y.values()
            values.fill_(42)
        assert_bits(t.vals, before)


def test_dense_limit():
    t = zs.as_tensor(np.eye(100))
    with zs.config.dense_limit(1000), pytest.raises(DenseLimitError):
        to_torch(t, "strided")
    with zs.config.dense_limit(1000):
        assert to_torch(t, "coo").values().numel() == 100  # sparse layouts never densify


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_gpu_tensor_moves_to_cpu():
    x = torch.eye(4, device="cuda").to_sparse_csr()
    assert_bits(from_torch(x).to_numpy(), np.eye(4, dtype=np.float32))


def test_as_tensor_dispatches_to_torch():
    t = zs.as_tensor(torch.eye(3).to_sparse_csc())
    assert t.format.name == "csc" and t.nnz == 3
    assert zs.SparseTensor.from_torch(torch.eye(3)).to_torch("csr").layout == torch.sparse_csr


# ---- errors -----------------------------------------------------------------------------------
def test_hybrid_coo_refused():
    x = torch.ones(3, 4, 2).to_sparse(2)
    with pytest.raises(FormatError, match=r"sparse_coo.*sparse_dim=2, dense_dim=1"):
        from_torch(x)


def test_hybrid_and_batched_csr_refused():
    with pytest.raises(FormatError, match=r"sparse_csr.*dense_dim=1"):
        from_torch(torch.ones(3, 4, 2).to_sparse_csr(dense_dim=1))
    with pytest.raises(ShapeError, match=r"batched sparse_csr.*\(2, 3, 4\).*1 batch dim"):
        from_torch(torch.ones(2, 3, 4).to_sparse_csr())


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "complex64"])
@pytest.mark.parametrize("layout", ["strided", "coo", "csr"])
def test_bad_dtype_refused(dtype, layout):
    x = torch.ones(2, 2, dtype=getattr(torch, dtype))
    x = {"strided": x, "coo": x.to_sparse(), "csr": x.to_sparse_csr()}[layout]
    with pytest.raises(DTypeError, match=f"torch.{dtype}.*cast"):
        from_torch(x)


def test_unknown_layout_refused():
    t = zs.as_tensor(np.eye(2))
    with pytest.raises(FormatError, match=r"'bsr'.*strided, coo, csr, csc"):
        to_torch(t, "bsr")
    assert to_torch(t, torch.sparse_csc).layout == torch.sparse_csc  # torch's own layout objects work too


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without mkldnn")
def test_unsupported_torch_layout_refused():
    with pytest.raises(FormatError, match="_mkldnn"):
        from_torch(torch.ones(3, 3).to_mkldnn())


def test_wrong_types_refused():
    with pytest.raises(DTypeError, match="list"):
        from_torch([[1.0]])
    with pytest.raises(DTypeError, match="Tensor"):
        to_torch(torch.eye(2))


def test_missing_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(MissingDependencyError, match="`torch` extra"):
        to_torch(zs.as_tensor(np.eye(2)))


def test_import_zeroskip_does_not_import_torch():
    code = "import zeroskip, zeroskip.formats.torch_io, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- property --------------------------------------------------------------------------------
def _dense_with_zeros(dtype):
    """Arrays of up to 3 modes, about half zeros; floats include fractions and infinities, never NaN or -0.0."""
    if dtype == np.bool_:
        nonzero = st.just(True)
    elif np.dtype(dtype).kind == "f":
        nonzero = st.floats(allow_nan=False, width=np.dtype(dtype).itemsize * 8).filter(lambda v: v != 0)
    else:
        nonzero = st.integers(-(2**31), 2**31 - 1).filter(lambda v: v != 0)
    shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6)
    return hnp.arrays(dtype, shapes, elements=st.one_of(st.just(0), nonzero))


@given(
    st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.bool_]).flatmap(
        lambda dt: st.tuples(_dense_with_zeros(dt), st.sampled_from(["strided", "coo", "coo_dup", "csr", "csc", "bsr"]))
    ),
    st.sampled_from(["strided", "coo", "csr", "csc"]),
)
def test_property_round_trip(array_layout, out):
    array, layout = array_layout
    if layout not in ("strided", "coo", "coo_dup") and array.ndim != 2:
        layout = "coo"  # torch's compressed layouts hold matrices only
    x = make_torch(array, layout)
    t = from_torch(x)
    gold = x.to_dense()
    if out in ("csr", "csc") and t.ndim != 2:
        out = "coo"
    y = to_torch(t, out)
    assert_torch_same(y, torch_reference(gold, out, t.index_dtype))
    assert_bits(y.to_dense().numpy(), gold.numpy())
