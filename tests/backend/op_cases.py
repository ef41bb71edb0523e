"""The op test table: for every op in kerasette.backend.ops, inputs, a call and a numpy reference.

Each `Case` is used twice: `test_ops_forward` compares the op's float64 output with the numpy
reference, `test_ops_gradients` checks its backward pass with central differences. Inputs are
chosen away from kinks (ReLU at 0, ties in max and max-pooling, clip bounds).
"""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
from collections.abc import Callable

import numpy as np

from kerasette.backend import ops
from tests.helpers import conv2d_reference, max_pool2d_reference, positive, spaced


@dataclasses.dataclass
class Case:
    """One op call to test.

    Attributes:
        id: the pytest id.
        ops: names of the ops in kerasette.backend.ops that the call exercises.
        fn: maps Tensors to a Tensor.
        make: rng -> list of input arrays.
        reference: the expected output from the arrays (None: tested separately).
        wrt: indices of the inputs to check gradients for (None: every float input).
        eps: the central differences' step (None: `tests.helpers.EPS`).
    """

    id: str
    ops: tuple[str, ...]
    fn: Callable
    make: Callable
    reference: Callable | None
    wrt: list[int] | None = None
    eps: float | None = None


def _normal(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def _spaced_pair(shape_a, shape_b, **kwargs):
    """Two arrays whose values are all distinct (no ties for maximum/minimum)."""

    def make(rng):
        na, nb = int(np.prod(shape_a)), int(np.prod(shape_b))
        values = spaced((na + nb,), rng, **kwargs)
        return [values[:na].reshape(shape_a), values[na:].reshape(shape_b)]

    return make


def _log_softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


BROADCAST_SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 4)), ((2, 1, 4), (3, 1)), ((3, 2), ())]


def _elementwise_cases():
    cases = []
    for sa, sb in BROADCAST_SHAPES:
        tag = f"{sa}-{sb}".replace(" ", "")
        cases += [
            Case(f"add{tag}", ("add",), ops.add, _normal(sa, sb), np.add),
            Case(f"subtract{tag}", ("subtract",), ops.subtract, _normal(sa, sb), np.subtract),
            Case(f"multiply{tag}", ("multiply",), ops.multiply, _normal(sa, sb), np.multiply),
            Case(f"divide{tag}", ("divide",), ops.divide,
                 lambda rng, sa=sa, sb=sb: [rng.standard_normal(sa),
                                            positive(sb, rng) * rng.choice([-1.0, 1.0], sb)],
                 np.divide),
            Case(f"power{tag}", ("power",), ops.power,
                 lambda rng, sa=sa, sb=sb: [positive(sa, rng), rng.uniform(-2, 2, sb)], np.power),
            Case(f"maximum{tag}", ("maximum",), ops.maximum, _spaced_pair(sa, sb), np.maximum),
            Case(f"minimum{tag}", ("minimum",), ops.minimum, _spaced_pair(sa, sb), np.minimum),
        ]
    cases += [
        # an integer power of negative bases: only the base is differentiable
        Case("power-negative-base", ("power",), ops.power,
             lambda rng: [spaced((3, 4), rng), np.array(3.0)], np.power, wrt=[0]),
        Case("negative", ("negative",), ops.negative, _normal((3, 4)), np.negative),
        Case("exp", ("exp",), ops.exp, _normal((3, 4)), np.exp),
        Case("log", ("log",), ops.log, lambda rng: [positive((3, 4), rng)], np.log),
        Case("sqrt", ("sqrt",), ops.sqrt, lambda rng: [positive((3, 4), rng)], np.sqrt),
        Case("square", ("square",), ops.square, _normal((3, 4)), np.square),
        Case("abs", ("abs",), ops.abs, lambda rng: [spaced((3, 4), rng)], np.abs),
        Case("clip", ("clip",), lambda x: ops.clip(x, -0.5, 0.7),
             lambda rng: [spaced((4, 5), rng, avoid=(-0.5, 0.7))], lambda x: np.clip(x, -0.5, 0.7)),
        # float -> float; the float32 round trip and its gradient's dtype are tested separately
        Case("cast", ("cast",), lambda x: ops.cast(x, "float64"), _normal((3, 4)), lambda x: x),
        Case("where", ("where",), ops.where,
             lambda rng: [rng.random((3, 4)) > 0.5, rng.standard_normal((3, 4)), rng.standard_normal((3, 4))],
             np.where),
        Case("where-broadcast", ("where",), ops.where,
             lambda rng: [rng.random((3, 1)) > 0.5, rng.standard_normal((2, 3, 4)), rng.standard_normal((4,))],
             np.where),
        Case("where-scalar-branch", ("where",), lambda c, x: ops.where(c, x, 0.0),
             lambda rng: [np.array([True, False, True]), rng.standard_normal((2, 3))],
             lambda c, x: np.where(c, x, 0.0)),
    ]
    return cases


