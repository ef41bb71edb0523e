"""The convolutional LSTM's computation through a sequence, as ops (channels-last): `conv_lstm_sequence`
and its pieces (`conv_nd`, `recurrent_conv`, `lstm_gates`), for the layers of
`kerasette.layers.recurrent.conv_lstm` and their cell.

The input transform of every step is one convolution over the (batch * time) images (the
engine's 2-D convolution; 1-D runs as images of one row, 3-D as a sum of 2-D convolutions over
the depth taps). With dropout, the four masked copies of the input are stacked along the
channels and convolved with the kernel as four groups, which is the per-gate computation in one
pass. The steps then run as one op (`kerasette.backend.ops.conv_recurrent`: per step the
recurrent convolution and one kernel pass for the gates, back-propagated through time in the
same op) with the activations its kernels know (tanh, sigmoid, hard_sigmoid, relu, linear); with
other activations, step by step through ordinary ops.
"""

from __future__ import annotations

import numpy as np

from kerasette import activations
from kerasette.backend import ops
from kerasette.backend.ops import conv_recurrent as crops
from kerasette.backend.tensor import Tensor
from kerasette.layers.recurrent.cell_base import fusable_name
from kerasette.utils import conv_utils

GATES = 4


def conv_nd(x, kernel, bias, strides, padding, dilation, groups=1):
    """Keras's N-D convolution (N = 1, 2, 3) of channels-last ``x`` (batch, *spatial, C) with a
    (*kernel_size, C // groups, F) kernel, through the engine's 2-D op: 1-D as images of one row,
    3-D as the sum over the kernel's depth taps of 2-D convolutions of the matching depth
    slices (the depth padded first for 'same')."""
    rank = x.ndim - 2
    if rank == 2:
        return ops.conv2d(x, kernel, bias, tuple(strides), padding, dilation_rate=tuple(dilation), groups=groups)
    if rank == 1:
        n, length, c = x.shape
        y = ops.conv2d(ops.reshape(x, (n, 1, length, c)), ops.reshape(kernel, (1, *kernel.shape)), bias,
                       (1, strides[0]), padding, dilation_rate=(1, dilation[0]), groups=groups)
        return ops.reshape(y, (n, y.shape[2], y.shape[3]))
    n, depth, rows, cols, c = x.shape
    taps, stride, rate = kernel.shape[0], strides[0], dilation[0]
    extent = (taps - 1) * rate + 1
    if padding == "same":
        before, after = conv_utils.same_padding(depth, extent, stride)
        if before or after:
            x = ops.pad(x, ((0, 0), (before, after), (0, 0), (0, 0), (0, 0)))
            depth += before + after
    out_depth = (depth - extent) // stride + 1
    total = None
    for a in range(taps):
        start = a * rate
        slab = ops.getitem(x, (slice(None), slice(start, start + (out_depth - 1) * stride + 1, stride)))
        y = ops.conv2d(ops.reshape(slab, (n * out_depth, rows, cols, c)), ops.getitem(kernel, a),
                       bias if a == 0 else None, tuple(strides[1:]), padding, dilation_rate=tuple(dilation[1:]),
                       groups=groups)
        total = y if total is None else ops.add(total, y)
    return ops.reshape(total, (n, out_depth, *total.shape[1:]))


def _to_channels_last(rank: int, leading: int) -> tuple:
    """The permutation taking (leading axes, channels, *spatial) to (leading, *spatial, channels)."""
    return (*range(leading), *range(leading + 1, leading + 1 + rank), leading)


def _to_channels_first(rank: int, leading: int) -> tuple:
    return (*range(leading), leading + rank, *range(leading, leading + rank))


def lstm_gates(z, c, activation, recurrent_activation):
    """(h, c) of Keras's LSTM from the pre-activations ``z`` (..., 4 * filters: gates i, f, c, o)
    and the previous carry ``c``."""
    f = z.shape[-1] // GATES
    part = [ops.getitem(z, (Ellipsis, slice(k * f, (k + 1) * f))) for k in range(GATES)]
    i, forget, o = (recurrent_activation(part[k]) for k in (0, 1, 3))
    c = ops.add(ops.multiply(forget, c), ops.multiply(i, activation(part[2])))
    return ops.multiply(o, activation(c)), c


def recurrent_conv(h, recurrent_kernel, masks=None):
    """``conv_same(h, recurrent_kernel)`` of channels-last ``h`` (stride 1, no dilation); with
    recurrent dropout ``masks`` (4, *h.shape), each gate's quarter of the kernel sees its own
    masked ``h`` (the four copies stacked along the channels, convolved as four groups)."""
    ones = (1,) * (h.ndim - 2)
    if masks is None:
        return conv_nd(h, recurrent_kernel, None, ones, "same", ones)
    stacked = ops.concatenate([ops.multiply(h, masks[k]) for k in range(GATES)], axis=-1)
    return conv_nd(stacked, recurrent_kernel, None, ones, "same", ones, groups=GATES)


