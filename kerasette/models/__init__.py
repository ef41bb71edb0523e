"""Models: the functional Model, Sequential and subclassed models, with compile / fit /
evaluate / predict, and loading them from files."""

from kerasette.models.model import Model, file_format
from kerasette.models.sequential import Sequential


def load_model(filepath, custom_objects=None, compile=True, flip_kernels=None):  # noqa: A002 - Keras's name
    """Loads a model saved by `Model.save` (or by Keras) from an HDF5 file.

    ``flip_kernels`` forces (True) or skips (False) flipping Theano-trained convolution kernels;
    None decides from the file, with a warning when it flips.
    """
    return file_format().load_model(filepath, custom_objects=custom_objects, compile=compile, flip_kernels=flip_kernels)


def model_from_json(json_string: str, custom_objects=None):
    """A model (untrained weights) from `Model.to_json`'s output."""
    return file_format().model_from_json(json_string, custom_objects=custom_objects)


def model_from_config(config: dict, custom_objects=None):
    """A model from ``{'class_name', 'config'}``."""
    return file_format().model_from_config(config, custom_objects=custom_objects)


__all__ = ["Model", "Sequential", "load_model", "model_from_config", "model_from_json"]
