"""Dataflow: SAM graphs of typed primitives and stream edges, the token encoding, DOT I/O and the
reference interpreter that defines every primitive.

Example:
    >>> import numpy as np
    >>> from zeroskip.dataflow import read_dot, interpret
    >>> g = read_dot("../shared/data/sam-graphs/matmul_ijk.gv")  # doctest: +SKIP
    >>> B = np.array([[1.0, 2.0], [0.0, 3.0]])
    >>> interpret(g, {"B": B, "C": B})["X"].to_numpy().tolist()  # doctest: +SKIP
    [[1.0, 8.0], [0.0, 9.0]]
"""

from zeroskip.dataflow.dot import read_dot, write_dot
from zeroskip.dataflow.fixups import taco_fixups
from zeroskip.dataflow.graph import (
    Alu, AluOp, ArrayVals, CrdDrop, CrdHold, Edge, Graph, Intersect, LevelScan, LevelWrite, Node, Op, Reduce,
    RepSigGen, Repeat, SpAcc, TensorSpec, Union, ValsWrite,
)
from zeroskip.dataflow.interpret import Trace, interpret, trace
from zeroskip.dataflow.ports import Port, Signature, signature, verify_graph
from zeroskip.dataflow.tokens import Stream, StreamKind, check_stream, decode, encode

__all__ = [
    "Alu", "AluOp", "ArrayVals", "CrdDrop", "CrdHold", "Edge", "Graph", "Intersect", "LevelScan", "LevelWrite",
    "Node", "Op", "Port", "Reduce", "RepSigGen", "Repeat", "Signature", "SpAcc", "Stream", "StreamKind",
    "TensorSpec", "Trace", "Union", "ValsWrite", "check_stream", "decode", "encode", "interpret", "read_dot",
    "signature", "taco_fixups", "trace", "verify_graph", "write_dot",
]
