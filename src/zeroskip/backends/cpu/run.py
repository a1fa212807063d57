"""Running a generated kernel: operands to kernel arguments, chunks split by nonzeros over threads, output assembly.

Parallel work is split by nonzeros, not by rows: the root loop's coordinates are cut where the
driving operand's cumulative stored entries (plus one per coordinate, for the per-row work)
reach equal shares, so a skewed matrix (``arrow``, power-law rows) balances. Chunks run the
nogil kernel on a thread pool; each appends its own part of a sparse output (see ``output``).

Example:
    >>> import numpy as np, zeroskip as zs
    >>> p = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="dense")
    >>> p.run(A=np.array([[1.0, 0], [0, 2]]), x=np.array([3.0, 4.0])).to_numpy().tolist()
    [3.0, 8.0]
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from zeroskip.backends.cpu.codegen import KernelPlan
from zeroskip.backends.cpu.output import Buffers, assemble, assemble_appended, assemble_counted
from zeroskip.compiler.epilogue import Epilogue
from zeroskip.config import check_dense_alloc
from zeroskip.formats.build import choose_index_dtype, no_arrays
from zeroskip.formats.format import Format
from zeroskip.formats.tensor import SparseTensor, trusted_tensor

MIN_PARALLEL_WORK = 4096  # driving entries below which one thread beats the pool's hand-off (~30 us)
# One thread's run time below which a kernel is not even tried split (waking a pool thread costs
# 50-100 us on these VMs). 0 splits whenever allowed, whatever the timings say (tests).
MIN_PARALLEL_SECONDS = 300e-6
# What a prange driver's hand-off to numba's threads costs once they have gone idle (measured on
# this 2-core VM: 1.5 us back to back, 35-55 us after 10 ms asleep). Not learnt per kernel: a
# run's extra time also holds cold caches, which made the learnt figure flip between runs.
DRIVER_HANDOFF_SECONDS = 50e-6
CHUNKS_PER_THREAD = 2  # spare chunks let a fast thread take over a slow one's share
REPROBE_RUNS = 64  # splits declined for their overhead before one more split run measures it again



@dataclass
class _Profile:
    """What a kernel's runs say about its next one: one chunk's seconds per driving entry, the seconds
    a split run takes beyond its share of that (waking threads, joining the chunks' outputs), and
    how many output entries it writes per input entry.
    Measured, not modelled: both depend on the machine, the kernel and the output's size. The first
    run of each kind is not counted: it compiles (the parallel driver takes a second)."""

    serial: float | None = None
    overhead: float | None = None
    serial_runs: int = 0
    split_runs: int = 0
    output_ratio: float = 1.0  # output entries per input entry, last run: sizes the next run's buffers
    alike: int = 0  # probing answers in a row that were the same
    last: bool = False  # that answer: split, or declined for the split's overhead

    def split(self, entries: int, threads: int, driven: bool = False, probe: bool = True) -> bool:
        """Whether a split run (through a prange driver when ``driven``) should beat one chunk; ``probe``
        lets the answer be a serial run now and then, to measure one again (not for a decision kept)."""
        if MIN_PARALLEL_SECONDS <= 0:
            return True
        if self.serial is None:
            return False
        work = self.serial * entries
        gain = work * (1 - 1 / threads)  # the serial time the other threads take over
        if driven:
            return gain > DRIVER_HANDOFF_SECONDS and self._now_and_then(True, probe)
        if self.overhead is None:
            return work > MIN_PARALLEL_SECONDS  # worth split runs, to measure their overhead
        if gain > self.overhead:
            return self._now_and_then(True, probe)
        if work <= MIN_PARALLEL_SECONDS:
            return False
        return self._now_and_then(False, probe)

    def _now_and_then(self, split: bool, probe: bool) -> bool:
        """``split``, except that every REPROBE_RUNS-th same answer in a row is the other one, so the timing it
        was reckoned from is measured again: one split run slowed by something else (a VM waking a core
        takes milliseconds after idling) must not rule splitting out for good, nor one slow early serial
        run keep splitting a kernel whose split runs cost more than they save."""
        if not probe:
            return split
        self.alike = self.alike + 1 if split == self.last else 1
        self.last = split
        if self.alike < REPROBE_RUNS:
            return split
        self.alike = 0
        return not split

    def record(self, entries: int, chunks: int, threads: int, seconds: float) -> None:
        if not entries:
            return
        if chunks == 1:
            self.serial_runs += 1
            if self.serial_runs > 1:
                self.serial = _settled(self.serial, seconds / entries)
        elif self.serial is not None:
            self.split_runs += 1
            if self.split_runs > 1:
                self.overhead = _settled(self.overhead, max(seconds - self.serial * entries / min(threads, chunks), 0.0))


def _settled(old: float | None, new: float) -> float:
    """A measured cost, down at once and up by halves: a fast run shows what the work costs when nothing
    else intervenes, while a slow one may be a passing disturbance on a shared machine."""
    return new if old is None or new < old else 0.5 * (old + new)


_profiles: dict[str, _Profile] = {}  # kernel source -> its profile
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def execute(plan: KernelPlan, fn, tensors: dict[str, SparseTensor], dims: dict[str, int], out_shape: tuple[int, ...],
            out_fmt: Format, dtype: np.dtype, epilogue: Epilogue, threads: int, driver=None,
            made: dict[str, list] | None = None) -> SparseTensor:
    """Run ``fn`` (the compiled ``plan``) on ``tensors`` (already in the plan's formats); the chunks of
    a dense output on numba's threads through ``driver`` (the plan's ``driver`` function) when given;
    ``made`` holds the ``kernel_args`` of tensors made before (those of a ``bind``).

    >>> import numpy as np, zeroskip as zs
    >>> from zeroskip.backends.cpu.backend import prepared
    >>> p = zs.compile("y(i) = A(i,j) * x(j)", A="csr", x="dense")
    >>> c, fn, _, out_fmt, _, _ = prepared(p).kernel(p)
    >>> A, x = zs.as_tensor(np.array([[1.0, 0], [2, 3]]), format="csr"), zs.as_tensor(np.ones(2), format="dense")
    >>> execute(c.plan, fn, {"A": A, "x": x}, {"i": 2, "j": 2}, (2,), out_fmt, np.dtype(np.float64),
    ...         p.epilogue, 1).to_numpy().tolist()
    [1.0, 5.0]
    """
    sizes, storage, parents, inner, crd_dtype = _launch(plan, dims, out_shape, out_fmt)
    head = [*sizes]
    for name in plan.inputs:
        head += made[name] if made is not None and name in made else kernel_args(tensors[name])
    profile = _profiles.get(plan.source) or _profiles.setdefault(plan.source, _Profile())
    bounds, entries = _chunks(plan, tensors, dims, threads, profile, driver is not None)
    if plan.dense_output:
        check_dense_alloc(math.prod(storage), dtype.itemsize, f"the dense output {out_shape}")
        outs = _dense_outputs(plan, storage, dtype)
        head += outs
    else:
        work = sum(len(t.vals) for t in tensors.values())
        chunks = max(len(bounds) - 1, 1)  # sized by the last run's output: few resumes after the first
        buffers = Buffers(max(256, int(2 * profile.output_ratio * work / chunks)), crd_dtype, dtype,
                          1 if plan.count_parents else plan.output_levels,
                          plan.output_levels - 1 if plan.appended else 0)
    args = _epilogue_args(epilogue, dtype) + _scalar_args(plan, dtype)

    counts = np.zeros(parents, np.int64) if plan.count_parents else None  # one per parent; none for 0 rows

    def call(lo: int, hi: int):
        if plan.dense_output:
            return fn(lo, hi, *head, *args)
        room = buffers.slot()
        nodes = np.zeros(plan.output_levels - 1, np.int64) if plan.appended else None  # per upper level
        extra = [counts] if counts is not None else [nodes] if nodes is not None else []
        count = 0
        while True:
            count, lo, full = fn(lo, hi, *head, *room, count, *extra, *args)
            if not full:
                return (count, room) if nodes is None else (count, [*room, nodes])
            # Keep what is done, double the room, resume at the coordinate that did not fit.
            room = buffers.grown(room, count)
            if counts is not None and plan.root_index is None:
                counts[:] = 0  # no root loop to resume: the kernel starts over
            elif counts is not None and inner:
                counts[lo * inner:(lo + 1) * inner] = 0  # the unfinished coordinate's partial counts

    start = time.perf_counter()
    if driver is not None and len(bounds) > 2:
        _drive(driver, bounds, [*head, *args], threads)
        results = []
    else:
        results = _map(call, bounds, threads)
    if plan.dense_output:
        out = _dense_result(outs, plan, epilogue, out_fmt, out_shape)
    else:
        profile.output_ratio = sum(count for count, _ in results) / max(work, 1)
        joins = lambda copy, b: _parallel(copy, b, threads)  # noqa: E731 - the chunks' joins on the run's threads
        if plan.appended:
            out = assemble_appended(results, joins, out_shape, out_fmt, storage)
        elif counts is not None:
            out = assemble_counted(results, joins, counts, out_shape, out_fmt, storage)
        else:
            out = assemble(results, joins, out_shape, out_fmt, dtype, plan.output_levels)
    profile.record(entries, len(bounds) - 1, threads, time.perf_counter() - start)
    return out


def executor(plan: KernelPlan, fn, tensors: dict[str, SparseTensor], dims: dict[str, int], out_shape: tuple[int, ...],
             out_fmt: Format, dtype: np.dtype, epilogue: Epilogue, threads: int, driver, made: dict[str, list]):
    """A lean ``execute`` of a dense-output kernel for operands like ``tensors`` (same shapes, formats and
    dtypes), the tensors of ``made`` fixed: their arguments, the literals, the chunk bounds and the split
    decided once, so a call only makes the other tensors' arguments, the output and the kernel call.
    None where that does not apply (a sparse output, loops driven by an operand not in
    ``made``, a kernel not yet timed). A call takes the tensors by name and returns the output; it records
    no timings (the profile keeps what the runs before it measured).

    Inspector/executor SpMV with cold weights spends 50-150 us of its 0.3-0.5 ms in ``execute``'s
    Python (cold caches make every bytecode a cache miss); this path is a dozen lines of it. With
    one free operand stored dense, the call also has ``array_call(array)``, which takes that
    operand's array itself and skips making a tensor of it.
    """
    profile = _profiles.get(plan.source)
    timed = profile is not None and (profile.serial is not None or MIN_PARALLEL_SECONDS <= 0)  # split decided
    if not plan.dense_output or not timed or any(n not in made for n in plan.root_tensors):
        return None
    sizes, storage, *_ = _launch(plan, dims, out_shape, out_fmt)
    bounds, _ = _chunks(plan, tensors, dims, threads, profile, driver is not None, probe=False)  # kept: no probes
    if len(bounds) > 2 and driver is None:
        return None  # chunks on the Python pool: execute's path
    check_dense_alloc(math.prod(storage), dtype.itemsize, f"the dense output {out_shape}")
    parts = [made.get(n, n) for n in plan.inputs]  # a fixed tensor's arguments, or a free tensor's name
    tail = _epilogue_args(epilogue, dtype) + _scalar_args(plan, dtype)
    split = len(bounds) > 2
    lead = [np.asarray(bounds, np.int64)] if split else [bounds[0], bounds[-1]]

    def launch(head: list, kernel=driver if split else fn) -> SparseTensor:
        outs = _dense_outputs(plan, storage, dtype)
        if split:
            _numba_threads(threads)
        kernel(*lead, *head, *outs, *tail)
        return _dense_result(outs, plan, epilogue, out_fmt, out_shape)

    def call(given: dict[str, SparseTensor]) -> SparseTensor:
        head = [*sizes]
        for part in parts:
            head += kernel_args(given[part]) if type(part) is str else part
        return launch(head)

    free = [k for k, part in enumerate(parts) if type(part) is str]
    fmt = tensors[parts[free[0]]].format if len(free) == 1 else None
    if fmt is not None and fmt.is_plain_dense:
        before = [*sizes, *(a for part in parts[:free[0]] for a in part)]
        after = [a for part in parts[free[0] + 1:] for a in part]

        entry = []  # the kernel's compiled entry for these argument types, once a call has made them

        def array_call(array: np.ndarray) -> SparseTensor:
            """The one free operand as its C-contiguous array in storage order (its tensor's ``vals``
            reshaped to its storage shape): a read-only view of it is the kernel's argument.

            Every argument's type is then the same on each call (the caller checked the array's dtype,
            shape and strides; alignment is checked here), so after the first call the kernel is
            called at its compiled entry, without numba's type dispatch."""
            view = array.view()
            view.setflags(write=False)  # the kernel was compiled for read-only operands, as tensors hold them
            head = [*before, view, *after]
            aligned = array.flags.aligned
            if entry and aligned:
                return launch(head, entry[0])
            out = launch(head)
            if aligned and not entry:
                entry.append(compiled_entry(driver if split else fn, [*lead, *head, *_dense_outputs(plan, storage, dtype),
                                                                     *tail]))
            return out

        call.array_call = array_call
    return call


