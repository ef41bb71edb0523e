"""Keras 1's name for `kerasette.losses` (``from keras.objectives import categorical_crossentropy``)."""

from kerasette.losses import *  # noqa: F403 - the same names, for Keras 1 scripts
from kerasette.losses import get, serialize  # noqa: F401
