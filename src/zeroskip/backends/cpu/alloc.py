"""Workspace arrays for the generated kernels, allocated straight from numba's runtime (NRT).

``np.zeros`` inside a kernel compiles numba's allocator as functions of their own, whose cached
environments live in ``numba.np.arrayobj``: loading such a kernel in a new process imports that
module (about 14 ms, a third of a cached load). These intrinsics lower to NRT's aligned
allocation and a memset, with nothing to rebuild at load time. The arrays are C-contiguous and
owned by NRT, as ``np.zeros``'s are; the sizes are index sizes, so no overflow check is made.

Example:
    >>> import numpy as np
    >>> from numba import njit
    >>> make = njit(lambda n, like: (zeros(n, like), zeros((2, n), np.bool_), empty(n, np.int64).size))
    >>> a, b, size = make(3, np.dtype(np.float32))
    >>> a.tolist(), a.dtype.name, b.shape, bool(b.any()), size
    ([0.0, 0.0, 0.0], 'float32', (2, 3), False, 3)
    >>> c = np.ones((2, 2)); njit(lambda c: clear(c))(c); c.tolist()
    [[0.0, 0.0], [0.0, 0.0]]
"""

from __future__ import annotations

from numba.core import cgutils, types
from numba.core.imputils import impl_ret_new_ref
from numba.extending import intrinsic


def _dtype_of(like) -> types.Type:
    """The element type ``like`` names: a dtype (``vt_.dtype``), a scalar class (``np.uint64``) or an array."""
    if isinstance(like, types.DType):
        return like.dtype
    if isinstance(like, types.NumberClass):
        return like.instance_type
    if isinstance(like, types.Array):
        return like.dtype
    raise TypeError(f"no element type in {like}")


def _allocator(shape, like, zeroed: bool):
    dtype = _dtype_of(like)
    sizes = [shape] if isinstance(shape, types.Integer) else list(shape)
    if not sizes or not all(isinstance(s, types.Integer) for s in sizes):
        raise TypeError(f"the shape must be an integer or a tuple of integers, got {shape}")
    arrty = types.Array(dtype, len(sizes), "C")

    def codegen(context, builder, signature, args):
        from numba.np.arrayobj import make_array, populate_array  # at compile time only: a cached load skips it

        raw = [args[0]] if isinstance(shape, types.Integer) else cgutils.unpack_tuple(builder, args[0], len(sizes))
        dims = [context.cast(builder, v, t, types.intp) for v, t in zip(raw, sizes)]
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(context.get_data_type(dtype)))
        count = context.get_constant(types.intp, 1)
        for d in dims:
            count = builder.mul(count, d)
        nbytes = builder.mul(count, itemsize)
        align = context.get_preferred_array_alignment(dtype)
        meminfo = context.nrt.meminfo_alloc_aligned(builder, size=nbytes, align=align)
        data = context.nrt.meminfo_data(builder, meminfo)
        if zeroed:
            cgutils.memset(builder, data, nbytes, 0)
        strides = [itemsize]
        for d in reversed(dims[1:]):
            strides.append(builder.mul(strides[-1], d))
        intp = context.get_value_type(types.intp)
        ary = make_array(arrty)(context, builder)
        populate_array(ary, data=builder.bitcast(data, context.get_data_type(dtype).as_pointer()),
                       shape=cgutils.pack_array(builder, dims, ty=intp),
                       strides=cgutils.pack_array(builder, list(reversed(strides)), ty=intp),
                       itemsize=itemsize, meminfo=meminfo)
        return impl_ret_new_ref(context, builder, arrty, ary._getvalue())

    return arrty(shape, like), codegen


@intrinsic
def zeros(typingctx, shape, like):
    """``np.zeros(shape, dtype)`` for a kernel: ``like`` is the dtype (``vt_.dtype``, ``np.uint64``) or an array of it."""
    return _allocator(shape, like, zeroed=True)


@intrinsic
def clear(typingctx, array):
    """``array.fill(0)`` for a kernel's C-contiguous workspace: one memset."""
    if not isinstance(array, types.Array) or array.layout != "C":
        raise TypeError(f"clear takes a C-contiguous array, got {array}")

    def codegen(context, builder, signature, args):
        from numba.np.arrayobj import make_array

        ary = make_array(array)(context, builder, value=args[0])
        cgutils.memset(builder, ary.data, builder.mul(ary.nitems, ary.itemsize), 0)
        return context.get_dummy_value()

    return types.none(array), codegen


@intrinsic
def empty(typingctx, shape, like):
    """``np.empty(shape, dtype)`` for a kernel, as ``zeros`` but not cleared."""
    return _allocator(shape, like, zeroed=False)