def compiled_entry(dispatcher, args: list):
    """``dispatcher``'s compiled entry point for exactly these arguments' types (the dispatcher itself where
    it has none). Calling it skips numba's type dispatch of every argument, 45 us of a bound SpMV with
    cold caches; whoever calls it must pass arguments of these types, or memory is misread.

    >>> import numpy as np
    >>> from numba import njit
    >>> f = njit(lambda a, k: a[k]); a = np.arange(3.0); f(a, 1)
    1.0
    >>> entry = compiled_entry(f, [a, 1]); entry is not f, entry(a, 2)
    (True, 2.0)
    >>> compiled_entry(f, [a, 1.5]) is f  # never compiled for a float index
    True
    """
    from numba.core.typing.typeof import Purpose, typeof  # the argument types as the dispatcher reckons them

    hit = dispatcher.overloads.get(tuple(typeof(a, Purpose.argument) for a in args))
    return dispatcher if hit is None else hit.entry_point


def _dense_outputs(plan: KernelPlan, storage: tuple[int, ...], dtype: np.dtype) -> list[np.ndarray]:
    """A dense output's kernel arguments: its values in storage shape, and the written flags where the plan masks."""
    out = np.zeros(storage if storage else (1,), dtype)
    return [out, np.zeros(out.shape, np.bool_)] if plan.mask else [out]


