"""The language: index notation and einsum parsed to the Expr AST, shapes, and the dense gold."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from zeroskip.errors import ParseError, ShapeError, ZeroskipError
from zeroskip.lang import (
    Access,
    Add,
    Assignment,
    Literal,
    Mul,
    Neg,
    Sub,
    Term,
    accesses,
    additive_terms,
    children,
    evaluate_dense,
    indices_of,
    infer_dims,
    map_expr,
    output_shape,
    parse,
    parse_einsum,
    walk,
)


def A(name, *indices):  # noqa: N802 -- reads like the notation it builds
    return Access(name, tuple(indices))


# ---- parsing: every example of the issue, with its tree written out by hand -------------------------
#   text                                          expected tree                                     printed back
EXAMPLES = [
    ("y(i) = A(i,j) * x(j)",
     Assignment(A("y", "i"), Mul(A("A", "i", "j"), A("x", "j"))),
     "y(i) = A(i,j) * x(j)"),
    ("X(i,j) = B(i,k) * C(k,j)",
     Assignment(A("X", "i", "j"), Mul(A("B", "i", "k"), A("C", "k", "j"))),
     "X(i,j) = B(i,k) * C(k,j)"),
    ("X(i,j) = B(i,j) * (C(i,k) * D(k,j))",
     Assignment(A("X", "i", "j"), Mul(A("B", "i", "j"), Mul(A("C", "i", "k"), A("D", "k", "j")))),
     "X(i,j) = B(i,j) * (C(i,k) * D(k,j))"),
    ("X(i,j) = B(i,j) + C(i,j) + D(i,j)",
     Assignment(A("X", "i", "j"), Add(Add(A("B", "i", "j"), A("C", "i", "j")), A("D", "i", "j"))),
     "X(i,j) = B(i,j) + C(i,j) + D(i,j)"),
    ("x = B(i,j,k) * C(i,j,k)",
     Assignment(A("x"), Mul(A("B", "i", "j", "k"), A("C", "i", "j", "k"))),
     "x = B(i,j,k) * C(i,j,k)"),
    ("x() = B(i,j,k) * C(i,j,k)",
     Assignment(A("x"), Mul(A("B", "i", "j", "k"), A("C", "i", "j", "k"))),
     "x = B(i,j,k) * C(i,j,k)"),
    ("X(i,j) = B(i,k,l) * C(k,j) * D(l,j)",
     Assignment(A("X", "i", "j"), Mul(Mul(A("B", "i", "k", "l"), A("C", "k", "j")), A("D", "l", "j"))),
     "X(i,j) = B(i,k,l) * C(k,j) * D(l,j)"),
    ("y(i) = 2.5 * A(i,j) * x(j) - -z(i)",
     Assignment(A("y", "i"), Sub(Mul(Mul(Literal(2.5), A("A", "i", "j")), A("x", "j")), Neg(A("z", "i")))),
     "y(i) = 2.5 * A(i,j) * x(j) - -z(i)"),
    ("x(i)=b*C(j,i)*d(j)+e*f(i)",
     Assignment(A("x", "i"), Add(Mul(Mul(A("b"), A("C", "j", "i")), A("d", "j")), Mul(A("e"), A("f", "i")))),
     "x(i) = b * C(j,i) * d(j) + e * f(i)"),
    ("x(i)=b(i)-C(i,j)*d(j)",
     Assignment(A("x", "i"), Sub(A("b", "i"), Mul(A("C", "i", "j"), A("d", "j")))),
     "x(i) = b(i) - C(i,j) * d(j)"),
    ("  out_1 ( i2 ,\tj )\n=\n( ( B_(i2,j) ) ) ",
     Assignment(A("out_1", "i2", "j"), A("B_", "i2", "j")),
     "out_1(i2,j) = B_(i2,j)"),
    ("y(i) = 1e3 * a(i) + 2 * .5 + 7E-2",
     Assignment(A("y", "i"), Add(Add(Mul(Literal(1000.0), A("a", "i")), Mul(Literal(2), Literal(0.5))),
                                 Literal(0.07))),
     "y(i) = 1000.0 * a(i) + 2 * 0.5 + 0.07"),
    ("y(i) = -(a(i) - (b(i) - c(i))) * -2",
     Assignment(A("y", "i"), Mul(Neg(Sub(A("a", "i"), Sub(A("b", "i"), A("c", "i")))), Neg(Literal(2)))),
     "y(i) = -(a(i) - (b(i) - c(i))) * -2"),
    ("y(i) = (a(i) + b(i)) * (c(i) - d(i)) - (e(i) * f(i))",
     Assignment(A("y", "i"), Sub(Mul(Add(A("a", "i"), A("b", "i")), Sub(A("c", "i"), A("d", "i"))),
                                 Mul(A("e", "i"), A("f", "i")))),
     "y(i) = (a(i) + b(i)) * (c(i) - d(i)) - e(i) * f(i)"),
    ("s = --b", Assignment(A("s"), Neg(Neg(A("b")))), "s = --b"),
    ("s = 3", Assignment(A("s"), Literal(3)), "s = 3"),
]  # fmt: skip


@pytest.mark.parametrize("text, tree, printed", EXAMPLES, ids=[row[0] for row in EXAMPLES])
def test_examples_parse_to_the_expected_tree_and_print_back(text, tree, printed):
    assert parse(text) == tree
    assert str(tree) == printed
    assert parse(printed) == tree


def test_parenthesized_products_keep_their_grouping():
    sddmm = parse("X(i,j) = B(i,j) * (C(i,k) * D(k,j))")
    assert sddmm != parse("X(i,j) = B(i,j) * C(i,k) * D(k,j)")
    assert str(Assignment(A("y", "i"), Sub(A("a", "i"), Add(A("b", "i"), A("c", "i"))))) == "y(i) = a(i) - (b(i) + c(i))"
    assert str(Assignment(A("y", "i"), Neg(Mul(A("a", "i"), A("b", "i"))))) == "y(i) = -(a(i) * b(i))"


# ---- derived properties ----------------------------------------------------------------------------


def test_assignment_properties():
    mttkrp = parse("X(i,j) = B(i,k,l) * C(k,j) * D(l,j)")
    assert mttkrp.output == "X"
    assert mttkrp.free_indices == ("i", "j")
    assert mttkrp.reduction_indices == ("k", "l")
    assert mttkrp.all_indices == ("i", "j", "k", "l")
    assert mttkrp.inputs == ("B", "C", "D")
    assert mttkrp.tensors == {"X": 2, "B": 3, "C": 2, "D": 2}
    assert list(mttkrp.tensors) == ["X", "B", "C", "D"]
    transposed = parse("Y(j,i) = A(i,j) * A(i,j)")
    assert transposed.free_indices == ("j", "i") and transposed.inputs == ("A",)
    assert parse("x = B(i,j,k) * C(i,j,k)").free_indices == ()


def test_terms_carry_the_reductions_of_each_additive_term():
    mattransmul = parse("x(i) = b*C(j,i)*d(j) + e*f(i)")
    assert mattransmul.terms == (
        Term(1, Mul(Mul(A("b"), A("C", "j", "i")), A("d", "j")), ("j",)),
        Term(1, Mul(A("e"), A("f", "i")), ()),
    )
    residual = parse("x(i) = b(i) - C(i,j)*d(j)")
    assert [(t.sign, t.reduced) for t in residual.terms] == [(1, ()), (-1, ("j",))]
    nested = parse("y(i) = -(a(i,j) - -(b(i) + c(i,k))) * 1 - d(i,k)")
    assert [(t.sign, t.reduced) for t in nested.terms] == [(1, ("j", "k")), (-1, ("k",))]
    assert [s for s, _ in additive_terms(parse("y(i) = -(a(i) - b(i)) - -c(i)").rhs)] == [-1, 1, 1]


def test_walk_children_map_and_indices():
    rhs = parse("y(i) = 2 * -A(i,j) + x(j)").rhs
    assert [type(n).__name__ for n in walk(rhs)] == ["Add", "Mul", "Literal", "Neg", "Access", "Access"]
    assert children(rhs) == (rhs.left, rhs.right) and children(A("b")) == ()
    assert accesses(rhs) == (A("A", "i", "j"), A("x", "j"))
    assert indices_of(rhs) == ("i", "j")
    doubled = map_expr(lambda e: Mul(Literal(2), e) if isinstance(e, Access) else e, rhs)
    assert str(doubled) == "2 * -(2 * A(i,j)) + 2 * x(j)"
    assert map_expr(lambda e: e, rhs) == rhs
    with pytest.raises(TypeError, match="an operand of Add must be an Expr node, got 'b'"):
        Add(A("a"), "b")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not an Expr node"):
        list(walk("b"))  # type: ignore[arg-type]


def test_nodes_are_frozen_hashable_values():
    node = Mul(A("A", "i"), Literal(2))
    assert node == Mul(A("A", "i"), Literal(2)) and hash(node) == hash(Mul(A("A", "i"), Literal(2)))
    assert len({parse("y(i) = a(i)"), parse("y( i )=a(i)")}) == 1
    with pytest.raises(AttributeError):
        node.left = A("B")  # type: ignore[misc]
    assert not hasattr(node, "__dict__")


# ---- errors: the column and the message ------------------------------------------------------------
#         text                              column  message
PARSE_ERRORS = [
    ("",                                     1,  "empty expression"),
    ("   ",                                  4,  "empty expression"),
    ("y(i) =",                               7,  "empty expression: expected an expression after '='"),
    ("y(i) =   ",                            10, "empty expression"),
    ("y(i) = A(i j)",                        12, "expected ',' or ')', got 'j'"),
    ("y(i) = A(i,)",                         12, "expected an index name, got ')'"),
    ("y(i) = A(",                            10, "expected an index name or ')', got end of text"),
    ("y(i) = A(i) +",                        14, "expected an operand (a tensor, a number, '-' or '('), got end of text"),
    ("y(i) = (A(i) + b(i)",                  20, "expected ')' to close the '(' at column 8"),
    ("y(i) = A(i))",                         12, "expected an operator ('+', '-', '*') or the end of the statement, got ')'"),
    ("y(i) = A(i) B(i)",                     13, "got 'B'"),
    ("y(i) = +A(i)",                         8,  "expected an operand"),
    ("y(i) = A(i) % 2",                      13, "unexpected character '%'"),
    ("y(i) = A(i) / 2",                      13, "unexpected character '/'"),
    ("A(i) * x(i)",                          6,  "expected '=' after the output A(i), got '*'"),
    ("2 = A(i)",                             1,  "expected the output tensor's name, got '2'"),
    ("y(i) = 1e * A(i)",                     8,  "malformed number '1e'"),
    ("y(i) = 2.5.1 * A(i)",                  8,  "malformed number '2.5.1'"),
    ("y(i) = 2x(i)",                         8,  "malformed number '2x'"),
    ("y(i) = 1e400 * A(i)",                  8,  "number 1e400 overflows a float"),
    ("y(i) = A(i) = B(i)",                   13, "got '='"),
    # semantic errors point at the offending access or index
    ("X(i,i) = B(i,j)",                      5,  "index i appears twice on the left side"),
    ("y(i) = A(j)",                          3,  "index i of the left side appears nowhere on the right side"),
    ("y(i,j) = A(i)*2",                      5,  "index j of the left side appears nowhere"),
    ("y(i) = 2",                             3,  "the right side has only literals but the left side has index i"),
    ("y(i) = 2 * -(3 + 1)",                  3,  "the right side has only literals"),
    ("y(i) = A(i) + y(i)",                   15, "the output y is also used as an input"),
    ("y = y",                                5,  "the output y is also used as an input"),
    ("y(i) = A(i,j) * x(j) + A(i)",          24, "tensor A is used with 1 indices here but with 2 at its first use"),
    ("y(i) = b * b(i)",                      12, "tensor b is used with 1 indices here but with 0"),
    ("y(i) = A(i,j,j) * x(i)",               14, "index j appears twice in A(i,j,j) (diagonal access is not supported)"),
]  # fmt: skip


@pytest.mark.parametrize("text, column, message", PARSE_ERRORS, ids=[row[0] or "empty" for row in PARSE_ERRORS])
def test_parse_errors_point_at_the_column(text, column, message):
    with pytest.raises(ParseError) as caught:
        parse(text)
    err = caught.value
    assert (err.column, err.text) == (column, text)
    assert message in str(err)
    first, shown, caret = str(err).split("\n")
    assert first.endswith(f" at column {column}")
    assert caret == "  " + " " * (column - 1) + "^"
    assert isinstance(err, ValueError) and isinstance(err, ZeroskipError)


def test_parse_error_message_shows_the_text_with_a_caret():
    with pytest.raises(ParseError) as caught:
        parse("y(i) = A(i j)")
    assert str(caught.value) == "expected ',' or ')', got 'j' at column 12\n  y(i) = A(i j)\n             ^"


def test_parse_error_in_multiline_and_long_text():
    with pytest.raises(ParseError) as caught:
        parse("y(i) =\n\tA(i) % 2")
    assert caught.value.column == 14 and "\n  y(i) =  A(i) % 2\n" in str(caught.value)
    long = "y(i) = " + " + ".join(["A(i)"] * 60) + " % 2"
    with pytest.raises(ParseError) as caught:
        parse(long)
    _, shown, caret = str(caught.value).split("\n")
    assert shown.startswith("  ...") and shown[len(caret) - 1] == "%"


def test_too_deep_nesting_is_a_parse_error_not_a_recursion_error():
    with pytest.raises(ParseError, match="nests deeper than 200 levels"):
        parse("y(i) = " + "(" * 500 + "a(i)" + ")" * 500)
    with pytest.raises(ParseError, match="nests deeper"):
        parse("y(i) = " + "-" * 500 + "a(i)")
    with pytest.raises(ParseError, match="nests deeper"):
        parse("y(i) = " + " + ".join(["a(i)"] * 500))
    assert len(str(parse("y(i) = " + " + ".join(["a(i)"] * 150)))) > 150


def test_parse_rejects_non_text():
    with pytest.raises(ParseError, match="expected index notation as a str, got bytes"):
        parse(b"y(i) = a(i)")  # type: ignore[arg-type]


def test_parse_error_pickles():
    err = ParseError("expected ')'", "y(i) = (a(i)", 13)
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), str(back), back.column, back.text) == (ParseError, str(err), 13, "y(i) = (a(i)")


def test_invalid_trees_cannot_be_built():
    with pytest.raises(ParseError, match="the output y is also used as an input") as caught:
        Assignment(A("y", "i"), Mul(A("a", "i"), A("y", "i")))
    assert (caught.value.text, caught.value.column) == ("y(i) = a(i) * y(i)", 15)
    with pytest.raises(ParseError, match="index j appears twice on the left side") as caught:
        Assignment(A("X", "i", "j", "j"), A("B", "i", "j"))
    assert caught.value.column == 7
    with pytest.raises(ParseError, match="the right side has only literals"):
        Assignment(A("y", "i"), Literal(1))
    with pytest.raises(ParseError, match="tensor name '2x' is not an identifier"):
        A("2x", "i")
    with pytest.raises(ParseError, match="index name 'i j' is not an identifier"):
        A("A", "i j")
    with pytest.raises(ParseError, match="must be a tuple"):
        Access("A", ["i"])  # type: ignore[arg-type]
    for bad in (-1, -0.0, float("inf"), float("nan"), True, "2", None):
        with pytest.raises(ParseError, match="is not a finite, non-negative int or float"):
            Literal(bad)  # type: ignore[arg-type]
    with pytest.raises(ParseError, match="the left side must be a tensor access"):
        Assignment(Literal(1), Literal(1))  # type: ignore[arg-type]


# ---- einsum ----------------------------------------------------------------------------------------
#         spec              printed
EINSUM = [
    ("ik,kj->ij",       "Out(i,j) = A(i,k) * B(k,j)"),
    ("ij,j->i",         "Out(i) = A(i,j) * B(j)"),
    ("ijk,ijk->",       "Out = A(i,j,k) * B(i,j,k)"),
    ("ij,jk",           "Out(i,k) = A(i,j) * B(j,k)"),
    ("ba",              "Out(a,b) = A(b,a)"),
    ("ij->ji",          "Out(j,i) = A(i,j)"),
    ("i,i",             "Out = A(i) * B(i)"),
    (" i k , k j -> i j ", "Out(i,j) = A(i,k) * B(k,j)"),
    ("ikl,kj,lj->ij",   "Out(i,j) = A(i,k,l) * B(k,j) * C(l,j)"),
    ("ij,ij,ij->ij",    "Out(i,j) = A(i,j) * B(i,j) * C(i,j)"),
    (",ij->ij",         "Out(i,j) = A * B(i,j)"),
    ("Ab,bC",           "Out(A,C) = A(A,b) * B(b,C)"),
]  # fmt: skip


@pytest.mark.parametrize("spec, printed", EINSUM, ids=[row[0] for row in EINSUM])
def test_einsum_specs(spec, printed):
    assign = parse_einsum(spec)
    assert str(assign) == printed
    assert parse(printed) == assign


def test_einsum_gives_the_same_tree_as_index_notation():
    assert parse_einsum("ik,kj->ij", names=["B", "C"], output="X") == parse("X(i,j) = B(i,k) * C(k,j)")
    assert parse_einsum("ij,j", names=("A", "x"), output="y") == parse("y(i) = A(i,j) * x(j)")
    assert parse_einsum("ij,jk", names="XY", output="Z").inputs == ("X", "Y")


#         spec               column  message
EINSUM_ERRORS = [
    ("ii->i",              2,  "index i appears twice in operand 1 'ii' (diagonals are not supported)"),
    ("ij,jkj->ik",         6,  "index j appears twice in operand 2 'jkj'"),
    ("...ij,jk->...ik",    1,  "ellipsis '...' (broadcast dimensions) is not supported"),
    ("ij,jk->i.k",         9,  "ellipsis"),
    ("ij,jk->ik->i",       10, "a second '->' in one einsum"),
    ("ij,jk-ik",           6,  "expected '->' after the operands, got a lone '-'"),
    ("ij,jk>ik",           6,  "expected '->', got a lone '>'"),
    ("ij,jk->ik,i",        10, "the output of an einsum is one operand; unexpected ','"),
    ("ij,jk->iz",          9,  "output index z appears in no operand"),
    ("ij,jk->ii",          9,  "index i appears twice in the output"),
    ("i1,1j->ij",          2,  "unexpected character '1'"),
    ("ij;jk",              3,  "unexpected character ';'"),
]  # fmt: skip


@pytest.mark.parametrize("spec, column, message", EINSUM_ERRORS, ids=[row[0] for row in EINSUM_ERRORS])
def test_einsum_errors_point_at_the_column(spec, column, message):
    with pytest.raises(ParseError) as caught:
        parse_einsum(spec)
    assert (caught.value.column, caught.value.text) == (column, spec)
    assert message in str(caught.value)


def test_einsum_names():
    with pytest.raises(ParseError, match="3 names given for 2 operands"):
        parse_einsum("ij,jk", names=("A", "B", "C"))
    with pytest.raises(ParseError, match="the output A is also used as an input"):
        parse_einsum("ij,jk", output="A")
    with pytest.raises(ParseError, match="tensor A is used with 1 indices here but with 2"):
        parse_einsum("ij,k->ijk", names=("A", "A"))
    with pytest.raises(ParseError, match="not an identifier"):
        parse_einsum("ij", names=("my tensor",))
    with pytest.raises(ParseError, match="expected an einsum string"):
        parse_einsum(None)  # type: ignore[arg-type]
    assert parse_einsum("i,i", names=("v", "v"), output="n") == parse("n = v(i) * v(i)")


RNG = np.random.default_rng(7)
SIZES = dict(zip("abcdefghijklmnopqrstuvwxyzABC", [3, 4, 2, 5, 3, 2, 4, 3, 2, 3, 4, 2, 3, 2, 3, 4, 2, 3, 2, 3, 4, 2, 3,
                                                   2, 3, 4, 2, 3, 2]))


def _operands(spec: str, dtype=float):
    inputs = spec.replace(" ", "").split("->")[0].split(",")
    return [RNG.standard_normal(tuple(SIZES[c] for c in op)).astype(dtype) if dtype is float
            else RNG.integers(-5, 5, tuple(SIZES[c] for c in op)).astype(dtype) for op in inputs]


@pytest.mark.parametrize("spec", [row[0] for row in EINSUM] + ["ij,ij->", "ij,jk,kl->il", "i,j->ij", "ijk->kji",
                                                                 "ij->", "i,i,i", "abc,cd,de->abe"])
@pytest.mark.parametrize("dtype", [float, np.int32])
def test_einsum_matches_numpy(spec, dtype):
    operands = _operands(spec, dtype)
    assign = parse_einsum(spec)
    got = evaluate_dense(assign, dict(zip(assign.inputs, operands)))
    want = np.einsum(spec, *operands)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# ---- shapes ----------------------------------------------------------------------------------------


def test_infer_dims_and_output_shape():
    mttkrp = parse("X(i,j) = B(i,k,l) * C(k,j) * D(l,j)")
    shapes = {"B": (5, 6, 7), "C": (6, 3), "D": (7, 3)}
    assert infer_dims(mttkrp, shapes) == {"i": 5, "j": 3, "k": 6, "l": 7}
    assert list(infer_dims(mttkrp, shapes)) == ["i", "j", "k", "l"]
    assert output_shape(mttkrp, shapes) == (5, 3)
    assert output_shape(parse("x = B(i,j,k) * C(i,j,k)"), {"B": (2, 3, 4), "C": (2, 3, 4)}) == ()
    assert infer_dims(mttkrp, shapes | {"X": (5, 3), "unused": (1,)})["j"] == 3
    assert infer_dims(parse("y(i) = A(i,j) * x(j)"), {"A": np.int64(0).shape + (2, 0), "x": [np.int32(0)]}) == {
        "i": 2, "j": 0}


#         expression                       shapes                                   message
SHAPE_ERRORS = [
    ("y(i) = A(i,j) * x(j)", {"A": (40, 40), "x": (30,)},       "index j is 40 in A (mode 1) but 30 in x (mode 0)"),
    ("y(i) = A(i,j) * x(j)", {"A": (40, 30)},                   "no shape given for operand x (the inputs are A, x; got shapes for A)"),
    ("y(i) = A(i,j) * x(j)", {"A": (40, 30, 2), "x": (30,)},    "A(i,j) has 2 indices but A has shape (40, 30, 2) of 3 modes"),
    ("y(i) = A(i,j) * x(j)", {"A": (4, 3), "x": (3,), "y": (5,)}, "index i is 5 in y (mode 0) but 4 in A (mode 0)"),
    ("X(i,k) = A(i,j) * A(j,k)", {"A": (3, 4)},                 "index j is 4 in A (mode 1) but 3 in A (mode 0)"),
    ("y(i) = A(i) + B(i)", {"A": (3,), "B": (-3,)},             "the shape of B has a negative size: (-3,)"),
    ("y(i) = A(i) + B(i)", {"A": (3,), "B": (2.5,)},            "the shape of B must be a sequence of ints, got (2.5,)"),
]  # fmt: skip


@pytest.mark.parametrize("text, shapes, message", SHAPE_ERRORS, ids=[row[2][:40] for row in SHAPE_ERRORS])
def test_shape_errors_name_both_tensors_and_sizes(text, shapes, message):
    with pytest.raises(ShapeError) as caught:
        infer_dims(parse(text), shapes)
    assert message in str(caught.value)


def test_evaluate_dense_reports_missing_operands_and_mismatched_shapes():
    with pytest.raises(ShapeError, match="no operand given for x"):
        evaluate_dense("y(i) = A(i,j) * x(j)", {"A": np.ones((2, 3))})
    with pytest.raises(ShapeError, match="index j is 3 in A \\(mode 1\\) but 4 in x \\(mode 0\\)"):
        evaluate_dense("y(i) = A(i,j) * x(j)", {"A": np.ones((2, 3)), "x": np.ones(4)})


# ---- the dense gold: one row per kernel of the issue, each with its numpy meaning written out ----------
I, J, K, L = 4, 5, 3, 2


def _r(*shape):
    return RNG.standard_normal(shape)


#        name           expression                                  operands                                                     numpy
KERNELS = [
    ("SpMV",          "y(i) = A(i,j) * x(j)",                      dict(A=_r(I, J), x=_r(J)),                                  lambda A, x: A @ x),
    ("SpMV x first",  "y(i) = x(j) * A(i,j)",                      dict(A=_r(I, J), x=_r(J)),                                  lambda A, x: A @ x),
    ("SpMM",          "X(i,j) = B(i,k) * C(k,j)",                  dict(B=_r(I, K), C=_r(K, J)),                               lambda B, C: B @ C),
    ("SDDMM",         "X(i,j) = B(i,j) * (C(i,k) * D(k,j))",       dict(B=_r(I, J), C=_r(I, K), D=_r(K, J)),                   lambda B, C, D: B * (C @ D)),
    ("SDDMM flat",    "X(i,j) = B(i,j) * C(i,k) * D(k,j)",         dict(B=_r(I, J), C=_r(I, K), D=_r(K, J)),                   lambda B, C, D: B * (C @ D)),
    ("elemmul",       "X(i,j) = B(i,j) * C(i,j)",                  dict(B=_r(I, J), C=_r(I, J)),                               lambda B, C: B * C),
    ("add of three",  "X(i,j) = B(i,j) + C(i,j) + D(i,j)",         dict(B=_r(I, J), C=_r(I, J), D=_r(I, J)),                   lambda B, C, D: B + C + D),
    ("MMAdd",         "X(i,j) = B(i,j) + C(i,j)",                  dict(B=_r(I, J), C=_r(I, J)),                               lambda B, C: B + C),
    ("identity",      "X(i,j) = B(i,j)",                           dict(B=_r(I, J)),                                           lambda B: B),
    ("transpose",     "X(j,i) = B(i,j)",                           dict(B=_r(I, J)),                                           lambda B: B.T),
    ("MTTKRP",        "X(i,j) = B(i,k,l) * C(k,j) * D(l,j)",       dict(B=_r(I, K, L), C=_r(K, J), D=_r(L, J)),                lambda B, C, D: np.einsum("ikl,kj,lj->ij", B, C, D)),
    ("TTV",           "X(i,j) = B(i,j,k) * c(k)",                  dict(B=_r(I, J, K), c=_r(K)),                               lambda B, c: B @ c),
    ("TTM",           "X(i,j,k) = B(i,j,l) * C(k,l)",              dict(B=_r(I, J, L), C=_r(K, L)),                            lambda B, C: B @ C.T),
    ("InnerProd",     "x = B(i,j,k) * C(i,j,k)",                   dict(B=_r(I, J, K), C=_r(I, J, K)),                         lambda B, C: np.sum(B * C)),
    ("MatTransMul",   "x(i) = b*C(j,i)*d(j) + e*f(i)",             dict(b=_r(), C=_r(J, I), d=_r(J), e=_r(), f=_r(I)),         lambda b, C, d, e, f: b * C.T @ d + e * f),
    ("MatTransMul literals", "y(i) = 2.5*A(j,i)*x(j) + 0.5*z(i)",  dict(A=_r(J, I), x=_r(J), z=_r(I)),                         lambda A, x, z: 2.5 * A.T @ x + 0.5 * z),
    ("Residual",      "x(i) = b(i) - C(i,j)*d(j)",                 dict(b=_r(I), C=_r(I, J), d=_r(J)),                         lambda b, C, d: b - C @ d),
    ("negations",     "y(i) = 2.5 * A(i,j) * x(j) - -z(i)",        dict(A=_r(I, J), x=_r(J), z=_r(I)),                         lambda A, x, z: 2.5 * A @ x + z),
    ("outer",         "X(i,j) = a(i) * b(j)",                      dict(a=_r(I), b=_r(J)),                                     lambda a, b: np.outer(a, b)),
    ("broadcast add", "X(i,j) = a(i) + b(j) - 1",                  dict(a=_r(I), b=_r(J)),                                     lambda a, b: a[:, None] + b[None, :] - 1),
    ("sum in product", "y(i) = (A(i,j) + z(i)) * x(j)",            dict(A=_r(I, J), z=_r(I), x=_r(J)),                         lambda A, z, x: (A + z[:, None]) @ x),
    ("row sums",      "y(i) = A(i,j)",                             dict(A=_r(I, J)),                                           lambda A: A.sum(axis=1)),
    ("scalar sum",    "s = A(i,j) - B(i,j) + 3",                   dict(A=_r(I, J), B=_r(I, J)),                               lambda A, B: A.sum() - B.sum() + 3),
    ("literal only",  "s = 2 * 3 - 1.5",                           dict(),                                                     lambda: np.float64(4.5)),
]  # fmt: skip


@pytest.mark.parametrize("name, text, operands, numpy", KERNELS, ids=[row[0] for row in KERNELS])
def test_evaluate_dense_kernels(name, text, operands, numpy):
    got = evaluate_dense(parse(text), operands)
    want = np.asarray(numpy(**operands))
    assert isinstance(got, np.ndarray) and got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert got.flags.writeable and got.flags.owndata


def test_reductions_wrap_each_additive_term_not_the_whole_right_side():
    A, z, w = _r(I, J), _r(I), _r(I)
    termwise = evaluate_dense("y(i) = A(i,j) + z(i)", dict(A=A, z=z))
    np.testing.assert_allclose(termwise, A.sum(axis=1) + z)
    # The whole chain splits, however it is associated (TACO itself wraps only the outermost split).
    for text in ("y(i) = A(i,j) + z(i) + w(i)", "y(i) = z(i) + A(i,j) + w(i)", "y(i) = z(i) + (A(i,j) + w(i))"):
        np.testing.assert_allclose(evaluate_dense(text, dict(A=A, z=z, w=w)), A.sum(axis=1) + z + w)
    # A product term keeps the sum inside it, so "* 1" sums the whole thing: J copies of z.
    whole = evaluate_dense("y(i) = (A(i,j) + z(i)) * 1", dict(A=A, z=z))
    np.testing.assert_allclose(whole, A.sum(axis=1) + J * z)
    np.testing.assert_allclose(evaluate_dense("y(i) = -(A(i,j) - z(i))", dict(A=A, z=z)), -A.sum(axis=1) + z)


def test_mattransmul_as_sam_writes_it_is_alpha_at_x_plus_beta_z():
    C, d, f = _r(J, I), _r(J), _r(I)
    got = evaluate_dense("x(i) = b*C(j,i)*d(j) + e*f(i)", dict(b=2.0, C=C, d=d, e=np.float64(-3), f=f))
    np.testing.assert_allclose(got, 2.0 * C.T @ d - 3 * f)


#        expression                 operand dtypes                       result dtype
DTYPES = [
    ("y(i) = 2 * a(i)",          dict(a=np.int32),                    np.int32),
    ("y(i) = 2.5 * a(i)",        dict(a=np.int32),                    np.float64),
    ("y(i) = -a(i) + 1",         dict(a=np.float32),                  np.float32),
    ("y(i) = a(i) + b(i)",       dict(a=np.int32, b=np.float32),      np.float64),
    ("y(i) = a(i,j) * b(j)",     dict(a=np.int8, b=np.int16),         np.int16),
    ("y(i) = a(i) * b(i)",       dict(a=np.float32, b=np.complex64),  np.complex64),
    ("s = a(i) * b(i)",          dict(a=np.int64, b=np.int64),        np.int64),
]  # fmt: skip


@pytest.mark.parametrize("text, dtypes, result", DTYPES, ids=[row[0] for row in DTYPES])
def test_evaluate_dense_follows_numpy_promotion(text, dtypes, result):
    assign = parse(text)
    shapes = {"a": (3,), "b": (3,)} if "a(i,j)" not in text else {"a": (3, 2), "b": (2,)}
    operands = {name: np.ones(shapes[name], dtype=dtype) for name, dtype in dtypes.items()}
    assert evaluate_dense(assign, operands).dtype == result


def test_evaluate_dense_handles_empty_dimensions():
    got = evaluate_dense("y(i) = A(i,j) * x(j) + z(i)", dict(A=np.ones((3, 0)), x=np.ones(0), z=np.arange(3.0)))
    np.testing.assert_array_equal(got, [0.0, 1.0, 2.0])
    assert evaluate_dense("X(i,j) = a(i) * b(j)", dict(a=np.ones(0), b=np.ones(4))).shape == (0, 4)
