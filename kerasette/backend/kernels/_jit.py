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

import numba  # noqa: E402 - the cache location must be decided before numba is imported

if _CACHE_DIR is not None and not numba.config.CACHE_DIR:
    numba.config.CACHE_DIR = _CACHE_DIR  # numba was imported earlier, before the env was set

_njit = numba.njit(cache=True, nogil=True)

#: Small helpers that numba inlines into each kernel calling them (its IR, typed in the caller).
#: Kernel modules take numba from here: this module, not numba, is then the first they import,
#: so that a first run's helper process starts before numba's import (see `_ahead.start`).
inline = numba.njit(inline="always", cache=True, nogil=True)


def kernel(func):
    """Serial kernel: compiled on first call, cached on disk, releases the GIL.

    Each new signature compiles through `kerasette.backend.kernels._ahead`, which shares the
    first run's compilation with a helper process when the kernel is one it knows in advance.
    """
    dispatcher = _njit(func)
    _ahead.hook(dispatcher)
    return dispatcher