def _dense_result(outs: list[np.ndarray], plan: KernelPlan, epilogue: Epilogue, out_fmt: Format,
                  out_shape: tuple[int, ...]) -> SparseTensor:
    """The output tensor of ``_dense_outputs`` the kernel wrote: entries it never wrote get the epilogue of zero."""
    if plan.mask:
        _fill_unwritten(outs[0], outs[1], epilogue, out_fmt, plan)
    return trusted_tensor(out_shape, out_fmt, no_arrays(out_fmt.ndim), outs[0].reshape(-1))


_launches: dict[tuple, tuple] = {}  # (id(plan), id(out_fmt), index sizes, output shape) -> (plan, out_fmt, facts)


def _launch(plan: KernelPlan, dims: dict[str, int], out_shape: tuple[int, ...], out_fmt: Format) -> tuple:
    """What a run of ``plan`` at these index sizes needs, made once per sizes: the kernel's size arguments
    (sorted by index name), the output's storage shape, its parents of the last level, the positions
    below one top coordinate, and the coordinates' dtype.

    Keyed by the plan's and format's identities (checked: the entry holds both) and the sizes.
    """
    key = (id(plan), id(out_fmt), tuple(dims.items()), out_shape)
    hit = _launches.get(key)
    if hit is not None and hit[0] is plan and hit[1] is out_fmt:
        return hit[2]
    storage = out_fmt.storage_shape(out_shape)
    facts = (tuple(dims[i] for i in sorted(dims)), storage, math.prod(storage[:-1]),
             math.prod(storage[1:-1]) if len(storage) > 1 else 0,
             choose_index_dtype(storage, []))  # coordinates only need to hold the dimensions
    if len(_launches) >= 4096:
        _launches.clear()
    _launches[key] = (plan, out_fmt, facts)
    return facts


