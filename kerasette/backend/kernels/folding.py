"""Batch normalization folded into the layer before it, at inference: the folded weights.

In inference a batch normalization is ``y * scale + shift`` per channel with ``scale = gamma /
sqrt(variance + epsilon)`` and ``shift = beta - mean * scale``; folded into a convolution or a
dense layer whose kernel's last axis is its output channels, it becomes ``kernel * scale`` and
``bias * scale + shift``. These two kernels compute those numbers in one call each (a model's
prediction folds every normalization on every call, from the current weights), with the
operations, order and dtype of the numpy formulas, so the bits are numpy's (no ``fastmath``: no
fused multiply-add).

A prediction that folds the same weights call after call can keep its folded weights:
`compare_and_keep` tells, in one call for all of a plan's folds, which folds' source weights
changed since it last looked (a byte comparison with a copy it keeps), so only those are folded
again.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels import blas
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


@kernel
def compare_and_keep(addresses, sizes, offsets, groups, kept_words, kept_bytes, changed):
    """Compares each source's bytes (``sizes[i]`` of them at ``addresses[i]``) with its copy
    from byte ``offsets[i]`` (a multiple of 8) of the snapshot (``kept_words``, uint64, and
    ``kept_bytes``, uint8: two views of one buffer); where they differ, copies the source into
    the snapshot and sets ``changed[groups[i]] = 1`` (``changed`` is not cleared first).

    A source at an address that is a multiple of 8 is compared in 8-byte words, then its last
    bytes one by one (nothing past its end is read); any other, byte by byte. The comparison
    reads every word (an accumulated xor, which vectorizes; the sources rarely differ)."""
    for i in range(addresses.size):
        address, size, start = addresses[i], sizes[i], offsets[i]
        words = size // 8 if address % 8 == 0 else 0
        first = start // 8
        source_words = blas._pointer(address, np.uint64)
        differ = np.uint64(0)
        for j in range(words):
            differ |= source_words[j] ^ kept_words[first + j]
        source_bytes = blas._pointer(address, np.uint8)
        for j in range(words * 8, size):
            differ |= np.uint64(source_bytes[j] ^ kept_bytes[start + j])
        if differ:
            for j in range(size):
                kept_bytes[start + j] = source_bytes[j]
            changed[groups[i]] = 1
