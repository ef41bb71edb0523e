"""The normalization layers, one module each (Keras 1 module path ``keras.layers.normalization``)."""

from kerasette.layers.normalization.batch_normalization import BatchNormalization
from kerasette.layers.normalization.group_normalization import GroupNormalization
from kerasette.layers.normalization.layer_normalization import LayerNormalization
from kerasette.layers.normalization.unit_normalization import UnitNormalization

__all__ = ["BatchNormalization", "GroupNormalization", "LayerNormalization", "UnitNormalization"]