def _preactivation_away_from_zero(make, preactivation, margin=1e-2):
    """Draws inputs until the values fed to a fused ReLU are all at least ``margin`` from 0."""

    def draw(rng):
        for _ in range(1000):
            arrays = make(rng)
            if np.abs(preactivation(*arrays)).min() > margin:
                return arrays
        raise RuntimeError("could not draw inputs away from the ReLU kink")

    return draw


def _dense_ref(x, k, b=None, relu=False):
    out = x @ k + (0 if b is None else b)
    return np.maximum(out, 0) if relu else out


def _linalg_cases():
    return [
        Case("matmul-2d", ("matmul",), ops.matmul, _normal((3, 4), (4, 5)), np.matmul),
        Case("matmul-batched", ("matmul",), ops.matmul, _normal((2, 3, 4), (2, 4, 5)), np.matmul),
        Case("matmul-broadcast", ("matmul",), ops.matmul, _normal((2, 1, 3, 4), (3, 4, 2)), np.matmul),
        Case("matmul-broadcast-left", ("matmul",), ops.matmul, _normal((3, 4), (2, 4, 5)), np.matmul),
        Case("dense-bias", ("dense",), ops.dense, _normal((4, 3), (3, 5), (5,)), _dense_ref),
        Case("dense-no-bias", ("dense",), ops.dense, _normal((4, 3), (3, 5)), _dense_ref),
        Case("dense-3d-input", ("dense",), ops.dense, _normal((2, 3, 4), (4, 5), (5,)), _dense_ref),
        Case("dense-relu", ("dense",), lambda x, k, b: ops.dense(x, k, b, relu=True),
             _preactivation_away_from_zero(_normal((4, 3), (3, 5), (5,)), _dense_ref),
             lambda x, k, b: _dense_ref(x, k, b, relu=True)),
        Case("dense-relu-no-bias", ("dense",), lambda x, k: ops.dense(x, k, relu=True),
             _preactivation_away_from_zero(_normal((4, 3), (3, 5)), _dense_ref),
             lambda x, k: _dense_ref(x, k, relu=True)),
        Case("bias_add-channels_last", ("bias_add",), ops.bias_add, _normal((2, 3, 4), (4,)), np.add),
        Case("bias_add-channels_last-4d", ("bias_add",), ops.bias_add, _normal((2, 3, 3, 4), (4,)), np.add),
        Case("bias_add-channels_first", ("bias_add",),
             lambda x, b: ops.bias_add(x, b, "channels_first"), _normal((2, 4, 3, 3), (4,)),
             lambda x, b: x + b[None, :, None, None]),
        Case("bias_add-channels_first-2d", ("bias_add",),
             lambda x, b: ops.bias_add(x, b, "channels_first"), _normal((3, 4), (4,)), np.add),
    ]


