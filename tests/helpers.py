"""Test helpers: a float64 central-difference gradient checker, kink-free inputs, references.

The checker works for any op or composition of ops: it checks the gradient of
``sum(fn(*inputs) * W)`` (W random, fixed) with respect to every differentiable input against
central differences, in float64. Functions with kinks (ReLU at 0, ties in max and max-pooling,
clip bounds, |x| at 0) are differentiable almost everywhere, so a test chooses inputs away from
the kinks (`spaced` gives distinct values away from chosen points) and the checker refuses a
step that crosses one: it compares the forward and backward one-sided slopes at each element
and fails with a message naming the element when they disagree.

Example:
    >>> from kerasette.backend import ops
    >>> rng = np.random.default_rng(0)
    >>> grads = check_gradients(ops.relu, [spaced((3, 4), rng)])
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np

from kerasette.backend.tensor import Tensor

EPS = 1e-6


def spaced(shape, rng: np.random.Generator, low: float = -2.0, high: float = 2.0,
           avoid=(0.0,), margin: float = 1e-3) -> np.ndarray:
    """Distinct float64 values in [low, high], in random order, away from the points in ``avoid``.

    The values sit on a jittered grid, so any two differ by at least half a grid step (far more
    than the checker's step for test-sized arrays): no ties for max or max-pooling. Values
    closer than ``margin`` to a point in ``avoid`` (default: 0, the ReLU and |x| kink) are moved
    to ``margin`` from it.
    """
    n = int(np.prod(shape))
    slots = rng.permutation(n) + 0.5 + rng.uniform(-0.25, 0.25, n)
    values = low + (high - low) * slots / n
    for point in avoid:
        near = np.abs(values - point) < margin
        values[near] = point + np.where(values[near] >= point, margin, -margin)
    assert len(np.unique(values)) == n, "spaced(): the grid is too fine for this margin"
    return values.reshape(shape)


def positive(shape, rng: np.random.Generator, low: float = 0.5, high: float = 2.0) -> np.ndarray:
    """Uniform float64 values in [low, high] (for log, sqrt, divisors, bases of powers)."""
    return rng.uniform(low, high, shape)


@contextlib.contextmanager
def serial_kernels():
    """Runs numba's parallel kernels on one thread (when numba is loaded).

    The numerical gradient calls an op thousands of times on tiny arrays; starting a parallel
    region costs far more than the work, and much more again when other processes keep the
    cores busy. The analytic pass still runs with the normal thread count.
    """
    numba = sys.modules.get("numba")
    if numba is None:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _call(fn, arrays, differentiable):
    # The perturbed evaluations record the graph too, so that ops which look at how their
    # input was produced (categorical_crossentropy fusing with a softmax) take the same path.
    tensors = [Tensor(a, requires_grad=d) for a, d in zip(arrays, differentiable, strict=True)]
    out = fn(*tensors)
    return tensors, out


def numerical_gradient(fn, arrays, index: int, weights, differentiable, eps: float = EPS,
                       kink_tol: float = 1e-3) -> np.ndarray:
    """Central-difference gradient of ``sum(fn(*arrays) * weights)`` w.r.t. ``arrays[index]``.

    Raises AssertionError when a step crosses a kink: the one-sided slopes on the two sides of
    an element differ by more than ``kink_tol`` (relative), which a smooth function never does
    at this step size.
    """

    def value(arrs):
        return float(np.sum(np.asarray(_call(fn, arrs, differentiable)[1].data, np.float64) * weights))

    base = [a.copy() for a in arrays]
    f0 = value(base)
    x = base[index]
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        f_plus = value(base)
        x[idx] = old - eps
        f_minus = value(base)
        x[idx] = old
        central = (f_plus - f_minus) / (2 * eps)
        forward, backward = (f_plus - f0) / eps, (f0 - f_minus) / eps
        if abs(forward - backward) > kink_tol * max(1.0, abs(central)):
            raise AssertionError(
                f"input {index} at {idx} (value {old!r}): one-sided slopes {forward:.6g} and "
                f"{backward:.6g} differ, the step crosses a kink; move the test input away from it"
            )
        grad[idx] = central
    return grad


def check_gradients(fn, inputs, wrt=None, eps: float = EPS, rtol: float = 1e-5, atol: float = 1e-7,
                    seed: int = 0) -> list[np.ndarray]:
    """Checks the backward pass of ``fn`` against central differences, in float64.

    Args:
        fn: maps one Tensor per input to one Tensor (a composition of ops).
        inputs: arrays; float inputs become float64.
        wrt: indices of the inputs to check (default: every floating-point input); the others
            are passed as constants (``requires_grad=False``).
        eps: the finite-difference step.
        rtol, atol: tolerances of the comparison.
        seed: seed of the random output weights ``W``.

    Returns:
        The analytic gradients of the checked inputs, in ``wrt`` order.
    """
    arrays = [np.array(a, dtype=np.float64) if np.issubdtype(np.asarray(a).dtype, np.floating)
              else np.array(a) for a in inputs]
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if a.dtype == np.float64]
    differentiable = [i in wrt for i in range(len(arrays))]
    originals = [a.copy() for a in arrays]
    tensors, out = _call(fn, arrays, differentiable)
    for i, (a, original) in enumerate(zip(arrays, originals, strict=True)):
        np.testing.assert_array_equal(a, original, err_msg=f"fn modified input {i} in place")
    assert out.dtype == np.float64, f"float64 inputs gave a {out.dtype} output"
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(weights)
    analytic = []
    for i in wrt:
        grad = tensors[i].grad
        assert grad is not None, f"no gradient reached input {i}"
        assert grad.shape == arrays[i].shape, f"input {i}: gradient shape {grad.shape}"
        assert grad.dtype == np.float64, f"input {i}: gradient dtype {grad.dtype}"
        with serial_kernels():
            expected = numerical_gradient(fn, arrays, i, weights, differentiable, eps)
        np.testing.assert_allclose(grad, expected, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i} does not match central differences")
        analytic.append(grad)
    return analytic


# ---------------------------------------------------------------------------- references
def same_padding(length: int, window: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding (before, after) along one axis, written out independently."""
    out = -(-length // stride)
    total = max((out - 1) * stride + window - length, 0)
    return total // 2, total - total // 2


def _padded(x, window, strides, padding, value):
    if padding == "valid":
        return x
    (top, bottom), (left, right) = (same_padding(x.shape[1 + a], window[a], strides[a]) for a in range(2))
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def _windows(xp, window, strides):
    """Yields (row, col, window) over the valid positions of a padded NHWC array."""
    rows = (xp.shape[1] - window[0]) // strides[0] + 1
    cols = (xp.shape[2] - window[1]) // strides[1] + 1
    for r in range(rows):
        for c in range(cols):
            r0, c0 = r * strides[0], c * strides[1]
            yield r, c, xp[:, r0:r0 + window[0], c0:c0 + window[1], :]


def conv2d_reference(x, kernel, bias=None, strides=(1, 1), padding="valid", relu=False) -> np.ndarray:
    """Slow NHWC cross-correlation, one output position at a time, in float64."""
    xp = _padded(np.asarray(x, np.float64), kernel.shape[:2], strides, padding, 0.0)
    rows = (xp.shape[1] - kernel.shape[0]) // strides[0] + 1
    cols = (xp.shape[2] - kernel.shape[1]) // strides[1] + 1
    out = np.zeros((x.shape[0], rows, cols, kernel.shape[3]))
    for r, c, win in _windows(xp, kernel.shape[:2], strides):
        out[:, r, c, :] = np.einsum("nijc,ijcf->nf", win, kernel)
    if bias is not None:
        out += bias
    return np.maximum(out, 0) if relu else out


def max_pool2d_reference(x, pool_size=(2, 2), strides=None, padding="valid") -> np.ndarray:
    """Slow NHWC max-pooling ('same' pads with -inf), in float64."""
    strides = strides or pool_size
    xp = _padded(np.asarray(x, np.float64), pool_size, strides, padding, -np.inf)
    rows = (xp.shape[1] - pool_size[0]) // strides[0] + 1
    cols = (xp.shape[2] - pool_size[1]) // strides[1] + 1
    out = np.zeros((x.shape[0], rows, cols, x.shape[3]))
    for r, c, win in _windows(xp, pool_size, strides):
        out[:, r, c, :] = win.max(axis=(1, 2))
    return out
