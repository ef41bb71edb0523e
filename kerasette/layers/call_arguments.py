"""How a layer call's arguments bind to the parameters of the layer's ``call``: whether it takes
``training`` and ``mask`` (`call_takes`), and positional arguments after the inputs bound by name
(`bind_call_arguments`), as Keras binds them; each cached per class.
"""

from __future__ import annotations

import inspect

_CALL_ARGUMENTS: dict[type, tuple[bool, bool]] = {}


def call_takes(cls) -> tuple[bool, bool]:
    """Whether ``cls.call`` takes ``training`` and ``mask`` (cached per class)."""
    takes = _CALL_ARGUMENTS.get(cls)
    if takes is None:
        params = inspect.signature(cls.call).parameters
        var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
        takes = ("training" in params or var_kw, "mask" in params or var_kw)
        _CALL_ARGUMENTS[cls] = takes
    return takes


_CALL_POSITIONALS: dict[type, tuple[tuple[str, ...], bool]] = {}


def bind_call_arguments(layer, args: tuple, kwargs: dict) -> dict:
    """``kwargs`` with the positional arguments given after the inputs (``layer(x, m)``) bound
    by name to the parameters of ``layer``'s ``call`` that follow its inputs, in order, as Keras
    binds them (``call(self, inputs, mask=None)``: ``m`` is the mask).

    Raises:
        TypeError: more positional arguments than ``call`` takes after its inputs (naming the
            layer, the count and the parameters), or one given both by position and by keyword.
    """
    cls = type(layer)
    bound = _CALL_POSITIONALS.get(cls)
    if bound is None:
        params = list(inspect.signature(cls.call).parameters.values())[1:]  # without self
        named = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        bound = _CALL_POSITIONALS[cls] = (tuple(p.name for p in named[1:]),
                                          any(p.kind is p.VAR_POSITIONAL for p in params))
    names, variadic = bound
    if len(args) > len(names):
        takes = f"{len(names)} ({', '.join(names)})" if names else "none"
        more = "; pass the others by keyword" if variadic else ""
        raise TypeError(f"{cls.__name__} '{layer.name}': received {len(args)} positional argument(s) after the "
                        f"inputs; {cls.__name__}.call takes {takes} there{more}")
    kwargs = dict(kwargs)
    for name, value in zip(names, args):
        if name in kwargs:
            raise TypeError(f"{cls.__name__} '{layer.name}': received the argument `{name}` both by position "
                            "and by keyword")
        kwargs[name] = value
    return kwargs
