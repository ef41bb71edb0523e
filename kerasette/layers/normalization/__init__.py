"""The normalization layers, one module each (Keras 1 module path ``keras.layers.normalization``)."""

from kerasette.layers.normalization.batch_normalization import BatchNormalization
from kerasette.layers.normalization.layer_normalization import LayerNormalization

__all__ = ["BatchNormalization", "LayerNormalization"]
