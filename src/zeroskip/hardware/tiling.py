"""Tiling: the iteration space cut into coordinate boxes whose sub-tensors fit the memory tiles.

A level scanner holds its level's ``pos`` and ``crd`` arrays in one memory tile, a value array its
``vals``; every word (metadata too: Onyx stores 16-bit metadata) takes ``arch.word_bytes``. When an
input does not fit, each index of the graph gets a list of coordinate breaks and the tiles are the
boxes of that grid. An index's range count doubles, one index at a time, the index chosen being
the one whose doubling leaves the least overflow (bytes over capacity, summed over tiles and memory
nodes), until every tile fits; then, while there are fewer tiles than ``copies``, an index is split
for parallelism (output indices first, so that no partial sums appear, then the smallest largest tile).
``strategy="coords"`` cuts equal coordinate ranges; ``strategy="nnz"`` cuts ranges holding equal
stored entries along the index (each coordinate also weighs one, for its pos entry).

Sizes are computed from the coordinates without building the sub-tensors (they equal what
``slice_inputs`` builds; tests check it). ``Tile.est_work`` estimates a tile's simulated cycles as
the words its scanners and value arrays stream (pos + crd + vals of every input sub-tensor) plus,
for every multiplier, the points it multiplies: the size of the join of its factors' stored
coordinates (dense levels under the last compressed one count every coordinate), exact for the
SAM intersection, computed by a counting join grouped by tile. ``out_bytes`` bounds the output
sub-tensor: at most the box, at most the multiplies (or the input entries when nothing multiplies).

Example (SpMV with 64-byte memory tiles: 32 words):
    >>> import numpy as np, scipy.sparse as sp, zeroskip as zs
    >>> from zeroskip.hardware.arch import default_arch
    >>> from zeroskip.dataflow.interpret import interpret
    >>> A = sp.random(12, 12, density=0.4, format="csr", random_state=0); x = np.arange(12.0)
    >>> p = zs.compile("y(i)=A(i,j)*x(j)", A=A, x=x)
    >>> tiles = tile(p.graph, p.bound_tensors(), default_arch().replace(mem_tile_bytes=64))
    >>> len(tiles) > 1
    True
    >>> parts = [(t, interpret(p.graph, slice_inputs(p.graph, p.bound_tensors(), t))["y"]) for t in tiles]
    >>> y, adds = combine_outputs(p.graph, parts, (12,))
    >>> np.allclose(y.to_numpy(), A @ x)
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from zeroskip.dataflow.graph import AluOp, Graph, Op
from zeroskip.errors import HardwareError, ResourceError, ShapeError
from zeroskip.formats.convert import as_tensor, from_coo
from zeroskip.formats.tensor import SparseTensor

if TYPE_CHECKING:
    from zeroskip.hardware.arch import Arch

__all__ = ["Combined", "Problem", "Tile", "combine_outputs", "problem", "slice_inputs", "tile"]

STRATEGIES = ("nnz", "coords")
_JOIN_CAP = 20_000_000  # joined rows materialized at most; beyond it the multiplies are estimated


@dataclass(frozen=True, slots=True)
class Tile:
    """A box of the iteration space: ``ranges[index] = (lo, hi)``, with its estimated work and traffic.

    >>> Tile({"i": (0, 4)}, est_work=10, in_bytes=20, out_bytes=8).ranges["i"]
    (0, 4)
    """

    ranges: Mapping[str, tuple[int, int]] = field(hash=False)
    est_work: int
    in_bytes: int
    out_bytes: int
    multiplies: int = 0

    def __post_init__(self) -> None:
        ranges = {str(k): (int(lo), int(hi)) for k, (lo, hi) in sorted(dict(self.ranges).items())}
        bad = {k: r for k, r in ranges.items() if not 0 <= r[0] <= r[1]}
        if bad:
            raise HardwareError(f"tile ranges must satisfy 0 <= lo <= hi, got {bad}")
        object.__setattr__(self, "ranges", MappingProxyType(ranges))

    def width(self, index: str) -> int:
        lo, hi = self.ranges[index]
        return hi - lo


class Combined(NamedTuple):
    """The output assembled from tiles, and the partial-sum additions that took (priced by the simulator)."""

    tensor: SparseTensor
    partial_sum_adds: int


@dataclass(frozen=True, slots=True, eq=False)
class Problem:
    """A graph's inputs in its formats, with each mode's index and each index's size."""

    graph: Graph
    tensors: Mapping[str, SparseTensor]
    coords: Mapping[str, np.ndarray]  # nonzero coordinates (mode order) of each input
    modes: Mapping[str, tuple[str, ...]]  # index of each mode of each input
    sizes: Mapping[str, int]  # index -> size, in loop order (outer first)
    output: str
    output_modes: tuple[str, ...]


