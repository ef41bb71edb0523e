"""The cross-entropies of probabilities as Keras 3 computes them, each one op (forward and backward
side by side) rather than a chain of elementwise ops.

Keras 3 (on torch and JAX) never looks through a softmax or sigmoid to its logits: it clips the
probabilities to ``[eps, 1 - eps]`` (``eps`` = the backend epsilon, 1e-7) and takes logarithms.
A confidently wrong sample's loss is therefore capped (at ``-log(eps)``, about 16.118, for the
categorical one), and a clipped probability passes no gradient back: the clip's derivative is 0
outside the interval and 1 inside it, ends included (as torch's ``clamp``).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.config import epsilon
from kerasette.backend.ops.base import Op, apply


class ClippedCategoricalCrossentropy(Op):
    """Per-sample ``-sum(target * log(c))`` over the last axis, ``c = clip(p / sum(p), eps, 1 - eps)``.

    Backward, with ``q = p / s``, ``s = sum(p)``, ``a = target`` where ``q`` was not clipped (0
    elsewhere) and ``A = sum(a)``: the chain ``dq = -grad * a / q``, ``dp = (dq - sum(dq * q)) / s``
    simplifies (``q = c`` where ``a`` is not 0) to::

        dp = grad * (A - a / c) / s
        dtarget = -grad * log(c)
    """

    name = "clipped_categorical_crossentropy"

    def forward(self, probs, target):
        eps = epsilon()
        self.total = probs.sum(axis=-1, keepdims=True)
        q = probs / self.total
        self.clipped = np.clip(q, eps, 1 - eps)
        self.inside = self.clipped == q  # not clipped (the interval's ends count as inside)
        self.log_clipped = np.log(self.clipped)
        self.target = target
        return -(target * self.log_clipped).sum(axis=-1)

    def backward(self, grad):
        g = grad[..., None]
        kept = self.target * self.inside
        dprobs = kept.sum(axis=-1, keepdims=True) - kept / self.clipped
        dprobs *= g / self.total
        dtarget = -g * self.log_clipped if self.needs_grad[1] else None
        return dprobs.astype(self.clipped.dtype, copy=False), dtarget


class ClippedBinaryCrossentropy(Op):
    """Elementwise ``-(target * log(c) + (1 - target) * log(1 - c))``, ``c = clip(p, eps, 1 - eps)``.

    Backward: ``dp = grad * (c - target) / (c * (1 - c))`` where ``p`` was not clipped, else 0;
    ``dtarget = -grad * (log(c) - log(1 - c))``.
    """

    name = "clipped_binary_crossentropy"

    def forward(self, probs, target):
        eps = epsilon()
        self.probs, self.target = probs, target
        self.c = np.clip(probs, eps, 1 - eps)
        one = probs.dtype.type(1)
        self.log_c, self.log_rest = np.log(self.c), np.log(one - self.c)
        return -(target * self.log_c + (one - target) * self.log_rest)

    def backward(self, grad):
        eps = epsilon()
        inside = (self.probs >= eps) & (self.probs <= 1 - eps)
        dprobs = np.where(inside, grad * (self.c - self.target) / (self.c * (1 - self.c)), 0)
        dtarget = -grad * (self.log_c - self.log_rest) if self.needs_grad[1] else None
        return dprobs.astype(self.probs.dtype, copy=False), dtarget


def categorical(target, probs):
    """Per-sample clipped categorical cross-entropy of probabilities (see the module docstring)."""
    return apply(ClippedCategoricalCrossentropy(), probs, target)


def binary(target, probs):
    """Elementwise clipped binary cross-entropy of probabilities (see the module docstring)."""
    return apply(ClippedBinaryCrossentropy(), probs, target)
