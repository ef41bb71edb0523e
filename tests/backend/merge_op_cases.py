"""Op test cases for the merge layers' computations (`kerasette.layers.merge`).

Dot and the elementwise merges add no op of their own: they compose ``transpose``, ``reshape``,
``matmul``, ``expand_dims`` and the elementwise ops. These cases put those compositions
(``batch_dot`` over each kind of axis pair, the L2 normalisation of ``Dot(normalize=True)``, and
broadcasting merges of inputs of different ranks) through the forward comparison and the float64
central-difference gradient check of `tests/backend/op_cases.py`.
"""

from __future__ import annotations

import numpy as np

from kerasette.layers.merge import Add, Average, Maximum, Multiply, batch_dot, l2_normalize


def _normal(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def _unit(x, axis):
    return x / np.sqrt((x**2).sum(axis, keepdims=True))


def cases(Case):  # noqa: N803 - the Case class of op_cases (passed in: no import cycle)
    dot_ops = ("transpose", "reshape", "matmul")
    out = [
        Case("batch_dot-vectors", dot_ops, lambda x, y: batch_dot(x, y, (1, 1)), _normal((3, 4), (3, 4)),
             lambda x, y: (x * y).sum(1, keepdims=True)),
        Case("batch_dot-pair-1-2", dot_ops, lambda x, y: batch_dot(x, y, (1, 2)), _normal((2, 3, 5), (2, 4, 3)),
             lambda x, y: np.einsum("bki,bjk->bij", x, y)),
        Case("batch_dot-4d-with-3d", dot_ops, lambda x, y: batch_dot(x, y, (3, 1)), _normal((2, 2, 3, 4), (2, 4, 3)),
             lambda x, y: np.einsum("bijk,bkl->bijl", x, y)),
        Case("l2_normalize", ("sqrt", "sum", "square", "maximum", "divide"), lambda x: l2_normalize(x, 1),
             _normal((3, 4, 2)), lambda x: _unit(x, 1)),
        Case("cosine-dot", dot_ops + ("sqrt", "divide"),
             lambda x, y: batch_dot(l2_normalize(x, 2), l2_normalize(y, 2), (2, 2)), _normal((2, 3, 4), (2, 5, 4)),
             lambda x, y: np.einsum("bik,bjk->bij", _unit(x, 2), _unit(y, 2))),
    ]
    for cls, reference in [(Add, lambda x, y: x + y[:, None]), (Multiply, lambda x, y: x * y[:, None]),
                           (Average, lambda x, y: (x + y[:, None]) / 2)]:
        out.append(Case(f"merge-{cls.__name__}-broadcast", ("expand_dims",),
                        lambda x, y, c=cls: c().call([x, y]), _normal((2, 3, 4), (2, 4)), reference))
    # distinct values: no ties for the maximum's gradient
    out.append(Case("merge-Maximum-broadcast", ("expand_dims", "maximum"), lambda x, y: Maximum().call([x, y]),
                    lambda rng: [rng.permutation(24).reshape(2, 3, 4) * 0.5, rng.permutation(8).reshape(2, 4) + 0.25],
                    lambda x, y: np.maximum(x, y[:, None])))
    return out
