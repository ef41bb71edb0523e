"""Helpers: shape arithmetic, argument validation, to_categorical, Sequence."""

from kerasette.utils.np_utils import normalize, to_categorical
from kerasette.utils.sequence import PyDataset, Sequence

__all__ = ["PyDataset", "Sequence", "normalize", "to_categorical"]
