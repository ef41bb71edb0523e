"""UnitNormalization: each sample scaled to unit Euclidean norm over some axes."""

from __future__ import annotations

from kerasette.backend.ops.sample_normalization import l2_normalize
from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer
from kerasette.layers.normalization.common import normalize_axes
from kerasette.utils.validation import shape_str

#: the floor of the norm (Keras's ``ops.normalize(..., epsilon=1e-12)``)
EPSILON = 1e-12


@keras_layer()
class UnitNormalization(Layer):
    """Divides each sample by its L2 norm over ``axis``: ``x / max(sqrt(sum(x ** 2)), 1e-12)``,
    so that along those axes the values have norm 1 (an all-zero slice stays zero). It has no
    weights and computes the same in training and inference.

    Args:
        axis: the axis or list of axes the norm is taken over (default the last).

    Example:
        >>> import numpy as np
        >>> UnitNormalization()(np.array([[3.0, 4.0]], "float32")).data.tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """

    supports_masking = True  # Keras 3: passes its input's mask on

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = normalize_axes(self, axis)
        self._list = not isinstance(axis, int)  # written back as given: an int or a list

    def build(self, input_shape):
        ndim = len(input_shape)
        for a in self.axis:
            if not -ndim <= a < ndim:
                raise ValueError(f"UnitNormalization '{self.name}': `axis` must name axes of the input; "
                                 f"received axis={self.axis if self._list else self.axis[0]} for input shape "
                                 f"{shape_str(input_shape)}")
        self._ndim, self._axes = ndim, sorted({a % ndim for a in self.axis})
        self.built = True

    def call(self, inputs):
        return l2_normalize(inputs, self.axis, EPSILON)

    def runs_channels_last(self) -> bool:
        # a channels-first image normalized over its channels: the channels-last tensor's last axis
        return self._ndim == 4 and self._axes == [1]

    def call_channels_last(self, x, training=False, activation=None):
        return l2_normalize(x, -1, EPSILON)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": list(self.axis) if self._list else self.axis[0]}
