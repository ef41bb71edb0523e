"""Masking (Keras 1/2 path ``keras.layers.core``): marks the steps to skip in a sequence."""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from kerasette.backend.tensor import Tensor
from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer


@keras_layer()
class Masking(Layer):
    """Masks the steps whose features all equal ``mask_value``.

    For inputs (batch, steps, features) the mask (batch, steps) is False at a step whose every
    feature equals ``mask_value``; layers that take a mask (the recurrent layers) skip those
    steps. The output is the input with the masked steps set to 0.

    Args:
        mask_value: the value marking padding (default 0).

    Example:
        >>> import numpy as np
        >>> x = np.array([[[1.0, 2.0], [0.0, 0.0]]], "float32")
        >>> Masking().compute_mask(x)
        array([[ True, False]])
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self.supports_masking = True

    def _keep(self, inputs) -> np.ndarray:
        values = np.asarray(inputs.data if isinstance(inputs, Tensor) else inputs)
        return np.any(values != self.mask_value, axis=-1)

    def call(self, inputs):
        keep = self._keep(inputs)
        return ops.multiply(inputs, keep[..., None].astype(inputs.dtype))

    def compute_mask(self, inputs, mask=None):
        return self._keep(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        value = self.mask_value
        return {**super().get_config(), "mask_value": float(value) if np.ndim(value) == 0 else value}
