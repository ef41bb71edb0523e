"""Per-channel kernels of batch normalization.

Batch normalization works on two views of its input, chosen by where the channel axis is:

- **rows** ``(R, C)``: channels-last images (``R = N * H * W``) and (batch, features) inputs;
  each row holds one value per channel, contiguous.
- **planes** ``(A, C, S)``: channels-first images (``A = N``, ``S = H * W``); each channel's
  values sit together in a plane of ``S``.

Every pass is either a *reduction* (two per-channel sums: short runs in the input's dtype,
their totals in float64) or a *map* (an elementwise per-channel affine function of one or two arrays). The
statistics, the backward pass's sums and the inference backward pass are the reduction
``channel_sums``; the forward pass (training and inference) and the input gradient are the maps
``channel_affine`` and ``channel_affine2``.

A ReLU after the normalization runs inside the forward map: it clamps at ``lower`` (0 for a
ReLU; NaN, which nothing compares below, for none). Its backward pass, on rows, runs inside the
backward reduction and map (`channel_sums_rows_relu`, `channel_affine2_rows_relu`: the output
gradient where the ReLU was on, else 0). Where it was on is not read from the ReLU's output but
computed again from the input and the forward map's ``scale`` and ``shift``: ``x * scale + shift
> 0``, the same multiply and add in the same dtype as the forward kernel (no fused multiply-add:
the kernels are compiled without ``fastmath``), so the same bits as ``y > 0``, and one array
fewer to read (the reduction reads ``dy`` and ``x``, the map ``dy`` and ``x``, and the output is
not kept). With the map written over ``dy`` (below), the op's backward pass at 32x32x32x16 (batch
32) took 350 us where reading ``y`` into a new array took 585, on one thread. The mask is a select between the gradient and the ``zero`` argument, which compiles
to a vector blend (as fast as multiplying by the mask, and an infinite gradient where the ReLU
was off stays 0; ``0 * g`` in its place made the loop 1.2x slower). On planes the mask is a pass
of its own (`kerasette.backend.kernels.elementwise.relu_grad`) on the kept output.

The input gradient's map can write over the output gradient it reads (``*_inplace``: the caller
owns that gradient): the lines it writes are already in the cache, where a new array's are
fetched first. (A kernel of its own: given one array as both ``u`` and ``y``, LLVM's overlap
check fails and the loop runs unvectorized.)

Channels-last arrays with few channels are given to the rows kernels as wider rows (16 channels:
four image rows per kernel row, 64 values, with the per-channel numbers repeated four times; see
`kerasette.backend.engine.normalization.ChannelView`): the inner loop over a row is then long
enough for full vectors, and the sums at 16 channels took 142 us where they took 198 on rows of
16. The caller splits the leading axis into pieces the threads take in turn, gives each piece
its own float64 sums and adds them up (see `kerasette.backend.engine.normalization`). On rows, a
whole forward or backward pass (reduction, per-channel numbers, map) is one kernel call per
thread: `kerasette.backend.kernels.normalization_passes`.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels._jit import kernel
from kerasette.backend.kernels.normalization_sums import SUM_BLOCK as _SUM_BLOCK
from kerasette.backend.kernels.normalization_sums import (  # the rows reductions, public here too
    affine_backward_rows as affine_backward_rows,
)
from kerasette.backend.kernels.normalization_sums import channel_stats_rows as channel_stats_rows
from kerasette.backend.kernels.normalization_sums import channel_sums_rows as channel_sums_rows
from kerasette.backend.kernels.normalization_sums import channel_sums_rows_relu as channel_sums_rows_relu

#: rows (or steps of LANES values) summed in the input's dtype before the sums move to float64
#: (the rows kernels' `normalization_sums.SUM_BLOCK`)
SUM_BLOCK = _SUM_BLOCK
#: partial sums kept side by side when summing a contiguous plane (one or two vectors' worth)
LANES = 16


def _channel_sums_planes(a, b, a_center, b_center, s1, s2, p1, p2):
    """As `_channel_sums_rows`, over (A, C, S) arrays (channel ``c`` is ``a[:, c, :]``); each
    plane is summed in ``LANES`` interleaved partial sums of the input's dtype (``p1``, ``p2``:
    (LANES,) scratch), moved to float64 every ``SUM_BLOCK`` steps."""
    outer, chans, inner = a.shape
    for i in range(outer):
        for c in range(chans):
            k = a_center[c]
            n = b_center[c]
            t1 = 0.0
            t2 = 0.0
            for s0 in range(0, inner, LANES * SUM_BLOCK):
                s_end = min(s0 + LANES * SUM_BLOCK, inner)
                for lane in range(LANES):
                    p1[lane] = 0
                    p2[lane] = 0
                s = s0
                while s + LANES <= s_end:
                    for lane in range(LANES):
                        d = a[i, c, s + lane] - k
                        p1[lane] += d
                        p2[lane] += d * (b[i, c, s + lane] - n)
                    s += LANES
                while s < s_end:
                    d = a[i, c, s] - k
                    p1[0] += d
                    p2[0] += d * (b[i, c, s] - n)
                    s += 1
                for lane in range(LANES):
                    t1 += p1[lane]
                    t2 += p2[lane]
            s1[c] += t1
            s2[c] += t2


def _channel_affine_rows(x, scale, shift, lower, y):
    """``y = max(x * scale + shift, lower)`` per channel, over (R, C) arrays (``scale``,
    ``shift``: (C,), and ``lower`` of the dtype of ``x``; a NaN result stays NaN, and a NaN
    ``lower`` clamps nothing)."""
    rows, chans = x.shape
    for r in range(rows):
        for c in range(chans):
            v = x[r, c] * scale[c] + shift[c]
            y[r, c] = lower if v < lower else v


def _channel_affine_planes(x, scale, shift, lower, y):
    """As `_channel_affine_rows`, over (A, C, S) arrays."""
    outer, chans, inner = x.shape
    for i in range(outer):
        for c in range(chans):
            k = scale[c]
            n = shift[c]
            for s in range(inner):
                v = x[i, c, s] * k + n
                y[i, c, s] = lower if v < lower else v


def _channel_affine2_rows(u, v, a, b, c0, y):
    """``y = u * a + v * b + c0`` per channel, over (R, C) arrays: the input gradient of batch
    normalization, ``u`` the output gradient, ``v`` the input."""
    rows, chans = u.shape
    for r in range(rows):
        for c in range(chans):
            y[r, c] = u[r, c] * a[c] + v[r, c] * b[c] + c0[c]


def _channel_affine2_planes(u, v, a, b, c0, y):
    """As `_channel_affine2_rows`, over (A, C, S) arrays."""
    outer, chans, inner = u.shape
    for i in range(outer):
        for c in range(chans):
            ka = a[c]
            kb = b[c]
            kc = c0[c]
            for s in range(inner):
                y[i, c, s] = u[i, c, s] * ka + v[i, c, s] * kb + kc


def _channel_affine2_rows_relu(u, v, scale, shift, a, b, c0, zero, y):
    """``y = u' * a + v * b + c0`` per channel, over (R, C) arrays, where ``u' = u`` where
    ``v * scale + shift > 0``, else 0: `_channel_affine2_rows` of the gradient through the ReLU
    after the forward map ``v * scale + shift`` (see `_channel_sums_rows_relu`; ``zero``: 0 of the
    arrays' dtype)."""
    rows, chans = u.shape
    for r in range(rows):
        for c in range(chans):
            xv = v[r, c]
            g = u[r, c] if xv * scale[c] + shift[c] > zero else zero
            y[r, c] = g * a[c] + xv * b[c] + c0[c]


def _channel_affine2_rows_relu_inplace(u, v, scale, shift, a, b, c0, zero):
    """`_channel_affine2_rows_relu` written into ``u``."""
    rows, chans = u.shape
    for r in range(rows):
        for c in range(chans):
            xv = v[r, c]
            g = u[r, c] if xv * scale[c] + shift[c] > zero else zero
            u[r, c] = g * a[c] + xv * b[c] + c0[c]


def _channel_affine2_rows_inplace(u, v, a, b, c0):
    """`_channel_affine2_rows` written into ``u``."""
    rows, chans = u.shape
    for r in range(rows):
        for c in range(chans):
            u[r, c] = u[r, c] * a[c] + v[r, c] * b[c] + c0[c]


def _fold_totals(totals, width, chans, s1, s2):
    """``s1``, ``s2`` (C,) = the pieces' float64 sums ``totals[:, 0 or 1, :width]`` added in piece
    order, then the ``width / chans`` copies of each channel added in order (the order numpy's
    ``totals.sum(axis=0)`` and ``.reshape(wide, C).sum(axis=0)`` add in)."""
    for c in range(chans):
        t1 = 0.0
        t2 = 0.0
        for k in range(c, width, chans):
            u1 = totals[0, 0, k]
            u2 = totals[0, 1, k]
            for p in range(1, totals.shape[0]):
                u1 += totals[p, 0, k]
                u2 += totals[p, 1, k]
            if k == c:
                t1, t2 = u1, u2
            else:
                t1 += u1
                t2 += u2
        s1[c] = t1
        s2[c] = t2


fold_totals = kernel(_fold_totals)  # here: the kernels below call it


def _batch_norm_coefficients(totals, width, first, count, gamma, beta, epsilon, mean, var, inv, scale, shift):
    """Batch normalization's statistics and forward map from the statistics pass's sums.

    Args:
        totals: (pieces, 2, >= width) float64: each piece's sums of ``x - first`` and
            ``(x - first)**2`` per column of the kernels' view (``width`` columns: ``k`` copies
            of the C channels).
        width: the view's columns.
        first: (C,) float64: the centre the sums were taken around.
        count: values per channel.
        gamma, beta: (C,) scale and offset.
        epsilon: added to the variance.
        mean, var, inv: (C,) float64 outputs: the mean, the biased variance, ``1/sqrt(var + eps)``.
        scale, shift: (width,) outputs of the input's dtype: ``gamma * inv`` and
            ``beta - mean * gamma * inv`` per column (each channel's repeated ``k`` times).
    """
    chans = first.shape[0]
    fold_totals(totals, width, chans, mean, var)
    for c in range(chans):
        shifted = mean[c] / count
        v = var[c] / count - shifted * shifted
        var[c] = v if v > 0.0 else 0.0
        mean[c] = first[c] + shifted
        inv[c] = 1.0 / np.sqrt(var[c] + epsilon)
        sc = np.float64(gamma[c]) * inv[c]
        sh = np.float64(beta[c]) - mean[c] * sc
        for k in range(c, width, chans):
            scale[k] = sc
            shift[k] = sh


def _batch_norm_backward_coefficients(totals, width, rounded_mean, mean, inv, gamma, count, dbeta, dgamma, a, b, c0):
    """Batch normalization's parameter gradients and input-gradient map from the backward pass's
    sums.

    Args:
        totals: (pieces, 2, >= width) float64: each piece's sums of ``dy`` and
            ``dy * (x - rounded_mean)`` per column of the kernels' view.
        width: the view's columns.
        rounded_mean: (C,) the mean in the input's dtype (the centre the sums used).
        mean, inv: (C,) float64: the batch mean and ``1/sqrt(var + eps)``.
        gamma: (C,) the scale.
        count: values per channel.
        dbeta, dgamma: (C,) float64 outputs: the offset's and the scale's gradients.
        a, b, c0: (width,) outputs of the input's dtype: ``dx = dy * a + x * b + c0`` per column.
    """
    chans = mean.shape[0]
    fold_totals(totals, width, chans, dbeta, dgamma)
    for c in range(chans):
        m = mean[c]
        r = np.float64(rounded_mean[c])
        centered = dgamma[c] + (r - m) * dbeta[c]  # sum(dy * (x - mean)), the mean unrounded
        dgamma[c] = centered * inv[c]
        # dx = gamma * inv * (dy - dbeta / n - xhat * dgamma / n), xhat = (x - mean) * inv
        ac = np.float64(gamma[c]) * inv[c]
        bc = -ac * inv[c] * dgamma[c] / count
        cc = -ac * dbeta[c] / count - bc * m
        for k in range(c, width, chans):
            a[k] = ac
            b[k] = bc
            c0[k] = cc


def _moving_update(moving_mean, moving_var, mean, var, momentum):
    """``moving = moving * momentum + batch * (1 - momentum)``, both statistics, in place."""
    rest = 1.0 - momentum
    for c in range(moving_mean.shape[0]):
        moving_mean[c] = moving_mean[c] * momentum + mean[c] * rest
        moving_var[c] = moving_var[c] * momentum + var[c] * rest


channel_sums_planes = kernel(_channel_sums_planes)
channel_affine_rows = kernel(_channel_affine_rows)
channel_affine_planes = kernel(_channel_affine_planes)
channel_affine2_rows = kernel(_channel_affine2_rows)
channel_affine2_rows_relu = kernel(_channel_affine2_rows_relu)
channel_affine2_rows_relu_inplace = kernel(_channel_affine2_rows_relu_inplace)
channel_affine2_rows_inplace = kernel(_channel_affine2_rows_inplace)
channel_affine2_planes = kernel(_channel_affine2_planes)
batch_norm_coefficients = kernel(_batch_norm_coefficients)
batch_norm_backward_coefficients = kernel(_batch_norm_backward_coefficients)
moving_update = kernel(_moving_update)
