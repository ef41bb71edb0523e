"""Activations, dropout and the numerically stable cross-entropies."""

from __future__ import annotations

import numpy as np

from kerasette.backend import random, state
from kerasette.backend.config import epsilon
from kerasette.backend.ops import elementwise as ew
from kerasette.backend.ops.base import Op, apply, as_tensor, unbroadcast
from kerasette.backend.tensor import Tensor

#: the engine module, imported at its first use (it imports numba) and kept: an import statement
#: in `_fused`, asked by each fused ReLU pass and dropout, cost 0.45 us a call
_modules: dict[str, object] = {}


def _fused():
    elementwise = _modules.get("elementwise")
    if elementwise is None:
        from kerasette.backend.engine import elementwise  # deferred: imports numba

        _modules["elementwise"] = elementwise
    return elementwise


def _relu_grad(grad: np.ndarray, out: np.ndarray, in_place: bool = False) -> np.ndarray:
    """``grad`` where the ReLU's output ``out`` is positive, else 0: one pass on the kernels (float
    arrays of one shape), written into ``grad`` when ``in_place`` (the backward walk said no one
    else reads it: ``grad_is_scratch``), in numpy otherwise."""
    if grad.dtype in (np.float32, np.float64) and grad.shape == out.shape and grad.dtype == out.dtype:
        return _fused().relu_grad(grad, out, in_place)
    return grad * (out > 0)


def _relu_grad_of_sum(grad: np.ndarray, addend: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``grad + addend`` where the ReLU's output ``out`` is positive, else 0, written into
    ``grad`` (the backward walk's own: see `backward_sum`): one pass on the kernels, or the sum
    and then `_relu_grad`."""
    if (grad.dtype.char in "fd" and grad.flags.c_contiguous  # float32, float64
            and grad.shape == addend.shape == out.shape and grad.dtype == addend.dtype == out.dtype):
        return _fused().relu_grad_add(grad, addend, out)
    np.add(grad, addend, out=grad)
    return _relu_grad(grad, out, True)


class Relu(Op):
    """``max(x, 0)``. Its backward pass also takes a gradient given as a sum (`backward_sum`)."""

    name = "relu"

    def forward(self, x):
        self.out = np.maximum(x, 0)
        return self.out

    def backward(self, grad):
        return (_relu_grad(grad, self.out, getattr(self, "grad_is_scratch", False)),)

    def backward_sum(self, grad, addend):
        """`backward` of ``grad + addend`` (the output read by two ops: the backward walk hands
        over both gradients, ``grad`` its own to write into, instead of adding them first), the
        sum and the ReLU's mask in one pass."""
        return (_relu_grad_of_sum(grad, addend, self.out),)


class AddRelu(Op):
    """``max(a + b, 0)``: a residual block's sum and ReLU in one pass each way (the gradient, masked
    once, is the same array for both inputs). Inputs of different shapes broadcast as in ``add``."""

    name = "add_relu"

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        if a.shape == b.shape and a.dtype == b.dtype and a.dtype.char in "fd":  # float32, float64
            self.out = _fused().add_relu(a, b)
        else:
            self.out = np.maximum(a + b, 0)
        return self.out

    def backward(self, grad):
        return self._split(_relu_grad(grad, self.out, getattr(self, "grad_is_scratch", False)))

    def backward_sum(self, grad, addend):
        """`backward` of ``grad + addend`` (see `Relu.backward_sum`): a residual block's output
        is read by the next block's first convolution and by its shortcut."""
        return self._split(_relu_grad_of_sum(grad, addend, self.out))

    def _split(self, g):
        (first, second), (first_needs, second_needs) = self.shapes, self.needs_grad
        return (unbroadcast(g, first) if first_needs else None, unbroadcast(g, second) if second_needs else None)


class Sigmoid(Op):
    name = "sigmoid"

    def forward(self, x):
        # exp of a non-positive number only, so neither branch overflows
        e = np.exp(-np.abs(x))
        self.out = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        return self.out

    def backward(self, grad):
        return (grad * self.out * (1 - self.out),)


class Tanh(Op):
    name = "tanh"

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, grad):
        return (grad * (1 - self.out * self.out),)


class Elu(Op):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""

    name = "elu"

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def forward(self, x):
        self.positive = x > 0
        alpha = x.dtype.type(self.alpha)
        self.out = np.where(self.positive, x, alpha * np.expm1(np.minimum(x, 0)))
        return self.out

    def backward(self, grad):
        # alpha * exp(x) = out + alpha where x <= 0
        return (np.where(self.positive, grad, grad * (self.out + self.out.dtype.type(self.alpha))),)


class Softmax(Op):
    name = "softmax"

    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x):
        self.logits = x
        z = x - x.max(axis=self.axis, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=self.axis, keepdims=True)
        self.out = z
        return z

    def backward(self, grad):
        s = self.out
        return (s * (grad - (grad * s).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Op):
    name = "log_softmax"

    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x):
        z = x - x.max(axis=self.axis, keepdims=True)
        self.out = z - np.log(np.exp(z).sum(axis=self.axis, keepdims=True))
        return self.out

    def backward(self, grad):
        return (grad - np.exp(self.out) * grad.sum(axis=self.axis, keepdims=True),)


