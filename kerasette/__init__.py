"""kerasette: a Keras-style deep-learning library on numpy and numba.

Example:
    >>> from kerasette.models import Sequential
    >>> from kerasette.layers import Dense
    >>> model = Sequential([Dense(10, activation='softmax', input_dim=64)])
    >>> model.count_params()
    650
"""

import importlib

from kerasette import backend, layers, models
from kerasette.keras_alias import install_keras_alias, uninstall_keras_alias
from kerasette.version import __version__

#: the other subpackages, imported on first use (``kerasette.applications.VGG16`` after
#: ``import kerasette``, as ``keras.applications`` works after ``import keras``)
_LAZY = ("activations", "applications", "callbacks", "constraints", "datasets", "initializers", "losses", "metrics",
         "optimizers", "preprocessing", "regularizers", "saving", "utils")

__all__ = ["__version__", "backend", "install_keras_alias", "layers", "models", "uninstall_keras_alias", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