def problem(graph: Graph, tensors: Mapping[str, object]) -> Problem:
    """The inputs of ``graph`` from ``tensors`` (scalars may be left out), checked against its scanners."""
    modes: dict[str, dict[int, str]] = {}
    scans = [n.params for n in graph.topological_order() if n.op is Op.LEVEL_SCAN]
    for p in scans:
        modes.setdefault(p.tensor, {})[p.mode] = p.index
    converted, coords, seen = {}, {}, {}
    sizes: dict[str, int] = {}
    for name in graph.inputs:
        spec = graph.tensor(name)
        if spec.ndim == 0:
            continue
        if name not in tensors:
            raise HardwareError(f"the graph reads {name} but no tensor was given (given: {sorted(tensors)})")
        t = as_tensor(tensors[name]).asformat(spec.format)
        if t.ndim != spec.ndim or sorted(modes.get(name, {})) != list(range(spec.ndim)):
            raise HardwareError(f"{name} has shape {t.shape} but the graph stores it as {spec} and scans modes "
                                f"{sorted(modes.get(name, {}))}")
        converted[name], coords[name] = t, t.to_coo()[0]
        for mode in range(spec.ndim):
            index = modes[name][mode]
            size = sizes.setdefault(index, t.shape[mode])
            seen.setdefault(index, f"{name} mode {mode}")
            if size != t.shape[mode]:
                raise ShapeError(f"index {index} has size {size} in {seen[index]} but {t.shape[mode]} in {name} mode {mode}")
    sizes = {i: sizes[i] for i in dict.fromkeys(p.index for p in scans) if i in sizes}  # loop order, outer first
    out = graph.outputs[0] if graph.outputs else ""
    written = {n.params.mode: n.params.index for n in graph.nodes_of(Op.LEVEL_WRITE) if n.params.tensor == out}
    output_modes = tuple(written[m] for m in sorted(written))
    return Problem(graph, MappingProxyType(converted), MappingProxyType(coords),
                   MappingProxyType({n: tuple(modes[n][m] for m in range(len(modes[n]))) for n in converted}),
                   MappingProxyType(sizes), out, output_modes)


# ---- sizes of sub-tensors on a grid of breaks ---------------------------------------------------------


class _Grid:
    """Per-tile arrays (flattened over the grid of ``order``) for one choice of breaks."""

    def __init__(self, prob: Problem, breaks: Mapping[str, np.ndarray], arch: Arch) -> None:
        self.order = tuple(prob.sizes)
        self.breaks = dict(breaks)
        self.shape = tuple(len(breaks[i]) - 1 for i in self.order)
        self.cells = np.indices(self.shape).reshape(len(self.shape), -1) if self.shape else np.zeros((0, 1), int)
        cap, wb = arch.mem_tile_bytes, arch.word_bytes
        n = self.cells.shape[1]
        self.overflow, self.in_bytes = np.zeros(n, np.int64), np.zeros(n, np.int64)
        self.words, self.entries = {}, {}
        for name in prob.tensors:
            levels, vals, entries = _footprint(prob, name, self.breaks)
            cell = self._of(prob.modes[name])
            self.words[name] = sum(w[cell] for w in levels) + vals[cell]
            self.entries[name] = entries[cell]
            spec = prob.graph.tensor(name)
            for node in prob.graph.nodes:
                if node.op is Op.LEVEL_SCAN and node.params.tensor == name:
                    held = levels[spec.level_of(node.params.mode)][cell] * wb
                elif node.op is Op.ARRAY_VALS and node.params.tensor == name:
                    held = vals[cell] * wb
                else:
                    continue
                self.in_bytes += held
                self.overflow += np.maximum(held - cap, 0)
        for node in prob.graph.nodes_of(Op.ARRAY_VALS):
            if prob.graph.tensor(node.params.tensor).ndim == 0:
                self.in_bytes += wb  # a scalar is one word
        self.load = sum(self.words.values(), np.zeros(n, np.int64))

    def _of(self, indices: Sequence[str]) -> np.ndarray:
        """For each tile, the flat group id of the sub-grid over ``indices``."""
        if not indices:
            return np.zeros(self.cells.shape[1], np.int64)
        dims = [self.shape[self.order.index(i)] for i in indices]
        return np.ravel_multi_index([self.cells[self.order.index(i)] for i in indices], dims)

    def widths(self, index: str) -> np.ndarray:
        return np.diff(self.breaks[index])[self.cells[self.order.index(index)]]

    def ranges(self, cell: int) -> dict[str, tuple[int, int]]:
        return {i: (int(self.breaks[i][self.cells[k, cell]]), int(self.breaks[i][self.cells[k, cell] + 1]))
                for k, i in enumerate(self.order)}


