"""Keras 1 argument names, translated to the Keras 2/3 names at the constructor boundary.

A layer class states its own Keras 1 names where it is defined, with the decorator that also
registers it::

    @keras_layer(aliases=("Convolution2D",), keras1={**CONV_KERAS1, "nb_filter": "filters"},
                 keras1_positional=conv_kernel_size)
    class Conv2D(Layer): ...

The constructor then accepts the old names (with one `DeprecationWarning` per call listing what
it translated), and `Layer.translate_config` reads Keras 1 configs with the same table. Values
whose meaning changed (``dim_ordering='th'``) are converted too.
"""

from __future__ import annotations

import functools
import warnings

from kerasette import registry

#: Keras 1 names shared by the layers with kernels, biases and image layouts.
WEIGHT_KERAS1 = {
    "init": "kernel_initializer",
    "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint",
    "bias": "use_bias",
}
IMAGE_KERAS1 = {"dim_ordering": "data_format", "border_mode": "padding", "subsample": "strides"}
CONV_KERAS1 = {**WEIGHT_KERAS1, **IMAGE_KERAS1}

_VALUES = {
    "data_format": {"th": "channels_first", "tf": "channels_last", "default": None},
}


def conv_kernel_size(args: tuple, kwargs: dict, translated: list[str]) -> tuple:
    """``Convolution2D(32, 3, 3)`` and ``nb_row=3, nb_col=3`` become ``kernel_size=(3, 3)``."""
    if "nb_row" in kwargs or "nb_col" in kwargs:
        kwargs["kernel_size"] = (kwargs.pop("nb_row", 1), kwargs.pop("nb_col", 1))
        translated.append("nb_row/nb_col")
    if len(args) >= 3 and all(isinstance(a, int) for a in args[:3]):
        kwargs["kernel_size"] = (args[1], args[2])
        translated.append("Convolution2D(nb_filter, nb_row, nb_col)")
        args = args[:1] + args[3:]
    return args


def translate_arguments(cls, args: tuple, kwargs: dict) -> tuple[tuple, dict, list[str]]:
    """Returns (args, kwargs, translated names) with ``cls``'s Keras 1 names replaced."""
    kwargs = dict(kwargs)
    translated: list[str] = []
    hook = getattr(cls, "keras1_positional", None)
    if hook is not None:
        args = hook(args, kwargs, translated)
    for old, new in cls.keras1_arguments.items():
        if old in kwargs:
            if new in kwargs:
                raise TypeError(
                    f"{cls.__name__}: got both the Keras 1 argument `{old}` and its Keras 2 name `{new}`"
                )
            value = kwargs.pop(old)
            kwargs[new] = _VALUES.get(new, {}).get(value, value) if isinstance(value, str) else value
            translated.append(f"{old} -> {new}")
    if isinstance(kwargs.get("data_format"), str) and kwargs["data_format"] in _VALUES["data_format"]:
        kwargs["data_format"] = _VALUES["data_format"][kwargs["data_format"]]
    return args, kwargs, translated


def keras_layer(name: str | None = None, aliases: tuple[str, ...] = (), keras1: dict | None = None,
                keras1_positional=None):
    """Class decorator: registers a layer under its Keras name and aliases, and makes its
    constructor accept the Keras 1 argument names in ``keras1`` (``{old: new}``) and, through
    ``keras1_positional(args, kwargs, translated)``, Keras 1 positional forms."""

    def decorate(cls):
        cls.keras1_arguments = dict(keras1 or {})
        if keras1_positional is not None:
            cls.keras1_positional = staticmethod(keras1_positional)
        if keras1 or keras1_positional:
            cls.__init__ = _accepting_keras1(cls, cls.__init__)
        return registry.register("layer", name, aliases)(cls)

    return decorate


def _accepting_keras1(cls, init):
    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        args, kwargs, translated = translate_arguments(cls, args, kwargs)
        if translated:
            warnings.warn(
                f"{cls.__name__}: Keras 1 arguments translated to Keras 2 names "
                f"({', '.join(translated)}); update your call to the new names.",
                DeprecationWarning,
                stacklevel=2,
            )
        init(self, *args, **kwargs)

    return wrapper


def theano_order(kernel_shape: tuple, stored_shape: tuple, data_format: str, origin):
    """Whether a 2-D kernel of ``kernel_shape`` (rows, cols, in, out) was stored in Theano's order
    (out, in, rows, cols): True, False (stored as it is), or None (neither shape: not a kernel
    this reads). A shape that fits both (square everything) follows the layer's ``data_format``
    in Keras 1 files (their kernels follow the layer's dim_ordering), else is as it is."""
    rows, cols, cin, cout = kernel_shape
    tf_order = tuple(stored_shape) == (rows, cols, cin, cout)
    th_order = tuple(stored_shape) == (cout, cin, rows, cols)
    if not (tf_order or th_order):
        return None
    if tf_order and th_order:
        th_order = origin.is_keras1 and data_format == "channels_first"
    return th_order


def kernel_reader(th_order: bool, flip: bool):
    """The conversion of a stored 2-D kernel to (rows, cols, in, out): transposed from Theano's
    order (``th_order``), flipped in both spatial axes (``flip``: trained with Theano's true
    convolution), C-contiguous."""

    def convert(value):
        if th_order and value.ndim == 4:
            value = value.transpose(2, 3, 1, 0)
        if flip and value.ndim == 4:
            value = value[::-1, ::-1, :, :]
        return value.copy(order="C")

    return convert