def _shape_cases():
    fancy = (slice(None), [0, 2, 0, 3])  # a repeated index: gradients must add up
    return [
        Case("reshape", ("reshape",), lambda x: ops.reshape(x, (4, -1)), _normal((2, 3, 4)),
             lambda x: x.reshape(4, -1)),
        Case("flatten", ("flatten",), ops.flatten, _normal((2, 3, 4)), lambda x: x.reshape(2, 12)),
        Case("transpose-reverse", ("transpose",), ops.transpose, _normal((2, 3, 4)), np.transpose),
        Case("transpose-axes", ("transpose",), lambda x: ops.transpose(x, (1, 0, 2)), _normal((2, 3, 4)),
             lambda x: np.transpose(x, (1, 0, 2))),
        Case("getitem-slice", ("getitem",), lambda x: ops.getitem(x, (slice(1, None), slice(None, None, -2))),
             _normal((3, 5)), lambda x: x[1:, ::-2]),
        Case("getitem-int", ("getitem",), lambda x: ops.getitem(x, 1), _normal((3, 5)), lambda x: x[1]),
        Case("getitem-repeated", ("getitem",), lambda x: ops.getitem(x, fancy), _normal((3, 5)),
             lambda x: x[fancy]),
        Case("expand_dims-last", ("expand_dims",), lambda x: ops.expand_dims(x, -1), _normal((2, 3)),
             lambda x: x[..., None]),
        Case("expand_dims-middle", ("expand_dims",), lambda x: ops.expand_dims(x, 1), _normal((2, 3)),
             lambda x: x[:, None]),
        Case("tile", ("tile",), lambda x: ops.tile(x, (2, 1, 3)), _normal((2, 3, 2)),
             lambda x: np.tile(x, (2, 1, 3))),
        Case("tile-int", ("tile",), lambda x: ops.tile(x, 3), _normal((2, 3)), lambda x: np.tile(x, 3)),
        Case("tile-new-axes", ("tile",), lambda x: ops.tile(x, (2, 2, 1)), _normal((3, 2)),
             lambda x: np.tile(x, (2, 2, 1))),
        Case("getitem-mask", ("getitem",), lambda x: ops.getitem(x, np.array([True, False, True])),
             _normal((3, 5)), lambda x: x[[0, 2]]),
        Case("concatenate-axis1", ("concatenate",), lambda a, b, c: ops.concatenate([a, b, c], axis=1),
             _normal((2, 1, 3), (2, 4, 3), (2, 2, 3)), lambda a, b, c: np.concatenate([a, b, c], axis=1)),
        Case("concatenate-last", ("concatenate",), lambda a, b: ops.concatenate([a, b]),
             _normal((3, 2), (3, 5)), lambda a, b: np.concatenate([a, b], axis=-1)),
    ]


AXES = [None, 0, -1, (0, 2)]