def _footprint(prob: Problem, name: str, breaks: Mapping[str, np.ndarray]):
    """Words per level (pos + crd), vals words and nonzeros of every sub-tensor of ``name``, per group of its modes' parts."""
    spec, coords, idx = prob.graph.tensor(name), prob.coords[name], prob.modes[name]
    parts = [len(breaks[i]) - 1 for i in idx]
    part_of = [np.searchsorted(breaks[idx[m]], coords[:, m], side="right") - 1 for m in range(len(idx))]
    groups = math.prod(parts)
    group = np.ravel_multi_index(part_of, parts) if len(coords) else np.zeros(0, np.int64)
    cells = np.indices(parts).reshape(len(parts), -1)
    positions, key, levels = np.ones(groups, np.int64), group.astype(np.int64), []
    for level, letter in enumerate(spec.levels):
        m = spec.mode_order[level]
        key = _extend_key(key, coords[:, m], prob.sizes[idx[m]])
        if letter == "d":
            positions = positions * np.diff(breaks[idx[m]])[cells[m]]
            levels.append(np.zeros(groups, np.int64))
        else:
            _, first = np.unique(key, return_index=True)
            crd = np.bincount(group[first], minlength=groups).astype(np.int64)
            levels.append(positions + 1 + crd)  # pos holds one entry per parent position, plus one
            positions = crd
    return levels, positions, np.bincount(group, minlength=groups).astype(np.int64)


def _extend_key(key: np.ndarray, column: np.ndarray, size: int) -> np.ndarray:
    """A key telling apart (key, column) pairs; re-ranked first when it would overflow int64."""
    if len(key) and int(key.max()) >= (1 << 62) // max(size, 1):
        key = np.unique(key, return_inverse=True)[1].astype(np.int64)
    return key * max(size, 1) + column


def _breaks(prob: Problem, strategy: str, index: str, parts: int) -> np.ndarray:
    """Breaks 0 = b0 < b1 < ... = size cutting ``index`` into at most ``parts`` ranges."""
    size = prob.sizes[index]
    if size == 0:
        return np.array([0, 0])
    if parts >= size:
        return np.arange(size + 1)
    if strategy == "coords":
        return np.unique(np.linspace(0, size, parts + 1).round().astype(np.int64))
    weight = np.ones(size, np.int64)  # one per coordinate: its pos entry
    for name, idx in prob.modes.items():
        for m, i in enumerate(idx):
            if i == index:
                weight += np.bincount(prob.coords[name][:, m], minlength=size)
    cum = np.concatenate([[0], np.cumsum(weight)])
    cuts = np.searchsorted(cum, cum[-1] * np.arange(1, parts) / parts, side="left")
    return np.unique(np.concatenate([[0], np.clip(cuts, 1, size - 1), [size]]))


def _split(prob: Problem, strategy: str, index: str, current: np.ndarray) -> np.ndarray | None:
    """The next finer breaks of ``index`` (range count doubled, or more until they change); None when atomic."""
    size, parts = prob.sizes[index], len(current) - 1
    while parts < size:
        parts *= 2
        finer = _breaks(prob, strategy, index, parts)
        if len(finer) > len(current):
            return finer
    return None


