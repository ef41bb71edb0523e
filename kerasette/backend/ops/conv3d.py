"""3-D convolution ops on channels-last volumes (N, D, H, W, C): the convolution (plain, strided,
dilated, grouped, with the bias and an optional ReLU fused into the output pass) and the
transposed convolution (the convolution's input gradient, on the same kernels).

The array work lives in `kerasette.backend.engine.conv3d` (implicit GEMM over tiles of packed
patches, the batch split over the threads); it is imported on first use so that importing
kerasette neither imports numba nor compiles anything.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.ops.base import Op, apply
from kerasette.utils.conv_transpose import deconv_output_length, transpose_crops


def _engine():
    from kerasette.backend.engine import conv3d  # deferred: imports numba

    return conv3d


def _triple(value, name: str) -> tuple[int, int, int]:
    values = (value,) * 3 if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != 3 or any(int(v) < 1 for v in values):
        raise ValueError(f"conv3d: `{name}` must be a positive int or three positive ints; received {value!r}")
    return tuple(int(v) for v in values)


class Conv3D(Op):
    """``relu?(conv3d(x, kernel) + bias)`` for x (N, D, H, W, C) and kernel
    (kd, kh, kw, C // groups, F), the kernel's taps ``dilation`` apart."""

    name = "conv3d"

    def __init__(self, strides=(1, 1, 1), padding: str = "valid", relu: bool = False, dilation=(1, 1, 1),
                 groups: int = 1):
        if padding not in ("valid", "same"):
            raise ValueError(f"conv3d: `padding` must be 'valid' or 'same'; received {padding!r}")
        self.strides, self.padding, self.relu = _triple(strides, "strides"), padding, relu
        self.dilation, self.groups = _triple(dilation, "dilation_rate"), int(groups)

    def forward(self, x, kernel, bias=None):
        if not (x.ndim == 5 and kernel.ndim == 5 and self.groups >= 1 and x.shape[4] == kernel.shape[3] * self.groups
                and kernel.shape[4] % self.groups == 0 and (bias is None or bias.shape == kernel.shape[4:])):
            raise ValueError(f"conv3d: expected an input (N, D, H, W, C), a kernel (kd, kh, kw, C // groups, F) with "
                             f"F divisible by groups={self.groups} and a bias (F,); received shapes {x.shape}, "
                             f"{kernel.shape} and {None if bias is None else bias.shape}")
        dtype = np.result_type(x.dtype, kernel.dtype, np.float32)
        self.x, self.kernel = x.astype(dtype, copy=False), kernel.astype(dtype, copy=False)
        out = _engine().conv3d_forward(self.x, self.kernel, bias, self.strides, self.padding, self.dilation,
                                       self.groups, self.relu)
        if self.relu:
            self.out = out
        return out

    def backward(self, grad):
        dz = np.where(self.out > 0, grad, 0).astype(grad.dtype, copy=False) if self.relu else grad
        gx, gk = _engine().conv3d_backward(dz.astype(self.x.dtype, copy=False), self.x, self.kernel, self.strides,
                                           self.padding, self.dilation, self.groups,
                                           need_input=self.needs_grad[0], need_kernel=self.needs_grad[1])
        gb = None
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            gb = dz.reshape(-1, dz.shape[-1]).sum(axis=0, dtype=np.float64).astype(dz.dtype)
        return gx, gk, gb


def conv3d(x, kernel, bias=None, strides=(1, 1, 1), padding: str = "valid", relu: bool = False,
           dilation_rate=(1, 1, 1), groups: int = 1):
    """Cross-correlation of channels-last ``x`` (N, D, H, W, C) with a (kd, kh, kw, C // groups, F)
    kernel, as in Keras: output (N, OD, OH, OW, F).

    ``dilation_rate`` spreads the taps apart (a kernel of k taps spans ``(k - 1) * d + 1``);
    ``groups`` splits the channels, output channels ``g * F // groups`` onwards seeing only input
    channels ``g * C // groups`` onwards; ``relu`` applies a ReLU after the bias in the same pass.

    Example:
        >>> import numpy as np
        >>> conv3d(np.ones((1, 3, 3, 3, 2)), np.ones((2, 2, 2, 2, 1)), padding="same").data[0, :, :, :, 0].tolist()[2]
        [[8.0, 8.0, 4.0], [8.0, 8.0, 4.0], [4.0, 4.0, 2.0]]
    """
    op = Conv3D(strides, padding, relu, dilation_rate, groups)
    return apply(op, x, kernel) if bias is None else apply(op, x, kernel, bias)


class Conv3DTranspose(Op):
    """``conv3d_transpose(x, kernel) + bias`` for x (N, D, H, W, C) and kernel (kd, kh, kw, F, C):
    each input cell, times the kernel, scattered into the output, in Keras 3's window of the full
    result (`kerasette.utils.conv_transpose`). It is the input gradient of the convolution by the
    same kernel, whose input has the output's shape, so its own gradients are that convolution
    (to ``x``) and its kernel gradient with the roles of input and output swapped."""

    name = "conv3d_transpose"

    def __init__(self, strides=(1, 1, 1), padding: str = "valid", output_padding=None, dilation=(1, 1, 1)):
        if padding not in ("valid", "same"):
            raise ValueError(f"conv3d_transpose: `padding` must be 'valid' or 'same'; received {padding!r}")
        self.strides, self.padding = _triple(strides, "strides"), padding
        self.dilation = _triple(dilation, "dilation_rate")
        self.output_padding = None if output_padding is None else (
            (output_padding,) * 3 if isinstance(output_padding, (int, np.integer)) else tuple(output_padding))

    def forward(self, x, kernel, bias=None):
        if not (x.ndim == 5 and kernel.ndim == 5 and x.shape[4] == kernel.shape[4]
                and (bias is None or bias.shape == (kernel.shape[3],))):
            raise ValueError(f"conv3d_transpose: expected an input (N, D, H, W, C), a kernel (kd, kh, kw, F, C) "
                             f"and a bias (F,); received shapes {x.shape}, {kernel.shape} and "
                             f"{None if bias is None else bias.shape}")
        pads = self.output_padding or (None, None, None)
        sizes = x.shape[1:4]
        args = list(zip(sizes, kernel.shape[:3], pads, self.strides, self.dilation))
        self.out_shape = (x.shape[0],) + tuple(deconv_output_length(n, k, self.padding, p, s, d)
                                               for n, k, p, s, d in args) + (kernel.shape[3],)
        self.before = tuple(transpose_crops(n, k, self.padding, p, s, d)[0] for n, k, p, s, d in args)
        dtype = np.result_type(x.dtype, kernel.dtype, np.float32)
        self.x, self.kernel = np.ascontiguousarray(x, dtype), np.ascontiguousarray(kernel, dtype)
        y = _engine().conv3d_input_grad(self.x, self.out_shape, self.kernel, self.strides, self.before,
                                        self.dilation, 1, out=sizes)
        if bias is not None:
            y += bias.astype(dtype, copy=False)
        return y

    def backward(self, grad):
        grad = np.ascontiguousarray(grad, self.x.dtype)
        sizes = self.x.shape[1:4]
        gx = gk = gb = None
        if self.needs_grad[0]:
            gx = _engine().conv3d_forward(grad, self.kernel, None, self.strides, self.before, self.dilation, 1,
                                          False, out=sizes)
        if self.needs_grad[1]:
            gk = _engine().conv3d_kernel_grad(self.x, grad, self.kernel.shape, self.strides, self.before,
                                              self.dilation, 1, out=sizes)
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            gb = grad.reshape(-1, grad.shape[-1]).sum(axis=0, dtype=np.float64).astype(grad.dtype)
        return gx, gk, gb


def conv3d_transpose(x, kernel, bias=None, strides=(1, 1, 1), padding: str = "valid", output_padding=None,
                     dilation_rate=(1, 1, 1)):
    """Transposed 3-D convolution of channels-last ``x`` (N, D, H, W, C) with a (kd, kh, kw, F, C)
    kernel, as Keras 3 computes it: output (N, D', H', W', F), each size
    `kerasette.utils.conv_transpose.deconv_output_length` of the input's.

    Example:
        >>> import numpy as np
        >>> conv3d_transpose(np.ones((1, 2, 2, 2, 1)), np.ones((2, 2, 2, 1, 1)), strides=2).shape
        (1, 4, 4, 4, 1)
    """
    op = Conv3DTranspose(strides, padding, output_padding, dilation_rate)
    return apply(op, x, kernel) if bias is None else apply(op, x, kernel, bias)
