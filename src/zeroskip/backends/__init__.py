"""Backends that run compiled programs: ``cpu`` generates native kernels with numba."""
