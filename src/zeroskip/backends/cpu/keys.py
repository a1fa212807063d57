"""Cheap keys for the CPU backend's per-call memos: a number per distinct format, a tuple per operand.

``run`` looks up, on every call, what it decided for operands like these before (index sizes,
the cost model's choice, whether an operand needs converting). Hashing a ``Format`` walks its
levels' dataclasses and enums; ``format_serial`` does that once per Format object and hands back
a small int that equal formats share, so the keys hashed per call are tuples of ints, shape
tuples and dtypes.

Example:
    >>> import numpy as np
    >>> from zeroskip.formats.format import as_format
    >>> format_serial(as_format("csr")) == format_serial(as_format("ds"))
    True
    >>> format_serial(as_format("csr")) == format_serial(as_format("csc"))
    False
    >>> from zeroskip.formats.tensor import SparseTensor
    >>> t = SparseTensor.from_numpy(np.array([[0, 2.0], [3.0, 0]]), "csr")
    >>> operand_key(t)[1:]
    ((2, 2), 2, 2, dtype('float64'))
"""

from __future__ import annotations

import itertools

from zeroskip.formats.format import Format

MAX_ENTRIES = 4096  # a memo this full is dropped whole: it only refills

_by_id: dict[int, tuple[Format, int]] = {}  # id(format) -> (that format, its serial)
_by_value: dict[Format, int] = {}  # format (by value) -> serial
_next_serial = itertools.count()


def format_serial(fmt: Format) -> int:
    """A small int naming ``fmt``'s value: equal formats get equal serials, different ones never share one.

    Looked up by the object's identity, checked with ``is`` (an id is reused only after its
    object dies, and the memo holds the object), so a Format is hashed once, not per call.
    Serials are never reused: after the memos are dropped a format may get a new serial, which
    makes keys built from the old one miss, never match the wrong format.

    >>> from zeroskip.formats.format import as_format
    >>> csr = as_format("csr")
    >>> format_serial(csr) == format_serial(csr)
    True
    """
    hit = _by_id.get(id(fmt))
    if hit is not None and hit[0] is fmt:
        return hit[1]
    if len(_by_id) >= MAX_ENTRIES or len(_by_value) >= MAX_ENTRIES:
        _by_id.clear()
        _by_value.clear()
    serial = _by_value.setdefault(fmt, next(_next_serial))
    _by_id[id(fmt)] = (fmt, serial)
    return serial


def operand_key(t) -> tuple:
    """Everything the cost model reads of a SparseTensor, as a cheap hashable tuple.

    ``costmodel.quick_info`` and the cost model's decision read the format, the shape, the number
    of stored values, the number of coordinates of each level that stores them (the fiber
    lengths) and the value dtype; never a value. Two operands with equal keys get equal
    decisions, so the key can stand for the operand in a memo.

    >>> import numpy as np
    >>> from zeroskip.formats.tensor import SparseTensor
    >>> a = SparseTensor.from_numpy(np.eye(3), "dcsr")
    >>> b = SparseTensor.from_numpy(np.ones((3, 3)), "dcsr")
    >>> operand_key(a) == operand_key(b), operand_key(a) == operand_key(SparseTensor.from_numpy(2 * np.eye(3), "dcsr"))
    (False, True)
    """
    return (format_serial(t.format), t.shape, len(t.vals),
            *[len(a.crd) for a in t.levels if a.crd is not None], t.vals.dtype)