def conv_lstm_sequence(x, h, c, kernel, recurrent_kernel, bias=None, strides=None, padding="valid", dilation=None,
                       activation=activations.tanh, recurrent_activation=activations.sigmoid, go_backwards=False,
                       mask=None, sequences=True, zero_output_for_mask=False, input_masks=None, recurrent_masks=None,
                       states=True, fused=None):
    """The convolutional LSTM over channels-last ``x`` (batch, time, *spatial, channels) from
    the states ``h``, ``c`` (batch, *out_spatial, filters), as tensors: ``(output, h, c)``, the
    output every step's ``h`` (batch, time, ...) when ``sequences``, else the last.

    ``mask`` (batch, time) booleans: a masked step keeps the states and repeats the previous
    output (zeros before the first; zeros everywhere masked with ``zero_output_for_mask``).
    ``go_backwards`` reads the steps last to first (the output sequence in that order).
    ``input_masks`` (4, batch, *spatial, channels) and ``recurrent_masks`` (4, *h.shape):
    per-gate dropout masks (scaled), the same at every step. Without ``states`` the final
    states may be returned as None (the fused recurrence then skips the carry).

    ``fused``: run the steps as one op (`kerasette.backend.ops.conv_recurrent`), possible with
    the activations its kernels know; False runs them through ordinary ops step by step (any
    activation); None (the default) chooses the op when it can.
    """
    rank = x.ndim - 3
    strides = tuple(strides or (1,) * rank)
    dilation = tuple(dilation or (1,) * rank)
    batch, steps = x.shape[0], x.shape[1]
    x_tm = ops.transpose(x, (1, 0, *range(2, x.ndim)))
    mask_tm = None
    if mask is not None:
        mask_tm = np.asarray(mask, bool).T
        mask_tm = mask_tm[::-1] if go_backwards else mask_tm
        if mask_tm.all():
            mask_tm = None
    if go_backwards:
        x_tm = ops.getitem(x_tm, slice(None, None, -1))
    groups = 1
    if input_masks is not None:  # the four masked copies as four channel groups
        x_tm = ops.concatenate([ops.multiply(x_tm, input_masks[k]) for k in range(GATES)], axis=-1)
        groups = GATES
    flat = ops.reshape(x_tm, (steps * batch, *x_tm.shape[2:]))
    projected = conv_nd(flat, kernel, bias, strides, padding, dilation, groups)
    projected = ops.reshape(projected, (steps, batch, *projected.shape[1:]))
    names = (fusable_name(activation), fusable_name(recurrent_activation))
    if fused is None:
        fused = None not in names
    if fused:
        return _fused_steps(projected, h, c, recurrent_kernel, names, mask_tm, recurrent_masks, sequences,
                            zero_output_for_mask, states)
    keep_shape = (batch,) + (1,) * (h.ndim - 1)
    outputs, previous = [], None
    for t in range(steps):
        z = ops.add(ops.getitem(projected, t), recurrent_conv(h, recurrent_kernel, recurrent_masks))
        h_new, c_new = lstm_gates(z, c, activation, recurrent_activation)
        out = h_new
        if mask_tm is not None:
            keep = mask_tm[t].reshape(keep_shape)
            h_new, c_new = ops.where(keep, h_new, h), ops.where(keep, c_new, c)
            previous = previous if previous is not None else Tensor(np.zeros(h.shape, h.dtype))
            out = ops.where(keep, out, previous)
        h, c, previous = h_new, c_new, out
        if sequences:
            outputs.append(ops.expand_dims(out, 1))
    if not sequences:
        return previous, h, c
    result = ops.concatenate(outputs, axis=1)
    if zero_output_for_mask and mask_tm is not None:
        keep = mask_tm.T.reshape((batch, steps) + (1,) * (h.ndim - 1))
        result = ops.multiply(result, keep.astype(result.dtype))
    return result, h, c


def _fused_steps(projected, h, c, recurrent_kernel, names, mask_tm, recurrent_masks, sequences, zero_output_for_mask,
                 states):
    """`conv_lstm_sequence`'s steps as one op (a 1-D state as an image of one row)."""
    steps, batch = projected.shape[0], projected.shape[1]
    state_shape = h.shape
    if h.ndim == 3:  # rank 1: (batch, length, filters) as (batch, 1, length, filters)
        projected = ops.reshape(projected, (steps, batch, 1, *projected.shape[2:]))
        h, c = ops.reshape(h, (batch, 1, *h.shape[1:])), ops.reshape(c, (batch, 1, *c.shape[1:]))
        recurrent_kernel = ops.reshape(recurrent_kernel, (1, *recurrent_kernel.shape))
        if recurrent_masks is not None:
            recurrent_masks = recurrent_masks.reshape((GATES, batch, 1, *recurrent_masks.shape[2:]))
    y = crops.conv_lstm_recurrence(projected, h, c, recurrent_kernel, names[0], names[1], mask_tm, recurrent_masks,
                                   with_carry=states)
    h_last = c_last = None
    if states or not sequences:
        h_last = ops.reshape(crops.steps(y, steps - 1, steps), state_shape)
    if states:
        c_last = ops.reshape(crops.steps(y, steps, steps + 1), state_shape)
    started = None if mask_tm is None else np.logical_or.accumulate(mask_tm, axis=0)  # (steps, batch)
    if not sequences:
        out = h_last
        if started is not None and not started[-1].all():  # never read a step: zeros, as the loop's output
            out = ops.multiply(out, started[-1].reshape((batch,) + (1,) * (len(state_shape) - 1)).astype(out.dtype))
        return out, h_last, c_last
    seq = crops.steps(y, 0, steps) if states else y
    seq = ops.transpose(ops.reshape(seq, (steps, *state_shape)), (1, 0, *range(2, len(state_shape) + 1)))
    if started is not None:
        # the output repeats the previous output on masked steps: zeros before the first step read
        factor = started & mask_tm if zero_output_for_mask else started
        if not factor.all():
            seq = ops.multiply(seq, factor.T.reshape((batch, steps) + (1,) * (len(state_shape) - 1)).astype(seq.dtype))
    return seq, h_last, c_last
