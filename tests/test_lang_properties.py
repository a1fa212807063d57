"""Hypothesis on the language: printing round trips, einsum equals numpy, the gold equals plain loops,
and no text makes the parsers raise anything but a ZeroskipError."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from zeroskip.errors import ZeroskipError
from zeroskip.lang import (
    Access,
    Add,
    Assignment,
    Literal,
    Mul,
    Neg,
    Sub,
    evaluate_dense,
    infer_dims,
    parse,
    parse_einsum,
)
from zeroskip.lang.parser import tokenize

INDEX_NAMES = ("i", "j", "k", "l")
TENSOR_NAMES = ("A", "B", "C")  # up to three operands

literals = st.one_of(
    st.integers(min_value=0, max_value=1000),
    st.floats(min_value=0.0, allow_nan=False, allow_infinity=False).filter(lambda v: str(v)[0] != "-"),
).map(Literal)


@st.composite
def assignments(draw, literal_leaves=literals):
    """A valid Assignment: up to three tensors of fixed order, literals, minus, any grouping."""
    count = draw(st.integers(min_value=1, max_value=len(TENSOR_NAMES)))
    tensor_indices = {
        name: tuple(draw(st.permutations(INDEX_NAMES))[: draw(st.integers(min_value=0, max_value=3))])
        for name in TENSOR_NAMES[:count]
    }
    leaves = st.one_of(st.sampled_from([Access(n, ix) for n, ix in tensor_indices.items()]), literal_leaves)
    rhs = draw(st.recursive(
        leaves,
        lambda inner: st.one_of(
            inner.map(Neg),
            st.tuples(st.sampled_from([Add, Sub, Mul]), inner, inner).map(lambda t: t[0](t[1], t[2])),
        ),
        max_leaves=8,
    ))
    used = [i for i in INDEX_NAMES if any(i in access.indices for access in _accesses(rhs))]
    free = draw(st.permutations(used))[: draw(st.integers(min_value=0, max_value=len(used)))]
    return Assignment(Access("Out", tuple(free)), rhs)


@given(assignments())
def test_printed_assignments_parse_back_equal(assign):
    text = str(assign)
    assert parse(text) == assign
    assert str(parse(text)) == text


@given(assignments(), st.data())
def test_whitespace_at_token_boundaries_parses_the_same(assign, data):
    text = str(assign)
    # Whitespace inside a name or a number would split it: insert it only between tokens.
    tokens = tokenize(text)
    boundaries = sorted({t.offset for t in tokens} | {t.offset + len(t.text) for t in tokens})
    cuts = set(data.draw(st.lists(st.sampled_from(boundaries), max_size=8)))
    spaced = "".join((" \t\n"[k % 3] if k in cuts else "") + ch for k, ch in enumerate(text + " "))
    assert parse(spaced) == assign


# ---- einsum == numpy -------------------------------------------------------------------------------


@st.composite
def einsum_specs(draw):
    letters = "abcde"
    operands = [
        "".join(draw(st.permutations(letters))[: draw(st.integers(min_value=0, max_value=3))])
        for _ in range(draw(st.integers(min_value=1, max_value=3)))
    ]
    spec = ",".join(operands)
    if draw(st.booleans()):
        used = sorted(set("".join(operands)))
        out = draw(st.permutations(used))[: draw(st.integers(min_value=0, max_value=len(used)))]
        spec += "->" + "".join(out)
    sizes = {c: draw(st.integers(min_value=0, max_value=3)) for c in letters}
    return spec, sizes


@given(einsum_specs(), st.sampled_from([np.float64, np.int64]), st.integers(0, 2**32 - 1))
def test_einsum_through_the_gold_equals_numpy(spec_sizes, dtype, seed):
    spec, sizes = spec_sizes
    rng = np.random.default_rng(seed)
    inputs = spec.split("->")[0].split(",")
    operands = [rng.integers(-4, 5, tuple(sizes[c] for c in op)).astype(dtype) for op in inputs]
    assign = parse_einsum(spec)
    got = evaluate_dense(assign, dict(zip(assign.inputs, operands)))
    want = np.einsum(spec, *operands)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


# ---- the gold equals plain loops over every index point -----------------------------------------------


def _terms(expr, sign=1):
    """The top-level additive terms, split independently of zeroskip.lang (the semantics under test)."""
    if isinstance(expr, Add):
        return _terms(expr.left, sign) + _terms(expr.right, sign)
    if isinstance(expr, Sub):
        return _terms(expr.left, sign) + _terms(expr.right, -sign)
    if isinstance(expr, Neg):
        return _terms(expr.operand, -sign)
    return [(sign, expr)]


def _at(expr, arrays, env):
    if isinstance(expr, Access):
        return arrays[expr.tensor][tuple(env[i] for i in expr.indices)]
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, Neg):
        return -_at(expr.operand, arrays, env)
    left, right = _at(expr.left, arrays, env), _at(expr.right, arrays, env)
    return {Add: left + right, Sub: left - right, Mul: left * right}[type(expr)]


def _loops(assign, arrays, dims):
    free = assign.free_indices
    out = np.zeros(tuple(dims[i] for i in free))
    for point in itertools.product(*(range(dims[i]) for i in free)):
        env = dict(zip(free, point))
        for sign, term in _terms(assign.rhs):
            reduced = sorted({i for a in _accesses(term) for i in a.indices} - set(free))
            for inner in itertools.product(*(range(dims[i]) for i in reduced)):
                out[point] += sign * _at(term, arrays, env | dict(zip(reduced, inner)))
    return out


def _accesses(expr):
    if isinstance(expr, Access):
        return [expr]
    if isinstance(expr, Neg):
        return _accesses(expr.operand)
    if isinstance(expr, Literal):
        return []
    return _accesses(expr.left) + _accesses(expr.right)


small_literals = st.sampled_from([0, 1, 2, 0.5, 3.25]).map(Literal)


@given(assignments(literal_leaves=small_literals), st.integers(0, 2**32 - 1))
def test_gold_equals_plain_loops(assign, seed):
    rng = np.random.default_rng(seed)
    sizes = dict(zip(INDEX_NAMES, rng.integers(1, 4, len(INDEX_NAMES))))
    arrays = {name: rng.integers(-3, 4, tuple(sizes[i] for i in order)).astype(float)
              for name, order in _orders(assign).items()}
    dims = infer_dims(assign, {name: a.shape for name, a in arrays.items()})
    np.testing.assert_allclose(evaluate_dense(assign, arrays), _loops(assign, arrays, dims), rtol=1e-9, atol=1e-9)


def _orders(assign):
    return {a.tensor: a.indices for a in _accesses(assign.rhs)}


# ---- fuzz: text never breaks the parsers ---------------------------------------------------------------

NOTATION_ALPHABET = st.sampled_from(list("yAxzij(),=+-*. 0123456789eE_\t\n") + ["B(i,k)", "2.5", "x(j)", "->"])


@given(st.one_of(st.text(), st.lists(NOTATION_ALPHABET, max_size=40).map("".join)))
def test_parse_fuzz_gives_an_assignment_or_a_zeroskip_error(text):
    try:
        assign = parse(text)
    except ZeroskipError as err:
        assert 1 <= err.column <= len(text) + 1 and err.text == text
        return
    assert isinstance(assign, Assignment)
    assert parse(str(assign)) == assign


@given(st.one_of(st.text(), st.lists(st.sampled_from(list("ijkIJ,->. 1")), max_size=20).map("".join)))
def test_parse_einsum_fuzz_gives_an_assignment_or_a_zeroskip_error(spec):
    try:
        assign = parse_einsum(spec)
    except ZeroskipError as err:
        assert err.text == spec or err.column == 1
        return
    assert isinstance(assign, Assignment)
    assert parse(str(assign)) == assign
