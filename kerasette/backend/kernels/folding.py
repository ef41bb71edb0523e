"""Batch normalization folded into the layer before it, at inference: the folded weights.

In inference a batch normalization is ``y * scale + shift`` per channel with ``scale = gamma /
sqrt(variance + epsilon)`` and ``shift = beta - mean * scale``; folded into a convolution or a
dense layer whose kernel's last axis is its output channels, it becomes ``kernel * scale`` and
``bias * scale + shift``. These two kernels compute those numbers in one call each (a model's
prediction folds every normalization on every call, from the current weights), with the
operations, order and dtype of the numpy formulas, so the bits are numpy's (no ``fastmath``: no
fused multiply-add).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels._jit import kernel


@kernel
def scale_and_shift(gamma, beta, mean, variance, epsilon, one, scale, shift):
    """``scale = gamma * (one / sqrt(variance + epsilon))``, ``shift = beta - mean * scale``
    (1-D arrays of one length and dtype; ``epsilon``, ``one``: scalars of that dtype)."""
    for c in range(scale.size):
        s = gamma[c] * (one / np.sqrt(variance[c] + epsilon))
        scale[c] = s
        shift[c] = beta[c] - mean[c] * s


@kernel
def fold_into(weights, bias, scale, shift, folded, folded_bias):
    """``folded = weights * scale`` along the last axis of the (rows, channels) ``weights``, and
    ``folded_bias = bias * scale + shift`` (``bias`` empty: ``shift`` alone)."""
    rows, chans = weights.shape
    for r in range(rows):
        for c in range(chans):
            folded[r, c] = weights[r, c] * scale[c]
    if bias.size:
        for c in range(chans):
            folded_bias[c] = bias[c] * scale[c] + shift[c]
    else:
        for c in range(chans):
            folded_bias[c] = shift[c]
