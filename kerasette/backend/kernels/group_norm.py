"""Group normalization kernels for channels-last inputs viewed as (batch, positions, channels).

Each kernel handles the samples ``start:stop`` (`kerasette.backend.parallel` gives each thread
its own), walking every sample's (positions, channels) matrix row by row with the channels
innermost (contiguous), accumulating per channel in float64 and combining the channels of a
group afterwards. The forward pass takes the mean first and then the centered sum of squares
(two passes, no cancellation); the backward pass recomputes x-hat from ``x`` and the saved
statistics instead of keeping an array of it.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels._jit import kernel


@kernel
def forward(x, gamma, beta, groups, epsilon, out, mean, inv, start, stop):
    """``out = (x - mean) * inv * gamma + beta`` per sample and group, for samples
    ``start:stop``; fills ``mean`` and ``inv = 1 / sqrt(var + epsilon)`` ((batch, groups),
    float64). ``x`` and ``out``: (batch, positions, channels); ``gamma``, ``beta``: (channels,)."""
    positions, channels = x.shape[1], x.shape[2]
    per_group = channels // groups
    count = positions * per_group
    acc = np.empty(channels, np.float64)
    centre = np.empty(channels, np.float64)
    centre_x = np.empty(channels, x.dtype)
    scale = np.empty(channels, x.dtype)
    for b in range(start, stop):
        acc[:] = 0.0
        for s in range(positions):
            for c in range(channels):
                acc[c] += x[b, s, c]
        for g in range(groups):
            total = 0.0
            for c in range(g * per_group, (g + 1) * per_group):
                total += acc[c]
            mean[b, g] = total / count
            for c in range(g * per_group, (g + 1) * per_group):
                centre[c] = mean[b, g]
        acc[:] = 0.0
        for s in range(positions):
            for c in range(channels):
                d = x[b, s, c] - centre[c]
                acc[c] += d * d
        for g in range(groups):
            total = 0.0
            for c in range(g * per_group, (g + 1) * per_group):
                total += acc[c]
            inv[b, g] = 1.0 / np.sqrt(total / count + epsilon)
            for c in range(g * per_group, (g + 1) * per_group):
                scale[c] = inv[b, g] * gamma[c]
                centre_x[c] = centre[c]
        for s in range(positions):
            for c in range(channels):
                out[b, s, c] = (x[b, s, c] - centre_x[c]) * scale[c] + beta[c]


@kernel
def backward(grad, x, gamma, mean, inv, groups, dx, dgamma, dbeta, start, stop):
    """The gradients of `forward` for samples ``start:stop``: ``dx`` (like ``x``) and each
    sample's share of the gamma and beta gradients, ``dgamma[b]`` and ``dbeta[b]`` ((batch,
    channels), float64; the caller sums them over the batch).

    With ``d = grad * gamma`` and means over each sample's group,
    ``dx = inv * (d - mean(d) - xhat * mean(d * xhat))``, written per channel as
    ``grad * a + (x - mean) * b + c``."""
    positions, channels = x.shape[1], x.shape[2]
    per_group = channels // groups
    count = positions * per_group
    centre = np.empty(channels, np.float64)
    spread = np.empty(channels, np.float64)
    sum_g = np.empty(channels, np.float64)
    sum_gx = np.empty(channels, np.float64)
    centre_x = np.empty(channels, x.dtype)
    ca = np.empty(channels, x.dtype)
    cb = np.empty(channels, x.dtype)
    cc = np.empty(channels, x.dtype)
    for b in range(start, stop):
        for g in range(groups):
            for c in range(g * per_group, (g + 1) * per_group):
                centre[c] = mean[b, g]
                spread[c] = inv[b, g]
        sum_g[:] = 0.0
        sum_gx[:] = 0.0
        for s in range(positions):
            for c in range(channels):
                gv = grad[b, s, c]
                sum_g[c] += gv
                sum_gx[c] += gv * ((x[b, s, c] - centre[c]) * spread[c])
        for c in range(channels):
            dbeta[b, c] = sum_g[c]
            dgamma[b, c] = sum_gx[c]
        for g in range(groups):
            mean_d = 0.0
            mean_dx = 0.0
            for c in range(g * per_group, (g + 1) * per_group):
                mean_d += gamma[c] * sum_g[c]
                mean_dx += gamma[c] * sum_gx[c]
            mean_d /= count
            mean_dx /= count
            i = inv[b, g]
            for c in range(g * per_group, (g + 1) * per_group):
                ca[c] = i * gamma[c]
                cb[c] = -i * i * mean_dx
                cc[c] = -i * mean_d
                centre_x[c] = centre[c]
        for s in range(positions):
            for c in range(channels):
                dx[b, s, c] = grad[b, s, c] * ca[c] + (x[b, s, c] - centre_x[c]) * cb[c] + cc[c]
