"""BatchNormalization and LayerNormalization (Keras 1 module path ``keras.layers.normalization``).

Batch normalization in training normalizes with the batch's mean and (biased) variance and moves
the stored statistics toward them in the same step, as Keras 3 does::

    moving_mean = moving_mean * momentum + batch_mean * (1 - momentum)
    moving_variance = moving_variance * momentum + batch_variance * (1 - momentum)

In inference, and whenever the layer is frozen (``trainable=False``, as in Keras 2.1.3+), it uses
the stored statistics.
"""

from __future__ import annotations

import numpy as np

from kerasette import constraints, initializers, regularizers
from kerasette.backend import ops
from kerasette.layers.base import Layer
from kerasette.layers.core import reject_unsupported
from kerasette.layers.input_spec import InputSpec
from kerasette.layers.legacy import keras_layer
from kerasette.utils.validation import shape_str


def _normalize_axes(layer, axis) -> list[int]:
    axes = [axis] if isinstance(axis, int) else list(axis) if isinstance(axis, (list, tuple)) else None
    if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': `axis` must be an int or a list of ints; "
                         f"received axis={axis!r}")
    return axes


def _resolve_axes(layer, axes: list[int], input_shape) -> list[int]:
    """``axes`` as non-negative axes of ``input_shape``; each must exist, be known and not be the batch."""
    ndim = len(input_shape)
    resolved = []
    for a in axes:
        if not -ndim <= a < ndim or a % ndim == 0 or input_shape[a % ndim] is None:
            raise ValueError(
                f"{type(layer).__name__} '{layer.name}': axis {a} must be a non-batch axis of known size of the "
                f"input; received input shape {shape_str(input_shape)}")
        resolved.append(a % ndim)
    return sorted(resolved)


def _check_fraction(layer, name: str, value, low_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            (0 < value if low_open else 0 <= value) and (value < 1 if not low_open else True)):
        rule = "a number > 0" if low_open else "a number in [0, 1)"
        raise ValueError(f"{type(layer).__name__} '{layer.name}': `{name}` must be {rule}; received {name}={value!r}")
    return float(value)


class _ScaleAndOffset(Layer):
    """The regularizers and constraints of ``gamma`` and ``beta``, shared by the normalizations."""

    def _init_penalties(self, beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint) -> None:
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def _penalties_config(self) -> dict:
        return {"beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}


@keras_layer(keras1={"beta_init": "beta_initializer", "gamma_init": "gamma_initializer"})
class BatchNormalization(_ScaleAndOffset):
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
        self.axis = _normalize_axes(self, axis)
        self.momentum = _check_fraction(self, "momentum", momentum, low_open=False)
        self.epsilon = _check_fraction(self, "epsilon", epsilon, low_open=True)
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
        axes = _resolve_axes(self, self.axis, input_shape)
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
        self.input_spec = InputSpec(ndim=len(input_shape), axes={a: input_shape[a] for a in axes},
                                    axis_names={a: "normalized axis" for a in axes})
        self.built = True

    def call(self, inputs, training=None):
        return self._normalize(inputs, self._axes, training)

    def runs_channels_last(self) -> bool:
        # a channels-first image normalized per channel: the same on the channels-last tensor
        return self._ndim == 4 and self._axes == [1]

    def call_channels_last(self, x, training=False, activation=None):
        return self._normalize(x, [3], training)

    def _normalize(self, x, channel_axes, training):
        reduce = tuple(a for a in range(x.ndim) if a not in channel_axes)
        shape = self.moving_mean.shape
        gamma = self.gamma if self.gamma is not None else np.ones(shape, x.dtype)
        beta = self.beta if self.beta is not None else np.zeros(shape, x.dtype)
        if training and self.trainable:
            y, mean, var = ops.batch_normalization(x, gamma, beta, reduce, self.epsilon)
            m = self.momentum
            self.moving_mean.assign((self.moving_mean.data * m + mean * (1 - m)).astype(self.moving_mean.dtype))
            self.moving_variance.assign(
                (self.moving_variance.data * m + var * (1 - m)).astype(self.moving_variance.dtype))
            return y
        y, _, _ = ops.batch_normalization(x, gamma, beta, reduce, self.epsilon,
                                          self.moving_mean.data, self.moving_variance.data)
        return y

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


@keras_layer()
class LayerNormalization(_ScaleAndOffset):
    """Normalizes each sample over ``axis`` with its own mean and variance, then scales and shifts.

    Args:
        axis: the axis or axes to normalize over (default the last).
        epsilon: added to the variance (> 0).
        center, scale: whether to learn ``beta`` and ``gamma`` (shaped like the normalized axes).
        beta_initializer, gamma_initializer: their initializers.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: as in
            `BatchNormalization`.
        rms_scaling: not supported yet (False only).

    Example:
        >>> import numpy as np
        >>> LayerNormalization(epsilon=0.0)(np.array([[1.0, 3.0]], "float32")).data.tolist()
        [[-1.0, 1.0]]
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = _normalize_axes(self, axis)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(f"LayerNormalization '{self.name}': `epsilon` must be a number >= 0; "
                             f"received epsilon={epsilon!r}")
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self._init_penalties(beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint)
        reject_unsupported(self, rms_scaling=rms_scaling or None)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        self._axes = _resolve_axes(self, self.axis, input_shape)
        shape = tuple(input_shape[a] for a in self._axes)
        self._broadcast = tuple(input_shape[a] if a in self._axes else 1 for a in range(1, len(input_shape)))
        self.gamma = self.add_weight(name="gamma", shape=shape, initializer=self.gamma_initializer,
                                     regularizer=self.gamma_regularizer, constraint=self.gamma_constraint) \
            if self.scale else None
        self.beta = self.add_weight(name="beta", shape=shape, initializer=self.beta_initializer,
                                    regularizer=self.beta_regularizer, constraint=self.beta_constraint) \
            if self.center else None
        self.input_spec = InputSpec(ndim=len(input_shape), axes={a: input_shape[a] for a in self._axes},
                                    axis_names={a: "normalized axis" for a in self._axes})
        self.built = True

    def call(self, inputs):
        axes = tuple(self._axes)
        centered = ops.subtract(inputs, ops.mean(inputs, axis=axes, keepdims=True))
        variance = ops.mean(ops.square(centered), axis=axes, keepdims=True)
        y = ops.divide(centered, ops.sqrt(ops.add(variance, self.epsilon)))
        if self.gamma is not None:
            y = ops.multiply(y, ops.reshape(self.gamma, self._broadcast))
        if self.beta is not None:
            y = ops.add(y, ops.reshape(self.beta, self._broadcast))
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        axis = self.axis[0] if len(self.axis) == 1 else list(self.axis)
        return {**super().get_config(), "axis": axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": False,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                **self._penalties_config()}