def tile(graph: Graph, tensors: Mapping[str, object], arch: Arch, *, strategy: str = "nnz",
         copies: int = 1) -> list[Tile]:
    """Tiles covering the iteration space of ``graph`` exactly once, each fitting ``arch``'s memory tiles.

    At least ``copies`` tiles when the space can be cut that fine. One tile covers everything when
    every input fits. Raises ``ResourceError`` when even single coordinates do not fit.
    """
    if strategy not in STRATEGIES:
        raise HardwareError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    prob = problem(graph, tensors)
    breaks = {i: _breaks(prob, strategy, i, 1) for i in prob.sizes}
    grid = _Grid(prob, breaks, arch)
    outputs = set(prob.output_modes)
    # A reduction index some input lacks is never cut: that input's term would be added once per part.
    uncut = {i for i in prob.sizes if i not in outputs
             and any(i not in prob.modes.get(name, ()) for name in graph.inputs)}
    while grid.overflow.any() or len(grid.overflow) < copies:
        fitting = not grid.overflow.any()
        best, best_score = None, None
        for k, index in enumerate(grid.order):
            finer = None if index in uncut else _split(prob, strategy, index, breaks[index])
            if finer is None:
                continue
            cand = _Grid(prob, {**breaks, index: finer}, arch)
            if fitting:  # split for parallelism: no partial sums if possible, then the smallest largest tile
                score = (index not in outputs, int(cand.load.max()), len(cand.load), k)
            else:
                score = (int(cand.overflow.sum()), len(cand.load), k)
            if best_score is None or score < best_score:
                best, best_score = (index, finer, cand), score
        if best is None:
            if fitting:
                break
            worst = int(np.argmax(grid.overflow))
            kept = (f" (reduction indices {sorted(uncut)} are never cut: an input lacks them, so its term "
                    f"would be added once per part)") if uncut else ""
            raise ResourceError(f"tile {grid.ranges(worst)} still overflows its memory tiles by "
                                f"{int(grid.overflow[worst])} bytes with every index cut as far as it can be{kept}; "
                                f"{arch.name}'s memory tiles hold {arch.mem_tile_bytes} bytes")
        breaks[best[0]], grid = best[1], best[2]
    return _tiles(prob, grid, arch)


def _tiles(prob: Problem, grid: _Grid, arch: Arch) -> list[Tile]:
    muls = _multiplies(prob, grid)
    inputs = sum(grid.entries.values(), np.zeros(len(grid.load), np.int64))
    box = np.ones(len(grid.load), np.int64)
    for index in prob.output_modes:
        box = box * grid.widths(index)
    bound = np.minimum(box, muls if _has_mul(prob.graph) else inputs)
    out_words = _bound_words(prob, grid, bound)
    return [Tile(grid.ranges(c), est_work=int(grid.load[c] + muls[c]), in_bytes=int(grid.in_bytes[c]),
                 out_bytes=int(out_words[c]) * arch.word_bytes, multiplies=int(muls[c]))
            for c in range(len(grid.load))]


def _bound_words(prob: Problem, grid: _Grid, entries: np.ndarray) -> np.ndarray:
    """Words of an output sub-tensor holding at most ``entries`` values in the graph's output format."""
    if not prob.output:
        return np.zeros(len(entries), np.int64)
    spec = prob.graph.tensor(prob.output)
    positions, words = np.ones(len(entries), np.int64), np.zeros(len(entries), np.int64)
    for level, letter in enumerate(spec.levels):
        width = grid.widths(prob.output_modes[spec.mode_order[level]])
        if letter == "d":
            positions = positions * width
        else:
            crd = np.minimum(positions * width, entries)
            words += positions + 1 + crd
            positions = crd
    return words + positions


# ---- multiplies: a counting join of the factors' stored coordinates, grouped by tile ----------------


def _has_mul(graph: Graph) -> bool:
    return any(n.params.op is AluOp.MUL for n in graph.nodes_of(Op.ALU))


def _factors(graph: Graph, node_id: int) -> set[str]:
    """The value arrays whose values reach ``node_id`` (through ALUs and reducers)."""
    found: set[str] = set()
    for edge in graph.in_edges(node_id):
        src = graph.node(edge.src)
        if src.op is Op.ARRAY_VALS:
            found.add(src.params.tensor)
        elif edge.kind.value == "val":
            found |= _factors(graph, src.id)
    return found


