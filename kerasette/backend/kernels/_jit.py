"""The one place where numba's JIT options are set.

Every kernel in this package is decorated with :data:`kernel`: serial, compiled lazily on the
first call, the machine code cached on disk (``cache=True``), the GIL released so that
`kerasette.backend.parallel` can run one chunk of a batch per thread, and no ``fastmath``,
because the gradients of these kernels are checked numerically in float64.

numba writes its cache into a ``__pycache__`` folder beside this module. When that folder cannot
be written (a read-only install, a shared site-packages), and the user has not chosen a location
with ``NUMBA_CACHE_DIR``, the cache goes to a per-user folder instead; see :func:`_cache_dir_for`.
That decision has to be made before numba is imported, so it happens at the top of this module.

On a first run (an empty cache) a helper process, started here, compiles the kernels a model
commonly needs while this one works; see `kerasette.backend.kernels._ahead`.

A large function that several kernels call can be a :class:`CFunction`: compiled once, called by
symbol, rather than compiled again inside each caller (numba links a callee's code into the
caller's and optimises it there once more).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def _user_cache_root(environ: Mapping[str, str]) -> Path:
    """The per-user cache folder: ``$XDG_CACHE_HOME/kerasette/numba`` or ``~/.cache/...``."""
    home = environ.get("HOME") or os.path.expanduser("~")
    base = environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return Path(base) / "kerasette" / "numba"


def _is_writable_dir(path: Path) -> bool:
    """True when numba could create ``path/__pycache__`` (or write into an existing one)."""
    pycache = path / "__pycache__"
    if pycache.is_dir():
        return os.access(pycache, os.W_OK | os.X_OK)
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def _cache_dir_for(path: str | os.PathLike, environ: Mapping[str, str] | None = None) -> str | None:
    """The ``NUMBA_CACHE_DIR`` to set for kernels living in folder ``path``, or None for none.

    Args:
        path: the folder holding the kernel modules.
        environ: the environment to consult (default ``os.environ``).

    Returns:
        None when the user already set ``NUMBA_CACHE_DIR`` or when numba can write its cache
        beside the modules; otherwise the per-user cache folder.

    Example:
        >>> _cache_dir_for("/nonexistent", {"XDG_CACHE_HOME": "/tmp/c"})
        '/tmp/c/kerasette/numba'
    """
    environ = os.environ if environ is None else environ
    if environ.get("NUMBA_CACHE_DIR"):
        return None
    if _is_writable_dir(Path(path)):
        return None
    return str(_user_cache_root(environ))


_CACHE_DIR = _cache_dir_for(Path(__file__).resolve().parent)
if _CACHE_DIR is not None:
    os.environ["NUMBA_CACHE_DIR"] = _CACHE_DIR

from kerasette.backend.kernels import _ahead  # noqa: E402 - after the cache folder is known

_ahead.start()  # a first run's helper process, which imports numba while this process does

import llvmlite.binding as _llvm  # noqa: E402 - numba's own dependency, imported with it
import numba  # noqa: E402 - the cache location must be decided before numba is imported

if _CACHE_DIR is not None and not numba.config.CACHE_DIR:
    numba.config.CACHE_DIR = _CACHE_DIR  # numba was imported earlier, before the env was set

from kerasette.backend.kernels import _linking_ir, _source_stamps  # noqa: E402 - change numba, imported above

_linking_ir.install()  # cache-loaded kernels keep their linking IR as bitcode until asked for
_source_stamps.install()  # a kernel's cache entry also stamped by the modules it imports

_njit = numba.njit(cache=True, nogil=True)

#: Small helpers that numba inlines into each kernel calling them (its IR, typed in the caller).
#: Kernel modules take numba from here: this module, not numba, is then the first they import,
#: so that a first run's helper process starts before numba's import (see `_ahead.start`).
inline = numba.njit(inline="always", cache=True, nogil=True)

#: Small helpers that numba compiles once per signature and links into each kernel calling them,
#: where LLVM inlines them: cheaper to compile than :data:`inline` when called from several places
#: (numba copies an ``inline`` helper's IR into each call site and types it again there: seven
#: calls of a five-line helper cost the direct convolution's forward kernel 0.2 s of its 1.7 s
#: first compile). For helpers of scalars and vectors only: an array argument costs a reference
#: count increment and decrement at each call that survive LLVM's inlining (atomic operations in
#: a loop: the direct forward kernel ran at half its speed with its stores through such a helper).
linked = numba.njit(cache=True, nogil=True)


def kernel(func=None, *, calls=()):
    """Serial kernel: compiled on first call, cached on disk, releases the GIL.

    Each new signature compiles through `kerasette.backend.kernels._ahead`, which shares the
    first run's compilation with a helper process when the kernel is one it knows in advance.

    Args:
        func: the kernel's Python function (``@kernel``), or None (``@kernel(calls=...)``).
        calls: the :class:`CFunction` objects the kernel calls: each is made ready (compiled or
            loaded, its symbol known) for the element type of the kernel's first array argument
            before the kernel itself compiles or loads from the cache, whose code refers to it.
    """
    if func is None:
        return lambda f: kernel(f, calls=calls)
    dispatcher = _njit(func)
    _ahead.hook(dispatcher, _prepare(calls) if calls else None)
    return dispatcher


def _prepare(calls):
    """The `_ahead.hook` preparation of a kernel calling the C functions ``calls``."""

    def prepare(args):
        dtype = next((a.dtype for a in args if isinstance(a, numba.types.Array)), None)
        for function in calls:
            if dtype in function.dtypes:
                function.ready(dtype)

    return prepare


class CFunction:
    """A kernel compiled once per element type as a C function (numba's ``cfunc``, cached on
    disk) that other kernels call through a symbol name, as they call BLAS (see
    `kerasette.backend.kernels.blas`), instead of linking its code into their own.

    Why: when a kernel calls another numba function, numba links the callee's code into the
    caller's and optimises and emits it again there, once per caller and per process; a large
    callee (Winograd's tile transforms) used by several kernels then costs several times its
    own compile on a first run. Through a symbol it is compiled once, and each caller is only
    its own code. The price is a call that LLVM cannot inline: meant for functions that do a
    block of work per call.

    ``py_func`` takes C arguments (typed pointers, integers, booleans); ``signature(dtype)``
    gives its numba signature for one element type. :meth:`symbol` names the compiled function
    (stable across processes, so that cached callers stay valid); :meth:`ready` compiles it or
    loads it from the cache and points the symbol at it (through `_ahead`, like a kernel's
    signature, so that a first run's helper process can compile it). A kernel that calls one
    declares it (``@kernel(calls=(...))``), which readies it before the kernel is loaded from the
    cache; a caller's compile readies it as it types the call (see :meth:`external`).
    """

    def __init__(self, py_func, signature, dtypes=(numba.types.float32, numba.types.float64)):
        self.py_func = py_func
        self.signature = signature
        self.dtypes = tuple(dtypes)
        self.overloads = {}  # (dtype,): numba's compiled C callback
        _ahead.hook(self)

    def symbol(self, dtype) -> str:
        """The symbol callers use for element type ``dtype``."""
        return f"kerasette.{self.py_func.__module__.rsplit('.', 1)[-1]}.{self.py_func.__qualname__}.{dtype}"

    def compile(self, sig):
        """Compiles (or loads from the cache) the function for ``sig`` = ``(dtype,)`` and points
        its symbol at it; `_ahead.hook` routes calls through `_ahead.compile_listed`."""
        args = tuple(sig)
        if args not in self.overloads:
            compiled = numba.cfunc(self.signature(*args), cache=True, nogil=True)(self.py_func)
            _llvm.add_symbol(self.symbol(*args), compiled.address)
            self.overloads[args] = compiled
        return self.overloads[args]

    def ready(self, dtype) -> None:
        """Makes the symbol for ``dtype`` callable (compiling the function if needed)."""
        if (dtype,) not in self.overloads:
            self.compile((dtype,))

    def external(self, dtype):
        """The function as numba types an external call (for an ``@overload`` of a caller):
        readied first, so that the caller's code finds the symbol when it is finalised."""
        self.ready(dtype)
        return numba.types.ExternalFunction(self.symbol(dtype), self.signature(dtype))