def _reduce_cases():
    cases = []
    for name, ref in (("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min)):
        op = getattr(ops, name)
        for axis in AXES:
            for keepdims in (False, True):
                cases.append(Case(
                    f"{name}-axis{axis}-keepdims{keepdims}".replace(" ", ""), (name,),
                    lambda x, op=op, axis=axis, keepdims=keepdims: op(x, axis, keepdims),
                    lambda rng: [spaced((2, 3, 4), rng)],
                    lambda x, ref=ref, axis=axis, keepdims=keepdims: ref(x, axis=axis, keepdims=keepdims),
                ))
    for axis in AXES:
        for keepdims in (False, True):
            cases.append(Case(
                f"prod-axis{axis}-keepdims{keepdims}".replace(" ", ""), ("prod",),
                lambda x, axis=axis, keepdims=keepdims: ops.prod(x, axis, keepdims),
                lambda rng: [rng.uniform(0.5, 1.5, (2, 3, 4)) * rng.choice([-1.0, 1.0], (2, 3, 4))],
                lambda x, axis=axis, keepdims=keepdims: np.prod(x, axis=axis, keepdims=keepdims),
            ))
    # zeros: the gradient of a value is the product of the others, which a division would lose
    cases += [
        Case("prod-one-zero", ("prod",), lambda x: ops.prod(x, axis=1), lambda rng: [_with_zeros(rng, [(0, 1)])],
             lambda x: np.prod(x, axis=1)),
        Case("prod-two-zeros", ("prod",), lambda x: ops.prod(x, axis=(0, 2)),
             lambda rng: [_with_zeros(rng, [(0, 1, 0), (1, 1, 3), (0, 2, 2)])],
             lambda x: np.prod(x, axis=(0, 2))),
    ]
    return cases


def _with_zeros(rng, where, shape=(2, 3, 4)):
    """Values in [0.5, 1.5] with zeros at the indices in ``where`` (an index may zero a row)."""
    x = rng.uniform(0.5, 1.5, shape)
    for index in where:
        x[index] = 0.0
    return x


def _nn_cases():
    def cce_probs(rng):  # unnormalised probabilities well inside (eps, 1 - eps)
        return [rng.uniform(0, 1, (4, 5)), rng.uniform(0.05, 1.0, (4, 5))]

    def bce_probs(rng):
        return [rng.uniform(0, 1, (4, 3)), rng.uniform(0.05, 0.95, (4, 3))]

    def bce_ref(t, p):
        return -(t * np.log(p) + (1 - t) * np.log(1 - p))

    return [
        Case("relu", ("relu",), ops.relu, lambda rng: [spaced((3, 4), rng)], lambda x: np.maximum(x, 0)),
        Case("sigmoid", ("sigmoid",), ops.sigmoid, lambda rng: [spaced((3, 4), rng, -8, 8)], _sigmoid),
        Case("tanh", ("tanh",), ops.tanh, _normal((3, 4)), np.tanh),
        Case("elu", ("elu",), ops.elu, lambda rng: [spaced((3, 4), rng)],
             lambda x: np.where(x > 0, x, np.exp(x) - 1)),
        Case("elu-alpha", ("elu",), lambda x: ops.elu(x, alpha=0.3), lambda rng: [spaced((3, 4), rng, -4, 2)],
             lambda x: np.where(x > 0, x, 0.3 * (np.exp(x) - 1))),
        Case("softplus", ("softplus",), ops.softplus, lambda rng: [spaced((3, 4), rng, -8, 8)],
             lambda x: np.logaddexp(0, x)),
        Case("softsign", ("softsign",), ops.softsign, lambda rng: [spaced((3, 4), rng)],
             lambda x: x / (1 + np.abs(x))),
        Case("softmax", ("softmax",), ops.softmax, _normal((3, 4)),
             lambda x: np.exp(_log_softmax(x))),
        Case("softmax-axis0", ("softmax",), lambda x: ops.softmax(x, axis=0), _normal((3, 4)),
             lambda x: np.exp(_log_softmax(x, 0))),
        Case("log_softmax", ("log_softmax",), ops.log_softmax, _normal((3, 4)), _log_softmax),
        Case("log_softmax-axis1", ("log_softmax",), lambda x: ops.log_softmax(x, axis=1),
             _normal((2, 3, 4)), lambda x: _log_softmax(x, 1)),
        Case("dropout", ("dropout",), lambda x: ops.dropout(x, 0.4, np.random.default_rng(3)),
             _normal((6, 5)), None),
        Case("softmax_cross_entropy", ("softmax_cross_entropy",), ops.softmax_cross_entropy,
             lambda rng: [rng.standard_normal((4, 5)) * 3, rng.uniform(0, 1, (4, 5))],
             lambda z, t: -(t * _log_softmax(z)).sum(-1)),
        Case("categorical_crossentropy-probs", ("categorical_crossentropy",),
             ops.categorical_crossentropy, cce_probs,
             lambda t, p: -(t * np.log(p / p.sum(-1, keepdims=True))).sum(-1)),
        Case("categorical_crossentropy-softmax", ("categorical_crossentropy", "softmax"),
             lambda t, z: ops.categorical_crossentropy(t, ops.softmax(z)),
             lambda rng: [rng.uniform(0, 1, (4, 5)), rng.standard_normal((4, 5)) * 3],
             lambda t, z: -(t * _log_softmax(z)).sum(-1)),
        Case("categorical_crossentropy-from_logits", ("categorical_crossentropy",),
             lambda t, z: ops.categorical_crossentropy(t, z, from_logits=True),
             lambda rng: [rng.uniform(0, 1, (4, 5)), rng.standard_normal((4, 5)) * 3],
             lambda t, z: -(t * _log_softmax(z)).sum(-1)),
        Case("binary_crossentropy-probs", ("binary_crossentropy",), ops.binary_crossentropy, bce_probs,
             bce_ref),
        Case("binary_crossentropy-sigmoid", ("binary_crossentropy", "sigmoid"),
             lambda t, z: ops.binary_crossentropy(t, ops.sigmoid(z)),
             lambda rng: [rng.uniform(0, 1, (4, 3)), rng.standard_normal((4, 3)) * 3],
             lambda t, z: bce_ref(t, _sigmoid(z))),
        Case("binary_crossentropy-from_logits", ("binary_crossentropy",),
             lambda t, z: ops.binary_crossentropy(t, z, from_logits=True),
             lambda rng: [rng.uniform(0, 1, (4, 3)), rng.standard_normal((4, 3)) * 3],
             lambda t, z: bce_ref(t, _sigmoid(z))),
    ]


CONV_SETTINGS = [
    # (x shape, kernel shape, strides, padding)
    ((2, 5, 5, 2), (3, 3, 2, 3), (1, 1), "valid"),
    ((2, 5, 5, 2), (3, 3, 2, 3), (1, 1), "same"),
    ((2, 5, 5, 2), (3, 3, 2, 3), (2, 2), "valid"),
    ((2, 6, 6, 2), (3, 3, 2, 3), (2, 2), "same"),
    ((1, 6, 5, 2), (2, 2, 2, 3), (2, 2), "same"),  # even kernel: asymmetric 'same' padding
    ((1, 5, 7, 3), (2, 3, 3, 2), (1, 2), "valid"),
    ((2, 4, 4, 3), (1, 1, 3, 2), (1, 1), "valid"),  # 1x1 kernel: the plain matmul path
    ((1, 7, 6, 16), (3, 3, 16, 16), (1, 1), "valid"),  # Winograd F(4x4, 3x3), partial tiles
    ((1, 5, 6, 16), (3, 3, 16, 17), (1, 1), "same"),  # Winograd with padding
    ((1, 5, 8, 2), (3, 3, 2, 16), (1, 1), "same"),  # direct SIMD kernels in float64 (few input channels)
    ((1, 6, 9, 3), (3, 2, 3, 16), (2, 1), "valid"),  # direct, strided, 6-pixel blocks and a tail
]


def _conv_cases():
    cases = []
    for x_shape, k_shape, strides, padding in CONV_SETTINGS:
        tag = f"{x_shape[1]}x{x_shape[2]}-k{k_shape[0]}x{k_shape[1]}-s{strides[0]}{strides[1]}-{padding}"
        cases.append(Case(
            f"conv2d-{tag}", ("conv2d",),
            lambda x, k, s=strides, p=padding: ops.conv2d(x, k, strides=s, padding=p),
            _normal(x_shape, k_shape),
            lambda x, k, s=strides, p=padding: conv2d_reference(x, k, strides=s, padding=p)))
    x_shape, k_shape = (2, 5, 5, 2), (3, 3, 2, 3)
    for strides, padding in (((1, 1), "same"), ((2, 2), "valid")):
        tag = f"s{strides[0]}-{padding}"
        cases.append(Case(
            f"conv2d-bias-{tag}", ("conv2d",),
            lambda x, k, b, s=strides, p=padding: ops.conv2d(x, k, b, strides=s, padding=p),
            _normal(x_shape, k_shape, (3,)),
            lambda x, k, b, s=strides, p=padding: conv2d_reference(x, k, b, s, p)))

        def pre(x, k, b, s=strides, p=padding):
            return conv2d_reference(x, k, b, s, p)

        cases.append(Case(
            f"conv2d-bias-relu-{tag}", ("conv2d",),
            lambda x, k, b, s=strides, p=padding: ops.conv2d(x, k, b, strides=s, padding=p, relu=True),
            _preactivation_away_from_zero(_normal((1, 4, 4, 2), (3, 3, 2, 2), (2,)), pre, 1e-3),
            lambda x, k, b, s=strides, p=padding: conv2d_reference(x, k, b, s, p, relu=True)))
    def pre_direct(x, k, b):
        return conv2d_reference(x, k, b, (1, 1), "same")

    cases.append(Case(
        "conv2d-bias-relu-direct", ("conv2d",),
        lambda x, k, b: ops.conv2d(x, k, b, padding="same", relu=True),
        _preactivation_away_from_zero(_normal((1, 4, 7, 2), (3, 3, 2, 16), (16,)), pre_direct, 1e-3),
        lambda x, k, b: conv2d_reference(x, k, b, (1, 1), "same", relu=True)))
    return cases


POOL_SETTINGS = [
    # (x shape, pool size, strides, padding)
    ((2, 4, 4, 3), (2, 2), None, "valid"),
    ((2, 5, 5, 2), (2, 2), None, "valid"),
    ((2, 5, 5, 2), (2, 2), None, "same"),
    ((1, 5, 5, 2), (3, 3), (2, 2), "same"),
    ((1, 6, 7, 2), (2, 3), (1, 2), "valid"),
    ((1, 6, 6, 1), (3, 3), (1, 1), "same"),  # overlapping windows: one input wins several
]


def _pool_cases():
    cases = []
    for x_shape, pool, strides, padding in POOL_SETTINGS:
        tag = f"{x_shape[1]}x{x_shape[2]}-p{pool[0]}x{pool[1]}-s{strides}-{padding}".replace(" ", "")
        cases.append(Case(
            f"max_pool2d-{tag}", ("max_pool2d",),
            lambda x, pool=pool, s=strides, p=padding: ops.max_pool2d(x, pool, s, p),
            lambda rng, shape=x_shape: [spaced(shape, rng)],
            lambda x, pool=pool, s=strides, p=padding: max_pool2d_reference(x, pool, s, p)))
    return cases


def avg_pool2d_reference(x, pool_size, strides, padding):
    """Slow NHWC average pooling: each window's mean over the cells inside the image only."""
    from kerasette.utils.conv_utils import conv_output_length, padding_amounts

    strides = strides or pool_size
    n, h, w, c = x.shape
    oh = conv_output_length(h, pool_size[0], padding, strides[0])
    ow = conv_output_length(w, pool_size[1], padding, strides[1])
    top, _, left, _ = padding_amounts(h, w, pool_size, strides, padding)
    out = np.zeros((n, oh, ow, c))
    for r in range(oh):
        for q in range(ow):
            r0, q0 = r * strides[0] - top, q * strides[1] - left
            win = x[:, max(r0, 0):r0 + pool_size[0], max(q0, 0):q0 + pool_size[1], :]
            out[:, r, q, :] = win.mean(axis=(1, 2))
    return out


def _avg_pool_cases():
    return [Case(
        f"avg_pool2d-{x_shape[1]}x{x_shape[2]}-p{pool[0]}x{pool[1]}-s{strides}-{padding}".replace(" ", ""),
        ("avg_pool2d",),
        lambda x, pool=pool, s=strides, p=padding: ops.avg_pool2d(x, pool, s, p),
        _normal(x_shape),
        lambda x, pool=pool, s=strides, p=padding: avg_pool2d_reference(x, pool, s, p))
        for x_shape, pool, strides, padding in POOL_SETTINGS + [((2, 7, 6, 3), (3, 2), (2, 3), "same")]]


def batch_norm_reference(x, gamma, beta, axes, epsilon):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    shape = [1 if a in axes else n for a, n in enumerate(x.shape)]
    return (x - mean) / np.sqrt(var + epsilon) * gamma.reshape(shape) + beta.reshape(shape)


def _normalization_cases():
    cases = []
    for shape, axes in [((4, 3), (0,)), ((2, 3, 3, 4), (0, 1, 2)), ((3, 4, 2, 2), (0, 2, 3))]:
        kept = tuple(n for a, n in enumerate(shape) if a not in axes)
        cases.append(Case(
            f"batch_normalization-{shape}-{axes}".replace(" ", ""), ("batch_normalization",),
            lambda x, g, b, axes=axes: ops.batch_normalization(x, g, b, axes, 1e-3)[0],
            lambda rng, shape=shape, kept=kept: [rng.standard_normal(shape) * 2 + 1,
                                                 rng.uniform(0.5, 2, kept), rng.standard_normal(kept)],
            lambda x, g, b, axes=axes: batch_norm_reference(x, g, b, axes, 1e-3)))
    cases.append(Case(
        "batch_normalization-given-statistics", ("batch_normalization",),
        lambda x, g, b, m, v: ops.batch_normalization(x, g, b, (0, 1), 1e-3, m, v)[0],
        lambda rng: [rng.standard_normal((3, 2, 4)), rng.standard_normal(4), rng.standard_normal(4),
                     rng.standard_normal(4), rng.uniform(0.5, 2, 4)],
        lambda x, g, b, m, v: (x - m) / np.sqrt(v + 1e-3) * g + b))
    cases.append(Case(
        "batch_normalization-given-statistics-channels_first", ("batch_normalization",),
        lambda x, g, b, m, v: ops.batch_normalization(x, g, b, (0, 2, 3), 1e-3, m, v)[0],
        lambda rng: [rng.standard_normal((2, 3, 2, 2)), rng.standard_normal(3), rng.standard_normal(3),
                     rng.standard_normal(3), rng.uniform(0.5, 2, 3)],
        lambda x, g, b, m, v: ((x - m[:, None, None]) / np.sqrt(v[:, None, None] + 1e-3) * g[:, None, None]
                               + b[:, None, None])))
    cases.append(Case("thresholded_relu", ("thresholded_relu",), lambda x: ops.thresholded_relu(x, 0.7),
                      lambda rng: [spaced((3, 5), rng, -3, 3, avoid=(0.7,))],
                      lambda x: np.where(x > 0.7, x, 0.0)))
    return cases


CASES = _elementwise_cases() + _linalg_cases() + _shape_cases() + _reduce_cases() + _nn_cases() + \
    _conv_cases() + _pool_cases() + _avg_pool_cases() + _normalization_cases()

# Each family of ops added later keeps its cases in a module of its own named
# ``tests/backend/*_op_cases.py`` with a function ``cases(Case)``; all of them join the table.
for _module in sorted(pathlib.Path(__file__).parent.glob("*_op_cases.py")):
    CASES += importlib.import_module(f"tests.backend.{_module.stem}").cases(Case)
