"""Keras 2's ``keras.preprocessing`` paths: ``image``, ``sequence`` and ``text``, plus Keras 3's
``keras.preprocessing`` data set functions.

The submodules are imported when first used (``kerasette.preprocessing.text``,
``from kerasette.preprocessing.image import ImageDataGenerator``), so each costs nothing until
then and the image part does not load for text work.
"""

import importlib

_SUBMODULES = ("image", "sequence", "text")
_FUNCTIONS = {
    "image_dataset_from_directory": "kerasette.utils.image_dataset",
    "text_dataset_from_directory": "kerasette.utils.text_dataset",
    "timeseries_dataset_from_array": "kerasette.utils.timeseries",
}

__all__ = sorted(_SUBMODULES + tuple(_FUNCTIONS))


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(_FUNCTIONS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
