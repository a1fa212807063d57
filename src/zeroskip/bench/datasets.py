"""Where the real data lives: the SuiteSparse matrices and the Graph Challenge sparse DNN.

The data sits in ``shared/data`` beside the project checkout (never inside the package); set
``ZEROSKIP_DATA`` to use another folder.

Example:
    >>> root = data_root()  # doctest: +SKIP
    >>> [p.stem for p in suitesparse_files(root)][:2]  # doctest: +SKIP
    ['G51', 'Pd']
"""

from __future__ import annotations

import os
from pathlib import Path

from zeroskip.errors import ZeroskipError


class DataNotFoundError(ZeroskipError, FileNotFoundError):
    """The shared data folder (or a file in it) is missing."""


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """The data folder: ``explicit``, else ``$ZEROSKIP_DATA``, else ``../shared/data`` of the cwd or checkout."""
    candidates = [Path(explicit)] if explicit else []
    if not candidates and os.environ.get("ZEROSKIP_DATA"):
        candidates.append(Path(os.environ["ZEROSKIP_DATA"]))
    if not candidates:
        checkout = Path(__file__).resolve().parents[3]  # src/zeroskip/bench/ -> checkout root
        candidates += [Path.cwd().parent / "shared" / "data", checkout.parent / "shared" / "data"]
    for path in candidates:
        if (path / "suitesparse").is_dir():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise DataNotFoundError(f"no data folder with suitesparse/ found (tried {tried}); pass --data or set ZEROSKIP_DATA")


def suitesparse_files(root: Path | None = None) -> list[Path]:
    """The bundled SuiteSparse Matrix Market files, smallest file first."""
    folder = (root or data_root()) / "suitesparse"
    return sorted(folder.glob("*.mtx"), key=lambda p: (p.stat().st_size, p.name))


def graphchallenge_files(root: Path | None = None) -> dict[str, object]:
    """Paths of the Graph Challenge DNN: ``images``, ``categories`` and ``layers`` (W1..Wn in order)."""
    folder = (root or data_root()) / "graphchallenge-dnn"
    layers = sorted(folder.glob("n1024-l*.mtx"), key=lambda p: int(p.stem.split("-l")[1]))
    images = folder / "sparse-images-1024_subset.mtx"
    if not layers or not images.exists():
        raise DataNotFoundError(f"Graph Challenge files not found in {folder}")
    return {"images": images, "categories": folder / "neuron1024-l120-categories_subset.mtx", "layers": layers}
