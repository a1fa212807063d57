"""The compiler front half: every kernel of the issue, every loop order, formats x densities,
evaluated through its LoopNest and compared with the dense numpy gold."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeroskip.compiler import build_loopnest, make_schedule, verify_loopnest
from zeroskip.compiler.evaluate import evaluate_loopnest
from zeroskip.compiler.loopnest import LoopNestError
from zeroskip.compiler.schedule import ScheduleError
from zeroskip.errors import FormatError
from zeroskip.formats import as_format
from zeroskip.lang import evaluate_dense, parse

# name, expression, {operand: (shape, candidate formats)}
KERNELS = [
    ("spmv", "y(i) = A(i,j) * x(j)", {"A": ((6, 5), ["csr", "csc", "dcsr", "dense", "coo"]), "x": ((5,), ["d", "s"])}),
    ("spmv_xA", "y(i) = x(j) * A(i,j)", {"A": ((6, 5), ["csr", "dcsc"]), "x": ((5,), ["d", "s"])}),
    ("spmm_sd", "X(i,j) = B(i,k) * C(k,j)", {"B": ((5, 4), ["csr", "dcsr"]), "C": ((4, 3), ["dense"])}),
    ("spmm_ds", "X(i,j) = B(i,k) * C(k,j)", {"B": ((5, 4), ["dense"]), "C": ((4, 3), ["csr", "csc"])}),
    ("spgemm", "X(i,j) = B(i,k) * C(k,j)", {"B": ((5, 4), ["dcsr", "csc"]), "C": ((4, 6), ["dcsr", "dcsc"])}),
    ("sddmm", "X(i,j) = B(i,j) * C(i,k) * D(k,j)",
     {"B": ((5, 4), ["dcsr", "coo"]), "C": ((5, 3), ["dense"]), "D": ((3, 4), ["dense"])}),
    ("add", "X(i,j) = B(i,j) + C(i,j)", {"B": ((5, 4), ["csr", "dense"]), "C": ((5, 4), ["dcsr", "csc"])}),
    ("mul", "X(i,j) = B(i,j) * C(i,j)", {"B": ((5, 4), ["csr", "dense"]), "C": ((5, 4), ["dcsr", "coo"])}),
    ("add3", "X(i,j) = B(i,j) + C(i,j) + D(i,j)",
     {"B": ((4, 5), ["dcsr"]), "C": ((4, 5), ["csr"]), "D": ((4, 5), ["dcsr", "dense"])}),
    ("mattransmul", "x(i) = b * C(j,i) * d(j) + e * f(i)",
     {"b": ((), [""]), "e": ((), [""]), "C": ((5, 6), ["dcsc", "csr"]), "d": ((5,), ["s"]), "f": ((6,), ["s", "d"])}),
    ("residual", "y(i) = b(i) - A(i,j) * x(j)", {"b": ((6,), ["s"]), "A": ((6, 5), ["dcsr", "csc"]), "x": ((5,), ["s", "d"])}),
    ("innerprod", "x = B(i,j,k) * C(i,j,k)", {"B": ((3, 4, 2), ["csf", "dense"]), "C": ((3, 4, 2), ["csf", "coo"])}),
    ("ttv", "X(i,j) = B(i,j,k) * c(k)", {"B": ((3, 4, 5), ["csf", "dss"]), "c": ((5,), ["d", "s"])}),
    ("ttm", "X(i,j,k) = B(i,j,l) * C(k,l)", {"B": ((3, 4, 5), ["csf"]), "C": ((2, 5), ["dense", "csr"])}),
    ("mttkrp", "X(i,j) = B(i,k,l) * C(k,j) * D(l,j)",
     {"B": ((3, 4, 5), ["csf", "sss[0,2,1]"]), "C": ((4, 3), ["dense"]), "D": ((5, 3), ["dense", "csr"])}),
    ("scaled", "y(i) = 2.5 * A(i,j) * x(j) - -z(i)", {"A": ((4, 3), ["csr"]), "x": ((3,), ["d"]), "z": ((4,), ["s"])}),
]


def _operand(shape, density, rng):
    values = rng.integers(1, 5, size=shape).astype(np.float64)
    mask = rng.random(shape) < density
    if len(shape) == 2 and shape[0] > 2:
        mask[1] = False  # an empty row
    return values * mask


def _cases():
    for name, text, ops in KERNELS:
        names = list(ops)
        for combo in itertools.product(*(ops[n][1] for n in names)):
            yield pytest.param(text, dict(zip(names, combo)), {n: ops[n][0] for n in names},
                               id=f"{name}-{'-'.join(c or 'scalar' for c in combo)}")


@pytest.mark.parametrize(("text", "formats", "shapes"), list(_cases()))
@pytest.mark.parametrize("density", [0.0, 0.35, 1.0])
def test_every_loop_order_matches_the_gold(text, formats, shapes, density):
    assign = parse(text)
    rng = np.random.default_rng(len(text) + int(density * 10))
    arrays = {n: _operand(shapes[n], density, rng) for n in shapes}
    gold = evaluate_dense(assign, arrays)
    fmts = {n: as_format(f, ndim=len(shapes[n])) for n, f in formats.items()}
    for order in itertools.permutations(assign.all_indices):
        schedule = make_schedule(assign, fmts, loop_order=order)
        nest = build_loopnest(assign, schedule.loop_order, schedule.format_of)
        np.testing.assert_allclose(evaluate_loopnest(nest, arrays), gold, err_msg=f"loop order {order}\n{nest}")


def test_scheduler_prefers_gustavson_or_outer_product_to_inner_product():
    spgemm = parse("X(i,j) = B(i,k) * C(k,j)")
    assert make_schedule(spgemm, {"B": "csr", "C": "csr"}).loop_order == ("i", "k", "j")
    # B by columns: the outer product (k first), or Gustavson after converting B; the CPU's dense
    # matrix workspace for the outer product (1000 x 1000 by default) can tip it to the latter
    outer = make_schedule(spgemm, {"B": "csc", "C": "csr"})
    assert outer.loop_order[0] == "k" or (outer.loop_order == ("i", "k", "j") and outer.conversions)
    # even with C stored by columns (inner-product friendly) the cost model converts C instead
    chosen = make_schedule(spgemm, {"B": "csr", "C": "csc"})
    assert chosen.loop_order != ("i", "j", "k") and chosen.conversions


def test_scheduler_follows_storage_order():
    spmv = parse("y(i) = A(i,j) * x(j)")
    assert make_schedule(spmv, {"A": "csr", "x": "dense"}).loop_order == ("i", "j")
    assert make_schedule(spmv, {"A": "csc", "x": "dense"}).loop_order == ("j", "i")
    mttkrp = parse("X(i,j) = B(i,k,l) * C(k,j) * D(l,j)")
    assert make_schedule(mttkrp, {"B": "csf", "C": "dense", "D": "dense"}).loop_order == ("i", "k", "l", "j")


def test_discordant_user_order_inserts_and_explains_a_conversion():
    schedule = make_schedule(parse("y(i) = A(i,j) * x(j)"), {"A": "csr", "x": "dense"}, loop_order="j,i")
    (conv,) = schedule.conversions
    assert (conv.tensor, conv.source.name, conv.target.name) == ("A", "csr", "csc")
    assert "against its storage order i,j" in schedule.explain() and schedule.chosen_by == "user"


def test_output_format_given_discordant_is_assembled_then_converted():
    schedule = make_schedule(parse("X(i,j) = B(i,k) * C(k,j)"), {"B": "csr", "C": "csr"}, output_format="csc",
                             loop_order="ikj")
    assert schedule.format_of["X"].mode_order == (0, 1)
    assert schedule.conversions[-1].tensor == "X" and schedule.conversions[-1].target.name == "csc"


def test_workspaces_follow_reduction_placement():
    f = {n: as_format("dcsr") for n in "XBC"}
    spgemm = parse("X(i,j) = B(i,k) * C(k,j)")
    inner = str(build_loopnest(spgemm, ("i", "j", "k"), {**f, "C": as_format("dcsc")}))
    assert "w0 += B(i,k) * C(k,j)" in inner  # a scalar temporary under the innermost reduction
    gustavson = build_loopnest(spgemm, ("i", "k", "j"), f)
    assert [t.indices for t in gustavson.temporaries] == [("j",)]
    outer = build_loopnest(spgemm, ("k", "i", "j"), {**f, "B": as_format("dcsc")})
    assert [t.indices for t in outer.temporaries] == [("i", "j")]


def test_errors_name_the_problem():
    spmv = parse("y(i) = A(i,j) * x(j)")
    with pytest.raises(LoopNestError, match="discordant"):
        build_loopnest(spmv, ("j", "i"), {"y": as_format("s"), "A": as_format("csr"), "x": as_format("d")})
    with pytest.raises(ScheduleError, match="must name each index"):
        make_schedule(spmv, {"A": "csr", "x": "d"}, loop_order="ik")
    with pytest.raises(ScheduleError, match="no format or tensor given for x"):
        make_schedule(spmv, {"A": "csr"})
    with pytest.raises(FormatError, match="format 'd' has 1 levels but the tensor has order 2"):
        make_schedule(spmv, {"A": as_format("d"), "x": "d"})


# ---- hypothesis: random expressions of up to three operands ---------------------------------------
@st.composite
def expressions(draw):
    indices = "ijk"
    n = draw(st.integers(1, 3))
    operands = []
    for t in range(n):
        idx = draw(st.lists(st.sampled_from(indices), min_size=0, max_size=3, unique=True))
        operands.append((f"T{t}", tuple(idx)))
    rhs = f"{operands[0][0]}({','.join(operands[0][1])})" if operands[0][1] else operands[0][0]
    for name, idx in operands[1:]:
        access = f"{name}({','.join(idx)})" if idx else name
        rhs = f"({rhs}) {draw(st.sampled_from(['+', '*', '-']))} {access}"
    used = sorted({i for _, idx in operands for i in idx})
    free = draw(st.permutations(used)).copy()[: draw(st.integers(0, len(used)))]
    lhs = f"Y({','.join(free)})" if free else "Y"
    return parse(f"{lhs} = {rhs}"), operands


@given(expressions(), st.data())
def test_random_expressions_every_order(case, data):
    assign, operands = case
    dims = {"i": 3, "j": 2, "k": 4}
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    arrays, formats = {}, {}
    for name, idx in operands:
        shape = tuple(dims[i] for i in idx)
        arrays[name] = _operand(shape, data.draw(st.sampled_from([0.0, 0.5, 1.0])), rng)
        letters = "".join(data.draw(st.sampled_from("ds")) for _ in idx)
        formats[name] = as_format(letters, ndim=len(idx), mode_order=data.draw(st.permutations(range(len(idx)))))
    gold = evaluate_dense(assign, arrays)
    order = data.draw(st.permutations(assign.all_indices))
    schedule = make_schedule(assign, formats, loop_order=order)
    nest = build_loopnest(assign, schedule.loop_order, schedule.format_of)
    verify_loopnest(nest)
    np.testing.assert_allclose(evaluate_loopnest(nest, arrays), gold, err_msg=str(nest))


def test_workspace_names_never_take_a_user_tensor_name():
    nest = build_loopnest(parse("y(i) = w0(i,j) * x(j)"), ("i", "j"),
                          {"y": as_format("d"), "w0": as_format("csr"), "x": as_format("d")})
    assert [t.name for t in nest.temporaries] == ["w1"]
    np.testing.assert_allclose(evaluate_loopnest(nest, {"w0": np.eye(3), "x": np.arange(3.0)}), np.arange(3.0))
