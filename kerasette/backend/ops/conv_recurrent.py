"""The convolutional LSTM's recurrence through time as one op (forward and backward through time).

`conv_lstm_recurrence` takes the input transforms of every step at once, time-major: ``xp``
(steps, batch, rows, cols, 4 * filters) (``conv(x_t, kernel) + bias``, computed by the caller
as one convolution over all the steps), the initial states ``h0``, ``c0`` (batch, rows, cols,
filters) and the recurrent kernel (kh, kw, filters, 4 * filters); per step it adds the stride-1
'same' convolution of the previous ``h`` (the engine's 2-D convolution) and applies Keras's LSTM
gates (i, f, c, o)::

    c = ra(f) * c + ra(i) * a(c~);   h = ra(o) * a(c)

It returns every step's ``h`` (steps, batch, rows, cols, filters), followed, with
``with_carry``, by the final ``c`` (one more entry along the first axis). The backward pass runs
the steps in reverse with the engine's convolution gradients, so a sequence costs one op in the
graph instead of a dozen per step. Options:

- ``mask``: (steps, batch) booleans; a False step leaves the states as they were.
- ``recurrent_masks``: (4, batch, rows, cols, filters) multipliers of the previous ``h``, one per
  gate (recurrent dropout: the same on every step); the four masked copies are convolved as four
  channel groups.
- ``activation``, ``recurrent_activation``: ``'tanh'``, ``'sigmoid'``, ``'hard_sigmoid'``
  (Keras 3's ``clip(x / 6 + 0.5, 0, 1)``), ``'relu'`` or ``'linear'``.

`steps` takes a range of the first axis (its gradient written into zeros, not scattered).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.ops.base import Op, apply

GATES = 4
ACTIVATIONS = ("linear", "tanh", "sigmoid", "hard_sigmoid", "relu")


def _engine():
    from kerasette.backend.engine import conv  # deferred: imports numba

    return conv


def _activate(name: str, x: np.ndarray) -> np.ndarray:
    """``name`` applied to ``x`` in place (and returned)."""
    kind = x.dtype.type
    if name == "tanh":
        np.tanh(x, out=x)
    elif name == "sigmoid":  # 1 / (1 + exp(-x)) as 0.5 * (1 + tanh(x / 2)): no overflow
        x *= kind(0.5)
        np.tanh(x, out=x)
        x += kind(1)
        x *= kind(0.5)
    elif name == "hard_sigmoid":
        x *= kind(1 / 6)
        x += kind(0.5)
        np.clip(x, kind(0), kind(1), out=x)
    elif name == "relu":
        np.maximum(x, kind(0), out=x)
    return x


def _derivative(name: str, y: np.ndarray) -> np.ndarray | float:
    """The derivative of activation ``name`` where its output is ``y``."""
    kind = y.dtype.type
    if name == "tanh":
        return kind(1) - y * y
    if name == "sigmoid":
        return y * (kind(1) - y)
    if name == "hard_sigmoid":
        return ((y > 0) & (y < 1)) * kind(1 / 6)
    if name == "relu":
        return (y > 0).astype(y.dtype)
    return kind(1)


class ConvLSTMRecurrence(Op):
    """The recurrence of `conv_lstm_recurrence`; inputs ``xp, h0, c0, recurrent_kernel``."""

    name = "conv_lstm_recurrence"

    def __init__(self, activation="tanh", recurrent_activation="sigmoid", mask=None, recurrent_masks=None,
                 with_carry=False):
        for value in (activation, recurrent_activation):
            if value not in ACTIVATIONS:
                raise ValueError(f"conv_lstm_recurrence: activations must be one of {ACTIVATIONS}; received "
                                 f"{value!r}")
        self.activation, self.recurrent_activation = activation, recurrent_activation
        self.mask = None if mask is None else np.asarray(mask, bool)
        self.recurrent_masks = recurrent_masks
        self.with_carry = with_carry

    def _recurrent_input(self, h):
        """What the recurrent convolution reads: ``h``, or its four masked copies side by side."""
        if self.recurrent_masks is None:
            return h
        return np.concatenate([h * m for m in self.recurrent_masks], axis=-1)

    def _keep(self, t):
        return self.mask[t].reshape((-1, 1, 1, 1))

    def forward(self, xp, h0, c0, recurrent_kernel):
        steps, filters = xp.shape[0], h0.shape[-1]
        if (xp.ndim != 5 or h0.shape != xp.shape[1:4] + (filters,) or c0.shape != h0.shape
                or recurrent_kernel.shape[2:] != (filters, GATES * filters)
                or xp.shape[-1] != GATES * filters):
            raise ValueError(f"conv_lstm_recurrence: expected xp (steps, batch, rows, cols, 4 * filters), states "
                             "(batch, rows, cols, filters) and a recurrent kernel (kh, kw, filters, 4 * filters); "
                             f"received shapes {xp.shape}, {h0.shape}, {c0.shape} and {recurrent_kernel.shape}")
        conv = _engine()
        dtype = xp.dtype
        groups = 1 if self.recurrent_masks is None else GATES
        self.hs = np.empty((steps + 1, *h0.shape), dtype)
        self.cs = np.empty((steps + 1, *h0.shape), dtype)
        self.hs[0], self.cs[0] = h0, c0
        self.gates = np.empty(xp.shape, dtype)
        self.kernel, self.groups = recurrent_kernel, groups
        f = filters
        for t in range(steps):
            z = conv.conv2d_forward(self._recurrent_input(self.hs[t]), recurrent_kernel, None, (1, 1), "same",
                                    groups=groups)
            z += xp[t]
            cell = z[..., 2 * f:3 * f].copy()
            _activate(self.recurrent_activation, z)
            z[..., 2 * f:3 * f] = _activate(self.activation, cell)
            self.gates[t] = z
            i, forget, g, o = (z[..., k * f:(k + 1) * f] for k in range(GATES))
            c = forget * self.cs[t] + i * g
            h = o * _activate(self.activation, c.copy())
            if self.mask is not None:
                keep = self._keep(t)
                c = np.where(keep, c, self.cs[t])
                h = np.where(keep, h, self.hs[t])
            self.cs[t + 1], self.hs[t + 1] = c, h
        if self.with_carry:
            return np.concatenate([self.hs[1:], self.cs[-1:]])
        return self.hs[1:].copy()

    def backward(self, grad):
        conv = _engine()
        steps = self.gates.shape[0]
        f = self.hs.shape[-1]
        kind = grad.dtype.type
        need_h0, need_kernel = self.needs_grad[1], self.needs_grad[3]
        dh = np.zeros(self.hs.shape[1:], grad.dtype)
        dc = grad[steps].copy() if self.with_carry else np.zeros_like(dh)
        dxp = np.empty(self.gates.shape, grad.dtype)
        dkernel = np.zeros(self.kernel.shape, grad.dtype) if need_kernel else None
        for t in range(steps - 1, -1, -1):
            dh += grad[t]
            carry_h = carry_c = None
            if self.mask is not None:
                keep = self._keep(t)
                carry_h, carry_c = np.where(keep, kind(0), dh), np.where(keep, kind(0), dc)
                dh, dc = np.where(keep, dh, kind(0)), np.where(keep, dc, kind(0))
            z = self.gates[t]
            i, forget, g, o = (z[..., k * f:(k + 1) * f] for k in range(GATES))
            c_prev = self.cs[t]
            c_raw = forget * c_prev + i * g  # this step's carry before the mask
            tc = _activate(self.activation, c_raw.copy())
            dz = dxp[t]
            dz[..., 3 * f:] = dh * tc * _derivative(self.recurrent_activation, o)
            dc += dh * o * _derivative(self.activation, tc)
            dz[..., :f] = dc * g * _derivative(self.recurrent_activation, i)
            dz[..., f:2 * f] = dc * c_prev * _derivative(self.recurrent_activation, forget)
            dz[..., 2 * f:3 * f] = dc * i * _derivative(self.activation, g)
            dc *= forget
            need_input = t > 0 or need_h0
            if need_input or need_kernel:
                d_in, d_kernel, _ = conv.conv2d_backward(
                    dz, self._recurrent_input(self.hs[t]), self.kernel, None, False, False, (1, 1), "same",
                    need_input=need_input, need_kernel=need_kernel, groups=self.groups)
                if need_kernel:
                    dkernel += d_kernel
                if need_input:
                    if self.recurrent_masks is not None:
                        d_in = sum(d_in[..., k * f:(k + 1) * f] * m for k, m in enumerate(self.recurrent_masks))
                    dh = d_in
            else:
                dh = np.zeros_like(dh)
            if carry_h is not None:
                dh = dh + carry_h
                dc += carry_c
        return dxp, dh, dc, dkernel


def conv_lstm_recurrence(xp, h0, c0, recurrent_kernel, activation="tanh", recurrent_activation="sigmoid", mask=None,
                         recurrent_masks=None, with_carry=False):
    """The convolutional LSTM's steps (see the module docstring): every step's ``h`` (steps,
    batch, rows, cols, filters), then the final ``c`` when ``with_carry``."""
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
