"""Op test cases for batch normalization with given statistics (inference), one op
(`InferenceBatchNorm`) whose backward pass takes the gradients of ``scale`` and ``shift`` back
to ``gamma``, ``beta``, the mean and the variance.

`tests/backend/op_cases.py` appends these to its table (forward against numpy, float64
central-difference gradients of all five inputs): rows widened for 16 channels (the per-channel
numbers repeated for the kernels), a ReLU in the same pass, channels-first planes, and the
statistics as constants (what a layer passes: only ``x``, ``gamma``, ``beta`` checked).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops

#: statistics given as constants (a layer's moving mean and variance)
MEAN, VARIANCE = np.linspace(-1, 1, 16), np.linspace(0.5, 2, 16)


def _reference(x, g, b, m, v, axes, relu=False):
    shape = [1 if a in axes else n for a, n in enumerate(x.shape)]
    y = (x - m.reshape(shape)) / np.sqrt(v.reshape(shape) + 1e-3) * g.reshape(shape) + b.reshape(shape)
    return np.maximum(y, 0) if relu else y


def cases(Case):  # noqa: N803 - the Case class of op_cases (passed in: no import cycle)
    out = []
    settings = [("rows-16", (3, 2, 2, 16), (0, 1, 2), False),  # rows widened 4 at a time
                ("rows-16-relu", (3, 2, 2, 16), (0, 1, 2), True),
                ("rows-3-relu", (7, 3), (0,), True),
                ("planes-relu", (2, 3, 2, 5), (0, 2, 3), True),
                ("apart-relu", (2, 3, 2, 4), (0, 2), True)]  # kept axes 1 and 3 apart: numpy
    for name, shape, axes, relu in settings:
        kept = tuple(n for a, n in enumerate(shape) if a not in axes)
        out.append(Case(
            f"batch_normalization-inference-{name}", ("batch_normalization",),
            lambda x, g, b, m, v, axes=axes, relu=relu: ops.batch_normalization(x, g, b, axes, 1e-3, m, v,
                                                                                relu=relu)[0],
            lambda rng, shape=shape, kept=kept: [rng.standard_normal(shape) * 2 + 0.5, rng.uniform(0.5, 2, kept),
                                                 rng.standard_normal(kept), rng.standard_normal(kept) * 0.3,
                                                 rng.uniform(0.5, 2, kept)],
            lambda x, g, b, m, v, axes=axes, relu=relu: _reference(x, g, b, m, v, axes, relu)))
    out.append(Case(  # the statistics as a layer passes them: constants, no gradient asked
        "batch_normalization-inference-constant-statistics", ("batch_normalization",),
        lambda x, g, b: ops.batch_normalization(x, g, b, (0, 1, 2), 1e-3, MEAN, VARIANCE)[0],
        lambda rng: [rng.standard_normal((2, 3, 2, 16)), rng.uniform(0.5, 2, 16), rng.standard_normal(16)],
        lambda x, g, b: _reference(x, g, b, MEAN, VARIANCE, (0, 1, 2))))
    return out
