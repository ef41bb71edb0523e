"""Group normalization kernels for channels-last inputs viewed as (batch, positions, channels).

Each kernel handles the samples ``start:stop`` (`kerasette.backend.parallel` gives each thread
its own), walking every sample's (positions, channels) matrix row by row with the channels
innermost (contiguous), accumulating per channel in float64 and combining the channels of a
group afterwards. Each pass reads the sample once for the statistics and once more for the
result; the backward pass recomputes x-hat from ``x`` and the saved statistics instead of
keeping an array of it.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels._jit import kernel


@kernel
def forward(x, gamma, beta, groups, epsilon, out, mean, inv, start, stop):
    """``out = (x - mean) * inv * gamma + beta`` per sample and group, for samples
    ``start:stop``; fills ``mean`` and ``inv = 1 / sqrt(var + epsilon)`` ((batch, groups),
    float64). ``x`` and ``out``: (batch, positions, channels); ``gamma``, ``beta``: (channels,).

    One pass takes each channel's sum and sum of squares of ``x - shift`` (``shift``: the
    channel's first value, so the squares do not dwarf the spread); a group's variance is then
    the mean of its channels' own variances plus the variance of their means. A second pass
    writes the output."""
    positions, channels = x.shape[1], x.shape[2]
    per_group = channels // groups
    count = positions * per_group
    s1 = np.empty(channels, np.float64)
    s2 = np.empty(channels, np.float64)
    shift = np.empty(channels, np.float64)
    centre_x = np.empty(channels, x.dtype)
    scale = np.empty(channels, x.dtype)
    for b in range(start, stop):
        for c in range(channels):
            shift[c] = x[b, 0, c]
        s1[:] = 0.0
        s2[:] = 0.0
        for s in range(positions):
            for c in range(channels):
                d = x[b, s, c] - shift[c]
                s1[c] += d
                s2[c] += d * d
        for g in range(groups):
            total = 0.0
            for c in range(g * per_group, (g + 1) * per_group):
                total += shift[c] + s1[c] / positions  # the channel's mean
            m = total / per_group
            spread = 0.0
            for c in range(g * per_group, (g + 1) * per_group):
                between = shift[c] + s1[c] / positions - m
                spread += (s2[c] - s1[c] * s1[c] / positions) + positions * between * between
            mean[b, g] = m
            inv[b, g] = 1.0 / np.sqrt(max(spread, 0.0) / count + epsilon)
            for c in range(g * per_group, (g + 1) * per_group):
                scale[c] = inv[b, g] * gamma[c]
                centre_x[c] = m
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
