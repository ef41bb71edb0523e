"""Compiling ahead, the scheduling (`kerasette.backend.kernels._ahead`): a process waiting for the
other compiles the model's next listed kernel meanwhile, and a kernel whose callees the other
process is compiling is passed over rather than waited for. Stand-in kernels, no numba compile."""

from __future__ import annotations

import threading
import types

import pytest
from numba import types as nt

from kerasette.backend.kernels import _ahead

ARGS = (nt.float64[::1],)


class _Kernel:
    """A stand-in for a numba dispatcher, hooked like one; ``calls``: the kernels it readies first
    (as `_jit.kernel`'s ``calls`` does), through their hooked ``compile``."""

    def __init__(self, name, calls=(), log=None):
        def func():
            pass

        func.__qualname__ = func.__name__ = name
        func.__module__ = __name__
        self.py_func, self.overloads, self.log = func, {}, log
        prepare = (lambda args: [callee.compile(args) for callee in calls]) if calls else None
        _ahead.hook(self, prepare)

    def compile(self, sig):  # numba's compile: records the kernel when it compiles (or loads) it
        if tuple(sig) in self.overloads:
            return self.py_func.__name__
        self.log.append(self.py_func.__name__)
        self.overloads[tuple(sig)] = object()
        return self.py_func.__name__


LOG: list[str] = []
CALLEE = _Kernel("callee", log=LOG)
FIRST = _Kernel("first", log=LOG)
CALLER = _Kernel("caller", calls=(CALLEE,), log=LOG)
LAST = _Kernel("last", log=LOG)
KERNELS = (FIRST, CALLER, CALLEE, LAST)  # the list's order: a model's first use


@pytest.fixture
def shared(monkeypatch, tmp_path):
    """The four kernels listed as one group, a claims folder and a live 'other process'."""
    LOG.clear()
    entries = {}
    for kernel in KERNELS:
        kernel.overloads.clear()
        entries[_ahead._text(__name__, kernel.py_func.__name__, ARGS)] = (__name__, kernel.py_func.__name__, ARGS, 0)
    for key, value in (("entries", entries), ("dir", tmp_path), ("held", 0), ("stealing", False),
                       ("preparing", set()), ("no_wait", False),
                       ("helper", types.SimpleNamespace(poll=lambda: None))):
        monkeypatch.setitem(_ahead._state, key, value)

    def path(kernel, suffix):
        return tmp_path / f"{_ahead._key(_ahead._text(__name__, kernel.py_func.__name__, ARGS))}.{suffix}"

    return path


def test_a_waiting_process_compiles_the_next_listed_kernels_meanwhile(shared):
    shared(FIRST, "claim").touch()  # the other process compiles FIRST...
    timer = threading.Timer(0.5, lambda: (LOG.append("other: first"), shared(FIRST, "done").touch()))
    timer.start()
    assert FIRST.compile(ARGS) == "first"
    timer.join()
    # ...while this one compiles the rest, the caller's callee first, then loads FIRST
    assert LOG == ["callee", "caller", "last", "other: first", "first"]


def test_a_kernel_whose_callee_the_other_process_compiles_is_passed_over(shared):
    shared(CALLEE, "claim").touch()  # the other process is compiling CALLEE
    assert _ahead._compile_next(shared(FIRST, "x").parent)  # the helper's order: from the end
    assert _ahead._compile_next(shared(FIRST, "x").parent)
    assert LOG == ["last", "first"]  # CALLER passed over, not waited for, and not claimed
    assert not shared(CALLER, "claim").exists()
    assert _ahead._compile_next(shared(FIRST, "x").parent)  # only CALLER is left: try again later
    assert LOG == ["last", "first"]
    shared(CALLEE, "done").touch()
    assert _ahead._compile_next(shared(FIRST, "x").parent)
    assert LOG == ["last", "first", "callee", "caller"]  # CALLEE loaded (from the cache), CALLER compiled
    assert not _ahead._compile_next(shared(FIRST, "x").parent)  # nothing left


def test_a_process_compiling_a_claimed_kernel_only_waits(shared):
    """Inside a claimed kernel's compile (a callee's wait), nothing else is taken up: each wait is
    then for a callee, so two processes cannot wait on each other."""
    shared(CALLEE, "claim").touch()
    timer = threading.Timer(0.3, lambda: (LOG.append("other: callee"), shared(CALLEE, "done").touch()))
    timer.start()
    _ahead._state["held"] = 1  # as inside the compile of a claimed kernel
    assert CALLEE.compile(ARGS) == "callee"
    timer.join()
    assert LOG == ["other: callee", "callee"]


def test_the_helper_takes_c_functions_first(shared, monkeypatch):
    monkeypatch.setattr(CALLEE, "symbol", lambda dtype: "x", raising=False)  # CALLEE as a C function
    assert [e[1] for _, e in _ahead._helper_order()] == ["callee", "last", "caller", "first"]

