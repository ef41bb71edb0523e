"""The convolutional LSTM's recurrence through time as one op (forward and backward through time).

`conv_lstm_recurrence` takes the input transforms of every step at once, time-major: ``xp``
(steps, batch, *spatial, 4 * filters) (``conv(x_t, kernel) + bias``, computed by the caller as
one convolution over all the steps), the initial states ``h0``, ``c0`` (batch, *spatial,
filters) and the recurrent kernel (*kernel_size, filters, 4 * filters), with 2 spatial axes
(rows, cols) or 3 (depth, rows, cols); per step it adds the stride-1 'same' convolution of the
previous ``h`` (the engine's 2-D convolution; in 3-D the sum over the depth taps of 2-D
convolutions of depth slices) and applies Keras's LSTM gates (i, f, c, o)::

    c = ra(f) * c + ra(i) * a(c~);   h = ra(o) * a(c)

It returns every step's ``h`` (steps, batch, *spatial, filters), followed, with
``with_carry``, by the final ``c`` (one more entry along the first axis). The backward pass runs
the steps in reverse with the engine's convolution gradients, so a sequence costs one op in the
graph instead of a dozen per step. Options:

- ``mask``: (steps, batch) booleans; a False step leaves the states as they were.
- ``recurrent_masks``: (4, batch, *spatial, filters) multipliers of the previous ``h``, one per
  gate (recurrent dropout: the same on every step); the four masked copies are convolved as four
  channel groups.
- ``activation``, ``recurrent_activation``: ``'tanh'``, ``'sigmoid'``, ``'hard_sigmoid'``
  (Keras 3's ``clip(x / 6 + 0.5, 0, 1)``), ``'relu'`` or ``'linear'``.

`steps` takes a range of the first axis (its gradient written into zeros, not scattered).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import parallel
from kerasette.backend.ops.base import Op, apply
from kerasette.backend.ops.recurrence_op import ACTIVATION_CODES

GATES = 4
ACTIVATIONS = tuple(ACTIVATION_CODES)


def _engine():
    from kerasette.backend.engine import conv  # deferred: imports numba

    return conv


def _kernels():
    from kerasette.backend.kernels import conv_recurrent  # deferred: numba compiles on first use only

    return conv_recurrent


class ConvLSTMRecurrence(Op):
    """The recurrence of `conv_lstm_recurrence`; inputs ``xp, h0, c0, recurrent_kernel``.

    Per step: the recurrent convolution (the engine), then one kernel pass over the step's
    pixels for the gates (`kerasette.backend.kernels.conv_recurrent`), split over the threads.
    Kept for the backward pass: every step's states and activated gates."""

    name = "conv_lstm_recurrence"

    def __init__(self, activation="tanh", recurrent_activation="sigmoid", mask=None, recurrent_masks=None,
                 with_carry=False):
        for value in (activation, recurrent_activation):
            if value not in ACTIVATIONS:
                raise ValueError(f"conv_lstm_recurrence: activations must be one of {ACTIVATIONS}; received "
                                 f"{value!r}")
        self.act, self.ract = ACTIVATION_CODES[activation], ACTIVATION_CODES[recurrent_activation]
        self.mask = None if mask is None else np.asarray(mask, bool)
        self.recurrent_masks = recurrent_masks
        self.with_carry = with_carry

    def _recurrent_input(self, h):
        """What the recurrent convolution reads: ``h``, or its four masked copies side by side."""
        if self.recurrent_masks is None:
            return h
        return np.concatenate([h * m for m in self.recurrent_masks], axis=-1)

    def _keep_rows(self, t):
        """Step ``t``'s mask, one entry per (sample, pixel) row (a placeholder without a mask)."""
        if self.mask is None:
            return np.ones(1, bool)
        return np.repeat(self.mask[t], self.pixels)

    @staticmethod
    def _run_rows(kernel, rows: int, width: int, *args) -> None:
        """``kernel(*args, r0, r1)`` over the rows, split over the threads when the pass is large
        (a row's work counted as 8 memory-bound elements per gate value: tanh and exp)."""
        parallel.map_chunks(lambda r0, r1: kernel(*args, r0, r1), rows, parallel.memory_bound_min(), 8 * width)

    def _depth_padding(self) -> tuple[int, int]:
        """TensorFlow's 'same' split of a stride-1 depth axis: (before, after)."""
        total = self.kernel.shape[0] - 1
        return total // 2, total - total // 2

    def _depth_slabs(self, h):
        """(the depth-padded ``h``, a function giving tap ``a``'s slab as (batch * depth, rows,
        cols, channels) images) of a 3-D state."""
        before, after = self._depth_padding()
        padded = np.pad(h, ((0, 0), (before, after), (0, 0), (0, 0), (0, 0))) if before or after else h
        batch, depth = h.shape[:2]
        return padded, lambda a: np.ascontiguousarray(padded[:, a:a + depth]).reshape(batch * depth, *h.shape[2:])

    def _conv_same(self, h):
        """The stride-1 'same' convolution of ``h`` (batch, *spatial, channels) with the recurrent
        kernel: 2-D through the engine, 3-D as the sum over the depth taps of 2-D convolutions."""
        conv = _engine()
        if h.ndim == 4:
            return conv.conv2d_forward(h, self.kernel, None, (1, 1), "same", groups=self.groups)
        _, slab = self._depth_slabs(h)
        out = None
        for a in range(self.kernel.shape[0]):
            y = conv.conv2d_forward(slab(a), self.kernel[a], None, (1, 1), "same", groups=self.groups)
            out = y if out is None else np.add(out, y, out=out)
        return out.reshape(*h.shape[:-1], out.shape[-1])

    def _conv_same_backward(self, dz, h, need_input, need_kernel):
        """(gradient of ``h``, of the recurrent kernel) of `_conv_same` (each None when not needed)."""
        conv = _engine()
        if h.ndim == 4:
            d_in, d_kernel, _ = conv.conv2d_backward(dz, h, self.kernel, None, False, False, (1, 1), "same",
                                                     need_input=need_input, need_kernel=need_kernel,
                                                     groups=self.groups)
            return d_in, d_kernel
        padded, slab = self._depth_slabs(h)
        batch, depth = h.shape[:2]
        d_padded = np.zeros(padded.shape, dz.dtype) if need_input else None
        d_kernel = np.empty(self.kernel.shape, dz.dtype) if need_kernel else None
        dz2 = dz.reshape(batch * depth, *dz.shape[2:])
        for a in range(self.kernel.shape[0]):
            d_slab, d_tap, _ = conv.conv2d_backward(dz2, slab(a), self.kernel[a], None, False, False, (1, 1),
                                                    "same", need_input=need_input, need_kernel=need_kernel,
                                                    groups=self.groups)
            if need_input:
                d_padded[:, a:a + depth] += d_slab.reshape(batch, depth, *h.shape[2:])
            if need_kernel:
                d_kernel[a] = d_tap
        if need_input:
            before = self._depth_padding()[0]
            d_padded = np.ascontiguousarray(d_padded[:, before:before + depth])
        return d_padded, d_kernel

    def forward(self, xp, h0, c0, recurrent_kernel):
        steps, filters = xp.shape[0], h0.shape[-1]
        rank = h0.ndim - 2
        if (rank not in (2, 3) or xp.ndim != h0.ndim + 1 or h0.shape != xp.shape[1:-1] + (filters,)
                or c0.shape != h0.shape or recurrent_kernel.shape[rank:] != (filters, GATES * filters)
                or recurrent_kernel.ndim != rank + 2 or xp.shape[-1] != GATES * filters):
            raise ValueError(f"conv_lstm_recurrence: expected xp (steps, batch, *spatial, 4 * filters), states "
                             "(batch, *spatial, filters) and a recurrent kernel (*kernel_size, filters, 4 * filters), "
                             f"with 2 or 3 spatial axes; received shapes {xp.shape}, {h0.shape}, {c0.shape} and "
                             f"{recurrent_kernel.shape}")
        k = _kernels()
        dtype = xp.dtype
        xp = np.ascontiguousarray(xp)
        self.groups = 1 if self.recurrent_masks is None else GATES
        self.pixels = int(np.prod(h0.shape[1:-1]))
        rows = h0.shape[0] * self.pixels
        self.hs = np.empty((steps + 1, *h0.shape), dtype)
        self.cs = np.empty((steps + 1, *h0.shape), dtype)
        self.hs[0], self.cs[0] = h0, c0
        self.kernel, self.gates = recurrent_kernel, []
        has_mask = self.mask is not None
        act, ract = self.act, self.ract
        for t in range(steps):
            z = self._conv_same(self._recurrent_input(self.hs[t]))
            z2, x2 = z.reshape(rows, -1), xp[t].reshape(rows, -1)
            c_prev, h_prev = self.cs[t].reshape(rows, -1), self.hs[t].reshape(rows, -1)
            c_out, h_out = self.cs[t + 1].reshape(rows, -1), self.hs[t + 1].reshape(rows, -1)
            keep = self._keep_rows(t)
            self._run_rows(k.gates_forward, rows, 4 * filters, z2, x2, c_prev, h_prev, keep, has_mask, act, ract,
                           c_out, h_out)
            self.gates.append(z)
        if self.with_carry:
            return np.concatenate([self.hs[1:], self.cs[-1:]])
        return self.hs[1:].copy()

    def backward(self, grad):
        k = _kernels()
        steps = len(self.gates)
        rows = self.hs.shape[1] * self.pixels
        f = self.hs.shape[-1]
        need_h0, need_kernel = self.needs_grad[1], self.needs_grad[3]
        has_mask = self.mask is not None
        act, ract = self.act, self.ract
        dh = np.zeros(self.hs.shape[1:], grad.dtype)
        dc = grad[steps].copy() if self.with_carry else np.zeros_like(dh)
        dxp = np.empty((steps, *self.hs.shape[1:-1], GATES * f), grad.dtype)
        dkernel = np.zeros(self.kernel.shape, grad.dtype) if need_kernel else None
        dc2 = dc.reshape(rows, f)
        for t in range(steps - 1, -1, -1):
            dh += grad[t]
            dh2, dz2 = dh.reshape(rows, f), dxp[t].reshape(rows, GATES * f)
            gates, c_prev = self.gates[t].reshape(rows, -1), self.cs[t].reshape(rows, f)
            keep = self._keep_rows(t)
            self._run_rows(k.gates_backward, rows, 4 * f, gates, c_prev, dh2, dc2, keep, has_mask, act, ract, dz2)
            # dh now holds what passes the masked rows to the previous h (zeros elsewhere)
            need_input = t > 0 or need_h0
            if not (need_input or need_kernel):
                continue
            d_in, d_kernel = self._conv_same_backward(dxp[t], self._recurrent_input(self.hs[t]), need_input,
                                                      need_kernel)
            if need_kernel:
                dkernel += d_kernel
            if need_input:
                if self.recurrent_masks is not None:
                    d_in = sum(d_in[..., g * f:(g + 1) * f] * m for g, m in enumerate(self.recurrent_masks))
                dh = d_in + dh if has_mask else np.array(d_in, copy=True)
        return dxp, dh, dc, dkernel


