"""Op test cases for `kerasette.backend.ops.recurrent` (simple_rnn, lstm, gru, embedding).

`tests/backend/op_cases.py` collects these: each is compared with the plain numpy step loops
below and checked with float64 central differences through time (every input: the
projections, the initial states, the recurrent kernel and bias). Options: masks (steps carried
over), recurrent masks, sequences or the last state only, the LSTM's cell state appended,
GRU reset after and before, and every activation the kernels compute (inputs kept away from the
kinks of relu and hard_sigmoid).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.ops import recurrent as rops

T, B, U = 5, 3, 4


def activation(name, x):
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "hard_sigmoid":
        return np.clip(x / 6 + 0.5, 0, 1)
    if name == "relu":
        return np.maximum(x, 0)
    return x


def _finish(hs, cs, sequences, with_cell):
    out = np.stack(hs[1:]) if sequences else hs[-1]
    if with_cell:
        cells = np.stack(cs[1:]) if sequences else cs[-1]
        out = np.concatenate([out, cells], axis=-1)
    return out


def simple_reference(xp, h0, rk, mask=None, rmask=None, act="tanh", sequences=True):
    hs = [h0]
    for t in range(len(xp)):
        h_in = hs[-1] * rmask if rmask is not None else hs[-1]
        h = activation(act, xp[t] + h_in @ rk)
        if mask is not None:
            h = np.where(mask[t][:, None], h, hs[-1])
        hs.append(h)
    return _finish(hs, None, sequences, False)


def lstm_reference(xp, h0, c0, rk, mask=None, rmask=None, act="tanh", ract="sigmoid", sequences=True,
                   with_cell=False):
    hs, cs = [h0], [c0]
    u = h0.shape[1]
    for t in range(len(xp)):
        h_in = hs[-1] * rmask if rmask is not None else hs[-1]
        z = xp[t] + h_in @ rk
        i, f = activation(ract, z[:, :u]), activation(ract, z[:, u:2 * u])
        g, o = activation(act, z[:, 2 * u:3 * u]), activation(ract, z[:, 3 * u:])
        c = f * cs[-1] + i * g
        h = o * activation(act, c)
        if mask is not None:
            h = np.where(mask[t][:, None], h, hs[-1])
            c = np.where(mask[t][:, None], c, cs[-1])
        hs.append(h)
        cs.append(c)
    return _finish(hs, cs, sequences, with_cell)


def gru_reference(xp, h0, rk, rb=None, reset_after=True, mask=None, rmask=None, act="tanh", ract="sigmoid",
                  sequences=True):
    hs = [h0]
    u = h0.shape[1]
    for t in range(len(xp)):
        h = hs[-1]
        h_in = h * rmask if rmask is not None else h
        x = xp[t]
        if reset_after:
            rec = h_in @ rk + (rb if rb is not None else 0)
            z = activation(ract, x[:, :u] + rec[:, :u])
            r = activation(ract, x[:, u:2 * u] + rec[:, u:2 * u])
            hh = activation(act, x[:, 2 * u:] + r * rec[:, 2 * u:])
        else:
            rec = h_in @ rk[:, :2 * u]
            z = activation(ract, x[:, :u] + rec[:, :u])
            r = activation(ract, x[:, u:2 * u] + rec[:, u:])
            hh = activation(act, x[:, 2 * u:] + (r * h_in) @ rk[:, 2 * u:])
        new = z * h + (1 - z) * hh
        if mask is not None:
            new = np.where(mask[t][:, None], new, h)
        hs.append(new)
    return _finish(hs, None, sequences, False)


def _mask(rng):
    mask = rng.random((T, B)) > 0.35
    mask[0, 0] = False  # a first step skipped: the output repeats the initial state
    mask[:, 1] = True
    return mask


def _inputs(kind, rng, scale=1.0, lstm_cell=True, rb=False):
    gates = {"simple": 1, "lstm": 4, "gru": 3}[kind]
    arrays = [rng.standard_normal((T, B, gates * U)) * scale, rng.standard_normal((B, U)) * 0.5]
    if kind == "lstm" and lstm_cell:
        arrays.append(rng.standard_normal((B, U)) * 0.5)
    arrays.append(rng.standard_normal((U, gates * U)) * 0.5)
    if rb:
        arrays.append(rng.standard_normal((gates * U,)) * 0.5)
    return arrays


def _away_from_kinks(kind, reference, kwargs, margin=2e-2, **inputs_kwargs):
    """Draws inputs until no pre-activation of a relu or hard_sigmoid sits near a kink: checked by
    evaluating the reference with a shifted input and comparing (a cheap, conservative test)."""

    def make(rng):
        for _ in range(200):
            arrays = _inputs(kind, rng, **inputs_kwargs)
            base = reference(*arrays, **kwargs)
            ok = True
            for sign in (-1, 1):
                moved = [a + sign * margin if i == 0 else a for i, a in enumerate(arrays)]
                change = np.abs(reference(*moved, **kwargs) - base).max()
                ok &= change < 50 * margin
            if ok:
                return arrays
        return arrays

    return make


def _gru_functions(reset_after, kw, rkw):
    """(op call, numpy reference) of a GRU case; reset after, the recurrent bias is an input."""
    if reset_after:
        def fn(xp, h0, rk, rb):
            return rops.gru(xp, h0, rk, rb, reset_after=True, **kw)

        def ref(xp, h0, rk, rb):
            return gru_reference(xp, h0, rk, rb, True, **rkw)
    else:
        def fn(xp, h0, rk):
            return rops.gru(xp, h0, rk, reset_after=False, **kw)

        def ref(xp, h0, rk):
            return gru_reference(xp, h0, rk, None, False, **rkw)
    return fn, ref


def cases(Case):  # noqa: N803 - the Case class of op_cases (passed in: no import cycle)
    out = []
    rng0 = np.random.default_rng(7)
    mask = _mask(rng0)
    rmask = rng0.uniform(0.0, 2.0, (B, U))

    settings = [
        ("", {}),
        ("last", {"sequences": False}),
        ("mask", {"mask": mask}),
        ("mask-last", {"mask": mask, "sequences": False}),
        ("recurrent-mask", {"recurrent_mask": rmask}),
        ("mask-recurrent-mask-last", {"mask": mask, "recurrent_mask": rmask, "sequences": False}),
    ]

    def ref_kwargs(kw, rename):
        kw = dict(kw)
        if "recurrent_mask" in kw:
            kw["rmask"] = kw.pop("recurrent_mask")
        for old, new in rename.items():
            if old in kw:
                kw[new] = kw.pop(old)
        return kw

    names = {"activation": "act", "recurrent_activation": "ract"}
    for tag, kw in settings + [("relu", {"activation": "relu"}), ("linear", {"activation": "linear"})]:
        rkw = ref_kwargs(kw, names)
        out.append(Case(f"simple_rnn{'-' + tag if tag else ''}", ("simple_rnn",),
                        lambda xp, h0, rk, kw=kw: rops.simple_rnn(xp, h0, rk, **kw),
                        _away_from_kinks("simple", simple_reference, rkw) if tag == "relu"
                        else (lambda rng: _inputs("simple", rng)),
                        lambda xp, h0, rk, rkw=rkw: simple_reference(xp, h0, rk, **rkw)))
    lstm_settings = settings + [
        ("cell", {"with_cell": True}),
        ("cell-last-mask", {"with_cell": True, "sequences": False, "mask": mask}),
        ("hard-sigmoid-linear", {"activation": "linear", "recurrent_activation": "hard_sigmoid"}),
    ]
    for tag, kw in lstm_settings:
        rkw = ref_kwargs(kw, names)
        make = (_away_from_kinks("lstm", lstm_reference, rkw) if "hard" in tag
                else (lambda rng: _inputs("lstm", rng)))
        out.append(Case(f"lstm{'-' + tag if tag else ''}", ("lstm",),
                        lambda xp, h0, c0, rk, kw=kw: rops.lstm(xp, h0, c0, rk, **kw), make,
                        lambda xp, h0, c0, rk, rkw=rkw: lstm_reference(xp, h0, c0, rk, **rkw)))
    gru_settings = settings + [("relu-hard-sigmoid", {"activation": "relu", "recurrent_activation": "hard_sigmoid"})]
    for reset_after in (True, False):
        for tag, kw in gru_settings:
            rkw = ref_kwargs(kw, names)
            label = f"gru-{'after' if reset_after else 'before'}{'-' + tag if tag else ''}"
            fn, ref = _gru_functions(reset_after, kw, rkw)
            make = (_away_from_kinks("gru", lambda *a, ra=reset_after, rkw=rkw: gru_reference(
                *a[:3], a[3] if ra else None, ra, **rkw), {}, rb=reset_after) if "relu" in tag
                else (lambda rng, ra=reset_after: _inputs("gru", rng, rb=ra)))
            out.append(Case(label, ("gru",), fn, make, ref))
    indices = np.array([[1, 4, 4, 0], [2, 2, 2, 3]])  # repeated rows: their gradients add up
    out += [
        Case("embedding", ("embedding",), lambda table: rops.embedding(indices, table),
             lambda rng: [rng.standard_normal((6, 3))], lambda table: table[indices]),
        Case("embedding-3d-indices", ("embedding",), lambda table: rops.embedding(indices.reshape(2, 2, 2), table),
             lambda rng: [rng.standard_normal((5, 2))], lambda table: table[indices.reshape(2, 2, 2)]),
    ]
    return out
