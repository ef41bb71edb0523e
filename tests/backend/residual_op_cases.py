"""Op test cases for the fused steps of residual networks: ``add_relu`` and batch normalization
with a ReLU in its passes (``relu=True``), training and inference statistics, on the kernel paths
(rows, planes) and the numpy path (kept axes apart).

`tests/backend/op_cases.py` appends these to its table (forward against numpy, float64
central-difference gradients). Inputs keep the results away from the ReLU's kink at 0.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from tests.backend.normalization_kernel_op_cases import batch_norm_reference
from tests.helpers import spaced


def _away_from_zero(reference, margin=0.05):
    """Inputs ``[x, gamma, beta]`` whose normalized outputs stay ``margin`` away from 0 (the beta
    of each channel moves the channel's outputs off the kink)."""
    def make(rng, shape, axes, kept):
        x = rng.standard_normal(shape) * 2 + 1
        gamma = rng.uniform(0.5, 2, kept)
        for _ in range(100):
            beta = rng.standard_normal(kept)
            if np.abs(reference(x, gamma, beta, axes)).min() > margin:
                return [x, gamma, beta]
        raise AssertionError("no beta keeps the outputs away from 0")
    return make


def cases(Case):  # noqa: N803 - the Case class of op_cases (passed in: no import cycle)
    out = [
        Case("add_relu", ("add_relu",), ops.add_relu,
             lambda rng: [spaced((3, 4, 5), rng, -3, 3, margin=0.1), rng.uniform(-0.05, 0.05, (3, 4, 5))],
             lambda a, b: np.maximum(a + b, 0)),
        Case("add_relu-broadcast", ("add_relu",), ops.add_relu,
             lambda rng: [spaced((3, 4, 5), rng, -3, 3, margin=0.1), rng.uniform(-0.05, 0.05, (1, 5))],
             lambda a, b: np.maximum(a + b, 0)),
    ]
    plain = lambda x, g, b, axes: batch_norm_reference(x, g, b, axes, 1e-3)  # noqa: E731
    make = _away_from_zero(plain)
    for shape, axes in [((6, 3, 2, 5), (0, 1, 2)), ((2, 3, 17), (0, 2)), ((2, 3, 2, 4), (0, 2))]:
        kept = tuple(n for a, n in enumerate(shape) if a not in axes)
        out.append(Case(
            f"batch_normalization-relu-{shape}-{axes}".replace(" ", ""), ("batch_normalization",),
            lambda x, g, b, axes=axes: ops.batch_normalization(x, g, b, axes, 1e-3, relu=True)[0],
            lambda rng, shape=shape, axes=axes, kept=kept: make(rng, shape, axes, kept),
            lambda x, g, b, axes=axes: np.maximum(plain(x, g, b, axes), 0)))

    def given(x, g, b, m, v):
        return (x - m) / np.sqrt(v + 1e-3) * g + b

    def make_given(rng):
        x, g, m, v = rng.standard_normal((4, 3, 5)), rng.uniform(0.5, 2, 5), rng.standard_normal(5), rng.uniform(0.5, 2, 5)
        for _ in range(100):
            b = rng.standard_normal(5)
            if np.abs(given(x, g, b, m, v)).min() > 0.05:
                return [x, g, b, m, v]
        raise AssertionError("no beta keeps the outputs away from 0")

    out.append(Case(
        "batch_normalization-relu-given-statistics", ("batch_normalization",),
        lambda x, g, b, m, v: ops.batch_normalization(x, g, b, (0, 1), 1e-3, m, v, relu=True)[0],
        make_given, lambda x, g, b, m, v: np.maximum(given(x, g, b, m, v), 0)))
    return out
