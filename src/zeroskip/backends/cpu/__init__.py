"""The CPU backend: numba kernels generated from the LoopNest, a disk cache, threads, and a dense fallback."""