def _multiplies(prob: Problem, grid: _Grid) -> np.ndarray:
    total = np.zeros(len(grid.load), np.int64)
    for node in prob.graph.nodes_of(Op.ALU):
        if node.params.op is AluOp.MUL:
            total += _join_count(prob, grid, sorted(f for f in _factors(prob.graph, node.id) if f in prob.tensors))
    return total


class _Rel(NamedTuple):
    coords: dict  # index -> coordinate column (indices a later join still needs)
    parts: dict  # index -> tile part column (all other indices it has)
    weight: np.ndarray


def _relation(prob: Problem, grid: _Grid, name: str) -> tuple[_Rel, set[str]]:
    """The stored coordinates of ``name`` down to its last compressed level, and the indices of the dense levels below (free)."""
    spec, idx = prob.graph.tensor(name), prob.modes[name]
    last = spec.levels.rfind("s")
    kept = [spec.mode_order[level] for level in range(last + 1)]
    free = {idx[spec.mode_order[level]] for level in range(last + 1, spec.ndim)}
    cols = np.unique(prob.coords[name][:, kept], axis=0) if kept else np.zeros((1, 0), np.int64)
    return _Rel({idx[m]: cols[:, k] for k, m in enumerate(kept)}, {}, np.ones(len(cols), np.int64)), free


def _to_parts(grid: _Grid, rel: _Rel, keep: set[str]) -> _Rel:
    """``rel`` with coordinates not in ``keep`` turned into tile parts and equal rows merged."""
    coords = {i: c for i, c in rel.coords.items() if i in keep}
    parts = dict(rel.parts)
    for i, c in rel.coords.items():
        if i not in keep:
            parts[i] = np.searchsorted(grid.breaks[i], c, side="right") - 1
    names = [*coords, *parts]
    if not names or not len(rel.weight):
        return _Rel(coords, parts, rel.weight if names else np.array([rel.weight.sum()], np.int64))
    rows, inverse = np.unique(np.stack([*coords.values(), *parts.values()], axis=1), axis=0, return_inverse=True)
    weight = np.bincount(inverse.ravel(), weights=rel.weight, minlength=len(rows)).astype(np.int64)
    cols = dict(zip(names, rows.T))
    return _Rel({i: cols[i] for i in coords}, {i: cols[i] for i in parts}, weight)


def _join(a: _Rel, b: _Rel) -> _Rel:
    shared = sorted(set(a.coords) & set(b.coords))
    if shared:
        both = np.concatenate([np.stack([a.coords[i] for i in shared], 1), np.stack([b.coords[i] for i in shared], 1)])
        keys = np.unique(both, axis=0, return_inverse=True)[1].ravel()
        ka, kb = keys[: len(a.weight)], keys[len(a.weight):]
    else:
        ka, kb = np.zeros(len(a.weight), np.int64), np.zeros(len(b.weight), np.int64)
    order = np.argsort(kb, kind="stable")
    lo, hi = np.searchsorted(kb[order], ka, "left"), np.searchsorted(kb[order], ka, "right")
    count = hi - lo
    n = int(count.sum())
    if n > _JOIN_CAP:
        raise OverflowError(n)
    ia = np.repeat(np.arange(len(ka)), count)
    ib = order[np.repeat(lo, count) + np.arange(n) - np.repeat(np.cumsum(count) - count, count)]
    coords = {**{i: c[ia] for i, c in a.coords.items()}, **{i: c[ib] for i, c in b.coords.items()}}
    parts = {**{i: c[ia] for i, c in a.parts.items()}, **{i: c[ib] for i, c in b.parts.items()}}
    return _Rel(coords, parts, a.weight[ia] * b.weight[ib])


