"""Compiling ahead (`kerasette.backend.kernels._ahead`): the claims two processes share, the list
of kernels, and a first run with a helper process filling an empty cache."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
from numba import types as nt

from kerasette.backend.kernels import _ahead, _jit
from kerasette.backend.kernels import normalization as kn

ROOT = Path(__file__).resolve().parents[2]
ARGS = (nt.float64[::1],)


def _double_first(x):
    return x[0] * 2


def _fake_kernel():
    def sample(x):
        return x
    return types.SimpleNamespace(overloads={}, py_func=sample)


@pytest.fixture
def listed(monkeypatch, tmp_path):
    """A fake kernel listed for compiling ahead, with a claims folder and a live 'other process'."""
    kernel = _fake_kernel()
    text = _ahead._text(kernel.py_func.__module__, kernel.py_func.__qualname__, ARGS)
    monkeypatch.setitem(_ahead._state, "entries", {text: (kernel.py_func.__module__, "sample", ARGS, 0)})
    monkeypatch.setitem(_ahead._state, "dir", tmp_path)
    other = types.SimpleNamespace(alive=True)
    monkeypatch.setitem(_ahead._state, "helper", types.SimpleNamespace(poll=lambda: None if other.alive else 0))
    return kernel, tmp_path / _ahead._key(text), other


def test_a_listed_kernel_is_claimed_compiled_and_marked_done(listed):
    kernel, key, _ = listed
    calls = []
    assert _ahead.compile_listed(kernel, ARGS, lambda sig: calls.append(sig) or "compiled") == "compiled"
    assert calls == [ARGS]
    assert Path(f"{key}.claim").exists() and Path(f"{key}.done").exists()


def test_done_is_written_even_when_compiling_fails(listed):
    kernel, key, _ = listed

    def fail(sig):
        raise TypeError("no such signature")

    with pytest.raises(TypeError, match="no such signature"):
        _ahead.compile_listed(kernel, ARGS, fail)
    assert Path(f"{key}.done").exists()  # the other process must not wait for it


def test_a_kernel_the_other_process_claimed_is_waited_for(listed):
    kernel, key, _ = listed
    Path(f"{key}.claim").touch()
    timeline = []
    writer = threading.Timer(0.3, lambda: (timeline.append("done"), Path(f"{key}.done").touch()))
    writer.start()
    _ahead.compile_listed(kernel, ARGS, lambda sig: timeline.append("compiled"))
    writer.join()
    assert timeline == ["done", "compiled"]  # compiled (from the cache) only after the other finished


def test_no_wait_for_a_process_that_has_ended(listed):
    kernel, key, other = listed
    Path(f"{key}.claim").touch()
    other.alive = False
    start = time.monotonic()
    assert _ahead.compile_listed(kernel, ARGS, lambda sig: "compiled here") == "compiled here"
    assert time.monotonic() - start < 1


def test_unlisted_and_already_compiled_kernels_compile_directly(listed, tmp_path):
    kernel, key, _ = listed
    assert _ahead.compile_listed(kernel, (nt.float32[::1],), lambda sig: "unlisted") == "unlisted"
    kernel.overloads[ARGS] = object()
    assert _ahead.compile_listed(kernel, ARGS, lambda sig: "loaded") == "loaded"
    assert not list(tmp_path.iterdir())  # no claim taken


def test_recording_lists_new_signatures_and_the_list_round_trips(tmp_path, monkeypatch):
    kernel = _jit.kernel(_double_first)  # a fresh dispatcher: its first call compiles (or loads)
    with _ahead.recording() as seen:
        kernel(np.arange(3, dtype=np.int16))
        kernel(np.arange(3, dtype=np.int16))  # compiled already: not listed again
    assert [(name, args) for _, name, args in seen] == [("_double_first", (nt.Array(nt.int16, 1, "C"),))]
    rows = [[("m", "a", ARGS), ("m", "b", ARGS)], [("m", "a", ARGS), ("m", "c", ARGS)]]
    path = tmp_path / "list.json"
    _ahead.write_signatures(rows, path)
    monkeypatch.setattr(_ahead, "SIGNATURES", path)
    monkeypatch.setitem(_ahead._state, "entries", None)
    entries = _ahead._entries()
    assert [(e[1], e[3]) for e in entries.values()] == [("a", 0), ("b", 0), ("c", 1)]
    assert [e[1] for _, e in _ahead._helper_order()] == ["b", "a", "c"]  # each group from its end
    data = json.loads(path.read_text())
    data["numba"] = "0.0"
    path.write_text(json.dumps(data))
    monkeypatch.setitem(_ahead._state, "entries", None)
    assert _ahead._entries() == {}  # another numba's list is not used


def test_the_shipped_list_loads_and_names_existing_kernels():
    entries = _ahead._entries()
    assert len(entries) >= 10
    for module, name, _, _ in entries.values():
        __import__(module)
        found = [v for v in vars(sys.modules[module]).values() if id(v) in _ahead._raw]
        assert any(v.py_func.__qualname__ == name for v in found), (module, name)


def test_a_first_run_shares_the_compiling_with_a_helper(tmp_path):
    """An empty cache: the process and its helper together compile the listed kernels into it;
    the helper leaves the marker, and the next run starts no helper."""
    listing = tmp_path / "list.json"
    code = f"""
