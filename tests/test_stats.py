"""Statistics and footprints against numpy golds; predicted footprints against built tensors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import zeroskip as zs
from zeroskip.formats.stats import candidate_formats, footprint, footprints, smallest_format, tensor_stats


def _sparse_array(shape, density, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.random(shape) * (rng.random(shape) < density)).astype(dtype)


def _gold_lengths(array: np.ndarray, depth: int, fmt) -> np.ndarray:
    """Fiber lengths of level ``depth`` computed densely: nonzero children of each stored parent."""
    storage = np.transpose(array, fmt.mode_order) != 0
    occupied_below = storage.any(axis=tuple(range(depth + 1, array.ndim))) if depth + 1 < array.ndim else storage
    lengths = occupied_below.reshape(-1, array.shape[fmt.mode_order[depth]]).sum(axis=1)
    # Parents that exist in storage: all of a dense level's slots, only occupied ones of a sparse level.
    parent_kept = np.ones(lengths.shape, dtype=bool)
    if depth:
        keep = np.ones(occupied_below.shape[:depth], dtype=bool)
        for above in range(depth):
            if not fmt.levels[above].full:
                occ = storage.any(axis=tuple(range(above + 1, array.ndim)))
                index = (Ellipsis,) + (np.newaxis,) * (depth - above - 1)
                keep &= occ[index]
        parent_kept = keep.reshape(-1)
    return lengths[parent_kept]


@pytest.mark.parametrize("spec", ["csr", "csc", "dcsr", "dcsc", "dense", "sd"])
@pytest.mark.parametrize("density", [0.0, 0.05, 0.4, 1.0])
def test_matrix_level_stats_match_gold(spec, density):
    array = _sparse_array((13, 9), density, seed=int(density * 100))
    t = zs.as_tensor(array, spec)
    stats = tensor_stats(t)
    assert stats.nnz == np.count_nonzero(array)
    assert stats.density == pytest.approx(np.count_nonzero(array) / array.size)
    for depth, lv in enumerate(stats.levels):
        gold = _gold_lengths(array, depth, t.format)
        assert lv.fibers == len(gold), (spec, depth)
        assert lv.empty_fibers == int((gold == 0).sum())
        assert lv.max_length == (int(gold.max()) if len(gold) else 0)
        assert lv.mean_length == pytest.approx(gold.mean() if len(gold) else 0.0)
        assert sum(n for _, _, n in lv.histogram) == lv.fibers
        for low, high, count in lv.histogram:
            assert count == int(((gold >= low) & (gold <= high)).sum())


@pytest.mark.parametrize("spec", ["csf", "dss", "sds", "sss[2,0,1]", "dsd[1,2,0]", "dense"])
def test_tensor3_level_stats_match_gold(spec):
    array = _sparse_array((4, 5, 6), 0.15, seed=3)
    t = zs.as_tensor(array, spec)
    for depth, lv in enumerate(tensor_stats(t).levels):
        gold = _gold_lengths(array, depth, t.format)
        assert (lv.fibers, lv.empty_fibers, lv.max_length) == (len(gold), int((gold == 0).sum()), int(gold.max()))


def test_coo_fibers_count_stored_entries():
    array = _sparse_array((13, 9), 0.3, seed=5)
    levels = tensor_stats(zs.as_tensor(array, "coo")).levels
    assert (levels[0].fibers, levels[0].max_length) == (1, np.count_nonzero(array))
    assert levels[1].fibers == np.count_nonzero(array) and levels[1].max_length == 1
    assert "non-unique" in levels[0].kind


def test_csr_row_lengths_are_nonzeros_per_row():
    array = np.zeros((6, 5))
    array[0, :] = 1
    array[3, 2] = 2
    stats = tensor_stats(zs.as_tensor(array, "csr"))
    assert stats.levels[1].empty_fibers == 4
    assert stats.levels[1].max_length == 5
    assert stats.levels[1].histogram == ((0, 0, 4), (1, 1, 1), (2, 3, 0), (4, 7, 1))
    assert stats.levels[0].max_length == 2  # two rows hold a nonzero


def test_nan_and_inf_are_counted_not_refused():
    array = np.array([[np.nan, 0, 1.0], [np.inf, -np.inf, 0]])
    stats = tensor_stats(zs.as_tensor(array, "csr"))
    assert (stats.nan_count, stats.inf_count, stats.nnz) == (1, 2, 4)
    assert tensor_stats(zs.as_tensor(np.array([1, 0, 3]), "sparse")).nan_count == 0


def test_stats_dict_is_json_ready():
    import json

    stats = tensor_stats(zs.as_tensor(_sparse_array((5, 5), 0.3, 1), "csr"))
    assert json.loads(json.dumps(stats.to_dict()))["levels"][1]["fibers"] == 5


@pytest.mark.parametrize("shape", [(0,), (7,), (0, 4), (5, 6), (3, 4, 2), (2, 2, 3, 2)])
@pytest.mark.parametrize("density", [0.0, 0.2, 1.0])
def test_footprint_predicts_built_bytes_for_every_candidate(shape, density):
    t = zs.as_tensor(_sparse_array(shape, density, seed=len(shape)), "coo" if len(shape) > 1 else "sparse")
    sizes = footprints(t)
    assert len(sizes) == len(candidate_formats(len(shape)))
    for spec, nbytes in sizes.items():
        assert nbytes == t.asformat(spec).nbytes, spec


@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.int8, np.int64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6),
        elements=st.integers(-2, 2),
    )
)
def test_footprint_property(array):
    t = zs.as_tensor(array, "csf" if array.ndim != 2 else "csr")
    for spec, nbytes in footprints(t).items():
        assert nbytes == t.asformat(spec).nbytes, spec
    best, nbytes = smallest_format(t)
    assert nbytes == min(footprints(t).values()) == t.asformat(best).nbytes


def test_smallest_format_tracks_density():
    diagonal = zs.as_tensor(np.diag(np.arange(1.0, 201.0)), "csr")
    assert smallest_format(diagonal)[0].name in ("coo", "dcsr", "dcsc", "csr", "csc")
    full = zs.as_tensor(np.ones((30, 30)), "csr")
    assert smallest_format(full)[0].name == "dense"
    one_row = np.zeros((500, 500))
    one_row[7, :50] = 1
    assert smallest_format(zs.as_tensor(one_row, "csr"))[0].name == "dcsr"


def test_footprint_of_huge_shape_is_computed_without_allocating():
    t = zs.from_coo([[0, 0], [10**6, 10**6]], [1.0, 2.0], (10**6 + 1, 10**6 + 1), "dcsr")
    assert footprint(t, "dense") == (10**6 + 1) ** 2 * 8
    assert footprint(t, "dcsr") == t.nbytes


def test_candidate_formats_cover_every_order_and_level_choice():
    specs = {f.spec for f in candidate_formats(3)}
    expected = {"".join(l) + ("" if o == (0, 1, 2) else f"[{','.join(map(str, o))}]")
                for o in itertools.permutations(range(3)) for l in itertools.product("ds", repeat=3)}
    assert specs == expected | {"nqq"}
