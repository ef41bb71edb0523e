"""Shape arithmetic of transposed convolutions, as Keras 3 defines it (plain integers).

A transposed convolution scatters each input pixel, times the kernel, into a *full* output of
length ``(n - 1) * stride + k_eff`` (``k_eff = (k - 1) * dilation + 1``), then keeps a window of
it: ``crop_before`` positions are dropped at the start, and at the end ``crop_after`` positions are
dropped (a negative ``crop_after`` appends that many positions that receive no value, only the
bias). Keras 3 (every backend since 3.x's JAX convention) chooses the window so that:

* ``'valid'``: nothing is dropped at the start; the output is ``(n - 1) * stride + k_eff +
  output_padding`` long, ``output_padding`` defaulting to ``max(k_eff, stride) - k_eff``;
* ``'same'``: the output is ``n * stride`` long without ``output_padding``, else ``(n - 1) *
  stride + k_eff % 2 + output_padding``; the padding ``stride + k_eff - 2`` (or ``k_eff +
  k_eff % 2 - 2 + output_padding``) is split with the larger half before (at most ``k_eff - 1``).

The same window is TensorFlow's: the transposed convolution is the gradient of a convolution with
'same' padding whose input has the output's length.

Example:
    >>> deconv_output_length(16, 3, "same", None, 2), transpose_crops(16, 3, "same", None, 2)
    (32, (0, 1))
    >>> deconv_output_length(16, 3, "valid", 1, 2), transpose_crops(16, 3, "valid", 1, 2)
    (34, (0, -1))
"""

from __future__ import annotations


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """The extent of a dilated kernel: ``(k - 1) * dilation + 1``."""
    return (kernel - 1) * dilation + 1


def _pads(kernel: int, padding: str, output_padding: int | None, stride: int, dilation: int) -> tuple[int, int]:
    """(before, after) padding of the input to the equivalent stride-1 convolution (JAX's form)."""
    k = effective_kernel(kernel, dilation)
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return k - 1, k - 1 + extra
    total = stride + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    before = min(total // 2 + total % 2, k - 1)
    return before, total - before


def deconv_output_length(length: int | None, kernel: int, padding: str, output_padding: int | None = None,
                         stride: int = 1, dilation: int = 1) -> int | None:
    """Output length of a transposed convolution along one axis (Keras's rule; None stays None)."""
    if length is None:
        return None
    k = effective_kernel(kernel, dilation)
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return (length - 1) * stride + k + extra
    if output_padding is None:
        return length * stride
    return (length - 1) * stride + k % 2 + output_padding


def transpose_crops(length: int, kernel: int, padding: str, output_padding: int | None = None,
                    stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """``(crop_before, crop_after)`` of the full output, as described in the module docstring.

    ``crop_before`` is in ``[0, k_eff - 1]``; ``crop_after`` may be negative (zeros appended).
    """
    before, after = _pads(kernel, padding, output_padding, stride, dilation)
    k = effective_kernel(kernel, dilation)
    return k - 1 - before, k - 1 - after
