"""Shared argument checks whose messages name the argument, the rule and the value received."""

from __future__ import annotations


def unknown_name_error(kind: str, name, known) -> ValueError:
    """The error for an unknown loss, optimizer, metric, activation or initializer name."""
    plural = f"{kind}es" if kind.endswith("s") else f"{kind}s"
    return ValueError(
        f"Unknown {kind}: {name!r}. Known {plural}: {', '.join(sorted(known))}. "
        f"A custom {kind} can be passed as a callable or object, or through `custom_objects` "
        "when loading a model."
    )


def check_rate(value, name: str, owner: str) -> float:
    """A probability in [0, 1)."""
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: argument `{name}` must be a number; received {name}={value!r}") from None
    if not 0.0 <= rate < 1.0:
        raise ValueError(
            f"{owner}: argument `{name}` must be in the range [0, 1); received {name}={value!r}"
        )
    return rate


def check_positive_int(value, name: str, owner: str) -> int:
    """A strictly positive int."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"Invalid value for argument `{name}` of {owner}. Expected a strictly positive "
            f"integer. Received {name}={value!r}"
        )
    return value


def shape_str(shape) -> str:
    """A shape as Keras prints it: ``(None, 32, 32, 3)``."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