class Dropout(Op):
    """Zeroes each value with probability ``rate`` and scales the rest by 1/(1-rate).

    Each call draws one integer from ``rng``, the key of its mask: whether the value at flat
    position ``p`` is kept is a hash of ``(key, p)`` (`kerasette.backend.kernels.dropout`),
    computed in the kernel that scales, so no random numbers or mask are stored; the backward
    pass hashes again. The mask is the same however the pass is split among threads, and a
    generator seeded alike gives the same masks.
    """

    name = "dropout"

    def __init__(self, rate: float, rng: np.random.Generator):
        self.rate, self.rng = rate, rng

    def forward(self, x):
        seed = _draw_key_seed(self.rng)
        self.key = ((seed & 0xFFFFFFFF) | 1, (seed >> 32) & 0xFFFFFFFF)
        # the kernel's arguments, made once for both passes
        self._key_args = (np.uint32(self.key[0]), np.uint32(self.key[1]), np.uint32(self.threshold()))
        return self._masked(x)

    def backward(self, grad):
        # into the gradient itself when the backward walk says no one else reads it
        return (self._masked(grad, getattr(self, "grad_is_scratch", False)),)

    def threshold(self) -> int:
        """The uint32 a value's hash must reach to be kept: ``rate * 2**32`` rounded (a keep
        probability within 2**-33 of ``1 - rate``)."""
        return min(round(self.rate * 2**32), 2**32 - 1)

    def _masked(self, x, in_place: bool = False):
        x = np.asarray(x)
        if x.dtype.char in "fd":  # float32, float64: the kernel
            scale = x.dtype.type(1.0 / (1.0 - self.rate))
            return _fused().dropout(x, *self._key_args, scale, in_place)
        from kerasette.backend.kernels import dropout as kernels  # deferred: imports numba

        kept = kernels.reference_keep(np.arange(x.size), *self.key, self.threshold()).reshape(x.shape)
        return np.where(kept, x * x.dtype.type(1.0 / (1.0 - self.rate)), x.dtype.type(0))


def _draw_key_seed(rng: np.random.Generator) -> int:
    """``int(rng.integers(0, 2**63))``, dropout's draw of a call's key. For numpy's default bit
    generator (PCG64) that is its next 64-bit output shifted right by one (Lemire's bounded draw
    over a range of 2**63 takes the top 63 bits of the first draw and never rejects): the same
    value and the same generator state for a fraction of the cost (2.4 -> 0.5 us warm; in a
    training step, between passes that leave the interpreter's data out of cache, ``integers``
    measured 14-22 us a call)."""
    bits = rng.bit_generator
    if type(bits) is np.random.PCG64:
        return int(bits.random_raw()) >> 1
    return int(rng.integers(0, 2**63))


class SoftmaxCrossEntropy(Op):
    """Per-sample ``-sum(target * log_softmax(logits))`` over the last axis, computed from the
    logits (so it never takes the log of a rounded-to-zero probability)."""

    name = "softmax_cross_entropy"

    def forward(self, logits, target):
        z = logits - logits.max(axis=-1, keepdims=True)
        log_sum = np.log(np.exp(z).sum(axis=-1, keepdims=True))
        self.log_probs = z - log_sum
        self.target = target
        return -(target * self.log_probs).sum(axis=-1)

    def backward(self, grad):
        g = grad[..., None]
        probs = np.exp(self.log_probs)
        glogits = g * (probs * self.target.sum(axis=-1, keepdims=True) - self.target)
        gtarget = -g * self.log_probs if self.needs_grad[1] else None
        return glogits.astype(self.log_probs.dtype, copy=False), gtarget


class CategoricalCrossentropy(Op):
    """Per-sample ``-sum(target * log(p))`` on probabilities clipped to [eps, 1 - eps],
    as Keras computes it when the probabilities do not come from a softmax it can see."""

    name = "categorical_crossentropy"

    def forward(self, probs, target):
        eps = epsilon()
        p = probs / probs.sum(axis=-1, keepdims=True)
        self.probs, self.target, self.p = probs, target, p
        self.clipped = np.clip(p, eps, 1 - eps)
        return -(target * np.log(self.clipped)).sum(axis=-1)

    def backward(self, grad):
        eps = epsilon()
        g = grad[..., None]
        inside = (self.p > eps) & (self.p < 1 - eps)
        dp = np.where(inside, -g * self.target / self.clipped, 0)
        # through the normalisation p = probs / sum(probs)
        total = self.probs.sum(axis=-1, keepdims=True)
        gprobs = (dp - (dp * self.p).sum(axis=-1, keepdims=True)) / total
        gtarget = -g * np.log(self.clipped) if self.needs_grad[1] else None
        return gprobs.astype(self.probs.dtype, copy=False), gtarget


