"""Array-level folding of an inference batch normalization into the layer before it (the model
planner's folding, `kerasette.layers.folding`): its scale and shift, and the folded kernel and
bias, each in one kernel call (`kerasette.backend.kernels.folding`), with numpy's bits.

Example:
    >>> import numpy as np
    >>> one, zero = np.ones(2, np.float32), np.zeros(2, np.float32)
    >>> scale, shift = scale_and_shift(one * 2, one, one, one * 3, 1.0)
    >>> scale.tolist(), shift.tolist()
    ([1.0, 1.0], [0.0, 0.0])
    >>> kernel, bias = fold(np.ones((3, 2), np.float32), zero, scale * 2, shift + 1)
    >>> kernel[0].tolist(), bias.tolist()
    ([2.0, 2.0], [1.0, 1.0])
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.engine import winograd_conv
from kerasette.backend.kernels import folding as _k


def _flat(array, dtype) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=dtype).reshape(-1)


def scale_and_shift(gamma, beta, mean, variance, epsilon: float, dtype=None, out=None) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, shift)``, flat arrays of ``dtype`` (default ``gamma``'s): ``scale = gamma /
    sqrt(variance + epsilon)`` computed as ``gamma * (1 / sqrt(variance + epsilon))``, ``shift =
    beta - mean * scale`` (arrays of one size); ``out``: the two (contiguous, flat) arrays to fill."""
    dtype = np.dtype(dtype or np.asarray(gamma).dtype)
    kind = dtype.type
    gamma, beta, mean, variance = _flat(gamma, dtype), _flat(beta, dtype), _flat(mean, dtype), _flat(variance, dtype)
    scale, shift = out if out is not None else (np.empty(gamma.size, dtype), np.empty(gamma.size, dtype))
    if not gamma.size == beta.size == mean.size == variance.size == scale.size == shift.size:
        raise ValueError(f"scale_and_shift: gamma, beta, mean, variance and the outputs must have one size; received "
                         f"{[a.size for a in (gamma, beta, mean, variance, scale, shift)]}")
    _k.scale_and_shift(gamma, beta, mean, variance, kind(epsilon), kind(1), scale, shift)
    return scale, shift


def fold(kernel: np.ndarray, bias: np.ndarray | None, scale, shift) -> tuple[np.ndarray, np.ndarray]:
    """``(kernel * scale, bias * scale + shift)`` (``shift`` alone without a bias), ``scale``
    and ``shift`` along the last axis of ``kernel``; new arrays of ``kernel``'s shape and dtype,
    read-only: a prediction keeps its folded weights from call to call while their sources are
    unchanged (`kerasette.models.fold_cache`) and nothing writes into them, so that what an
    engine derives from an array it receives (a Winograd kernel transform) stays valid while
    that array, read-only and owning its memory (or a view of one), is alive: the kernel is
    declared so to the Winograd engine (`winograd_conv.keep_transform`)."""
    dtype = kernel.dtype
    chans = kernel.shape[-1]
    weights = np.ascontiguousarray(kernel).reshape(-1, chans)
    folded, folded_bias = np.empty(weights.shape, dtype), np.empty(chans, dtype)
    bias = _flat(bias, dtype) if bias is not None else np.empty(0, dtype)
    scale, shift = _flat(scale, dtype), _flat(shift, dtype)
    if not scale.size == shift.size == chans or bias.size not in (0, chans):
        raise ValueError(f"fold: scale, shift and bias must have one number per output channel ({chans}, the kernel's "
                         f"last axis); received sizes {scale.size}, {shift.size} and {bias.size}")
    _k.fold_into(weights, bias, scale, shift, folded, folded_bias)
    folded.flags.writeable = folded_bias.flags.writeable = False
    folded = folded.reshape(kernel.shape)
    winograd_conv.keep_transform(folded)  # its Winograd transform made once, while it lives
    return folded, folded_bias


class SourceSnapshot:
    """Copies of groups of arrays, to tell which groups changed since the last look: a model's
    prediction keeps the weights it folded (`kerasette.models.fold_cache`) while the weights
    they were made from hold the same bytes.

    Every look compares every byte of every array with its copy (one kernel call for all of
    them: `kerasette.backend.kernels.folding.compare_and_keep`), so a change made any way
    (an optimizer's update in place, ``assign``, a write into ``.data``) is seen; a changed
    array's copy is brought up to date by the look that saw it.

    Args:
        groups: lists of C-contiguous arrays (a fold's source weights), read where they are:
            the caller keeps them alive and looks again only while they are the arrays in use.

    Example:
        >>> import numpy as np
        >>> a, b = np.zeros(3, np.float32), np.ones(2)
        >>> snapshot = SourceSnapshot([[a], [b]])
        >>> snapshot.changed().tolist()
        [0, 0]
        >>> a[1] = 5
        >>> snapshot.changed().tolist(), snapshot.changed().tolist()
        ([1, 0], [0, 0])
    """

    __slots__ = ("_arrays", "_addresses", "_sizes", "_offsets", "_groups", "_words", "_bytes", "_changed")

    def __init__(self, groups: list[list[np.ndarray]]):
        arrays = [(g, a) for g, group in enumerate(groups) for a in group]
        if any(not a.flags.c_contiguous for _, a in arrays):
            raise ValueError("SourceSnapshot: the arrays must be C-contiguous")
        self._arrays = [a for _, a in arrays]  # kept alive while their addresses are used
        self._addresses = np.array([a.__array_interface__["data"][0] for a in self._arrays], np.int64)
        self._sizes = np.array([a.nbytes for a in self._arrays], np.int64)
        padded = -(-self._sizes // 8) * 8  # each copy starts at a multiple of 8 bytes
        self._offsets = (np.cumsum(padded) - padded).astype(np.int64)
        self._groups = np.array([g for g, _ in arrays], np.int64)
        self._words = np.zeros(int(padded.sum()) // 8, np.uint64)
        self._bytes = self._words.view(np.uint8)
        for a, start in zip(self._arrays, self._offsets):
            self._bytes[start:start + a.nbytes] = a.reshape(-1).view(np.uint8)
        self._changed = np.zeros(len(groups), np.uint8)

    def changed(self) -> np.ndarray:
        """One flag (uint8) per group: 1 where an array of the group differs from its copy (the
        copy then updated). The array returned is reused by the next look."""
        changed = self._changed
        changed[:] = 0
        _k.compare_and_keep(self._addresses, self._sizes, self._offsets, self._groups, self._words, self._bytes,
                            changed)
        return changed
