"""Array helpers for preparing data."""

from __future__ import annotations

import warnings

import numpy as np


def to_categorical(y, num_classes: int | None = None, dtype: str = "float32", **kwargs) -> np.ndarray:
    """One-hot encodes integer class labels.

    Args:
        y: integer labels of any shape (a trailing axis of size 1 is dropped, as Keras does).
        num_classes: number of classes; ``max(y) + 1`` when omitted (Keras 1: ``nb_classes``,
            accepted with a DeprecationWarning).
        dtype: dtype of the result.

    Example:
        >>> to_categorical([0, 2], 3)
        array([[1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    if "nb_classes" in kwargs:
        nb_classes = kwargs.pop("nb_classes")
        if num_classes is not None:
            raise TypeError("to_categorical: received both `num_classes` and its Keras 1 name `nb_classes`; "
                            "pass only `num_classes`")
        warnings.warn("to_categorical: `nb_classes` is the Keras 1 name; use `num_classes`",
                      DeprecationWarning, stacklevel=2)
        num_classes = nb_classes
    if kwargs:
        raise TypeError(f"to_categorical: unexpected keyword argument(s) {sorted(kwargs)}")
    y = np.asarray(y)
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("to_categorical: labels must be integers; received non-integer values")
        y = y.astype("int64")
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0; received {y.min()}")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif y.size and y.max() >= num_classes:
        raise ValueError(
            f"to_categorical: label {int(y.max())} does not fit num_classes={num_classes}"
        )
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, y[..., None].astype(np.int64), 1, axis=-1)
    return out


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray:
    """Scales ``x`` to unit ``order``-norm along ``axis``."""
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)
