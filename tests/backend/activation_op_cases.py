"""Op test cases for `kerasette.backend.ops.activations` (general_relu, gelu, hard_sigmoid).

`tests/backend/op_cases.py` appends these (as every `*_op_cases.py` module's) to its table, so they get the forward comparison and
the float64 central-difference gradient check. Inputs keep away from the kinks (0, the
threshold, the cap, the hard sigmoid's corners).
"""

from __future__ import annotations

import math

import numpy as np

from kerasette.backend import ops
from tests.helpers import spaced


def relu_reference(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras's relu, written plainly."""
    y = np.where(x > threshold, x, 0.0)
    if max_value is not None:
        y = np.clip(y, 0.0, max_value)
    return y - negative_slope * np.maximum(threshold - x, 0.0)


def gelu_reference(x, approximate=False):
    if approximate:
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def cases(Case):  # noqa: N803 - the Case class of op_cases (passed in: no import cycle)
    settings = [
        ("slope", dict(negative_slope=0.2), (0.0,)),
        ("cap", dict(max_value=1.5), (0.0, 1.5)),
        ("threshold", dict(threshold=0.7), (0.0, 0.7)),
        ("all", dict(negative_slope=0.1, max_value=1.2, threshold=-0.5), (0.0, 1.2, -0.5)),
        ("all-positive-threshold", dict(negative_slope=0.3, max_value=1.8, threshold=0.5), (0.5, 1.8)),
    ]
    out = []
    for tag, kwargs, kinks in settings:
        out.append(Case(f"general_relu-{tag}", ("general_relu",),
                        lambda x, kw=kwargs: ops.general_relu(x, **kw),
                        lambda rng, k=kinks: [spaced((4, 5), rng, -3, 3, avoid=k, margin=1e-2)],
                        lambda x, kw=kwargs: relu_reference(x, **kw)))
    out += [
        Case("gelu", ("gelu",), ops.gelu, lambda rng: [spaced((4, 5), rng, -5, 5)], gelu_reference),
        Case("gelu-approximate", ("gelu",), lambda x: ops.gelu(x, approximate=True),
             lambda rng: [spaced((4, 5), rng, -5, 5)], lambda x: gelu_reference(x, True)),
        Case("hard_sigmoid", ("hard_sigmoid",), ops.hard_sigmoid,
             lambda rng: [spaced((4, 5), rng, -5, 5, avoid=(-3.0, 3.0), margin=1e-2)],
             lambda x: np.clip(x / 6 + 0.5, 0, 1)),
        Case("hard_sigmoid-keras2", ("hard_sigmoid",), lambda x: ops.hard_sigmoid(x, 0.2, 0.5),
             lambda rng: [spaced((4, 5), rng, -4, 4, avoid=(-2.5, 2.5), margin=1e-2)],
             lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    ]
    return out
