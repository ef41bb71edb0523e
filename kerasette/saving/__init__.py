"""Checkpoints in Keras's HDF5 format, read and written both ways between kerasette and Keras.

Example:
    >>> import os, tempfile
    >>> from kerasette.models import Sequential
    >>> from kerasette.layers import Dense
    >>> model = Sequential([Dense(2, input_dim=3)])
    >>> path = os.path.join(tempfile.mkdtemp(), 'model.h5')
    >>> save_model(model, path)
    >>> load_model(path).output_shape
    (None, 2)
"""

from kerasette.registry import (
    custom_object_scope,
    get_custom_objects,
    register_keras_serializable,
    register_serializable,
)
from kerasette.saving.api import (
    load_model,
    load_training_state,
    load_weights,
    read_checkpoint,
    save_model,
    save_weights,
)
from kerasette.saving.errors import CheckpointError
from kerasette.saving.model_config import model_from_config, model_from_json

__all__ = [
    "CheckpointError", "custom_object_scope", "get_custom_objects", "load_model", "load_training_state",
    "load_weights",
    "model_from_config", "model_from_json", "read_checkpoint", "register_keras_serializable",
    "register_serializable", "save_model", "save_weights",
]
