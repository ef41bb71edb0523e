"""The Winograd call makers' kept layouts (`winograd_conv._layout`): a kept layout equals the one
made anew for every shape, dtype, setting and (thread, chunk) it is keyed on."""

import threading

import numpy as np
import pytest

from kerasette.backend.engine import winograd_conv
from kerasette.backend.engine.algorithms import _chunk_scratch
from kerasette.backend.engine.batch import scratch


def _signature(call):
    """A prepared call's kernel and its arguments' layout: shapes and dtypes for arrays (the
    scratch arrays' memory as well), values otherwise."""
    def arg(a):
        if isinstance(a, np.ndarray):
            return ("array", a.shape, a.dtype.str)
        return a
    return call.func.__name__, tuple(arg(a) for a in call.args)


def _calls(kind, n, hw, chans, cout, dtype, block, residual, chunk_scratch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, hw, hw, chans)).astype(dtype)
    dy = rng.standard_normal((n, hw, hw, cout)).astype(dtype)
    u = np.ones((36, chans, cout), dtype)
    pads = (1, 1, 1, 1)
    if kind == "conv":
        y = np.empty((n, hw, hw, cout), dtype)
        res = np.zeros_like(y) if residual else None
        return (winograd_conv.conv_call(x, u, pads, y, chunk_scratch, block, residual=res),)
    if kind == "input_grad":
        dx = np.empty_like(x)
        return winograd_conv.input_grad_calls(dy, np.ones((36, cout, chans), dtype), pads, dx, chunk_scratch, block)
    return winograd_conv.kernel_grad_calls(dy, x, pads, chunk_scratch, block)[0][:1]


BASE = dict(n=4, hw=8, chans=16, cout=16, dtype=np.float32, block=1 << 14, residual=False)
VARIED = [("n", 3), ("hw", 12), ("chans", 8), ("cout", 32), ("dtype", np.float64), ("block", 1 << 16),
          ("residual", True), ("chans", 24)]


@pytest.mark.parametrize("kind", ["conv", "input_grad", "weight_grad"])
@pytest.mark.parametrize("name, value", VARIED)
@pytest.mark.parametrize("channels", [16, 24], ids=["fused", "blocks"])
def test_kept_layout_follows_each_key(kind, name, value, channels):
    """Made once with the base settings, then with one setting changed: the kept call's layout
    equals a fresh one's (made with a scratch without a key, never kept). 24 channels take the
    blocks of tiles (whose size the block setting sets), 16 the fused kernels where they apply."""
    winograd_conv._LAYOUTS.clear()
    base = dict(BASE, chans=channels, cout=channels)
    changed = dict(base, **{name: value})
    for settings in (base, changed, base):
        kept = _calls(kind, **settings, chunk_scratch=_chunk_scratch(1))
        fresh = _calls(kind, **settings, chunk_scratch=lambda role, shape, dtype: scratch(role + "#1", shape, dtype))
        assert [_signature(c) for c in kept if hasattr(c, "func")] == \
            [_signature(c) for c in fresh if hasattr(c, "func")]


def test_kept_layout_is_per_thread_and_chunk():
    """Another chunk, or the same chunk of another calling thread, gets scratch arrays of its own."""
    winograd_conv._LAYOUTS.clear()

    def scratch_of(chunk_scratch):
        call = _calls("conv", **BASE, chunk_scratch=chunk_scratch)[0]
        return call.args[3]  # V

    here, other_chunk = scratch_of(_chunk_scratch(1)), scratch_of(_chunk_scratch(2))
    assert scratch_of(_chunk_scratch(1)) is here
    found = []
    thread = threading.Thread(target=lambda: found.append(scratch_of(_chunk_scratch(1))))
    thread.start()
    thread.join()
    assert not np.shares_memory(here, other_chunk)
    assert not np.shares_memory(here, found[0])