_scalars: dict[int, tuple[KernelPlan, dict]] = {}  # id(plan) -> (plan, dtype -> its literals, zero, typing array)


def _scalar_args(plan: KernelPlan, dtype: np.dtype) -> list:
    """The plan's literals, a zero and an empty values array, in ``dtype``: made once per plan and dtype.

    Keyed by the plan's identity (the entry holds the plan, so its id cannot be reused while
    the entry lives): literals that compare equal may differ (0.0 and -0.0), so not by value.
    """
    hit = _scalars.get(id(plan))
    if hit is None or hit[0] is not plan:
        if len(_scalars) >= 4096:
            _scalars.clear()
        hit = _scalars[id(plan)] = (plan, {})
    by_dtype = hit[1]
    args = by_dtype.get(dtype)
    if args is None:
        # The empty array only types the kernel's values; it is never written, so calls may share it.
        args = by_dtype[dtype] = [dtype.type(v) for v in plan.literals] + [dtype.type(0), np.empty(0, dtype)]
    return args


_INT32 = np.dtype(np.int32).num  # comparing type numbers is a tenth of comparing a dtype with np.int32


def _unsigned(a: np.ndarray) -> np.ndarray:
    """int32 metadata as uint32 (a free view): numba then skips negative-index wraparound on every
    access (a third of SpMV's time). int64 stays signed: uint64 with int64 would promote to float."""
    return a.view(np.uint32) if a.dtype.num == _INT32 else a


