"""The Winograd forward pass's kernel transform in the calling thread's reused buffer
(`winograd_conv.transient_transform`)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kerasette.backend import memory
from kerasette.backend.engine import conv, conv_algorithms
from kerasette.backend.engine import winograd_conv as winograd


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_as_a_new_transform_in_one_reused_aligned_buffer(dtype):
    rng = np.random.default_rng(11)
    small = rng.standard_normal((3, 3, 4, 6)).astype(dtype)
    large = rng.standard_normal((3, 3, 16, 32)).astype(dtype)
    u_large = winograd.transient_transform(large)
    np.testing.assert_array_equal(u_large, winograd._transform(large))
    assert u_large.shape == (36, 16, 32) and u_large.dtype == dtype
    assert memory.data_address(u_large) % memory.ALIGNMENT == 0
    u_small = winograd.transient_transform(small)
    np.testing.assert_array_equal(u_small, winograd._transform(small))
    assert np.shares_memory(u_small, u_large)  # the next call overwrites the last one's transform


def test_a_kept_kernel_gets_its_kept_transform():
    kept = np.random.default_rng(12).standard_normal((3, 3, 8, 8)).astype(np.float32)
    winograd.keep_transform(kept)
    u = winograd.kernel_transform(kept)
    assert winograd.transient_transform(kept) is u


def test_each_thread_has_its_own_buffer():
    rng = np.random.default_rng(13)
    mine = rng.standard_normal((3, 3, 8, 16)).astype(np.float32)
    theirs = rng.standard_normal((3, 3, 8, 16)).astype(np.float32)
    u = winograd.transient_transform(mine)
    expected = winograd._transform(mine)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(winograd.transient_transform(theirs)))
    thread.start()
    thread.join()
    np.testing.assert_array_equal(u, expected)
    assert not np.shares_memory(u, seen[0])
    np.testing.assert_array_equal(seen[0], winograd._transform(theirs))


def test_forward_passes_in_turn_with_the_buffer_reused(monkeypatch):
    """Forward passes of kernels of different sizes one after the other each see their own
    transform (made by `transient_transform`): the same bits as each alone."""
    made = []
    plain = winograd.transient_transform
    monkeypatch.setattr(winograd, "transient_transform", lambda w: made.append(w.shape) or plain(w))
    rng = np.random.default_rng(14)
    x16 = rng.standard_normal((4, 12, 12, 16)).astype(np.float32)
    w16 = rng.standard_normal((3, 3, 16, 16)).astype(np.float32)
    x32 = rng.standard_normal((4, 8, 8, 32)).astype(np.float32)
    w32 = rng.standard_normal((3, 3, 32, 32)).astype(np.float32)
    with conv_algorithms(allow=["winograd", "direct", "col2im"]):
        first = conv.conv2d_forward(x16, w16, padding="same")
        other = conv.conv2d_forward(x32, w32, padding="same")
        again = conv.conv2d_forward(x16, w16, padding="same")
        other_again = conv.conv2d_forward(x32, w32, padding="same")
    assert made == [w16.shape, w32.shape, w16.shape, w32.shape]
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(other, other_again)
    reference = np.zeros_like(first)
    winograd.conv(x16, winograd._transform(w16), (1, 1, 1, 1), reference, lambda r, s, d: np.empty(s, d), 1 << 16)
    np.testing.assert_allclose(first, reference, rtol=0, atol=0)
