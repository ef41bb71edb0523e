"""The array-level engine: the algorithms the ops choose between, on raw NHWC arrays.

Floors: `kerasette.backend.kernels` (numba only) < this package (array algorithms: tiling,
scratch buffers, the batch split over the thread pool; no Tensor) < `kerasette.backend.ops`
(differentiable ops). Importing this package imports numba (the kernels), so the ops import it
on first use, never at ``import kerasette``.

Modules: `conv` (the convolution passes), `algorithms` (one ordered list of algorithms per pass,
and the settings that restrict and tune them), `gemm_conv`, `direct_conv`, `winograd_conv`,
`row_conv` (the algorithms), `dilated_conv` and `depthwise_conv` (dilated and grouped
convolutions, reduced to plain ones or run on their own kernels), `pooling` (max pooling), `updates` (fused optimizer updates),
`batch` (per-thread scratch, one chunk of images per thread), `geometry` (window arithmetic).

Settings, for tests and for debugging a wrong result or a slow layer:

* ``KERASETTE_CONV_ALGORITHMS=gemm,col2im`` (only those) or ``=-winograd`` (all but that), read
  once when the engine is first used;
* ``with conv_algorithms(allow=[...], deny=[...]):`` the same for a block;
* ``with conv_settings(tile_bytes=..., winograd_block_bytes=..., full_conv_min_cin=...,
  parallel_min_elements=...):`` the engine's tuning for a block;
* ``with parallel_settings(matmul_min_work=..., memory_bound_min=...):`` when the thread pool
  is used (`kerasette.backend.parallel`).

Example:
    >>> from kerasette.backend.engine import algorithm_names, conv_algorithms
    >>> algorithm_names()
    ['direct', 'winograd', 'rows', 'gemm', 'col2im']
"""

from kerasette.backend.engine.algorithms import (
    ALGORITHMS,
    ENV_VAR,
    Algorithm,
    algorithm_names,
    choose,
)
from kerasette.backend.engine.conv_settings import conv_algorithms, conv_settings
from kerasette.backend.parallel import parallel_settings

__all__ = ["ALGORITHMS", "ENV_VAR", "Algorithm", "algorithm_names", "choose", "conv_algorithms",
           "conv_settings", "parallel_settings"]
