"""The compiler: schedules (loop order, formats, cost model), merge lattices, the LoopNest IR."""

from zeroskip.compiler.lattice import Iterator, LatticePoint, MergeLattice, merge_lattice
from zeroskip.compiler.loopnest import Assign, Forall, LoopNest, Temporary, Where, build_loopnest, verify_loopnest
from zeroskip.compiler.schedule import Conversion, OperandInfo, Schedule, make_schedule

__all__ = [
    "Assign",
    "Conversion",
    "Forall",
    "Iterator",
    "LatticePoint",
    "LoopNest",
    "MergeLattice",
    "OperandInfo",
    "Schedule",
    "Temporary",
    "Where",
    "build_loopnest",
    "make_schedule",
    "merge_lattice",
    "verify_loopnest",
]
