"""kerasette: a Keras-style deep-learning library on numpy and numba.

Example:
    >>> from kerasette.models import Sequential
    >>> from kerasette.layers import Dense
    >>> model = Sequential([Dense(10, activation='softmax', input_dim=64)])
    >>> model.count_params()
    650
"""

from kerasette import backend, layers, models
from kerasette.keras_alias import install_keras_alias, uninstall_keras_alias
from kerasette.version import __version__

__all__ = ["__version__", "backend", "install_keras_alias", "layers", "models", "uninstall_keras_alias"]