def _join_count(prob: Problem, grid: _Grid, factors: list[str]) -> np.ndarray:
    """Per tile, how many points the intersection of ``factors`` yields."""
    if not factors:
        return np.zeros(len(grid.load), np.int64)
    rels, free = zip(*(_relation(prob, grid, f) for f in factors))
    constrained = set().union(*(r.coords for r in rels))
    everywhere_free = set().union(*free) - constrained
    try:
        acc = rels[0]
        for k in range(1, len(rels)):
            later = set().union(*(r.coords for r in rels[k + 1:]))
            acc = _join(_to_parts(grid, acc, set(rels[k].coords) | later), _to_parts(grid, rels[k], set(acc.coords) | later))
        acc = _to_parts(grid, acc, set())
        counts = np.zeros(math.prod(grid.shape[grid.order.index(i)] for i in acc.parts), np.int64)
        if acc.parts:
            dims = [grid.shape[grid.order.index(i)] for i in acc.parts]
            np.add.at(counts, np.ravel_multi_index(list(acc.parts.values()), dims), acc.weight)
        else:
            counts += acc.weight.sum()
        result = counts[grid._of(list(acc.parts))]
    except OverflowError:  # too many joined rows: assume independent nonzeros within each tile
        result = np.ones(len(grid.load), np.float64)
        for name in factors:
            box = np.prod([grid.widths(i) for i in set(prob.modes[name])], axis=0)
            result *= grid.entries[name] / np.maximum(box, 1)
        for i in constrained:
            result *= grid.widths(i)
        result = result.round().astype(np.int64)
    for i in everywhere_free:
        result = result * grid.widths(i)
    return result


# ---- the sub-tensors of a tile and the output put back together ---------------------------------------


def slice_inputs(graph: Graph, tensors: Mapping[str, object], tile: Tile) -> dict[str, object]:
    """The inputs of ``graph`` cut to ``tile``: coordinates shifted to start at 0, shapes the range sizes.

    Inputs are stored in the graph's formats; scalars are passed through unchanged.
    """
    prob = problem(graph, tensors)
    out: dict[str, object] = {n: v for n, v in tensors.items() if n in graph.inputs and n not in prob.tensors}
    for name, t in prob.tensors.items():
        idx, coords, vals = prob.modes[name], prob.coords[name], t.to_coo()[1]
        lo = np.array([tile.ranges.get(i, (0, prob.sizes[i]))[0] for i in idx], np.int64)
        hi = np.array([tile.ranges.get(i, (0, prob.sizes[i]))[1] for i in idx], np.int64)
        inside = np.all((coords >= lo) & (coords < hi), axis=1)
        out[name] = from_coo(coords[inside] - lo, vals[inside], tuple(int(s) for s in hi - lo), t.format)
    return out


def combine_outputs(graph: Graph, tile_outputs: Sequence[tuple[Tile, SparseTensor]], shape: Sequence[int]) -> Combined:
    """The whole output: each tile's output placed at its offsets, overlapping contributions summed.

    Tiles that cut a reduction index produce partial sums of the same output entries; the model has
    them accumulated in the global buffer, one addition per written entry (stored zeros included:
    a dense output writes every entry) beyond an entry's first, and returns that count
    (``partial_sum_adds``) for the simulator to price.

    >>> import zeroskip as zs
    >>> g = zs.compile("y(i)=A(i,j)*x(j)", A="csr", x="dense").graph
    >>> part = SparseTensor.from_numpy(np.array([1.0, 2.0]), "dense")
    >>> out, adds = combine_outputs(g, [(Tile({"i": (0, 2), "j": (0, 1)}, 0, 0, 0), part),
    ...                                 (Tile({"i": (0, 2), "j": (1, 2)}, 0, 0, 0), part)], (2,))
    >>> out.to_numpy().tolist(), adds
    ([2.0, 4.0], 2)
    """
    if not graph.outputs:
        raise HardwareError("the graph writes no output tensor")
    spec = graph.tensor(graph.outputs[0])
    written = {n.params.mode: n.params.index for n in graph.nodes_of(Op.LEVEL_WRITE) if n.params.tensor == spec.name}
    indices = [written[m] for m in sorted(written)]
    shape = tuple(int(s) for s in shape)
    if len(shape) != spec.ndim:
        raise ShapeError(f"output {spec.name} has {spec.ndim} modes but {shape=} was given")
    coords, vals = [np.zeros((0, spec.ndim), np.int64)], []
    for t, out in tile_outputs:
        c, v = as_tensor(out).to_coo(keep_zeros=True)  # every entry the tile wrote is accumulated
        coords.append(c + np.array([t.ranges.get(i, (0, 0))[0] for i in indices], np.int64))
        vals.append(v)
    coords_all, vals_all = np.concatenate(coords), np.concatenate(vals) if vals else np.zeros(0)
    unique = len(np.unique(coords_all, axis=0)) if spec.ndim and len(coords_all) else min(len(coords_all), 1)
    tensor = from_coo(coords_all, vals_all, shape, spec.format, sum_duplicates=True)
    return Combined(tensor, len(coords_all) - unique)
