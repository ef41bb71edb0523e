"""Transposed 2-D convolution (channels-last), on the array-level engine.

The array work is in `kerasette.backend.engine.transpose_conv` (imported on first use, so that
importing kerasette neither imports numba nor compiles anything): the forward pass is a
convolution's input gradient, the input gradient a forward convolution, and the kernel gradient
a convolution's kernel gradient.
"""

from __future__ import annotations

from kerasette.backend.ops.base import Op, apply


def _engine():
    from kerasette.backend.engine import transpose_conv  # deferred: imports numba

    return transpose_conv


class Conv2DTranspose(Op):
    """``relu?(conv2d_transpose(x, kernel) + bias)`` for x (N, H, W, C) and kernel (kh, kw, F, C)."""

    name = "conv2d_transpose"

    def __init__(self, strides=(1, 1), padding="valid", output_padding=None, dilation_rate=(1, 1),
                 relu: bool = False):
        self.strides, self.padding, self.relu = tuple(strides), padding, relu
        self.output_padding = None if output_padding is None else tuple(output_padding)
        self.dilation_rate = tuple(dilation_rate)

    def forward(self, x, kernel, bias=None):
        engine = _engine()
        self.geometry = engine.TransposeGeometry.of(x.shape, kernel.shape, self.strides, self.padding,
                                                    self.output_padding, self.dilation_rate)
        self.x, self.kernel = x, kernel
        out = engine.transpose_forward(x, kernel, bias, self.geometry, relu=self.relu)
        self.out = out if self.relu else None
        return out

    def backward(self, grad):
        has_bias = len(self.needs_grad) > 2
        gx, gk, gb = _engine().transpose_backward(
            grad, self.x, self.kernel, self.out, self.relu, has_bias, self.geometry,
            need_input=self.needs_grad[0], need_kernel=self.needs_grad[1])
        return gx, gk, (gb if has_bias and self.needs_grad[2] else None)


def conv2d_transpose(x, kernel, bias=None, strides=(1, 1), padding: str = "valid", output_padding=None,
                     dilation_rate=(1, 1), relu: bool = False):
    """Transposed convolution of NHWC ``x`` with a (kh, kw, filters, in_channels) kernel, as in Keras.

    Args:
        x: (N, H, W, in_channels).
        kernel: (kh, kw, filters, in_channels), Keras's layout.
        bias: optional (filters,).
        strides, dilation_rate: pairs of ints (Keras refuses both above 1 at once; here it works).
        padding: 'valid' or 'same'.
        output_padding: None (Keras's default size) or a pair of ints, each below its stride.
        relu: apply a ReLU to the output (fused into the output pass).

    Returns:
        (N, OH, OW, filters), OH by `kerasette.utils.conv_transpose.deconv_output_length`.
    """
    op = Conv2DTranspose(strides, padding, output_padding, dilation_rate, relu)
    if bias is None:
        return apply(op, x, kernel)
    return apply(op, x, kernel, bias)
