"""Keras 1 argument names, translated to the Keras 2/3 names in one table.

Each layer class names its table; `legacy_arguments` wraps the constructor, renames the
keywords, converts their values where the meaning changed (``dim_ordering='th'``), and warns
once per call with a `DeprecationWarning` listing what it translated.
"""

from __future__ import annotations

import functools
import warnings

_COMMON = {
    "init": "kernel_initializer",
    "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint",
    "bias": "use_bias",
    "dim_ordering": "data_format",
    "border_mode": "padding",
    "subsample": "strides",
}

RENAMES: dict[str, dict[str, str]] = {
    "Dense": {**_COMMON, "output_dim": "units"},
    "Conv2D": {**_COMMON, "nb_filter": "filters"},
    "MaxPooling2D": {**_COMMON},
    "AveragePooling2D": {**_COMMON},
    "Dropout": {"p": "rate"},
    "Activation": {},
    "Flatten": {},
    "InputLayer": {"input_dtype": "dtype"},
}

_VALUES = {
    "data_format": {"th": "channels_first", "tf": "channels_last", "default": None},
}


def _conv_kernel_size(args: tuple, kwargs: dict, translated: list[str]) -> tuple:
    """``Convolution2D(32, 3, 3)`` and ``nb_row=3, nb_col=3`` become ``kernel_size=(3, 3)``."""
    if "nb_row" in kwargs or "nb_col" in kwargs:
        kwargs["kernel_size"] = (kwargs.pop("nb_row", 1), kwargs.pop("nb_col", 1))
        translated.append("nb_row/nb_col")
    if len(args) >= 3 and all(isinstance(a, int) for a in args[:3]):
        kwargs["kernel_size"] = (args[1], args[2])
        translated.append("Convolution2D(nb_filter, nb_row, nb_col)")
        args = args[:1] + args[3:]
    return args


_POSITIONAL_HOOKS = {"Conv2D": _conv_kernel_size}


def translate(layer_class: str, args: tuple, kwargs: dict) -> tuple[tuple, dict, list[str]]:
    """Returns (args, kwargs, translated names) with Keras 1 names replaced."""
    table = RENAMES.get(layer_class, _COMMON)
    kwargs = dict(kwargs)
    translated: list[str] = []
    hook = _POSITIONAL_HOOKS.get(layer_class)
    if hook is not None:
        args = hook(args, kwargs, translated)
    for old, new in table.items():
        if old in kwargs:
            if new in kwargs:
                raise TypeError(
                    f"{layer_class}: got both the Keras 1 argument `{old}` and its Keras 2 name `{new}`"
                )
            value = kwargs.pop(old)
            kwargs[new] = _VALUES.get(new, {}).get(value, value) if isinstance(value, str) else value
            translated.append(f"{old} -> {new}")
    if isinstance(kwargs.get("data_format"), str) and kwargs["data_format"] in _VALUES["data_format"]:
        kwargs["data_format"] = _VALUES["data_format"][kwargs["data_format"]]
    return args, kwargs, translated


def legacy_arguments(layer_class: str):
    """Decorates a layer's ``__init__`` so it also accepts the Keras 1 argument names."""

    def decorate(init):
        @functools.wraps(init)
        def wrapper(self, *args, **kwargs):
            args, kwargs, translated = translate(layer_class, args, kwargs)
            if translated:
                warnings.warn(
                    f"{layer_class}: Keras 1 arguments translated to Keras 2 names "
                    f"({', '.join(translated)}); update your call to the new names.",
                    DeprecationWarning,
                    stacklevel=2,
                )
            init(self, *args, **kwargs)

        return wrapper

    return decorate
