"""The kernel cache: generated source written to a file named by its hash, compiled by numba with ``cache=True``.

A kernel's file name is the hash of its source (which spells out the expression, the formats,
the loop order and the fused epilogue); numba caches the machine code beside it once per
argument signature, so value dtypes and index widths (int32/int64) key the compiled code too.
A new process imports the file and numba loads the machine code instead of compiling it.

Loading skips numba's registry refresh (``zeroskip.jit.load_only``), about 100 ms on first use in
a process; a kernel that must compile still goes through numba's compiler, which refreshes for itself.

Example:
    >>> fn = load_kernel("from numba import njit\\n@njit(cache=True)\\ndef kernel(a):\\n    return a + 1\\n")
    >>> fn(41)
    42
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numba
from zeroskip.config import cache_dir
from zeroskip.jit import load_only

_loaded: dict[str, object] = {}
SCHEMA = "1"  # bump when the generated code's conventions change


def kernel_key(source: str) -> str:
    text = f"{SCHEMA}\n{numba.__version__}\n{sys.version_info[:2]}\n{source}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def kernel_path(source: str) -> Path:
    return _writable_dir() / f"k_{kernel_key(source)}.py"


def load_kernel(source: str, name: str = "kernel"):
    """The function ``name`` of ``source``, from this process's memo, the disk cache, or a fresh compile."""
    return getattr(_load_module(source), name)


def _load_module(source: str):
    key = kernel_key(source)
    if key in _loaded:
        return _loaded[key]
    path = _writable_dir() / f"k_{key}.py"
    if not path.exists() or path.read_text() != source:
        # Atomic replace: a process importing the file never sees half of it.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            out.write(source)
        os.replace(tmp, path)
    module_name = f"zeroskip_kernel_{key}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # numba's cache resolves the function's module by name
    spec.loader.exec_module(module)
    for value in vars(module).values():
        load_only(value)
    _loaded[key] = module
    return module


def _writable_dir() -> Path:
    """The kernels folder of the cache, or a private temporary one where that cannot be written."""
    folder = cache_dir() / "kernels"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"zeroskip-kernels-{os.getuid() if hasattr(os, 'getuid') else 0}"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback
