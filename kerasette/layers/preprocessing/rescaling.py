"""Rescaling: ``inputs * scale + offset`` (Keras 3's ``keras.layers.Rescaling``)."""

from __future__ import annotations

import numpy as np

from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer


@keras_layer()
class Rescaling(Layer):
    """Multiplies its input by ``scale`` and adds ``offset``: ``Rescaling(1 / 255)`` maps 0..255 to
    0..1, ``Rescaling(1 / 127.5, offset=-1)`` to -1..1. Any rank; both may be floats or arrays
    that broadcast against the input (a value per channel, say).

    Example:
        >>> import numpy as np
        >>> Rescaling(0.5, offset=1.0)(np.array([[2.0, 4.0]], "float32")).data.tolist()
        [[2.0, 3.0]]
    """

    supports_masking = True  # Keras 3: passes its input's mask on

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("scale", scale), ("offset", offset)):
            try:
                np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"Rescaling '{self.name}': argument `{name}` must be a number or an array of "
                                 f"numbers; received {name}={value!r}") from None
        self.scale, self.offset = scale, offset

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def layout_free(self) -> bool:
        return np.ndim(self.scale) == 0 and np.ndim(self.offset) == 0

    def call(self, inputs):
        scale = np.asarray(self.scale, inputs.dtype)
        offset = np.asarray(self.offset, inputs.dtype)
        return inputs * scale + offset if np.any(offset) else inputs * scale

    def get_config(self):
        listed = {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v)
                  for k, v in (("scale", self.scale), ("offset", self.offset))}
        return {**super().get_config(), **listed}
