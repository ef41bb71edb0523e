"""Op test cases for the LSTM reading batch-major projections (``batch_major=True``: xp of
shape (batch, steps, 4 units), as a batch-major input projects, and its gradient in that layout):
compared with the plain numpy steps of ``recurrent_op_cases.py`` on the transposed projections
and checked with float64 central differences, with BLAS products (few units) and the kernels'
packed products (whole blocks of vectors), with and without masks, recurrent masks and the cell
state appended."""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels import simd
from kerasette.backend.ops import recurrent as rops
from tests.backend.recurrent_op_cases import lstm_reference

T, B = 3, 5  # five rows: one block of four and one row left over


def cases(Case):
    mask = np.array([[1, 1, 0, 1, 1], [1, 0, 1, 1, 1], [0, 1, 1, 1, 1]], bool)
    out = []
    for size, units in (("", 3), ("-packed", 4 * simd.lanes(8))):
        def make(rng, units=units):
            return [rng.standard_normal((B, T, 4 * units)), rng.standard_normal((B, units)),
                    rng.standard_normal((B, units)), rng.standard_normal((units, 4 * units)) * 0.2]

        rmask = np.random.default_rng(7).choice([0.0, 2.0], (B, units))
        for tag, kw in [("", {}), ("-last-cell", {"sequences": False, "with_cell": True}),
                        ("-mask-rmask", {"mask": mask, "recurrent_mask": rmask})]:
            rkw = {"mask": kw.get("mask"), "rmask": kw.get("recurrent_mask"), "sequences": kw.get("sequences", True),
                   "with_cell": kw.get("with_cell", False)}
            out.append(Case(f"lstm-batch-major{size}{tag}", ("lstm",),
                            lambda xp, h0, c0, rk, kw=kw: rops.recurrence("lstm", xp, h0, c0, rk, batch_major=True,
                                                                          **kw)[0],
                            make,
                            lambda xp, h0, c0, rk, rkw=rkw: lstm_reference(xp.transpose(1, 0, 2), h0, c0, rk, **rkw)))
    return out
