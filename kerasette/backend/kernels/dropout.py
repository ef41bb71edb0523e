"""Dropout kernels: one fused pass from the uniform draws to the output and a one-byte mask of
the kept values, and one from the mask to the gradient."""

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


@kernel
def apply_draws(x, draws, rate, scale, out, kept):
    """``out = x * scale`` where ``draws >= rate``, else 0, and ``kept = draws >= rate``; flat
    arrays of one length (``kept``: booleans, a quarter of float32 draws' memory, all the
    backward pass needs)."""
    zero = scale - scale
    for i in range(x.size):
        keep = draws[i] >= rate
        kept[i] = keep
        out[i] = x[i] * scale if keep else zero


@kernel
def apply_kept(x, kept, scale, out):
    """``out = x * scale`` where ``kept``, else 0 (the backward pass of `apply_draws`)."""
    zero = scale - scale
    for i in range(x.size):
        out[i] = x[i] * scale if kept[i] else zero
