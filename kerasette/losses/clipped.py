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
    """Per-sample ``-sum(target * log(clip(p / sum(p), eps, 1 - eps)))`` over the last axis.

    Backward, with ``q = p / s``, ``s = sum(p)`` and ``inside`` where ``q`` was not clipped::

        dq = -grad * target / q * inside
        dp = (dq - sum(dq * q)) / s
        dtarget = -grad * log(clip(q))
    """

    name = "clipped_categorical_crossentropy"

    def forward(self, probs, target):
        eps = epsilon()
        self.total = probs.sum(axis=-1, keepdims=True)
        self.q = probs / self.total
        self.log_clipped = np.log(np.clip(self.q, eps, 1 - eps))
        self.target = target
        return -(target * self.log_clipped).sum(axis=-1)

    def backward(self, grad):
        eps = epsilon()
        g = grad[..., None]
        inside = (self.q >= eps) & (self.q <= 1 - eps)
        dq = np.where(inside, -g * self.target / np.where(inside, self.q, 1), 0)
        dprobs = (dq - (dq * self.q).sum(axis=-1, keepdims=True)) / self.total
        dtarget = -g * self.log_clipped if self.needs_grad[1] else None
        return dprobs.astype(self.q.dtype, copy=False), dtarget


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
