"""The compiler: schedules (loop order, formats, cost model), merge lattices, the LoopNest IR, lowering to
SAM dataflow graphs, and ``compile``, which runs the stages in order."""

from zeroskip.compiler.lattice import Iterator, LatticePoint, MergeLattice, merge_lattice
from zeroskip.compiler.loopnest import Assign, Forall, LoopNest, Temporary, Where, build_loopnest, verify_loopnest
from zeroskip.compiler.lower import LoweringError, constants, lower_to_graph
from zeroskip.compiler.program import Program, compile
from zeroskip.compiler.schedule import Conversion, OperandInfo, Schedule, make_schedule

__all__ = [
    "Assign",
    "Conversion",
    "Forall",
    "Iterator",
    "LatticePoint",
    "LoopNest",
    "LoweringError",
    "MergeLattice",
    "OperandInfo",
    "Program",
    "Schedule",
    "Temporary",
    "Where",
    "build_loopnest",
    "compile",
    "constants",
    "lower_to_graph",
    "make_schedule",
    "merge_lattice",
    "verify_loopnest",
]