def kernel_args(t: SparseTensor) -> list:
    """The kernel's arguments for one operand: pos and crd of each compressed level, then the values
    shaped as the dense levels below the last compressed one."""
    fmt = t.format
    hit = _layouts.get(id(fmt))
    if hit is None or hit[0] is not fmt:  # the entry holds its format: a reused id misses
        if len(_layouts) >= 4096:
            _layouts.clear()
        compressed = tuple(level for level, lv in enumerate(fmt.levels) if not lv.full)
        hit = _layouts[id(fmt)] = (fmt, compressed, compressed[-1] + 1 if compressed else 0)
    _, compressed, leading = hit
    args = []
    for level in compressed:
        arrays = t.levels[level]
        args += (_unsigned(arrays.pos), _unsigned(arrays.crd))
    vals = t.vals
    if leading == len(t.shape):  # no dense levels below: the values as they are (1-d)
        args.append(vals if vals.ndim == 1 else vals.reshape(-1))
        return args
    storage = fmt.storage_shape(t.shape)
    if leading == 0:
        args.append(vals.reshape(storage if storage else (1,)))
    else:
        args.append(vals.reshape((-1, *storage[leading:])))
    return args


_layouts: dict[int, tuple[Format, tuple[int, ...], int]] = {}  # id(format) -> (it, compressed levels, 1 + the last)


def _epilogue_args(e: Epilogue, dtype: np.dtype) -> list:
    args = []
    if e.scale is not None:
        args.append(dtype.type(e.scale))
    if e.bias is not None:
        args.append(np.ascontiguousarray(e.bias, dtype) if e.vector_bias else dtype.type(e.bias))
    if e.clamp is not None:
        args += [dtype.type(v) for v in e.clamp if v is not None]
    return args


def _drive(driver, bounds, args: list, threads: int) -> None:
    """The chunks of a dense output on numba's threads."""
    _numba_threads(threads)
    driver(np.asarray(bounds, np.int64), *args)


_numba_set = threading.local()  # the thread count this Python thread last gave numba


def _numba_threads(threads: int) -> None:
    """numba's thread count for this Python thread's parallel regions (capped at numba's pool size).
    Remembered here: asking numba costs a call into its runtime, 20 us with cold caches."""
    if getattr(_numba_set, "count", None) == threads:
        return
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    _numba_set.count = threads