class SigmoidBinaryCrossEntropy(Op):
    """Per-element binary cross-entropy from logits, stable for large |logits|."""

    name = "sigmoid_binary_cross_entropy"

    def forward(self, logits, target):
        self.logits, self.target = logits, target
        return np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))

    def backward(self, grad):
        e = np.exp(-np.abs(self.logits))
        sig = np.where(self.logits >= 0, 1 / (1 + e), e / (1 + e))
        gtarget = -grad * self.logits if self.needs_grad[1] else None
        return (grad * (sig - self.target)).astype(self.logits.dtype, copy=False), gtarget


def relu(x):
    """max(x, 0)."""
    return apply(Relu(), x)


def add_relu(a, b):
    """``relu(a + b)`` in one pass (the end of a residual block)."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return _add_relu_tensors(a, b)
    return apply(AddRelu(), a, b)


def _add_relu_tensors(a: Tensor, b: Tensor) -> Tensor:
    """`add_relu` of two tensors: `apply` written out (nothing to wrap; the output held as it
    is), for the Python after a pass of megabytes runs on cold caches."""
    op = AddRelu()
    y = op.forward(a.data, b.data)
    out = Tensor.of_array(y) if type(y) is np.ndarray else Tensor(y)
    if state.grad_mode.is_enabled() and (a.requires_grad or b.requires_grad):
        op.needs_grad, out._op, out._inputs, out.requires_grad = (a.requires_grad, b.requires_grad), op, (a, b), True
    return out


def sigmoid(x):
    """1 / (1 + exp(-x)), computed without overflow.

    When the result is not recorded (gradient recording off, as in evaluation), it keeps its
    input as ``_sigmoid_logits`` so that `binary_crossentropy` still computes from the logits.
    """
    x = as_tensor(x)
    out = apply(Sigmoid(), x)
    if out._op is None:
        out._sigmoid_logits = x
    return out


def tanh(x):
    """Hyperbolic tangent."""
    return apply(Tanh(), x)


def softplus(x):
    """log(1 + exp(x)), computed as relu(x) + log(1 + exp(-|x|)) (no overflow)."""
    return ew.add(relu(x), ew.log(ew.add(ew.exp(ew.negative(ew.abs(x))), 1.0)))


def softsign(x):
    """x / (1 + |x|)."""
    return ew.divide(x, ew.add(ew.abs(x), 1.0))


def elu(x, alpha: float = 1.0):
    """Exponential linear unit: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    return apply(Elu(alpha), x)


def softmax(x, axis: int = -1):
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum for stability.

    When the result is not recorded (gradient recording off, as in evaluation) and the softmax
    is over the last axis, it keeps its input as ``_softmax_logits`` so that
    `categorical_crossentropy` computes from the logits exactly as it does during training.
    """
    x = as_tensor(x)
    out = apply(Softmax(axis), x)
    if out._op is None and axis in (-1, out.ndim - 1):
        out._softmax_logits = x
    return out


def log_softmax(x, axis: int = -1):
    """log(softmax(x)) computed stably."""
    return apply(LogSoftmax(axis), x)


def dropout(x, rate: float, rng: np.random.Generator | None = None):
    """Inverted dropout: zeroes values with probability ``rate``, scales the rest."""
    if rate <= 0:
        return x
    if rng is None:
        rng = random.generator()
    return apply(Dropout(rate, rng), x)


def softmax_cross_entropy(logits, target):
    """Per-sample categorical cross-entropy of ``target`` and ``softmax(logits)``."""
    return apply(SoftmaxCrossEntropy(), logits, target)


def categorical_crossentropy(target, output, from_logits: bool = False):
    """Per-sample categorical cross-entropy (Keras's argument order: target first).

    When ``output`` was produced by a softmax op, the loss is computed from that op's logits,
    as TensorFlow's Keras backend does, which is exact where clipping would not be.
    """
    if from_logits:
        return softmax_cross_entropy(output, target)
    logits = _softmax_logits(output)
    if logits is not None:
        return softmax_cross_entropy(logits, target)
    return apply(CategoricalCrossentropy(), output, target)


def _softmax_logits(output):
    """The logits of ``output`` when it is a softmax over the last axis (recorded or not)."""
    op = getattr(output, "_op", None)
    if isinstance(op, Softmax) and op.axis in (-1, output.ndim - 1):
        return output._inputs[0]
    return getattr(output, "_softmax_logits", None)


def _sigmoid_logits(output):
    """The logits of ``output`` when it is a sigmoid (recorded or not)."""
    if isinstance(getattr(output, "_op", None), Sigmoid):
        return output._inputs[0]
    return getattr(output, "_sigmoid_logits", None)


def binary_crossentropy(target, output, from_logits: bool = False):
    """Per-element binary cross-entropy; uses the logits when ``output`` is a sigmoid op."""
    if from_logits:
        return apply(SigmoidBinaryCrossEntropy(), output, target)
    logits = _sigmoid_logits(output)
    if logits is not None:
        return apply(SigmoidBinaryCrossEntropy(), logits, target)
    eps = epsilon()
    p = ew.clip(output, eps, 1 - eps)
    one = np.asarray(1.0, dtype=p.dtype)
    return ew.negative(
        ew.add(ew.multiply(target, ew.log(p)), ew.multiply(ew.subtract(one, target), ew.log(ew.subtract(one, p))))
    )
