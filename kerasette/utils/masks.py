"""Masks (Keras's ``_keras_mask``: booleans over a sequence's batch and steps) lined up with the
loss and metric values they select."""

from __future__ import annotations

import numpy as np


def align_mask(mask, shape: tuple, what: str) -> np.ndarray:
    """``mask`` (booleans, batch and steps) as an array over the leading axes of ``shape`` (the
    loss or metric values it masks); a ValueError when it does not match them."""
    keep = np.asarray(getattr(mask, "data", mask)).astype(bool, copy=False)
    if keep.ndim == len(shape) + 1 and keep.shape[-1] == 1:
        keep = keep[..., 0]
    if keep.ndim > len(shape) or keep.shape != tuple(shape[:keep.ndim]):
        raise ValueError(f"The output's mask of shape {keep.shape} does not match the {what} values of shape "
                         f"{tuple(shape)}: a mask marks samples and steps, the leading axes of the values (one value "
                         "per sample and step: give each step its own prediction, e.g. with return_sequences=True "
                         "and TimeDistributed)")
    return keep
