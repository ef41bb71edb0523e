"""LayerNormalization: each sample normalized over its own axes."""

from __future__ import annotations

from kerasette import initializers
from kerasette.backend import ops
from kerasette.layers.core import reject_unsupported
from kerasette.layers.input_spec import InputSpec
from kerasette.layers.legacy import keras_layer
from kerasette.layers.normalization.common import ScaleAndOffset, normalize_axes, resolve_axes


@keras_layer()
class LayerNormalization(ScaleAndOffset):
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
        self.axis = normalize_axes(self, axis)
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
        self._axes = resolve_axes(self, self.axis, input_shape)
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
