"""Recording on or off (``no_grad``) and the running call's learning phase are each thread's own,
as PyTorch's grad mode is: one thread's ``predict`` must not turn recording off for a thread
that is training, and threads entering and leaving ``no_grad`` at once must not leave it off."""

import threading

import pytest

from kerasette import backend as K
from kerasette.backend import state
from kerasette.backend.tensor import is_grad_enabled, no_grad


def _in_thread(fn):
    seen = []
    worker = threading.Thread(target=lambda: seen.append(fn()))
    worker.start()
    worker.join()
    return seen[0]


def test_a_thread_starts_recording_whatever_another_thread_set():
    with no_grad():
        assert not is_grad_enabled()
        assert _in_thread(is_grad_enabled) is True
    assert is_grad_enabled()


def test_no_grad_in_one_thread_leaves_another_recording():
    inside, release = threading.Event(), threading.Event()

    def predict_like():
        with no_grad():
            inside.set()
            release.wait(10)

    worker = threading.Thread(target=predict_like)
    worker.start()
    inside.wait(10)
    try:
        assert is_grad_enabled()
        x = K.variable([1.0, 2.0])
        assert K.sum(x * x).requires_grad
    finally:
        release.set()
        worker.join()


def test_threads_entering_and_leaving_no_grad_together_leave_recording_on():
    # the interleaving that left recording off when the setting was one for the process:
    # A enters (saves on), B enters (saves off), A leaves (on), B leaves (off)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with no_grad():
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def second():
        a_in.wait(10)
        with no_grad():
            b_in.set()
            a_out.wait(10)

    workers = [threading.Thread(target=first), threading.Thread(target=second)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert is_grad_enabled()
    assert _in_thread(is_grad_enabled) is True


def test_the_running_phase_is_the_threads_own():
    previous = state.learning_phase.set_running(True)
    try:
        assert state.learning_phase.current()
        assert _in_thread(state.learning_phase.current) is False
    finally:
        state.learning_phase.set_running(previous)


def test_no_grad_and_enable_grad_as_decorators_nested_reused_and_raising():
    """The context managers restore the setting they found: nested in each other, one instance
    entered again inside itself, on an exception, and as decorators of a recursive function
    (each call its own instance) and of a function two threads run at once."""
    from kerasette.backend.tensor import enable_grad

    with no_grad():
        assert not is_grad_enabled()
        with enable_grad():
            assert is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()
    again = no_grad()
    with again:
        with again:
            assert not is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError("inside")
    assert is_grad_enabled()

    @no_grad()
    def depth(n):
        assert not is_grad_enabled()
        return 0 if n == 0 else 1 + depth(n - 1)

    assert depth(4) == 4 and is_grad_enabled()
    seen = []
    barrier = threading.Barrier(2)

    @no_grad()
    def inside():
        barrier.wait()  # both threads inside at once
        seen.append(is_grad_enabled())
        barrier.wait()

    threads = [threading.Thread(target=lambda: (inside(), seen.append(is_grad_enabled()))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == [False, False, True, True] and is_grad_enabled()
