"""The kernel loader (`kerasette.backend.kernels._loader`): kernels compile and load from the
cache on one thread of their own, whatever thread calls them first."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
from numba.core.compiler_lock import global_compiler_lock
from numba.core.errors import TypingError

from kerasette.backend.kernels import _ahead, _jit, _loader


def _thread_name():
    return threading.current_thread().name


def test_work_runs_on_the_loader_thread_and_returns_its_result():
    assert _loader.run(_thread_name) == "kerasette-kernel-loader"
    assert _loader.run(divmod, 7, 2) == (3, 1)


def test_an_exception_is_raised_on_the_calling_thread_with_its_message():
    def fail(value):
        raise ValueError(f"Invalid value. Received value={value}")

    with pytest.raises(ValueError, match="Received value=3"):
        _loader.run(fail, 3)
    assert _loader.run(_thread_name) == "kerasette-kernel-loader"  # the loader lives on


def test_work_started_on_the_loader_runs_there_at_once():
    assert _loader.run(_loader.run, _thread_name) == "kerasette-kernel-loader"


def test_a_thread_holding_numbas_compiler_lock_runs_the_work_itself():
    # a kernel typed inside another one's compile: the loader would wait for this thread's lock
    with global_compiler_lock:
        assert _loader.run(_thread_name) == threading.current_thread().name


def test_several_threads_at_once_each_get_their_own_result():
    results = {}

    def ask(index):
        results[index] = _loader.run(lambda: (index, _thread_name()))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {i: (i, "kerasette-kernel-loader") for i in range(6)}


def test_a_kernels_first_call_compiles_on_the_loader_thread():
    seen = []

    def probe(x):
        return x[0] + 1.0

    dispatcher = _jit.numba.njit(cache=False)(probe)
    compile_numba = dispatcher.compile
    dispatcher.compile = lambda sig: seen.append(_thread_name()) or compile_numba(sig)
    _ahead.hook(dispatcher)
    assert dispatcher(np.arange(3.0)) == 1.0
    assert dispatcher(np.arange(3.0)) == 1.0  # compiled once
    assert seen == ["kerasette-kernel-loader"]


def test_a_kernels_typing_error_reaches_the_caller():
    def needs_array(x):
        return x[0]

    dispatcher = _jit.numba.njit(cache=False)(needs_array)
    _ahead.hook(dispatcher)
    with pytest.raises(TypingError, match="needs_array"):
        dispatcher(1.5)


def test_a_forked_child_starts_a_loader_of_its_own():
    code = """
import os
from kerasette.backend.kernels import _loader
import threading
assert _loader.run(lambda: threading.current_thread().name) == "kerasette-kernel-loader"
pid = os.fork()
if pid == 0:
    os._exit(0 if _loader.run(lambda: threading.current_thread().name) == "kerasette-kernel-loader" else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "0", out.stderr


def test_the_first_job_of_a_new_loader_may_hand_over_another():
    # the loader knows itself from its first job on (a C function readied inside a kernel's
    # compile, in a new process, had waited for the loader on the loader itself)
    code = """
import threading
from kerasette.backend.kernels import _loader
print(_loader.run(_loader.run, lambda: threading.current_thread().name))
"""
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "kerasette-kernel-loader", out.stderr
