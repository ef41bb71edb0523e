"""Op test cases for batch normalization with a sequence's mask (statistics over the unmasked
positions, Keras 3's rule; `kerasette.backend.ops.normalization.MaskedBatchNorm`).

`tests/backend/op_cases.py` appends these to its table (forward against numpy, float64
central-difference gradients). One sample is masked entirely, one step masked before unmasked ones.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops

MASKS = {
    (3, 4, 2): np.array([[0, 0, 0, 0], [0, 1, 1, 0], [1, 1, 0, 1]], bool),
    (2, 3, 2, 3): np.array([[[1, 0], [1, 1], [0, 1]], [[0, 0], [1, 0], [1, 1]]], bool),
}


def masked_batch_norm_reference(x, gamma, beta, mask, epsilon):
    w = np.broadcast_to(mask[..., None], x.shape).astype(x.dtype)
    axes = tuple(range(x.ndim - 1))
    n = w.sum(axes) + 1e-7
    mean = (w * x).sum(axes) / n
    var = (w * (x - mean) ** 2).sum(axes) / n
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta


def cases(Case):  # noqa: N803 - the Case class of op_cases (passed in: no import cycle)
    out = []
    for shape, mask in MASKS.items():
        axes = tuple(range(len(shape) - 1))
        out.append(Case(
            f"batch_normalization-masked-{shape}".replace(" ", ""), ("batch_normalization",),
            lambda x, g, b, axes=axes, mask=mask: ops.batch_normalization(x, g, b, axes, 1e-3, mask=mask)[0],
            lambda rng, shape=shape: [rng.standard_normal(shape) * 2 + 1, rng.uniform(0.5, 2, shape[-1:]),
                                      rng.standard_normal(shape[-1:])],
            lambda x, g, b, mask=mask: masked_batch_norm_reference(x, g, b, mask, 1e-3)))
    return out
