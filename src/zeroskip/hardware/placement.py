"""Placement: every node of each copy of a dataflow Graph on a tile of the modelled array.

Memory-side primitives (level scanners, value arrays, level and value writers, sparse
accumulators) need SRAM and go on memory tiles; the others go on PE tiles; one node per tile.
Copies of the graph (unrolling) get disjoint column bands: the columns are cut left to right into
the fewest bands that each hold one copy's memory and PE nodes. Inside its band a copy is placed
greedily in topological order, each node on the free tile of its kind nearest (Manhattan) to the
centroid of its placed neighbours. An edge's hops are the Manhattan distance between its tiles.

Example (SpMV on the default array):
    >>> import zeroskip as zs
    >>> from zeroskip.hardware.arch import default_arch
    >>> graph = zs.compile("y(i)=A(i,j)*x(j)", A="csr", x="dense").graph
    >>> p = place(graph, default_arch(), copies=2)
    >>> len(p.sites) == 2 * len(graph.nodes), p.copies
    (True, 2)
    >>> all(p.kind_of(s.node) == s.kind for s in p.sites)
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zeroskip.dataflow.graph import Edge, Graph, Op
from zeroskip.errors import HardwareError, ResourceError

if TYPE_CHECKING:
    from zeroskip.hardware.arch import Arch

__all__ = ["MEMORY_OPS", "Placement", "Site", "kind_of_op", "max_copies", "place"]

MEMORY_OPS = frozenset({Op.LEVEL_SCAN, Op.ARRAY_VALS, Op.LEVEL_WRITE, Op.VALS_WRITE, Op.SPACC})


def kind_of_op(op: Op) -> str:
    """``"mem"`` for the primitives that hold SRAM, ``"pe"`` for the others."""
    return "mem" if op in MEMORY_OPS else "pe"


@dataclass(frozen=True, slots=True)
class Site:
    """Node ``node`` of copy ``copy`` configured on the tile at (``row``, ``col``), of ``kind`` "pe" or "mem"."""

    copy: int
    node: int
    row: int
    col: int
    kind: str


@dataclass(frozen=True, slots=True)
class Placement:
    """Where every node of every copy sits: ``sites`` sorted by (copy, node); ``bands[c]`` = copy c's columns [lo, hi)."""

    arch: str
    graph: Graph
    copies: int
    sites: tuple[Site, ...]
    bands: tuple[tuple[int, int], ...]
    _at: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_at", {(s.copy, s.node): (s.row, s.col) for s in self.sites})

    def tile_of(self, node: int, copy: int = 0) -> tuple[int, int]:
        """The (row, col) of ``node`` in ``copy``."""
        try:
            return self._at[(copy, node)]
        except KeyError:
            raise HardwareError(f"no node {node} in copy {copy} of a placement of {self.copies} copies") from None

    def kind_of(self, node: int) -> str:
        """The tile kind ``node`` needs."""
        return kind_of_op(self.graph.node(node).op)

    def hops(self, edge: Edge, copy: int = 0) -> int:
        """Manhattan distance the stream on ``edge`` travels in ``copy``."""
        (r0, c0), (r1, c1) = self.tile_of(edge.src, copy), self.tile_of(edge.dst, copy)
        return abs(r0 - r1) + abs(c0 - c1)

    def edge_hops(self, copy: int = 0) -> dict[Edge, int]:
        """Hops of every edge of the graph in ``copy``."""
        return {edge: self.hops(edge, copy) for edge in self.graph.edges}

    @property
    def total_hops(self) -> int:
        """Sum of the hops of every edge over all copies (a wiring-length figure of merit)."""
        return sum(self.hops(e, c) for c in range(self.copies) for e in self.graph.edges)


def _needs(graph: Graph) -> tuple[int, int]:
    """(memory tiles, PE tiles) one copy of ``graph`` needs."""
    mem = sum(1 for n in graph.nodes if n.op in MEMORY_OPS)
    return mem, len(graph.nodes) - mem


def _bands(graph: Graph, arch: Arch) -> list[tuple[int, int]]:
    """The column bands, left to right, each the fewest columns holding one copy (leftovers unused)."""
    need_mem, need_pe = _needs(graph)
    bands, start, mem, pe = [], 0, 0, 0
    for col in range(arch.cols):
        kinds = [arch.tile_kind(row, col) for row in range(arch.rows)]
        mem, pe = mem + kinds.count("mem"), pe + kinds.count("pe")
        if mem >= need_mem and pe >= need_pe:
            bands.append((start, col + 1))
            start, mem, pe = col + 1, 0, 0
    return bands


def max_copies(graph: Graph, arch: Arch) -> int:
    """How many copies of ``graph`` fit side by side on ``arch`` (0 when not even one does).

    >>> import zeroskip as zs
    >>> from zeroskip.hardware.arch import default_arch
    >>> max_copies(zs.compile("y(i)=A(i,j)*x(j)", A="csr", x="dense").graph, default_arch()) >= 1
    True
    """
    return len(_bands(graph, arch))


def place(graph: Graph, arch: Arch, *, copies: int = 1) -> Placement:
    """Place ``copies`` copies of ``graph`` on ``arch``; raises ``ResourceError`` naming what does not fit."""
    if copies < 1:
        raise HardwareError(f"copies must be >= 1, got {copies=}")
    need_mem, need_pe = _needs(graph)
    if need_mem * copies > arch.mem_tiles:
        raise ResourceError(f"needs {need_mem * copies} memory tiles for {copies} copies of the graph "
                            f"but {arch.name} has {arch.mem_tiles}")
    if need_pe * copies > arch.pe_tiles:
        raise ResourceError(f"needs {need_pe * copies} PE tiles for {copies} copies of the graph "
                            f"but {arch.name} has {arch.pe_tiles}")
    bands = _bands(graph, arch)
    if len(bands) < copies:
        raise ResourceError(f"needs {copies} disjoint column bands of {need_mem} memory and {need_pe} PE tiles "
                            f"for {copies} copies of the graph but {arch.name}'s {arch.cols} columns give {len(bands)}")
    sites = [site for c in range(copies) for site in _place_copy(graph, arch, c, bands[c])]
    return Placement(arch.name, graph, copies, tuple(sorted(sites, key=lambda s: (s.copy, s.node))), tuple(bands[:copies]))


def _place_copy(graph: Graph, arch: Arch, copy: int, band: tuple[int, int]) -> list[Site]:
    free = {"mem": [], "pe": []}
    for col in range(*band):
        for row in range(arch.rows):
            free[arch.tile_kind(row, col)].append((row, col))
    centre = ((arch.rows - 1) / 2, (band[0] + band[1] - 1) / 2)
    at: dict[int, tuple[int, int]] = {}
    sites = []
    for node in graph.topological_order():
        near = [at[e.src] for e in graph.in_edges(node.id) if e.src in at]
        near += [at[e.dst] for e in graph.out_edges(node.id) if e.dst in at]
        # A node with no placed neighbour starts next to what is already placed, keeping the copy compact.
        near = near or list(at.values())
        r0, c0 = (sum(p[0] for p in near) / len(near), sum(p[1] for p in near) / len(near)) if near else centre
        kind = kind_of_op(node.op)
        best = min(free[kind], key=lambda t: (abs(t[0] - r0) + abs(t[1] - c0), t))
        free[kind].remove(best)
        at[node.id] = best
        sites.append(Site(copy, node.id, best[0], best[1], kind))
    return sites
