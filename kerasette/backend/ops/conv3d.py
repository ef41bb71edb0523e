"""3-D convolution op on channels-last volumes (N, D, H, W, C): plain, strided, dilated, grouped,
with the bias and an optional ReLU fused into the output pass.

The array work lives in `kerasette.backend.engine.conv3d` (implicit GEMM over tiles of packed
patches, the batch split over the threads); it is imported on first use so that importing
kerasette neither imports numba nor compiles anything.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.ops.base import Op, apply


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
