"""Shape arithmetic for convolutions and pooling, shared by layers, ops and tests.

Everything here is plain integer arithmetic; nothing knows about tensors or the graph.
The padding convention is TensorFlow's (and Keras's): for ``'same'`` the output length is
``ceil(n / stride)`` and the total padding ``max((out - 1) * stride + k - n, 0)`` is split with
the smaller half before and the larger half after.
"""

from __future__ import annotations

PADDINGS = ("valid", "same")
DATA_FORMATS = ("channels_last", "channels_first")


def normalize_tuple(value, n: int, name: str, owner: str = "") -> tuple[int, ...]:
    """Turns an int or an iterable of ints into a tuple of ``n`` positive ints.

    Args:
        value: an int, or a tuple/list of ``n`` ints.
        n: the length wanted.
        name: the argument's name, for the error message.
        owner: the layer or function that received it, for the error message.

    Example:
        >>> normalize_tuple(3, 2, "kernel_size")
        (3, 3)
    """
    where = f"{owner}: " if owner else ""
    if isinstance(value, int) and not isinstance(value, bool):
        values = (value,) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise TypeError(
                f"{where}argument `{name}` must be an int or a tuple of {n} ints; "
                f"received {name}={value!r}"
            ) from None
        if len(values) != n:
            raise ValueError(
                f"{where}argument `{name}` must be an int or a tuple of {n} ints; "
                f"received {name}={value!r}"
            )
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(
                f"{where}argument `{name}` must hold strictly positive ints; received {name}={value!r}"
            )
    return values


def normalize_padding(value: str, owner: str = "") -> str:
    """Checks a padding name ('valid' or 'same', any case)."""
    padding = str(value).lower()
    if padding not in PADDINGS:
        where = f"{owner}: " if owner else ""
        raise ValueError(
            f"{where}argument `padding` must be one of {PADDINGS}; received padding={value!r}"
        )
    return padding


def conv_output_length(length: int | None, kernel: int, padding: str, stride: int) -> int | None:
    """Length of a convolution or pooling output along one axis (None stays None).

    Example:
        >>> conv_output_length(100, 3, "valid", 1), conv_output_length(7, 2, "same", 2)
        (98, 4)
    """
    if length is None:
        return None
    if padding == "same":
        return (length + stride - 1) // stride
    return (length - kernel) // stride + 1 if length >= kernel else 0


def same_padding(length: int, kernel: int, stride: int) -> tuple[int, int]:
    """Padding (before, after) along one axis for 'same'; TensorFlow's split."""
    out = (length + stride - 1) // stride
    total = max((out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


def padding_amounts(
    height: int, width: int, kernel: tuple[int, int], strides: tuple[int, int], padding: str
) -> tuple[int, int, int, int]:
    """Padding (top, bottom, left, right) for a 2-D window."""
    if padding == "valid":
        return 0, 0, 0, 0
    top, bottom = same_padding(height, kernel[0], strides[0])
    left, right = same_padding(width, kernel[1], strides[1])
    return top, bottom, left, right
