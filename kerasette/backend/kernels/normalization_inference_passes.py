"""Batch normalization at inference as one kernel call per thread, from the weights to the output.

`batch_norm_inference_rows_shared` makes the per-channel numbers from the four weights in each
thread (`inference_numbers`) and then maps the thread's share of the rows as
`normalization_passes.affine_rows_shared` does (its `_map_shared`: the same pieces, the same
order of leaving); `kernels.inference_jobs` runs the same numbers and map as a native job.
(Split from `normalization_passes`, which keeps the training passes and the shared map.)
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels._jit import inline, kernel
from kerasette.backend.kernels.folding import scale_and_shift
from kerasette.backend.kernels.normalization_passes import _map_shared


def _batch_norm_inference_rows_shared(x, gamma, beta, mean, variance, epsilon, relu, width, bounds, cells, me,
                                      reserve, wait, grace, backward, y):
    """Batch normalization at inference on the rows of ``width`` values that the C-contiguous
    ``x`` and ``y`` are (any shape, the same for both): each thread makes the per-channel
    ``scale`` and ``shift`` from the weights (`kernels.folding.scale_and_shift`, the numbers of
    `engine.normalization.inference_numbers`: the same bits), repeated over the ``width / C``
    copies of the channels, then maps its share of the pieces as
    `normalization_passes.affine_rows_shared` does (`_map_shared`), clamped at 0 when ``relu``
    (with ``backward``, each thread its own range's last piece first). Nothing is made before the
    threads start but ``y`` and ``cells``.

    Args:
        gamma, beta, mean, variance: (C,) of ``x``'s dtype; epsilon: a float, rounded to it.
        bounds: as `normalization_passes.affine_rows_shared`; cells: (threads + 3,) int64 zeros:
        its ``claims``, then its ``state``. The rest: as `normalization_passes.affine_rows_shared`
        takes them.
    """
    numbers = np.empty((2, width), x.dtype)
    lower = inference_numbers(gamma, beta, mean, variance, epsilon, relu, numbers)
    rows, threads = x.size // width, cells.size - 3
    _map_shared(x.reshape((rows, width)), numbers[0], numbers[1], lower, bounds, cells[:threads], cells[threads:],
                me, reserve, wait, grace, backward, y.reshape((rows, width)))


@inline
def inference_numbers(gamma, beta, mean, variance, epsilon, relu, numbers):
    """Batch normalization's map at inference from the weights: ``numbers[0]`` the scale and
    ``numbers[1]`` the shift (W each: the C channels' numbers repeated over the W / C copies;
    `kernels.folding.scale_and_shift`, the numbers of `engine.normalization.inference_numbers`,
    the same bits); returns the map's clamp in ``numbers``' dtype (0 with ``relu``, else NaN).
    ``epsilon``, 1 and the clamp are rounded to the dtype as numpy's scalars round them."""
    chans, width = gamma.shape[0], numbers.shape[1]
    given = np.empty(3, numbers.dtype)
    given[0], given[1], given[2] = epsilon, 1.0, 0.0 if relu else np.nan
    scale, shift = numbers[0], numbers[1]
    scale_and_shift(gamma, beta, mean, variance, given[0], given[1], scale[:chans], shift[:chans])
    for c in range(chans, width):
        scale[c] = scale[c - chans]
        shift[c] = shift[c - chans]
    return given[2]


batch_norm_inference_rows_shared = kernel(_batch_norm_inference_rows_shared)
