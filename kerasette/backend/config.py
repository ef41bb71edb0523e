"""Global backend settings: float type, fuzz factor and image data format.

The image data format is a default that layers read when they are built without an explicit
``data_format``; the engine itself always works channels-last.
"""

from __future__ import annotations

import warnings

import numpy as np

from kerasette.backend import state

_DIM_ORDERINGS = {"tf": "channels_last", "th": "channels_first"}


def floatx() -> str:
    """The default float type as a string, ``'float32'`` unless changed with `set_floatx`."""
    return state.config.floatx


def set_floatx(value: str) -> None:
    """Sets the default float type (``'float16'``, ``'float32'`` or ``'float64'``)."""
    if value not in ("float16", "float32", "float64"):
        raise ValueError(
            f"set_floatx: expected 'float16', 'float32' or 'float64'; received {value!r}"
        )
    state.config.floatx = value


def epsilon() -> float:
    """The fuzz factor used in numeric expressions (1e-7 as in Keras)."""
    return state.config.epsilon


def set_epsilon(value: float) -> None:
    """Sets the fuzz factor."""
    state.config.epsilon = float(value)


def image_data_format() -> str:
    """The default image layout: ``'channels_last'`` or ``'channels_first'``."""
    return state.config.image_data_format


def set_image_data_format(data_format: str) -> None:
    """Sets the default image layout for layers created afterwards.

    Example:
        >>> import kerasette.backend as K
        >>> K.set_image_data_format('channels_first'); K.image_data_format()
        'channels_first'
        >>> K.set_image_data_format('channels_last')
    """
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "set_image_data_format: expected 'channels_last' or 'channels_first'; "
            f"received {data_format!r}"
        )
    state.config.image_data_format = data_format


def image_dim_ordering() -> str:
    """Keras 1 name of the image layout: ``'tf'`` (channels last) or ``'th'`` (channels first)."""
    return "th" if state.config.image_data_format == "channels_first" else "tf"


def set_image_dim_ordering(dim_ordering: str) -> None:
    """Keras 1 spelling of `set_image_data_format`: ``'th'`` or ``'tf'``."""
    if dim_ordering not in _DIM_ORDERINGS:
        raise ValueError(
            f"set_image_dim_ordering: expected 'tf' or 'th'; received {dim_ordering!r}"
        )
    warnings.warn(
        "set_image_dim_ordering is the Keras 1 name; use set_image_data_format("
        f"'{_DIM_ORDERINGS[dim_ordering]}')",
        DeprecationWarning,
        stacklevel=2,
    )
    set_image_data_format(_DIM_ORDERINGS[dim_ordering])


def normalize_data_format(value: str | None) -> str:
    """Resolves None to the global default and checks the name (accepts 'th'/'tf' too)."""
    if value is None:
        return state.config.image_data_format
    value = _DIM_ORDERINGS.get(value, value)
    if value not in ("channels_last", "channels_first"):
        raise ValueError(
            "argument `data_format` must be 'channels_last' or 'channels_first'; "
            f"received data_format={value!r}"
        )
    return value


def as_floatx(array) -> np.ndarray:
    """Returns ``array`` as a C-contiguous ndarray of the default float type."""
    return np.ascontiguousarray(array, dtype=state.config.floatx)
