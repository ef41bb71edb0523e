"""The images' zero-padding kernel (`kernels.pad`) against numpy's ``np.pad``."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kerasette.backend.kernels import pad as kernels
from kerasette.backend.ops.shape import Pad
from kerasette.backend.parallel import parallel_settings


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("top, bottom, left, right", [(1, 1, 1, 1), (0, 2, 3, 0), (2, 0, 0, 0), (0, 0, 0, 0)])
@pytest.mark.parametrize("piece", [1, 3, 1000])
def test_pad_rows_kernel_against_numpy_from_several_threads(dtype, top, bottom, left, right, piece):
    """Three calls at once on one counter (as `parallel.run_shared` runs them) write every row
    once: the input between zeros, as ``np.pad``."""
    rng = np.random.default_rng(top * 7 + left)
    x = rng.standard_normal((3, 5, 4, 2)).astype(dtype)
    out = np.full((3, 5 + top + bottom, 4 + left + right, 2), np.nan, dtype)
    kernels.pad_rows_shared(x, top, left, dtype(0), np.empty_like(out), np.zeros(1, np.int64), piece)  # compiled
    counter = np.zeros(1, np.int64)
    threads = [threading.Thread(target=kernels.pad_rows_shared, args=(x, top, left, dtype(0), out, counter, piece))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(out, np.pad(x, [(0, 0), (top, bottom), (left, right), (0, 0)]))


@pytest.mark.parametrize("widths", [[(0, 0), (1, 1), (1, 1), (0, 0)], [(0, 0), (2, 0), (0, 3), (0, 0)],
                                    [(1, 0), (1, 1), (0, 0), (0, 0)], [(0, 0), (1, 1), (1, 1), (0, 2)]])
def test_pad_op_takes_the_kernel_for_images_and_numpy_otherwise(widths):
    """The op's two paths (the kernel for rows and columns of NHWC images; numpy when the batch or
    channel axis is padded) give ``np.pad``'s values, split over the threads or not."""
    x = np.random.default_rng(1).standard_normal((4, 6, 5, 3)).astype(np.float32)
    for minimum in (0, 1 << 40):
        with parallel_settings(memory_bound_min=minimum):
            np.testing.assert_array_equal(Pad(widths).forward(x), np.pad(x, widths))