import sys, numpy as np
from pathlib import Path
from kerasette.backend.kernels import _ahead, _jit
from kerasette.backend.kernels import normalization as kn
_ahead.SIGNATURES = Path({str(listing)!r})
if sys.argv[1] == "record":
    with _ahead.recording() as seen:
        kn.channel_affine_rows(np.ones((2, 3)), np.ones(3), np.zeros(3), np.float64(np.nan), np.empty((2, 3)))
        kn.moving_update(np.ones(3), np.ones(3), np.zeros(3), np.zeros(3), 0.5)
    _ahead.write_signatures([seen])
else:
    m, v = np.ones(3), np.ones(3)
    kn.moving_update(m, v, np.zeros(3), np.zeros(3), 0.5)
    assert np.allclose(m, 0.5)
    helper = _ahead._state["helper"]
    print("helper" if helper is not None else "no helper")
    if helper is not None:
        helper.wait(120)
"""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    env.pop("KERASETTE_COMPILE_AHEAD", None)

    def run(mode):
        out = subprocess.run([sys.executable, "-c", code, mode], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    run("record")
    assert len(json.loads(listing.read_text())["kernels"]) == 2
    for path in (tmp_path / "cache").rglob("*"):  # an empty cache again
        if path.is_file():
            path.unlink()
    assert run("first") == "helper"
    assert list((tmp_path / "cache").glob("kerasette-ahead-*.done"))
    assert len(list((tmp_path / "cache").rglob("*normalization*.nbc"))) >= 2  # both kernels cached
    assert run("again") == "no helper"


def test_kernels_still_compute():
    x = np.arange(6.0).reshape(2, 3)
    y = np.empty((2, 3))
    kn.channel_affine_rows(x, np.full(3, 2.0), np.ones(3), np.float64(np.nan), y)
    np.testing.assert_array_equal(y, x * 2 + 1)


def test_compiles_run_with_the_garbage_collector_paused():
    seen = []
    compile_paused = _ahead._without_gc(lambda sig: seen.append(gc.isenabled()) or sig)
    assert gc.isenabled()
    assert compile_paused(ARGS) == ARGS and seen == [False] and gc.isenabled()
    with pytest.raises(ZeroDivisionError):
        _ahead._without_gc(lambda sig: 1 / 0)(ARGS)
    assert gc.isenabled()  # restarted after a failed compile too
    gc.disable()
    try:  # a collector the program turned off stays off
        assert compile_paused(ARGS) == ARGS and seen == [False, False] and not gc.isenabled()
    finally:
        gc.enable()


def test_a_hooked_kernel_compiles_with_the_garbage_collector_paused():
    seen = []

    def probe(x):
        return x[0]

    dispatcher = _jit.numba.njit(cache=False)(probe)
    compile_numba = dispatcher.compile
    dispatcher.compile = lambda sig: seen.append(gc.isenabled()) or compile_numba(sig)
    _ahead.hook(dispatcher)
    assert dispatcher(np.arange(3.0)) == 0.0
    assert seen == [False] and gc.isenabled()
