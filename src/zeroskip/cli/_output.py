"""Terminal output of the commands: aligned tables, one JSON document, progress bars, text spy plots.

Example:
    >>> print(table([["csr", 1024], ["coo", 2048]], ["format", "bytes"]))
    format  bytes
    ------  -----
    csr      1024
    coo      2048
    >>> print(text_spy([0, 1, 2, 3], [0, 1, 2, 3], (4, 4), width=4))
    +----+
    |@@  |
    |  @@|
    +----+
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import numpy as np

from zeroskip.bench.store import jsonable
from zeroskip.formats.stats import density_grid

T = TypeVar("T")

SPY_CHARS = " .:-=+*#%@"  # emptiest to densest


def table(rows: list[list[object]], headers: list[str]) -> str:
    """Plain aligned text table (numbers right-aligned, floats to 4 significant digits)."""
    cells = [[str(h) for h in headers]] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        parts = [c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cell(value: object) -> str:
    """One table cell: floats to 4 significant digits, anything else as ``str``.

    Example:
        >>> cell(3.14159), cell("csr")
        ('3.142', 'csr')
    """
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_json(document: Any) -> None:
    """Print one JSON document to stdout (the whole output of a command run with ``--json``)."""
    print(json.dumps(jsonable(document), indent=2))


def progress(items: Iterable[T], description: str, *, total: int | None = None, enabled: bool = True) -> Iterator[T]:
    """``items`` with a tqdm progress bar on stderr, shown only on a terminal and when ``enabled``.

    Example:
        >>> list(progress([1, 2], "reading", enabled=False))
        [1, 2]
    """
    if not enabled or not sys.stderr.isatty():
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, desc=description, total=total, file=sys.stderr, leave=False, unit="item")


def text_spy(rows, cols, shape: tuple[int, int], width: int = 64) -> str:
    """A spy plot in characters: each cell's share of stored entries, from ' ' (none) to '@' (the densest cell).

    Any stored entry shows as at least '.', so a lone nonzero is never lost; character cells are
    about twice as tall as wide, so the grid has half as many rows per column as the matrix.
    """
    m, n = shape
    width = max(1, min(width, n))
    height = max(1, min(m, round(width * m / max(n, 1) / 2) or 1))
    grid = density_grid(rows, cols, shape, height, width)
    peak = grid.max() if grid.size else 0
    levels = np.zeros(grid.shape, dtype=np.int64)
    if peak:
        # Levels 1..9 by density relative to the densest cell; empty cells stay blank.
        levels = np.where(grid > 0, np.minimum(1 + grid * (len(SPY_CHARS) - 2) // peak, len(SPY_CHARS) - 1), 0)
    lines = ["+" + "-" * width + "+"]
    lines += ["|" + "".join(SPY_CHARS[v] for v in row) + "|" for row in levels]
    lines.append("+" + "-" * width + "+")
    return "\n".join(lines)


def save_spy_png(rows, cols, shape: tuple[int, int], path, title: str = "", resolution: int = 800) -> None:
    """Write a spy plot image (matplotlib; the ``report`` extra): each stored entry, or per-pixel counts.

    A matrix up to ``resolution`` rows and columns is drawn entry by entry; a larger one as the
    count of stored entries per pixel, on a log scale, so dense regions stay visible.
    """
    from zeroskip.cli._common import require

    require("matplotlib", "--spy with an image file (--spy - draws characters without it)")
    from matplotlib.colors import ListedColormap, LogNorm
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend

    m, n = max(shape[0], 1), max(shape[1], 1)
    grid = density_grid(rows, cols, (m, n), min(m, resolution), min(n, resolution))
    side = 6.0
    size = (side, max(1.5, min(side * m / n, 3 * side))) if n >= m else (max(1.5, side * n / m), side)
    fig = Figure(figsize=size)
    ax = fig.add_subplot()
    shown = np.ma.masked_equal(grid, 0)  # empty cells left white
    if grid.max() <= 1:  # one entry per pixel: a classic black spy plot
        ax.imshow(shown, cmap=ListedColormap(["black"]), interpolation="nearest",
                  extent=(-0.5, n - 0.5, m - 0.5, -0.5), aspect="auto")
    else:
        image = ax.imshow(shown, cmap="viridis", norm=LogNorm(vmin=1, vmax=int(grid.max())), interpolation="nearest",
                          extent=(-0.5, n - 0.5, m - 0.5, -0.5), aspect="auto")
        fig.colorbar(image, ax=ax, label="stored entries per pixel")
    ax.set_title(title, fontsize=9)
    fig.savefig(path, dpi=150, bbox_inches="tight")
