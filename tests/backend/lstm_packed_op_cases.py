"""Op test cases for the LSTM with enough units for the kernels' own packed products
(`kerasette.backend.ops.recurrent.pack_lstm_recurrent`: forward, and backward through time):
compared with the plain numpy steps of ``recurrent_op_cases.py`` and checked with float64
central differences, with and without masks, recurrent masks and the cell state appended."""

from __future__ import annotations

import numpy as np

from kerasette.backend.kernels import simd
from kerasette.backend.ops import recurrent as rops
from tests.backend.recurrent_op_cases import lstm_reference

T, B = 3, 5  # five rows: one block of four and one row left over


def cases(Case):
    units = 4 * simd.lanes(8)  # float64: whole blocks of four vectors, forward and backward

    def make(rng):
        return [rng.standard_normal((T, B, 4 * units)), rng.standard_normal((B, units)),
                rng.standard_normal((B, units)), rng.standard_normal((units, 4 * units)) * 0.2]

    mask = np.array([[1, 1, 0, 1, 1], [1, 0, 1, 1, 1], [0, 1, 1, 1, 1]], bool)
    rmask = np.random.default_rng(7).choice([0.0, 2.0], (B, units))
    out = []
    for tag, kw in [("", {}), ("last-cell", {"sequences": False, "with_cell": True}),
                    ("mask-rmask", {"mask": mask, "recurrent_mask": rmask})]:
        rkw = {"mask": kw.get("mask"), "rmask": kw.get("recurrent_mask"), "sequences": kw.get("sequences", True),
               "with_cell": kw.get("with_cell", False)}
        out.append(Case(f"lstm-packed{'-' + tag if tag else ''}", ("lstm",),
                        lambda xp, h0, c0, rk, kw=kw: rops.lstm(xp, h0, c0, rk, **kw), make,
                        lambda xp, h0, c0, rk, rkw=rkw: lstm_reference(xp, h0, c0, rk, **rkw)))
    return out
