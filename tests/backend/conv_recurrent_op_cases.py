"""Op test cases for the convolutional LSTM's recurrence
(`kerasette.layers.recurrent.conv_lstm.conv_lstm_sequence`, a composition of ops: the input
convolution over every step at once, then per step the recurrent 'same' convolution and the
gates) and its N-D convolution (`conv_nd`: 1-D and 3-D through the 2-D op).

`tests/backend/op_cases.py` collects these: each is compared with the plain numpy loops below
(`conv_nd_reference`, `conv_lstm_reference`, one output position and one step at a time, each
gate's convolution separately as Keras writes them) and checked with float64 central
differences through time, for every input: the sequence, the initial states, the kernel, the
recurrent kernel and the bias. Options: ranks 1, 2 and 3, 'valid' and 'same', strides,
dilation, go_backwards, last output or every step, masks (with and without zero outputs), and
the per-gate dropout masks of the input and of the state.
"""

from __future__ import annotations

import numpy as np

from kerasette import activations
from kerasette.backend import ops
from kerasette.layers.recurrent.conv_lstm import conv_lstm_sequence, conv_nd
from tests.backend.recurrent_op_cases import activation

GATES = 4


def _same_pad(n: int, extent: int, stride: int) -> tuple[int, int]:
    out = -(-n // stride)
    total = max((out - 1) * stride + extent - n, 0)
    return total // 2, total - total // 2


def conv_nd_reference(x, kernel, bias=None, strides=None, padding="valid", dilation=None, groups=1):
    """Slow channels-last N-D cross-correlation (TensorFlow's 'same' split), one output
    position and one kernel tap at a time, in float64."""
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    rank = x.ndim - 2
    strides, dilation = tuple(strides or (1,) * rank), tuple(dilation or (1,) * rank)
    taps = kernel.shape[:rank]
    extent = [(k - 1) * d + 1 for k, d in zip(taps, dilation)]
    pads = [_same_pad(n, e, s) if padding == "same" else (0, 0)
            for n, e, s in zip(x.shape[1:-1], extent, strides)]
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    sizes = [(n - e) // s + 1 for n, e, s in zip(xp.shape[1:-1], extent, strides)]
    cin, filters = kernel.shape[-2], kernel.shape[-1]
    per_group = filters // groups
    out = np.zeros((x.shape[0], *sizes, filters))
    for pos in np.ndindex(*sizes):
        for tap in np.ndindex(*taps):
            at = tuple(p * s + t * d for p, s, t, d in zip(pos, strides, tap, dilation))
            v = xp[(slice(None), *at)]
            for g in range(groups):
                out[(slice(None), *pos, slice(g * per_group, (g + 1) * per_group))] += \
                    v[:, g * cin:(g + 1) * cin] @ kernel[tap][:, g * per_group:(g + 1) * per_group]
    return out if bias is None else out + bias


def conv_lstm_reference(x, h, c, kernel, recurrent_kernel, bias=None, strides=None, padding="valid", dilation=None,
                        act="tanh", ract="sigmoid", go_backwards=False, mask=None, sequences=True,
                        zero_output_for_mask=False, input_masks=None, recurrent_masks=None):
    """The convolutional LSTM as Keras writes it: per step and per gate, the input convolution
    of the (masked) step input plus the 'same' convolution of the (masked) state; channels-last."""
    f = recurrent_kernel.shape[-1] // GATES
    rank = x.ndim - 3
    ones = (1,) * rank
    order = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    previous, outputs = np.zeros(h.shape), []
    for t in order:
        z = []
        for k in range(GATES):
            quarter = (Ellipsis, slice(k * f, (k + 1) * f))
            x_k = x[:, t] if input_masks is None else x[:, t] * input_masks[k]
            h_k = h if recurrent_masks is None else h * recurrent_masks[k]
            z.append(conv_nd_reference(x_k, kernel[quarter], None if bias is None else bias[k * f:(k + 1) * f],
                                       strides, padding, dilation)
                     + conv_nd_reference(h_k, recurrent_kernel[quarter], None, ones, "same", ones))
        i, forget, o = (activation(ract, z[k]) for k in (0, 1, 3))
        c_new = forget * c + i * activation(act, z[2])
        h_new = o * activation(act, c_new)
        out = h_new
        if mask is not None:
            keep = mask[:, t].reshape((-1,) + (1,) * (h.ndim - 1))
            h_new, c_new = np.where(keep, h_new, h), np.where(keep, c_new, c)
            out = np.where(keep, out, previous)
            if zero_output_for_mask and sequences:
                outputs.append(np.where(keep, out, 0.0))
                h, c, previous = h_new, c_new, out
                continue
        h, c, previous = h_new, c_new, out
        outputs.append(out)
    return (np.stack(outputs, axis=1) if sequences else previous), h, c


_ACT = {"tanh": activations.tanh, "sigmoid": activations.sigmoid, "linear": activations.linear,
        "hard_sigmoid": activations.hard_sigmoid, "relu": activations.relu}


def _lstm_case(Case, tag, rank, batch, steps, spatial, channels, filters, kernel_size, **opts):  # noqa: N803
    """A case over (x, h0, c0, kernel, recurrent_kernel, bias) with the options ``opts``
    (strides, padding, dilation, go_backwards, sequences, mask, zero_output_for_mask, dropout
    masks drawn from a fixed generator, act, ract)."""
    rng = np.random.default_rng(len(tag))
    strides = opts.get("strides", (1,) * rank)
    dilation = opts.get("dilation", (1,) * rank)
    padding = opts.get("padding", "valid")
    extent = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation)]
    out_spatial = tuple(-(-n // s) if padding == "same" else (n - e) // s + 1
                        for n, e, s in zip(spatial, extent, strides))
    state = (batch, *out_spatial, filters)
    mask = opts.get("mask")
    if mask is not None:
        mask = rng.random((batch, steps)) < mask
        mask[0, 0], mask[-1, -1] = False, True
    input_masks = (rng.random((GATES, batch, *spatial, channels)) >= 0.3) / 0.7 if opts.get("dropout") else None
    recurrent_masks = (rng.random((GATES, *state)) >= 0.4) / 0.6 if opts.get("dropout") else None
    act, ract = opts.get("act", "tanh"), opts.get("ract", "sigmoid")
    common = dict(strides=strides, padding=padding, dilation=dilation, go_backwards=opts.get("go_backwards", False),
                  mask=mask, sequences=opts.get("sequences", True),
                  zero_output_for_mask=opts.get("zero_output_for_mask", False), input_masks=input_masks,
                  recurrent_masks=recurrent_masks, fused=opts.get("fused"))

    def fn(x, h, c, kernel, recurrent_kernel, bias):
        out, h, c = conv_lstm_sequence(x, h, c, kernel, recurrent_kernel, bias, activation=_ACT[act],
                                       recurrent_activation=_ACT[ract], **common)
        # every output at once: the sequence (or last output), then the final h and c
        flat = [ops.reshape(t, (t.shape[0], -1)) for t in (out, h, c)]
        return ops.concatenate(flat, axis=1)

    def reference(x, h, c, kernel, recurrent_kernel, bias):
        kw = {k: v for k, v in common.items() if k != "fused"}
        out, h, c = conv_lstm_reference(x, h, c, kernel, recurrent_kernel, bias, act=act, ract=ract, **kw)
        return np.concatenate([t.reshape(t.shape[0], -1) for t in (out, h, c)], axis=1)

    def make(rng):
        return [rng.standard_normal((batch, steps, *spatial, channels)), 0.5 * rng.standard_normal(state),
                0.5 * rng.standard_normal(state), 0.4 * rng.standard_normal((*kernel_size, channels, GATES * filters)),
                0.4 * rng.standard_normal((*kernel_size, filters, GATES * filters)),
                0.3 * rng.standard_normal(GATES * filters)]

    names = ("conv_lstm_recurrence", "steps") if opts.get("fused", True) else ()
    names += ("conv2d", "concatenate", "getitem", "reshape", "transpose", "expand_dims", "add", "multiply",
             "sigmoid", "tanh") + (("where",) if mask is not None else ()) + (("pad",) if rank == 3 else ())
    return Case(f"conv_lstm-{tag}", names, fn, make, reference)


def cases(Case):  # noqa: N803 - the Case class of op_cases (passed in: no import cycle)
    out = [
        _lstm_case(Case, "2d-valid-sequences", 2, 2, 3, (4, 4), 2, 2, (2, 2)),
        _lstm_case(Case, "2d-same-strided-backwards-last", 2, 2, 3, (5, 4), 2, 2, (3, 2), strides=(2, 1),
                   padding="same", go_backwards=True, sequences=False),
        _lstm_case(Case, "2d-dilated-masked", 2, 3, 4, (5, 5), 1, 2, (2, 2), dilation=(2, 2), mask=0.6),
        _lstm_case(Case, "2d-masked-backwards-zero-output", 2, 3, 4, (3, 3), 2, 1, (2, 2), padding="same",
                   mask=0.5, go_backwards=True, zero_output_for_mask=True),
        _lstm_case(Case, "2d-dropout-linear-activation", 2, 2, 3, (3, 4), 2, 2, (2, 2), dropout=True,
                   act="linear"),
        _lstm_case(Case, "1d-strided", 1, 2, 3, (7,), 2, 2, (3,), strides=(2,)),
        _lstm_case(Case, "3d-same", 3, 1, 2, (3, 3, 2), 1, 1, (2, 2, 2), padding="same"),
        # the same computations step by step through ordinary ops (what rank 3 and other
        # activations run)
        _lstm_case(Case, "2d-valid-sequences-step-ops", 2, 2, 3, (4, 4), 2, 2, (2, 2), fused=False),
        _lstm_case(Case, "2d-masked-backwards-step-ops", 2, 3, 4, (3, 3), 2, 1, (2, 2), padding="same", mask=0.5,
                   go_backwards=True, fused=False),
        _lstm_case(Case, "2d-dropout-step-ops", 2, 2, 3, (3, 4), 2, 2, (2, 2), dropout=True, fused=False),
        _lstm_case(Case, "3d-same-masked-step-ops", 3, 2, 2, (2, 3, 2), 1, 1, (2, 2, 2), padding="same", mask=0.6,
                   fused=False),
        _lstm_case(Case, "3d-valid-masked-dropout-backwards", 3, 2, 3, (3, 3, 3), 1, 1, (3, 2, 2), mask=0.6,
                   dropout=True, go_backwards=True),
        # the op's other activations (inputs of relu and hard_sigmoid rarely near their kinks)
        _lstm_case(Case, "2d-relu-hard-sigmoid-masked-last", 2, 2, 3, (3, 3), 1, 2, (2, 2), act="relu",
                   ract="hard_sigmoid", mask=0.6, sequences=False),
        _lstm_case(Case, "1d-masked-dropout-linear-last", 1, 3, 4, (5,), 2, 2, (2,), mask=0.6, dropout=True,
                   act="linear", sequences=False),
    ]
    for tag, shape, kernel, opts in [
        ("1d-same-dilated", (2, 9, 3), (3, 3, 4), dict(padding="same", dilation=(2,))),
        ("3d-valid-strided", (2, 4, 3, 5, 2), (2, 2, 3, 2, 3), dict(strides=(2, 1, 2))),
        ("3d-same-grouped", (1, 3, 4, 3, 4), (3, 2, 2, 2, 4), dict(padding="same", groups=2)),
    ]:
        def fn(x, k, b, opts=opts):
            return conv_nd(x, k, b, opts.get("strides", (1,) * (x.ndim - 2)), opts.get("padding", "valid"),
                           opts.get("dilation", (1,) * (x.ndim - 2)), opts.get("groups", 1))

        def reference(x, k, b, opts=opts):
            return conv_nd_reference(x, k, b, opts.get("strides"), opts.get("padding", "valid"),
                                     opts.get("dilation"), opts.get("groups", 1))

        out.append(Case(f"conv_nd-{tag}", ("conv2d", "reshape", "getitem", "add", "pad"), fn,
                        lambda rng, s=shape, k=kernel: [rng.standard_normal(s), rng.standard_normal(k),
                                                        rng.standard_normal(k[-1])],
                        reference))
    return out
