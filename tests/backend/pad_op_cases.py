"""Op test cases for `kerasette.backend.ops.pad` (zeros around a tensor), against ``np.pad``."""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops


def cases(case):
    def normal(*shape):
        return lambda rng: [rng.standard_normal(shape)]

    out = []
    for tag, shape, widths in (("image", (2, 3, 4, 2), ((0, 0), (1, 2), (0, 1), (0, 0))),
                               ("sequence", (2, 5, 3), ((0, 0), (2, 0), (0, 0))),
                               ("every-axis", (2, 3), ((1, 1), (3, 2))),
                               ("none", (2, 3), ((0, 0), (0, 0)))):
        out.append(case(f"pad-{tag}", ("pad",), lambda x, w=widths: ops.pad(x, w), normal(*shape),
                        lambda x, w=widths: np.pad(x, w)))
    return out