def _chunks(plan: KernelPlan, tensors: dict[str, SparseTensor], dims: dict[str, int],
            threads: int, profile: _Profile, driven: bool = False, probe: bool = True) -> tuple[list[int], int]:
    """Coordinate boundaries of the root loop (equal shares of the driving operand's stored entries),
    and that operand's entry count (0 when nothing drives the root loop).

    One chunk when the work is too small to pay for splitting it, as the kernel's measured profile says.
    """
    dim = dims[plan.root_index] if plan.root_index is not None else 0
    drivers = [tensors[name] for name in plan.root_tensors]
    if not drivers:
        return [0, dim], 0
    driver = max(drivers, key=lambda t: len(t.vals))
    entries = len(driver.vals)
    if plan.split_index is None or threads <= 1 or entries < MIN_PARALLEL_WORK:
        return [0, dim], entries
    if not profile.split(entries, threads, driven, probe):
        return [0, dim], entries
    key = (id(driver), dim, threads)
    hit = _bounds.get(key)
    if hit is not None and hit[0] is driver:  # the entry holds the tensor: its id cannot be reused meanwhile
        return hit[1], entries
    if len(_bounds) >= 256:
        _bounds.clear()
    bounds = _split_bounds(driver, dim, threads)
    _bounds[key] = (driver, bounds)
    return bounds, entries


_bounds: dict[tuple, tuple] = {}  # (id(driving tensor), dim, threads) -> (the tensor, its chunk bounds)


def _split_bounds(driver: SparseTensor, dim: int, threads: int) -> list[int]:
    """Cuts of the root loop at equal shares of the stored entries (tensors are immutable: made once per
    tensor and thread count, as a run with cold caches pays tens of microseconds for these numpy calls)."""
    offsets = _leaf_offsets(driver)
    weights = offsets + np.arange(len(offsets))  # each coordinate costs one step besides its entries
    shares = np.linspace(0, weights[-1], threads * CHUNKS_PER_THREAD + 1)[1:-1]
    cuts = np.searchsorted(weights, shares)
    top = driver.levels[0]
    coords = cuts if driver.format.levels[0].full else np.asarray(top.crd)[np.minimum(cuts, len(top.crd) - 1)]
    return np.unique(np.concatenate(([0], coords, [dim]))).astype(np.int64).tolist()


def _leaf_offsets(t: SparseTensor) -> np.ndarray:
    """For each top-level position, where its stored values start (and the total at the end)."""
    storage = t.format.storage_shape(t.shape)
    lv0 = t.format.levels[0]
    count = storage[0] if lv0.full else len(t.levels[0].crd)
    off = np.arange(count + 1, dtype=np.int64)
    for level in range(1, len(storage)):
        if t.format.levels[level].full:
            off = off * storage[level]
        else:
            off = np.asarray(t.levels[level].pos, dtype=np.int64)[off]
    return off


def _parallel(call, bounds: list[int], threads: int) -> list:
    """``call(lo, hi)`` for each chunk: the caller and ``threads - 1`` pool threads take chunks in turn."""
    pairs = list(zip(bounds[:-1], bounds[1:]))
    if len(pairs) <= 1 or threads <= 1:
        return [call(lo, hi) for lo, hi in pairs] or [call(0, 0)]
    results: list = [None] * len(pairs)
    taken = iter(range(len(pairs)))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                k = next(taken, None)
            if k is None:
                return
            results[k] = call(*pairs[k])

    helpers = [_get_pool(threads - 1).submit(worker) for _ in range(min(threads, len(pairs)) - 1)]
    worker()
    for h in helpers:
        h.result()  # re-raises a helper's exception
    return results


_map = _parallel  # the kernels' chunks (tests record them here; joining outputs calls _parallel)


def _get_pool(threads: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != threads:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool, _pool_size = ThreadPoolExecutor(threads, thread_name_prefix="zeroskip"), threads
        return _pool


def _fill_unwritten(out_vals: np.ndarray, mask: np.ndarray, e: Epilogue, fmt: Format, plan: KernelPlan) -> None:
    """Entries the loops never wrote are zero before the epilogue: give them the epilogue of zero."""
    axis = None if plan.bias_mode is None else fmt.mode_order.index(plan.bias_mode)  # storage order
    filled = e.apply_dense(np.zeros(out_vals.shape, out_vals.dtype), axis)
    out_vals[~mask] = filled[~mask]
