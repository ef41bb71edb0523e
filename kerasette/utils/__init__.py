"""Helpers: shape arithmetic, argument validation, to_categorical."""

from kerasette.utils.np_utils import normalize, to_categorical

__all__ = ["normalize", "to_categorical"]
