"""zeroskip: compute with the zeros left out.

Example:
    >>> import numpy as np, zeroskip as zs
    >>> t = zs.as_tensor(np.eye(3), format="csr")
    >>> t.nnz, t.format.name
    (3, 'csr')
"""

from zeroskip import config
from zeroskip.errors import (
    CoordinateError,
    DenseLimitError,
    DTypeError,
    DuplicateError,
    FileFormatError,
    FormatError,
    MissingDependencyError,
    OrderError,
    ParseError,
    ShapeError,
    StructureError,
    ZeroskipError,
)
from zeroskip.formats import Format, SparseTensor, as_format, as_tensor, from_coo, load, save
from zeroskip.compiler.epilogue import Epilogue
from zeroskip.compiler.program import Program, compile  # noqa: A004 - zeroskip.compile, by design
from zeroskip.config import get_num_threads, set_num_threads
import zeroskip.backends.cpu.backend  # noqa: E402,F401 - registers the CPU backend
from zeroskip.compiler.backend import register_simulator as _register_simulator
from zeroskip.hardware.simulate import simulate as _simulate

_register_simulator("accelerator", _simulate)  # the compiler never imports hardware (DESIGN.md layers)

__version__ = "0.1.0"

__all__ = [
    "CoordinateError",
    "DTypeError",
    "DenseLimitError",
    "DuplicateError",
    "Epilogue",
    "FileFormatError",
    "Format",
    "FormatError",
    "MissingDependencyError",
    "OrderError",
    "ParseError",
    "Program",
    "ShapeError",
    "SparseTensor",
    "StructureError",
    "ZeroskipError",
    "__version__",
    "as_format",
    "as_tensor",
    "compile",
    "config",
    "from_coo",
    "get_num_threads",
    "load",
    "save",
    "set_num_threads",
]
