"""Storage: levels, formats, SparseTensor, conversions, statistics and file I/O."""

from zeroskip.formats.build import LevelArrays
from zeroskip.formats.convert import as_tensor, from_coo, from_numpy, from_scipy
from zeroskip.formats.format import Format, as_format
from zeroskip.formats.io import load, save
from zeroskip.formats.level import Level, LevelCapabilities, LevelKind, LevelProperties
from zeroskip.formats.tensor import SparseTensor
from zeroskip.formats.validate import verify_tensor

__all__ = [
    "Format",
    "Level",
    "LevelArrays",
    "LevelCapabilities",
    "LevelKind",
    "LevelProperties",
    "SparseTensor",
    "as_format",
    "as_tensor",
    "from_coo",
    "from_numpy",
    "from_scipy",
    "load",
    "save",
    "verify_tensor",
]
