"""BatchNormalization (Keras 1: ``keras.layers.normalization.BatchNormalization``).

Batch normalization in training normalizes with the batch's mean and (biased) variance and moves
the stored statistics toward them in the same step, as Keras 3 does::

    moving_mean = moving_mean * momentum + batch_mean * (1 - momentum)
    moving_variance = moving_variance * momentum + batch_variance * (1 - momentum)

With a mask (a sequence's, after ``Embedding(mask_zero=True)`` or ``Masking``: one axis fewer
than the input), the batch statistics in training are taken over the unmasked positions only
and the moving statistics move toward those; every position is still normalized (Keras 3's rule).

In inference, and whenever the layer is frozen (``trainable=False``, as in Keras 2.1.3+), it uses
the stored statistics. A ReLU right after it (``Activation('relu')``, as in residual networks)
runs inside its passes (`fuses`).
"""

from __future__ import annotations

import numpy as np

from kerasette import activations, initializers
from kerasette.backend import ops, state
from kerasette.backend.ops.normalization import (
    BatchNorm,
    inference_batch_normalization_array,
    inference_scale_shift,
    update_moving_statistics,
)
from kerasette.backend.tensor import Tensor
from kerasette.layers.core import reject_unsupported
from kerasette.layers.input_spec import InputSpec
from kerasette.layers.legacy import keras_layer
from kerasette.layers.normalization.common import ScaleAndOffset, check_fraction, normalize_axes, resolve_axes


