"""Batch normalization and the parameterised rectifiers of the activation layers.

`batch_normalization` normalizes with the statistics of the batch (training) in one op whose
backward pass gives the input, scale and offset gradients together; with given statistics
(inference) it is one op too (`InferenceBatchNorm`): a per-channel affine map whose scale and
shift it computes itself, and whose backward pass gives the gradients of all five inputs.
`thresholded_relu` is the ``ThresholdedReLU`` layer's rectifier (the ``ReLU`` layer uses
``general_relu`` of ``ops/activations.py``, as the ``relu`` activation does).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import state
from kerasette.backend.ops import elementwise as ew
from kerasette.backend.ops.base import Op, apply, array_of, as_tensor
from kerasette.backend.tensor import Tensor


def _broadcast_shape(ndim: int, axes: tuple[int, ...], size_of) -> tuple[int, ...]:
    """The shape of the per-channel statistics, broadcastable against the input."""
    return tuple(1 if a in axes else size_of(a) for a in range(ndim))


#: the engine modules, imported at their first use (they import numba): `_engine`, `_folding`
_modules: dict[str, object] = {}


def _engine():
    engine = _modules.get("engine")
    if engine is None:  # once: an import statement on every call cost 0.6 us
        from kerasette.backend.engine import normalization as engine  # deferred: imports numba

        _modules["engine"] = engine
    return engine


#: `engine.normalization.channel_view` by (shape, axes), for `BatchNorm` (views hold only sizes)
_views: dict = {}


def _view(shape: tuple[int, ...], axes: tuple[int, ...]):
    """`channel_view` of ``shape`` and ``axes``, kept in `_views` (at most 256)."""
    if len(_views) >= 256:
        _views.clear()
    view = _views[shape, axes] = _engine().channel_view(shape, axes)
    return view


def _inference():
    inference = _modules.get("inference")
    if inference is None:
        from kerasette.backend.engine import normalization_inference as inference  # deferred: imports numba

        _modules["inference"] = inference
    return inference


def _folding():
    folding = _modules.get("folding")
    if folding is None:
        from kerasette.backend.engine import folding  # deferred: imports numba

        _modules["folding"] = folding
    return folding


class BatchNorm(Op):
    """``gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the mean and the (biased)
    variance of ``x`` over ``axes``; ``gamma`` and ``beta`` have the shape of the kept axes.

    After the forward pass ``self.mean`` and ``self.var`` hold the batch statistics (shape of
    ``gamma``, dtype of ``x``), for the caller's moving averages; given ``moving``
    (``(moving_mean, moving_variance, momentum)``: arrays of ``gamma``'s shape), the forward pass
    updates them itself (`update_moving_statistics`; on rows in its kernel). With ``relu``, a ReLU follows
    in the same passes (its mask, ``x * scale + shift > 0``, is computed again in the backward
    pass from the input and the map's per-channel numbers: the output is not kept, except on planes).

    When the kept axes are adjacent (channels-last or channels-first images, (batch, features))
    both passes run on the numba kernels (`kerasette.backend.engine.normalization`): the forward
    pass is one reduction (the statistics, float64 sums) and one map; the backward pass one
    reduction (the sums of ``dy`` and ``dy * (x - mean)``, which are the offset and scale
    gradients) and one map (``dx = dy * a + x * b + c`` per channel), written over ``dy`` when the
    backward walk says no one else reads it (``grad_is_scratch``). Nothing is kept but the input
    and the per-channel numbers. Other axes compute in numpy.
    """

    name = "batch_normalization"

    def __init__(self, axes: tuple[int, ...], epsilon: float, relu: bool = False, moving=None):
        self.axes, self.epsilon, self.relu, self.moving = axes, epsilon, relu, moving

    def forward(self, x, gamma, beta):
        y = self._forward(x, gamma, beta)
        moving = self.moving
        if moving is not None and not self.moved:
            update_moving_statistics(moving[0], moving[1], self.mean, self.var, moving[2])
        return y

    def _forward(self, x, gamma, beta):
        self.x_shape, self.moved = x.shape, False
        view = _views.get((x.shape, self.axes))  # (one look-up: 6-10 us through `channel_view` on cold caches)
        if view is None and x.size:
            view = _view(x.shape, self.axes)
        self.view = view
        if view is None:
            return self._forward_numpy(x, gamma, beta)
        self.x = view.of(x)
        self.gamma = gamma
        if view.rows:  # one kernel call per thread; its packed arrays kept for the backward pass
            moving = self.moving
            if moving is not None and moving[0].ndim != 1:
                moving = (moving[0].reshape(-1), moving[1].reshape(-1), moving[2])
            y, work, small, mean, var = view.train_rows(self.x, gamma, beta, self.epsilon, self.relu, moving)
            self.saved, self.moved = (work, small), moving is not None
            kept = gamma.shape
            self.mean, self.var = (mean, var) if len(kept) == 1 else (mean.reshape(kept), var.reshape(kept))
            return y.reshape(x.shape)
        y, self.mean64, var, self.inv64, scale, shift = view.normalize(self.x, gamma, beta, self.epsilon,
                                                                        relu=self.relu)
        # the ReLU's mask is computed again from x with the map's numbers (rows), or read from y (planes)
        self.relu_map = (scale, shift) if self.relu else None
        self.y = y if self.relu else None
        self.mean = self.mean64.astype(x.dtype).reshape(gamma.shape)
        self.var = var.astype(x.dtype).reshape(gamma.shape)
        return y.reshape(x.shape)

    def backward(self, grad):
        view = self.view
        if view is None:
            return self._backward_numpy(grad)
        # with a ReLU after it, the ReLU's gradient runs inside the passes; the input gradient is
        # written over the output gradient when no one else reads it
        scratch = getattr(self, "grad_is_scratch", False) and grad.flags.c_contiguous and grad.flags.writeable
        needs, kept = self.needs_grad, self.gamma.shape
        if view.rows:
            dx, dgamma, dbeta, _ = view.train_rows_backward(view.of(grad), self.x, self.gamma, self.saved, self.relu,
                                                            needs[0], scratch)
            if len(kept) != 1:
                dgamma, dbeta = dgamma.reshape(kept), dbeta.reshape(kept)
            return (dx.reshape(self.x_shape) if dx is not None else None, dgamma if needs[1] else None,
                    dbeta if needs[2] else None)
        dx, dgamma, dbeta = view.normalize_backward(view.of(grad), self.x, self.mean64, self.inv64, self.gamma,
                                                    self.relu_map, self.y, input_gradient=needs[0],
                                                    overwrite_g=scratch)
        dtype = grad.dtype
        return (dx.reshape(self.x_shape) if dx is not None else None,
                dgamma.astype(dtype).reshape(kept) if needs[1] else None,
                dbeta.astype(dtype).reshape(kept) if needs[2] else None)

    # -- kept axes that are not adjacent: numpy ---------------------------------------------------
    def _forward_numpy(self, x, gamma, beta):
        axes, shape = self.axes, _broadcast_shape(x.ndim, self.axes, lambda a: x.shape[a])
        count = max(1, int(np.prod([x.shape[a] for a in axes])))
        mean = x.sum(axis=axes, dtype=np.float64) / count
        centered = x - mean.reshape(shape).astype(x.dtype)
        var = (centered * centered).sum(axis=axes, dtype=np.float64) / count
        inv = (1.0 / np.sqrt(var + self.epsilon)).astype(x.dtype).reshape(shape)
        centered *= inv  # now x-hat
        self.xhat, self.inv, self.gamma, self.shape, self.count = centered, inv, gamma.reshape(shape), shape, count
        self.mean = mean.astype(x.dtype).reshape(gamma.shape)
        self.var = var.astype(x.dtype).reshape(gamma.shape)
        y = centered * self.gamma
        y += beta.reshape(shape)
        if self.relu:
            np.maximum(y, 0, out=y)
            self.y = y
        return y

    def _backward_numpy(self, g):
        dtype = g.dtype.type
        if self.relu:
            g = g * (self.y > 0)
        dbeta = g.sum(axis=self.axes).reshape(self.shape)
        dgamma = (g * self.xhat).sum(axis=self.axes).reshape(self.shape)
        dx = None
        if self.needs_grad[0]:
            dx = self.xhat * (-dgamma / dtype(self.count))
            dx += g
            dx -= dbeta / dtype(self.count)
            dx *= self.gamma * self.inv
        kept = self.mean.shape
        return (dx, dgamma.reshape(kept) if self.needs_grad[1] else None,
                dbeta.reshape(kept) if self.needs_grad[2] else None)


class MaskedBatchNorm(Op):
    """`BatchNorm` whose statistics come from the unmasked positions only (Keras 3's rule for a
    sequence's mask in training): with ``w`` the mask broadcast over the last axis of ``x`` and
    ``n = sum(w) + 1e-7`` per channel (Keras's fuzz factor, so an all-masked batch gives zeros),
    ``mean = sum(w * x) / n`` and ``var = sum(w * (x - mean) ** 2) / n``; every position, masked
    or not, is then normalized with them. Masked positions reach the statistics' gradients not at
    all. Computes in numpy (float64 sums), with an optional ReLU after it.
    """

    name = "batch_normalization"

    def __init__(self, axes: tuple[int, ...], epsilon: float, mask, relu: bool = False):
        self.axes, self.epsilon, self.relu = axes, epsilon, relu
        self.mask = np.asarray(mask)

    def forward(self, x, gamma, beta):
        axes, shape = self.axes, _broadcast_shape(x.ndim, self.axes, lambda a: x.shape[a])
        w = np.broadcast_to(self.mask.astype(bool)[..., None], x.shape)
        n = np.sum(w, axis=axes, dtype=np.float64).reshape(shape) + 1e-7
        x64 = x.astype(np.float64)
        mean = np.where(w, x64, 0.0).sum(axis=axes).reshape(shape) / n
        centered = x64 - mean
        var = np.where(w, centered * centered, 0.0).sum(axis=axes).reshape(shape) / n
        inv = 1.0 / np.sqrt(var + self.epsilon)
        self.w, self.n, self.centered, self.inv, self.shape = w, n, centered, inv, shape
        self.gamma64 = np.asarray(gamma, np.float64).reshape(shape)
        y = (centered * inv * self.gamma64 + np.asarray(beta, np.float64).reshape(shape)).astype(x.dtype)
        if self.relu:
            np.maximum(y, 0, out=y)
            self.y = y
        self.mean = mean.astype(x.dtype).reshape(gamma.shape)
        self.var = var.astype(x.dtype).reshape(gamma.shape)
        return y

    def backward(self, grad):
        if self.relu:
            grad = grad * (self.y > 0)
        g = grad.astype(np.float64)
        axes, shape, inv, centered, w, n = self.axes, self.shape, self.inv, self.centered, self.w, self.n
        dbeta = g.sum(axis=axes).reshape(shape)
        dgamma = (g * centered).sum(axis=axes).reshape(shape) * inv
        dx = None
        if self.needs_grad[0]:
            dxhat = g * self.gamma64  # gradient of x-hat = (x - mean) * inv, at every position
            dvar = (dxhat * centered).sum(axis=axes).reshape(shape) * (-0.5 * inv ** 3)
            wc = np.where(w, centered, 0.0)
            # mean = sum(w x) / n; var = sum(w (x - mean)^2) / n, whose sum(w (x - mean)) is not
            # exactly 0 (n has Keras's 1e-7 in it): both paths into the mean are kept
            dmean = -inv * dxhat.sum(axis=axes).reshape(shape) \
                - dvar * 2.0 * wc.sum(axis=axes).reshape(shape) / n
            dx = (dxhat * inv + w * (dmean / n) + wc * (2.0 * dvar / n)).astype(grad.dtype)
        kept, dtype = self.mean.shape, grad.dtype
        return (dx, dgamma.astype(dtype).reshape(kept) if self.needs_grad[1] else None,
                dbeta.astype(dtype).reshape(kept) if self.needs_grad[2] else None)


class ChannelAffine(Op):
    """``x * scale + shift`` with ``scale`` and ``shift`` broadcast along the kept axes (the
    inference form of batch normalization), on the kernels of `BatchNorm` when the kept axes are
    adjacent; with ``relu``, a ReLU after it in the same pass."""

    name = "batch_normalization_affine"

    def __init__(self, axes: tuple[int, ...], relu: bool = False):
        self.axes, self.relu = axes, relu

    def forward(self, x, scale, shift):
        view = _engine().channel_view(x.shape, self.axes) if x.size else None
        return self._map(x, view, scale, shift)

    def _map(self, x, view, scale, shift, tiled=None):
        """The forward pass on ``view`` (None: numpy); ``tiled``: ``(scale, shift)`` already as
        the view's kernels take them (`ChannelView.tile`)."""
        self.x, self.scale, self.shift_shape, self.view = x, scale, shift.shape, view
        if view is None:
            shape = _broadcast_shape(x.ndim, self.axes, lambda a: x.shape[a])
            y = x * scale.reshape(shape) + shift.reshape(shape)
            if self.relu:
                np.maximum(y, 0, out=y)
        elif tiled is not None:
            y = view.affine(view.of(x), *tiled, relu=self.relu, tiled=True)
        else:
            y = view.affine(view.of(x), scale.reshape(-1), shift.reshape(-1), relu=self.relu)
        self.y = y if self.relu else None
        return y.reshape(x.shape)

    def backward(self, grad):
        if self.relu:  # a rare path (gradients at inference): the ReLU's mask in numpy
            grad = grad * (self.y.reshape(grad.shape) > 0)
        view = self.view
        if view is None:
            shape = _broadcast_shape(grad.ndim, self.axes, lambda a: grad.shape[a])
            dx = grad * self.scale.reshape(shape) if self.needs_grad[0] else None
            dscale = (grad * self.x).sum(axis=self.axes).reshape(self.scale.shape)
            dshift = grad.sum(axis=self.axes).reshape(self.shift_shape)
        elif self.needs_grad[1] or self.needs_grad[2]:
            dx, dshift, dscale = view.affine_backward(view.of(grad), view.of(self.x), self.scale.reshape(-1))
            dx = dx.reshape(grad.shape) if self.needs_grad[0] else None
            dscale = dscale.astype(grad.dtype).reshape(self.scale.shape)
            dshift = dshift.astype(grad.dtype).reshape(self.shift_shape)
        else:  # frozen statistics and scale: the input gradient only
            dx = view.affine(view.of(grad), self.scale.reshape(-1), np.zeros(view.channels)).reshape(grad.shape)
            dscale = dshift = None
        return (dx, dscale if self.needs_grad[1] else None, dshift if self.needs_grad[2] else None)


class InferenceBatchNorm(ChannelAffine):
    """Batch normalization with given statistics (inference) as one op on ``(x, gamma, beta,
    mean, variance)``: ``x * scale + shift`` per channel with ``scale = gamma / sqrt(variance +
    epsilon)`` and ``shift = beta - mean * scale`` (one kernel call, `engine.folding.scale_and_shift`,
    in ``x``'s dtype: the bits of the elementwise ops it replaces), on the kernels of
    `ChannelAffine`; with ``relu``, a ReLU after it in the same pass.

    The backward pass gets ``sum(dy * x)`` and ``sum(dy)`` per channel from `ChannelAffine`
    (the gradients of ``scale`` and ``shift``) and takes them back through the two formulas:
    ``dgamma = (dscale - mean * dshift) * inv``, ``dbeta = dshift``, ``dmean = -scale * dshift``,
    ``dvariance = -(dscale - mean * dshift) * gamma * inv**3 / 2`` with ``inv = 1 / sqrt(variance +
    epsilon)``. (It replaces seven recorded ops: an eager call on a (2, 4) input, 40 -> 21 us.)
    """

    name = "batch_normalization_inference"

    def __init__(self, axes: tuple[int, ...], epsilon: float, relu: bool = False):
        super().__init__(axes, relu)
        self.epsilon = epsilon

    def forward(self, x, gamma, beta, mean, variance):
        if not gamma.shape == beta.shape == mean.shape == variance.shape:  # broadcast numbers: made whole
            gamma, beta, mean, variance = (np.ascontiguousarray(a) for a in np.broadcast_arrays(gamma, beta, mean,
                                                                                                variance))
        self.stats = gamma, mean, variance
        engine = _engine()
        view = engine.channel_view(x.shape, self.axes) if x.size else None
        # the scale and shift (one kernel call), repeated for a widened rows view
        tiled = engine.inference_numbers(view, gamma, beta, mean, variance, self.epsilon, x.dtype)
        scale, shift = tiled
        if scale.shape != variance.shape:  # repeated for a widened view, or several kept axes
            size = variance.size
            scale, shift = scale[:size].reshape(variance.shape), shift[:size].reshape(variance.shape)
        return self._map(x, view, scale, shift, tiled if view is not None else None)

    def backward(self, grad):
        need_x, need_gamma, need_beta, need_mean, need_var = self.needs_grad
        need_scale = need_gamma or need_mean or need_var
        need_shift = need_beta or need_mean or need_var
        self.needs_grad = (need_x, need_scale, need_shift)
        dx, dscale, dshift = super().backward(grad)
        if not (need_scale or need_shift):
            return dx, None, None, None, None
        dtype = np.dtype(grad.dtype)
        kind = dtype.type
        gamma, mean, variance = (np.asarray(t, dtype).reshape(-1) for t in self.stats)
        shape, inv = self.scale.shape, kind(1) / np.sqrt(variance + kind(self.epsilon))
        dscale, dshift = dscale.reshape(-1), dshift.reshape(-1)
        dtotal = dscale - mean * dshift  # through scale, directly and through shift
        return (dx,
                (dtotal * inv).reshape(shape) if need_gamma else None,
                dshift.reshape(self.shift_shape) if need_beta else None,
                (-(self.scale.reshape(-1)) * dshift).reshape(shape) if need_mean else None,
                (dtotal * gamma * (kind(-0.5) * inv * inv * inv)).reshape(shape) if need_var else None)


def batch_normalization(x, gamma, beta, axes, epsilon: float, mean=None, variance=None, relu: bool = False,
                        mask=None):
    """Normalizes ``x`` over ``axes`` (every axis but the channel axis, for batch normalization).

    Args:
        x: the input tensor.
        gamma, beta: scale and offset, shaped like the axes that are kept (constants of ones
            and zeros when the layer has none).
        axes: the axes the statistics are taken over.
        epsilon: added to the variance.
        mean, variance: given statistics (inference); when None the batch's are used and
            returned.
        relu: apply a ReLU to the result in the same passes (forward and backward).
        mask: with batch statistics, booleans of ``x``'s shape without its last axis (a
            sequence's steps mask, shape (batch, steps)): the statistics are taken over the
            positions where it is true only (`MaskedBatchNorm`); ignored with given statistics,
            as in Keras.

    Returns:
        ``(y, batch_mean, batch_variance)``; the statistics are raw arrays (None when given).

    Example:
        >>> import numpy as np
        >>> x = np.array([[1.0], [3.0]])
        >>> y, m, v = batch_normalization(x, np.ones(1), np.zeros(1), (0,), 0.0)
        >>> y.data.ravel().tolist(), m.tolist(), v.tolist()
        ([-1.0, 1.0], [2.0], [1.0])
    """
    x = as_tensor(x)
    axes = tuple(sorted(a % x.ndim for a in axes))
    if mean is None:
        op = BatchNorm(axes, epsilon, relu) if mask is None else MaskedBatchNorm(axes, epsilon, mask, relu)
        y = apply(op, x, gamma, beta)
        return y, op.mean, op.var
    return apply(InferenceBatchNorm(axes, epsilon, relu), x, gamma, beta, mean, variance), None, None


def inference_batch_normalization_array(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray,
                                        variance: np.ndarray, axes: tuple[int, ...], epsilon: float,
                                        relu: bool = False) -> np.ndarray:
    """`InferenceBatchNorm`'s forward pass on arrays, with no op made and nothing recorded: an
    eager inference call that no gradient can reach (the layer's, under ``no_grad``). The same
    kernel calls, so the same bits; ``axes`` sorted and non-negative."""
    engine, rows = _modules.get("engine") or _engine(), _modules.get("inference") or _inference()  # no calls
    view = engine.channel_view(x.shape, axes) if x.size else None
    if rows.takes(view, x, gamma, beta, mean, variance):  # one kernel call per thread, numbers and map
        return rows.inference_rows(view, x, gamma, beta, mean, variance, epsilon, relu)
    if view is None or not gamma.shape == beta.shape == mean.shape == variance.shape:
        return InferenceBatchNorm(axes, epsilon, relu).forward(x, gamma, beta, mean, variance)
    tiled = engine.inference_numbers(view, gamma, beta, mean, variance, epsilon, x.dtype)
    return view.affine(view.of(x), *tiled, relu=relu, tiled=True).reshape(x.shape)


def inference_scale_shift(gamma, beta, mean, variance, epsilon: float, dtype):
    """Batch normalization with given statistics as ``x * scale + shift``:
    ``scale = gamma / sqrt(variance + epsilon)``, ``shift = beta - mean * scale`` (tensors of
    ``dtype``, differentiable with respect to all four; one kernel call, in ``dtype``, when no
    gradient is recorded or none of the four needs one: the same bits, nothing recorded)."""
    if not state.grad_mode.is_enabled() or not any(getattr(t, "requires_grad", False)
                                                     for t in (gamma, beta, mean, variance)):
        v = array_of(variance)
        scale, shift = _folding().scale_and_shift(array_of(gamma), array_of(beta), array_of(mean), v, epsilon,
                                                  dtype)  # one kernel call
        return Tensor(scale.reshape(v.shape)), Tensor(shift.reshape(v.shape))
    inv = ew.divide(1.0, ew.sqrt(ew.add(as_tensor(variance, dtype=dtype), epsilon)))
    scale = ew.multiply(as_tensor(gamma, dtype=dtype), inv)
    shift = ew.subtract(as_tensor(beta, dtype=dtype), ew.multiply(as_tensor(mean, dtype=dtype), scale))
    return scale, shift


def fold_affine(kernel, bias, scale, shift) -> tuple[Tensor, Tensor]:
    """``(kernel * scale, bias * scale + shift)`` as new constant tensors (``shift`` alone when
    ``bias`` is None), ``scale`` and ``shift`` along the kernel's last axis: a per-channel affine
    map after a layer folded into its weights, in one kernel call and nothing recorded (for a
    gradient, write it with ops). Arguments: tensors or arrays.

    Example:
        >>> import numpy as np
        >>> k, b = fold_affine(np.ones((2, 2), "float32"), None, np.array([2, 3], "float32"),
        ...                    np.array([1, 0], "float32"))
        >>> k.data.tolist(), b.data.tolist()
        ([[2.0, 3.0], [2.0, 3.0]], [1.0, 0.0])
    """
    folded, folded_bias = _folding().fold(array_of(kernel), array_of(bias), array_of(scale), array_of(shift))
    return Tensor(folded), Tensor(folded_bias)


def update_moving_statistics(moving_mean: np.ndarray, moving_variance: np.ndarray, mean, variance,
                             momentum: float) -> None:
    """``moving = moving * momentum + batch * (1 - momentum)`` for the mean and the variance, in
    place, in one kernel (not an op: the moving statistics take no gradient).

    Example:
        >>> m, v = np.zeros(2, "float32"), np.ones(2, "float32")
        >>> update_moving_statistics(m, v, np.array([1.0, 2.0]), np.array([3.0, 5.0]), 0.5)
        >>> m.tolist(), v.tolist()
        ([0.5, 1.0], [2.0, 3.0])
    """
    _engine().moving_update(moving_mean, moving_variance, mean, variance, momentum)


class ThresholdedRelu(Op):
    """``x`` where ``x > theta``, else 0."""

    name = "thresholded_relu"

    def __init__(self, theta: float):
        self.theta = theta

    def forward(self, x):
        self.mask = x > x.dtype.type(self.theta)
        return np.where(self.mask, x, x.dtype.type(0))

    def backward(self, grad):
        return (grad * self.mask,)


def thresholded_relu(x, theta: float = 1.0):
    """``x`` above ``theta``, zero elsewhere."""
    return apply(ThresholdedRelu(theta), x)
