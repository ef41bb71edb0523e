"""Op test cases for the kernel paths of batch normalization and global average pooling.

`tests/backend/op_cases.py` appends these to its table (forward against numpy, float64
central-difference gradients). The shapes reach the kernels' edges: rows not a multiple of the
4-row step, planes with a tail after the 16 lanes, several channel axes kept side by side, rows
widened for 16 and 32 channels, a ReLU inside the passes, and kept axes that are not adjacent
(the numpy path).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from kerasette.backend.ops.pooling import global_average_pool2d


def batch_norm_reference(x, gamma, beta, axes, epsilon):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    shape = [1 if a in axes else n for a, n in enumerate(x.shape)]
    return (x - mean) / np.sqrt(var + epsilon) * gamma.reshape(shape) + beta.reshape(shape)


def cases(Case):  # noqa: N803 - the Case class of op_cases (passed in: no import cycle)
    out = []
    settings = [((7, 3), (0,)),  # rows, 7 = 4 + 3
                ((2, 3, 2, 5), (0, 1, 2)),  # channels-last image
                ((2, 3, 17), (0, 2)),  # a plane of 17: 16 lanes and a tail
                ((2, 3, 2, 2), (0, 3)),  # kept axes (1, 2) side by side: 6 channels
                ((2, 3, 2, 4), (0, 2)),  # kept axes 1 and 3 apart: numpy
                ((3, 2, 2, 16), (0, 1, 2)),  # 16 channels: rows widened 4 at a time
                ((3, 1, 2, 32), (0, 1, 2))]  # 32 channels, 6 rows: widened 2 at a time
    for shape, axes in settings:
        kept = tuple(n for a, n in enumerate(shape) if a not in axes)
        out.append(Case(
            f"batch_normalization-kernels-{shape}-{axes}".replace(" ", ""), ("batch_normalization",),
            lambda x, g, b, axes=axes: ops.batch_normalization(x, g, b, axes, 1e-3)[0],
            lambda rng, shape=shape, kept=kept: [rng.standard_normal(shape) * 2 + 1, rng.uniform(0.5, 2, kept),
                                                 rng.standard_normal(kept)],
            lambda x, g, b, axes=axes: batch_norm_reference(x, g, b, axes, 1e-3)))
    for shape, axes in [((3, 2, 2, 16), (0, 1, 2)), ((2, 3, 17), (0, 2)), ((7, 3), (0,))]:
        kept = tuple(n for a, n in enumerate(shape) if a not in axes)
        out.append(Case(  # the ReLU's gradient inside the backward passes (rows), or a pass before (planes)
            f"batch_normalization-kernels-relu-{shape}-{axes}".replace(" ", ""), ("batch_normalization",),
            lambda x, g, b, axes=axes: ops.batch_normalization(x, g, b, axes, 1e-3, relu=True)[0],
            lambda rng, shape=shape, kept=kept: [rng.standard_normal(shape) * 2 + 1, rng.uniform(0.5, 2, kept),
                                                 rng.standard_normal(kept)],
            lambda x, g, b, axes=axes: np.maximum(batch_norm_reference(x, g, b, axes, 1e-3), 0)))
    out.append(Case(
        "batch_normalization-given-statistics-plane-tail", ("batch_normalization",),
        lambda x, g, b, m, v: ops.batch_normalization(x, g, b, (0, 2), 1e-3, m, v)[0],
        lambda rng: [rng.standard_normal((2, 3, 19)), rng.standard_normal(3), rng.standard_normal(3),
                     rng.standard_normal(3), rng.uniform(0.5, 2, 3)],
        lambda x, g, b, m, v: ((x - m[:, None]) / np.sqrt(v[:, None] + 1e-3) * g[:, None] + b[:, None])))
    for data_format, shape, axes in [("channels_last", (2, 5, 7, 3), (1, 2)),
                                     ("channels_first", (2, 3, 5, 7), (2, 3))]:
        out.append(Case(
            f"global_average_pool2d-{data_format}", ("global_average_pool2d",),
            lambda x, f=data_format: global_average_pool2d(x, f),
            lambda rng, shape=shape: [rng.standard_normal(shape)],
            lambda x, axes=axes: x.mean(axis=axes)))
    return out