@keras_layer(keras1={"beta_init": "beta_initializer", "gamma_init": "gamma_initializer"})
class BatchNormalization(ScaleAndOffset):
    """Normalizes each channel with batch statistics in training and moving ones in inference.

    Args:
        axis: the channel axis (or axes) to keep; statistics are taken over all the others.
            -1 for channels-last images, 1 for channels-first.
        momentum: of the moving averages, in [0, 1).
        epsilon: added to the variance (> 0).
        center, scale: whether to learn the offset ``beta`` and the scale ``gamma``.
        beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer:
            initializers of the four weights (Keras 1: ``beta_init``, ``gamma_init``).
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: penalties added
            to the training loss and projections applied after each update (see
            `kerasette.regularizers`, `kerasette.constraints`).
        mode: Keras 1's mode; only 0 (feature-wise normalization) is supported.

    Weights, in Keras's order: ``gamma``, ``beta`` (trainable), ``moving_mean``,
    ``moving_variance`` (not trainable).

    Example:
        >>> import numpy as np
        >>> bn = BatchNormalization(momentum=0.5)
        >>> y = bn(np.array([[1.0], [3.0]], "float32"), training=True)
        >>> bn.moving_mean.data.tolist(), bn.moving_variance.data.tolist()
        ([1.0], [1.0])
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, synchronized=False, mode=0, renorm=False,
                 renorm_clipping=None, renorm_momentum=0.99, fused=None, virtual_batch_size=None,
                 adjustment=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = normalize_axes(self, axis)
        self.momentum = check_fraction(self, "momentum", momentum, low_open=False)
        self.epsilon = check_fraction(self, "epsilon", epsilon, low_open=True)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self._init_penalties(beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint)
        reject_unsupported(self, renorm_clipping=renorm_clipping, virtual_batch_size=virtual_batch_size,
                           adjustment=adjustment)
        if mode != 0:
            raise ValueError(f"BatchNormalization '{self.name}': only Keras 1's mode=0 (feature-wise "
                             f"normalization) is supported; received mode={mode!r}")
        if renorm:
            raise ValueError(f"BatchNormalization '{self.name}': batch renormalization is not supported; "
                             f"received renorm={renorm!r}")
        self.synchronized = bool(synchronized)  # one process's batch is the batch: nothing to synchronize
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        axes = resolve_axes(self, self.axis, input_shape)
        shape = tuple(input_shape[a] for a in axes)
        self.gamma = self.add_weight(name="gamma", shape=shape, initializer=self.gamma_initializer,
                                     regularizer=self.gamma_regularizer, constraint=self.gamma_constraint) \
            if self.scale else None
        self.beta = self.add_weight(name="beta", shape=shape, initializer=self.beta_initializer,
                                    regularizer=self.beta_regularizer, constraint=self.beta_constraint) \
            if self.center else None
        self.moving_mean = self.add_weight(name="moving_mean", shape=shape,
                                           initializer=self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=shape,
                                               initializer=self.moving_variance_initializer, trainable=False)
        self._ndim, self._axes = len(input_shape), axes
        self.__dict__.pop("_reduce", None)  # `_reduced` works it out again for these axes
        self.input_spec = InputSpec(ndim=len(input_shape), axes={a: input_shape[a] for a in axes},
                                    axis_names={a: "normalized axis" for a in axes})
        self.built = True

    def run(self, inputs, training=False, mask=None, **kwargs):
        own = self.__dict__
        if mask is None and not kwargs and isinstance(inputs, Tensor) and type(self).call is BatchNormalization.call \
                and not own.get("_call_losses") and not own.get("_sublayers"):
            # `Layer.run`'s bookkeeping is for calls that may add losses or take masks; none here.
            # Each Python call after a map of megabytes runs on cold caches: few of them
            x = inputs.data
            if x.shape != own.get("_accepted_shape"):
                self.check_input_once(x.shape)
            if training and self.trainable:
                y = self._train(inputs, own.get("_reduce") or self._reduced(), False)
                return y if y is not None else self._normalize(inputs, own.get("_reduce") or self._reduced(), True)
            if not state.grad_mode.is_enabled():  # eager inference with nothing recorded: `_infer` written out
                gamma, beta, mean = self.gamma, self.beta, self.moving_mean
                return Tensor.of_array(inference_batch_normalization_array(
                    x, gamma.data if gamma is not None else np.ones(mean.shape, x.dtype),
                    beta.data if beta is not None else np.zeros(mean.shape, x.dtype), mean.data,
                    self.moving_variance.data, own.get("_reduce") or self._reduced(), self.epsilon, False))
        return super().run(inputs, training, mask, **kwargs)

    def call(self, inputs, training=None, mask=None):
        return self._normalize(inputs, self._reduced(), training, mask=self._check_mask(inputs, mask))

    def fuses(self, activation) -> bool:
        return activation is activations.relu

    def call_with_activation(self, inputs, activation, training=False, mask=None):
        if training and self.trainable and mask is None:
            y = self._train(inputs, self.__dict__.get("_reduce") or self._reduced(), activation is activations.relu)
            if y is not None:
                return y
        return self._normalize(inputs, self._reduced(), training, relu=activation is activations.relu,
                               mask=self._check_mask(inputs, mask))

    def _check_mask(self, inputs, mask):
        """The input's mask as a boolean array, checked against Keras's rule (one axis fewer
        than the input: it covers every axis but the last), or None."""
        if mask is None:
            return None
        mask = np.asarray(getattr(mask, "data", mask))
        if mask.ndim != inputs.ndim - 1 or mask.shape != tuple(inputs.shape[:-1]):
            raise ValueError(f"BatchNormalization '{self.name}': the mask must have the input's shape "
                             f"without its last axis; received mask of shape {mask.shape} for an input "
                             f"of shape {tuple(inputs.shape)}")
        return mask.astype(bool, copy=False)

    def runs_channels_last(self) -> bool:
        # a channels-first image normalized per channel: the same on the channels-last tensor
        return self._ndim == 4 and self._axes == [1]

    def call_channels_last(self, x, training=False, activation=None):
        return self._normalize(x, (0, 1, 2), training, relu=activation is activations.relu)

    def _reduced(self) -> tuple[int, ...]:
        """The axes the statistics are taken over (every axis of the built input but the kept
        ones), sorted; worked out once."""
        reduce = self.__dict__.get("_reduce")
        if reduce is None:
            reduce = self.__dict__["_reduce"] = tuple(a for a in range(self._ndim) if a not in self._axes)
        return reduce

    def _normalize(self, x, reduce, training, relu=False, mask=None):
        shape = self.moving_mean.shape
        gamma = self.gamma if self.gamma is not None else np.ones(shape, x.dtype)
        beta = self.beta if self.beta is not None else np.zeros(shape, x.dtype)
        if training and self.trainable:
            if mask is None:
                y = self._train(x, reduce, relu)
                if y is not None:
                    return y
            y, mean, var = ops.batch_normalization(x, gamma, beta, reduce, self.epsilon, relu=relu, mask=mask)
            update_moving_statistics(self.moving_mean.data, self.moving_variance.data, mean, var,
                                     self.momentum)
            return y
        if not state.grad_mode.is_enabled() and isinstance(x, Tensor):  # eager, nothing recorded: no op
            return self._infer(x.data, reduce, relu)
        # the moving statistics as they are: variables that take no gradient, wrapped by nothing
        y, _, _ = ops.batch_normalization(x, gamma, beta, reduce, self.epsilon, self.moving_mean,
                                          self.moving_variance, relu=relu)
        return y

    def _train(self, x, reduce: tuple[int, ...], relu: bool) -> Tensor | None:
        """Training without a mask on a tensor, with ``gamma`` and ``beta``: `ops.batch_normalization`'s
        op run and recorded as `apply` does it (``reduce`` sorted and non-negative), the moving
        statistics updated by the op; None for other calls (`_normalize` takes them)."""
        gamma, beta = self.gamma, self.beta
        if not (isinstance(x, Tensor) and isinstance(gamma, Tensor) and isinstance(beta, Tensor)):
            return None
        op = BatchNorm(reduce, self.epsilon, relu, (self.moving_mean.data, self.moving_variance.data, self.momentum))
        y = Tensor.of_array(op.forward(x.data, gamma.data, beta.data))  # (the moving statistics updated)
        if state.grad_mode.is_enabled():
            needs = (x.requires_grad, gamma.requires_grad, beta.requires_grad)
            if True in needs:
                op.needs_grad, y._op, y._inputs, y.requires_grad = needs, op, (x, gamma, beta), True
        return y

    def _infer(self, x: np.ndarray, reduce: tuple[int, ...], relu: bool) -> Tensor:
        """Inference on the array ``x`` with nothing recorded: the kernels of the op, without it."""
        gamma, beta = self.gamma, self.beta
        return Tensor.of_array(inference_batch_normalization_array(
            x, gamma.data if gamma is not None else np.ones(self.moving_mean.shape, x.dtype),
            beta.data if beta is not None else np.zeros(self.moving_mean.shape, x.dtype), self.moving_mean.data,
            self.moving_variance.data, reduce, self.epsilon, relu))

    def inference_affine_axis(self) -> tuple[int, int] | None:
        """``(axis, ndim)`` when in inference this layer is ``x * scale + shift`` along one axis
        of its ``ndim``-dimensional input (in the layer's own layout), else None (several kept
        axes). A fact for the model planner, which folds the map into the layer before."""
        return (self._axes[0], self._ndim) if len(self._axes) == 1 else None

    def inference_affine(self):
        """``(scale, shift)`` of inference, per channel, from the current weights:
        ``scale = gamma / sqrt(moving_variance + epsilon)``, ``shift = beta - moving_mean * scale``
        (tensors; differentiable with respect to ``gamma`` and ``beta``)."""
        shape = self.moving_mean.shape
        dtype = self.moving_mean.dtype
        gamma = self.gamma if self.gamma is not None else np.ones(shape, dtype)
        beta = self.beta if self.beta is not None else np.zeros(shape, dtype)
        return inference_scale_shift(gamma, beta, self.moving_mean, self.moving_variance, self.epsilon, dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        axis = self.axis[0] if len(self.axis) == 1 else list(self.axis)
        return {**super().get_config(), "axis": axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
                **self._penalties_config(), "synchronized": self.synchronized}
