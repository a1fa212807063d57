"""The language: tensor index notation and einsum strings, parsed to one Expr AST.

Example:
    >>> import numpy as np
    >>> from zeroskip.lang import parse, parse_einsum, evaluate_dense
    >>> spmm = parse("X(i,j) = B(i,k) * C(k,j)")
    >>> spmm == parse_einsum("ik,kj->ij", names=("B", "C"), output="X")
    True
    >>> evaluate_dense(spmm, {"B": np.eye(2), "C": [[1, 2], [3, 4]]})
    array([[1., 2.],
           [3., 4.]])
"""

from zeroskip.lang.ast import (
    Access,
    Add,
    Assignment,
    Expr,
    Literal,
    Mul,
    Neg,
    Sub,
    Term,
    accesses,
    additive_terms,
    children,
    indices_of,
    map_expr,
    walk,
)
from zeroskip.lang.einsum import parse_einsum
from zeroskip.lang.gold import evaluate_dense
from zeroskip.lang.parser import parse
from zeroskip.lang.shapes import infer_dims, output_shape

__all__ = [
    "Access",
    "Add",
    "Assignment",
    "Expr",
    "Literal",
    "Mul",
    "Neg",
    "Sub",
    "Term",
    "accesses",
    "additive_terms",
    "children",
    "evaluate_dense",
    "indices_of",
    "infer_dims",
    "map_expr",
    "output_shape",
    "parse",
    "parse_einsum",
    "walk",
]
