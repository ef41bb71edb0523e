"""The backend's process-wide mutable state, in one place, behind small objects.

Everything a kerasette process remembers between calls lives here, one object per concern:

* :data:`grad_mode` -- whether ops record the graph (``K.no_grad()``, ``K.enable_grad()``);
* :data:`learning_phase` -- the default phase (``K.set_learning_phase``) and the phase of the
  function running now;
* :data:`names` -- automatic names of layers (``dense_1``, ``dense_2``) and :data:`tensor_names`
  -- of variables and symbolic tensors; ``K.clear_session()`` restarts both;
* :data:`config` -- floatx, epsilon and the default image data format;
* :data:`random` -- the one random generator;
* :data:`threads`, :data:`blas`, :data:`malloc` -- the batch thread pool, the BLAS threads
  kerasette took over, and the one-time malloc tuning;
* :data:`parallel` and :data:`conv` -- tuning thresholds of the thread pool and of the
  convolution engine, and which convolution algorithms may run.

The functional API on top (``kerasette.backend``, `config`, `parallel`, `random`, ...) validates
arguments and reads and changes this state through the objects' methods; no module reads
another module's private globals. This module imports nothing from kerasette.

Example:
    >>> from kerasette.backend import state
    >>> previous = state.grad_mode.set(False)
    >>> state.grad_mode.is_enabled()
    False
    >>> _ = state.grad_mode.set(previous)
"""

from __future__ import annotations

import os
import threading

import numpy as np


class GradMode(threading.local):
    """Whether ops record the graph for the backward pass (on unless turned off), per thread as
    in PyTorch: a thread's ``no_grad`` (``predict``, a model called with ``training=False``)
    leaves other threads recording, and two threads entering and leaving ``no_grad`` at once
    cannot leave recording off for everyone. Every thread starts with recording on."""

    def __init__(self) -> None:  # run in each thread on its first use
        self._enabled = True

    def is_enabled(self) -> bool:
        return self._enabled

    def set(self, enabled: bool) -> bool:
        """Turns recording on or off; returns the previous setting (to restore it)."""
        previous, self._enabled = self._enabled, bool(enabled)
        return previous


class LearningPhase:
    """The default learning phase (0 inference, 1 training; ``K.set_learning_phase``) and the
    phase of the symbolic function or model call running now."""

    def __init__(self) -> None:
        self._default = 0
        self._calls = _RunningPhase()  # per thread: each thread's running function or model call

    def default(self) -> int:
        return self._default

    def set_default(self, value: int) -> int:
        """Sets the default phase; returns the previous one."""
        previous, self._default = self._default, int(value)
        return previous

    def running(self) -> bool:
        """The phase this thread's running ``K.function`` or functional model was given (False
        outside one)."""
        return self._calls.training

    def set_running(self, training: bool) -> bool:
        """Sets the phase of this thread's function starting now; returns the previous one."""
        calls = self._calls
        previous, calls.training = calls.training, bool(training)
        return previous

    def current(self) -> bool:
        """The phase layers should use: the running function's, else the default."""
        return self._calls.training or bool(self._default)


class _RunningPhase(threading.local):
    """`LearningPhase`'s phase of the running call, one per thread (False in a new thread)."""

    def __init__(self) -> None:  # run in each thread on its first use
        self.training = False


class Names:
    """Automatic unique names: ``unique('dense')`` gives ``dense_1``, then ``dense_2``, ..."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def unique(self, prefix: str) -> str:
        """``prefix_N`` with N one more than the last name given for ``prefix`` (from 1)."""
        with self._lock:
            count = self._counts[prefix] = self._counts.get(prefix, 0) + 1
        return f"{prefix}_{count}"

    def reset(self) -> None:
        """Starts every prefix from 1 again."""
        with self._lock:
            self._counts.clear()


class Config:
    """Backend defaults; `kerasette.backend.config` validates before it sets them."""

    def __init__(self) -> None:
        self.floatx = "float32"
        self.epsilon = 1e-7
        self.image_data_format = "channels_last"


class RandomState:
    """The one random generator behind initialisation, dropout and shuffling.

    Until it is seeded (``K.set_seed``, ``kerasette.utils.set_random_seed``) or restored, it is
    made on first use from a draw of numpy's global generator, so that ``np.random.seed(1337)``
    at the top of a script makes the run reproducible, as it does in Keras 1 and 2.
    """

    def __init__(self) -> None:
        self._generator: np.random.Generator | None = None

    def generator(self) -> np.random.Generator:
        if self._generator is None:
            self._generator = np.random.default_rng(np.random.randint(0, 2**63 - 1, dtype=np.int64))
        return self._generator

    def set_generator(self, generator: np.random.Generator) -> None:
        self._generator = generator


class Threads:
    """The batch threads: how many, and the pool that runs all chunks but the caller's.

    A child process made by ``fork`` has none of its parent's threads: it makes its own pool.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: int | None = None
        self._pool = None
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget_pool)

    def _forget_pool(self) -> None:
        self._lock = threading.Lock()
        self._pool = None

    def count(self) -> int | None:
        """The thread count, None until it is first decided (see `parallel.num_threads`)."""
        return self._count

    def set_count(self, n: int) -> None:
        """Sets the count; a running pool of another size is shut down (made again on use)."""
        with self._lock:
            self._count = n
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def pool(self, make):
        """The pool, made on first use by ``make(count())`` (`kerasette.backend.pool.Pool`)."""
        with self._lock:
            if self._pool is None:
                self._pool = make(self._count or 1)
            return self._pool


class Once:
    """A result computed on first use and remembered (``run(fn)`` calls ``fn`` only once)."""

    def __init__(self) -> None:
        self._done = False
        self._value = None

    def done(self) -> bool:
        return self._done

    def run(self, fn):
        if not self._done:
            self._value = fn()
            self._done = True
        return self._value


class Blas:
    """BLAS thread control: the library's thread setters (found once) and the thread count
    BLAS had when kerasette took it over (None while it has not)."""

    def __init__(self) -> None:
        self.setters = Once()
        self._taken_from: int | None = None

    def taken_from(self) -> int | None:
        return self._taken_from

    def set_taken_from(self, count: int | None) -> None:
        self._taken_from = count


class ParallelSettings:
    """Work below which the thread pool is not used (see `kerasette.backend.parallel`)."""

    def __init__(self) -> None:
        self.matmul_min_work = 1 << 24
        self.memory_bound_min = 1 << 20


class ConvSettings:
    """Tuning of the convolution engine and the algorithms it may choose
    (see `kerasette.backend.engine`; changed with its context managers)."""

    def __init__(self) -> None:
        self.tile_bytes = 2 << 20
        self.winograd_block_bytes = 512 << 10
        self.full_conv_min_cin = 16
        self.parallel_min_elements = 1 << 15
        self.allow: frozenset[str] | None = None  # None: every algorithm
        self.deny: frozenset[str] = frozenset()

    def allows(self, name: str) -> bool:
        """Whether the algorithm ``name`` may run."""
        return (self.allow is None or name in self.allow) and name not in self.deny


grad_mode = GradMode()
learning_phase = LearningPhase()
names = Names()
tensor_names = Names()
config = Config()
random = RandomState()
threads = Threads()
blas = Blas()
malloc = Once()
parallel = ParallelSettings()
conv = ConvSettings()


def reset_names() -> None:
    """Restarts automatic naming of layers, variables and symbolic tensors (``clear_session``)."""
    names.reset()
    tensor_names.reset()