def conv_lstm_recurrence(xp, h0, c0, recurrent_kernel, activation="tanh", recurrent_activation="sigmoid", mask=None,
                         recurrent_masks=None, with_carry=False):
    """The convolutional LSTM's steps (see the module docstring): every step's ``h`` (steps,
    batch, *spatial, filters), then the final ``c`` when ``with_carry``.

    Example:
        >>> import numpy as np
        >>> xp = np.zeros((3, 2, 4, 4, 8), "float32"); h0 = np.zeros((2, 4, 4, 2), "float32")
        >>> conv_lstm_recurrence(xp, h0, h0, np.zeros((3, 3, 2, 8), "float32"), with_carry=True).shape
        (4, 2, 4, 4, 2)
    """
    op = ConvLSTMRecurrence(activation, recurrent_activation, mask, recurrent_masks, with_carry)
    return apply(op, xp, h0, c0, recurrent_kernel)


class Steps(Op):
    """``x[start:stop]`` along the first axis; the gradient is written into zeros."""

    name = "steps"

    def __init__(self, start: int, stop: int):
        self.start, self.stop = start, stop

    def forward(self, x):
        self.shape = x.shape
        return x[self.start:self.stop].copy()

    def backward(self, grad):
        out = np.zeros(self.shape, grad.dtype)
        out[self.start:self.stop] = grad
        return (out,)


def steps(x, start: int, stop: int):
    """Entries ``start`` to ``stop`` of ``x``'s first axis."""
    return apply(Steps(start, stop), x)
