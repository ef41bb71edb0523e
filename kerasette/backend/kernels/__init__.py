"""Numba kernels: ``@njit`` functions over preallocated arrays, nothing else.

Kernels take raw arrays and fill output arrays that the caller allocated; they validate nothing
and know nothing of Tensors or the graph. The JIT options live in one place, :mod:`._jit`.

Importing this package imports neither numba nor any kernel module, so ``import kerasette``
compiles nothing: the array-level algorithms that call the kernels (`kerasette.backend.engine`)
are imported by the ops on first use, and compiled machine code is cached on disk (see
:mod:`._jit`).
"""
