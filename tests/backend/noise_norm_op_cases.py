"""Op test cases for `kerasette.backend.ops.sample_normalization` (group_normalization,
l2_normalize), the ops behind the GroupNormalization and UnitNormalization layers.

`tests/backend/op_cases.py` appends these (as every `*_op_cases.py` module's) to its table, so
they get the float64 forward comparison with the plain numpy references below and the
central-difference gradient check (for the input, gamma and beta).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.ops.sample_normalization import group_normalization, l2_normalize


def group_norm_reference(x, gamma, beta, groups, axis=-1, epsilon=1e-3):
    """Channel axis moved last, each sample's group normalized over its channels and every other
    non-batch axis, then the per-channel scale and shift."""
    moved = np.moveaxis(x, axis, -1)
    split = moved.reshape(moved.shape[:-1] + (groups, moved.shape[-1] // groups))
    reduce = tuple(range(1, split.ndim - 2)) + (split.ndim - 1,)
    mean = split.mean(axis=reduce, keepdims=True)
    var = ((split - mean) ** 2).mean(axis=reduce, keepdims=True)
    out = ((split - mean) / np.sqrt(var + epsilon)).reshape(moved.shape) * gamma + beta
    return np.moveaxis(out, -1, axis)


def l2_normalize_reference(x, axis=-1, epsilon=1e-12):
    return x / np.maximum(np.sqrt((x**2).sum(axis=axis, keepdims=True)), epsilon)


def _group_inputs(shape, axis):
    def make(rng):
        channels = shape[axis]
        return [rng.standard_normal(shape) * 2 + 0.5, rng.uniform(0.5, 1.5, channels), rng.standard_normal(channels)]
    return make


def _some_rows_under_the_floor(rng):
    """Rows of norm well below 0.5 (the floor used with them) and rows well above it."""
    x = rng.standard_normal((6, 4))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return [x * np.array([0.1, 0.3, 0.8, 1.5, 0.2, 2.0])[:, None]]


def cases(Case):  # noqa: N803 - the Case class of op_cases (passed in: no import cycle)
    out = []
    for tag, shape, groups, axis, eps in (
        ("channels_last-image", (2, 3, 3, 6), 3, -1, 1e-3),
        ("channels_first-image", (2, 4, 3, 2), 2, 1, 1e-5),
        ("features", (3, 8), 4, -1, 1e-3),
        ("one-group", (2, 5, 3), 1, -1, 1e-3),
        ("instance", (2, 4, 3), 3, 2, 1e-3),
        ("middle-axis", (2, 3, 4, 2), 2, -2, 0.0),
    ):
        out.append(Case(f"group_normalization-{tag}", ("group_normalization",),
                        lambda x, g, b, n=groups, a=axis, e=eps: group_normalization(x, g, b, n, a, e),
                        _group_inputs(shape, axis),
                        lambda x, g, b, n=groups, a=axis, e=eps: group_norm_reference(x, g, b, n, a, e)))
    out += [
        Case("l2_normalize-last-axis", ("l2_normalize",), l2_normalize,
             lambda rng: [rng.standard_normal((3, 5))], l2_normalize_reference),
        Case("l2_normalize-two-axes", ("l2_normalize",), lambda x: l2_normalize(x, (1, 2)),
             lambda rng: [rng.standard_normal((2, 3, 4))], lambda x: l2_normalize_reference(x, (1, 2))),
        Case("l2_normalize-axis1", ("l2_normalize",), lambda x: l2_normalize(x, 1),
             lambda rng: [rng.standard_normal((2, 3, 4))], lambda x: l2_normalize_reference(x, 1)),
        Case("l2_normalize-floored", ("l2_normalize",), lambda x: l2_normalize(x, -1, 0.5),
             _some_rows_under_the_floor, lambda x: l2_normalize_reference(x, -1, 0.5)),
    ]
    return out
