"""Dropout kernels: one fused pass from the uniform draws to the output (or the gradient)."""

from __future__ import annotations

from kerasette.backend.kernels._jit import kernel


@kernel
def apply_mask(x, keep, rate, scale, out):
    """``out = x * scale`` where ``keep >= rate``, else 0; flat arrays of one length.

    ``keep`` holds the uniform draws in [0, 1); ``rate`` and ``scale`` have ``x``'s dtype. The
    same call with the output gradient as ``x`` is the backward pass.
    """
    zero = scale - scale
    for i in range(x.size):
        out[i] = x[i] * scale if keep[i] >= rate else zero
