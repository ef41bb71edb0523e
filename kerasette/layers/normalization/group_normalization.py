"""GroupNormalization: each sample normalized per group of channels (Wu & He, 2018)."""

from __future__ import annotations

import math

from kerasette import initializers
from kerasette.backend.ops.sample_normalization import group_normalization
from kerasette.layers.input_spec import InputSpec
from kerasette.layers.legacy import keras_layer
from kerasette.layers.normalization.common import ScaleAndOffset, resolve_axes
from kerasette.utils.validation import shape_str


@keras_layer()
class GroupNormalization(ScaleAndOffset):
    """Splits the channels into ``groups`` groups of consecutive channels and normalizes each
    sample's group with its own mean and (biased) variance, taken over the group's channels and
    every other non-batch axis (the rows and columns of an image); then scales by ``gamma`` and
    shifts by ``beta``, one value per channel::

        y = (x - mean) / sqrt(variance + epsilon) * gamma + beta

    It does not depend on the batch: training and inference compute the same. ``groups=1`` is
    layer normalization over all the non-batch axes, ``groups=-1`` (one channel per group)
    instance normalization.

    Args:
        groups: the number of groups, a divisor of the number of channels, or -1 for as many
            groups as channels (then, as in Keras, the config records the resolved number once
            the layer is built).
        axis: the channel axis (an int, not the batch axis): -1 for channels-last, 1 for
            channels-first.
        epsilon: added to the variance (>= 0).
        center, scale: whether to learn ``beta`` and ``gamma`` (shape (channels,)).
        beta_initializer, gamma_initializer: their initializers.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: as in
            `BatchNormalization`.

    Weights, in Keras's order: ``gamma``, ``beta``.

    Example:
        >>> import numpy as np
        >>> layer = GroupNormalization(groups=2, epsilon=0.0)
        >>> layer(np.array([[1.0, 3.0, 10.0, 20.0]], "float32")).data.tolist()
        [[-1.0, 1.0, -1.0, 1.0]]
    """

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(groups, bool) or not isinstance(groups, int) or (groups <= 0 and groups != -1):
            raise ValueError(f"GroupNormalization '{self.name}': `groups` must be a positive int (or -1 for one "
                             f"group per channel); received groups={groups!r}")
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"GroupNormalization '{self.name}': `axis` must be an int (the channel axis); "
                             f"received axis={axis!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not math.isfinite(epsilon) \
                or epsilon < 0:
            raise ValueError(f"GroupNormalization '{self.name}': `epsilon` must be a number >= 0; "
                             f"received epsilon={epsilon!r}")
        self.groups, self.axis, self.epsilon = groups, axis, float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self._init_penalties(beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        (axis,) = resolve_axes(self, [self.axis], input_shape)
        channels = input_shape[axis]
        groups = channels if self.groups == -1 else self.groups
        if groups > channels or channels % groups:
            raise ValueError(f"GroupNormalization '{self.name}': the number of channels must be a multiple of "
                             f"`groups`; received groups={groups} for {channels} channels on axis {self.axis} "
                             f"(input shape {shape_str(input_shape)})")
        self.groups = groups
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer=self.gamma_initializer,
                                     regularizer=self.gamma_regularizer, constraint=self.gamma_constraint) \
            if self.scale else None
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer=self.beta_initializer,
                                    regularizer=self.beta_regularizer, constraint=self.beta_constraint) \
            if self.center else None
        self._ndim, self._axis = len(input_shape), axis
        self.input_spec = InputSpec(ndim=len(input_shape), axes={axis: channels}, axis_names={axis: "channels"})
        self.built = True

    def call(self, inputs):
        return group_normalization(inputs, self.gamma, self.beta, self.groups, self._axis, self.epsilon)

    def runs_channels_last(self) -> bool:
        # a channels-first image normalized per group of channels: the same on the channels-last tensor
        return self._ndim == 4 and self._axis == 1

    def call_channels_last(self, x, training=False, activation=None):
        return group_normalization(x, self.gamma, self.beta, self.groups, 3, self.epsilon)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                **self._penalties_config()}
