"""Compiling ahead: on a first run, a second process compiles kernels into numba's on-disk cache
while this one works.

With an empty cache, a first training batch spends nearly all its time compiling kernels, one
after the other (numba compiles under one process-wide lock). Most of what it compiles is known
in advance: the float32 kernels of the common layers, with the array types they are always
called with. `SIGNATURES` (``ahead_signatures.json`` beside this module, written by
:func:`write_signatures`) lists them in the order a first batch needs them.

The first time this process is about to compile one of them, and the cache does not yet hold the
whole list (no ``done`` marker for it in the cache folder), it starts one helper process
(`_helper`) that compiles the list into the cache, group by group (the kernels one benchmark
model needs, then those the next adds), each group *from its end*, while this process compiles
what it needs as it goes: on the seed convnet the helper takes the backward pass and the
optimizer while this process compiles the forward pass. The two do nothing twice: before
compiling a listed kernel, each process claims it (a file created exclusively in a folder the two
share); a kernel the other process claimed is waited for (its ``.done`` file) and then loaded
from the cache. The call graph of kernels has no cycles, so the two cannot wait on each other;
a wait still ends after `WAIT_SECONDS`, or when the other process has ended, and then compiles
here.

Measured on the seed convnet's first batch (empty cache, a busy 2-core machine): this process's
CPU time went from 14-16 s to 9-10 s, the helper's was 8-11 s; the wall time gains only when a
second core is free.

The helper stops when this process ends, and writes the cache folder's marker when it has
compiled the whole list, so that later runs start no helper. ``KERASETTE_COMPILE_AHEAD=0`` turns
it off. Nothing here runs at ``import kerasette``: the first kernel compilation starts it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import importlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numba  # imported through `_jit`, which decides the cache folder first
from numba.core import sigutils

#: the list of kernels to compile ahead (module, function name, pickled argument types, group)
SIGNATURES = Path(__file__).with_name("ahead_signatures.json")
#: longest wait for a kernel the other process claimed, in seconds
WAIT_SECONDS = 120.0
_ENV_DIR = "KERASETTE_COMPILE_AHEAD_DIR"  # the shared claims folder, given to the helper

_lock = threading.Lock()
_state = {"entries": None, "dir": None, "helper": None, "recording": None}
_raw: dict[int, object] = {}  # id(dispatcher): numba's own compile method


def _text(module: str, name: str, args: tuple) -> str:
    """The identity of one (kernel, argument types)."""
    return f"{module}.{name}{args}"


def _key(text: str) -> str:
    """A file-name-safe key for `_text`."""
    return hashlib.sha1(text.encode()).hexdigest()[:24]


def hook(dispatcher) -> None:
    """Makes ``dispatcher`` compile each new signature through `compile_listed`."""
    raw = dispatcher.compile
    _raw[id(dispatcher)] = raw
    dispatcher.compile = lambda sig: compile_listed(dispatcher, sig, raw)


def _entries() -> dict[str, tuple]:
    """The listed kernels as {key text: (module, name, args)}, read once; empty when the list is
    missing or was written by another numba version."""
    if _state["entries"] is None:
        entries = {}
        try:
            data = json.loads(SIGNATURES.read_text())
            if data.get("numba") == numba.__version__:
                for module, name, blob, group in data["kernels"]:
                    args = pickle.loads(base64.b64decode(blob))
                    entries.setdefault(_text(module, name, args), (module, name, args, group))
        except (OSError, ValueError, KeyError, pickle.UnpicklingError, ImportError, AttributeError):
            entries = {}
        _state["entries"] = entries
    return _state["entries"]


def _cache_folder() -> Path:
    """Where numba writes the kernels' cache (``NUMBA_CACHE_DIR`` or ``__pycache__`` here)."""
    root = numba.config.CACHE_DIR
    return Path(root) if root else Path(__file__).resolve().parent / "__pycache__"


def _marker() -> Path:
    digest = hashlib.sha1(SIGNATURES.read_bytes()).hexdigest()[:16]
    return _cache_folder() / f"kerasette-ahead-{digest}.done"


def _claims_dir() -> Path | None:
    """The shared claims folder: the helper's from its environment; in the main process made
    (and the helper started) on the first listed compile, or None when compiling ahead is off or
    done."""
    if _state["dir"] is not None:
        return _state["dir"] or None
    folder = os.environ.get(_ENV_DIR)
    if folder:
        _state["dir"] = Path(folder)
        return _state["dir"]
    _state["dir"] = False
    if os.environ.get("KERASETTE_COMPILE_AHEAD", "1") == "0" or not _entries():
        return None
    try:
        if _marker().exists():
            return None
        folder = Path(tempfile.mkdtemp(prefix="kerasette-ahead-"))
        env = dict(os.environ, **{_ENV_DIR: str(folder)})
        code = f"from kerasette.backend.kernels import _jit, _ahead; _ahead._helper({os.getpid()}, {str(SIGNATURES)!r})"
        _state["helper"] = subprocess.Popen(
            [sys.executable, "-c", code], env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    atexit.register(shutil.rmtree, folder, True)  # the helper stops when it finds this process gone
    _state["dir"] = folder
    return folder


def _other_alive() -> bool:
    """Whether the other process of the pair is still running."""
    helper = _state["helper"]
    if helper is not None:
        return helper.poll() is None
    parent = os.environ.get("KERASETTE_COMPILE_AHEAD_PARENT")
    return parent is None or os.getppid() == int(parent)


def compile_listed(dispatcher, sig, compile_fn):
    """``compile_fn(sig)`` for ``dispatcher``, coordinated with the other process when the
    (kernel, argument types) is in the list: claimed and compiled here, or, when the other
    process claimed it, waited for (compiling other listed kernels meanwhile) and then loaded
    from the cache. Records the kernel when `recording`."""
    args = tuple(sig) if isinstance(sig, (tuple, list)) else sigutils.normalize_signature(sig)[0]
    if args in dispatcher.overloads:
        return compile_fn(sig)
    text = _text(dispatcher.py_func.__module__, dispatcher.py_func.__qualname__, args)
    if _state["recording"] is not None:
        _state["recording"].append((dispatcher.py_func.__module__, dispatcher.py_func.__qualname__, args))
    if text not in _entries():
        return compile_fn(sig)
    with _lock:
        folder = _claims_dir()
    if folder is None:
        return compile_fn(sig)
    key = _key(text)
    if _claim(folder, key):
        return _compile_claimed(folder, key, compile_fn, sig)
    done = folder / f"{key}.done"
    deadline = time.monotonic() + WAIT_SECONDS
    while not done.exists() and time.monotonic() < deadline and _other_alive():
        time.sleep(0.005)
    return compile_fn(sig)  # from the cache when the other process wrote it


def _claim(folder: Path, key: str) -> bool:
    """Claims a kernel for this process; False when the other process has it (or on an error)."""
    try:
        os.close(os.open(folder / f"{key}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except OSError:
        return False
    return True


def _compile_claimed(folder: Path, key: str, compile_fn, sig):
    """Compiles a claimed kernel, then says so (``.done``) even when compiling failed."""
    try:
        return compile_fn(sig)
    finally:
        (folder / f"{key}.done").touch()


def _helper_order() -> list[tuple[str, tuple]]:
    """The listed kernels in the order the helper compiles them: group by group (the kernels a
    first model needs, then those a second one adds...), each group from its end, so that the
    helper starts where the model will be last and the two processes meet in the middle."""
    groups: dict[int, list] = {}
    for text, entry in _entries().items():
        groups.setdefault(entry[3], []).append((text, entry))
    return [item for group in sorted(groups) for item in reversed(groups[group])]


def _compile_next(folder: Path) -> bool:
    """Claims and compiles the next listed kernel (in `_helper_order`) nobody has claimed; False
    when none is left."""
    for text, (module, name, args, _) in _helper_order():
        key = _key(text)
        if (folder / f"{key}.claim").exists():
            continue
        try:
            values = vars(importlib.import_module(module)).values()
        except ImportError:
            continue
        raw = next((_raw[id(v)] for v in values if id(v) in _raw and v.py_func.__qualname__ == name), None)
        if raw is not None and _claim(folder, key):
            try:
                _compile_claimed(folder, key, raw, args)
            except Exception:  # noqa: BLE001 - a kernel that fails here fails where it is called, with its message
                pass
            return True
    return False


@contextlib.contextmanager
def recording():
    """``with recording() as kernels:`` lists the (module, name, argument types) of each kernel
    compiled or loaded from the cache in the block, in order (a kernel before the kernels it
    calls)."""
    _state["recording"] = []
    try:
        yield _state["recording"]
    finally:
        _state["recording"] = None


def write_signatures(groups: list[list], path: Path | None = None) -> None:
    """Writes the list of kernels to compile ahead: groups of (module, name, argument types), as
    `recording` lists them, each group the kernels one model needs in the order it needs them
    (the kernels of an earlier group dropped from the later ones), into ``path`` (default
    `SIGNATURES`)."""
    seen, rows = set(), []
    for group, kernels in enumerate(groups):
        for module, name, args in kernels:
            if (module, name, args) not in seen:
                seen.add((module, name, args))
                rows.append([module, name, base64.b64encode(pickle.dumps(args)).decode(), group])
    path = SIGNATURES if path is None else path
    path.write_text(json.dumps({"numba": numba.__version__, "kernels": rows}, indent=0) + "\n")


def _helper(parent: int, signatures: str) -> None:
    """The helper process: compiles the kernels listed in ``signatures`` (the parent's list)
    that nobody has claimed, in `_helper_order`, into the cache, while the parent runs; writes
    the marker when none is left."""
    global SIGNATURES
    SIGNATURES = Path(signatures)
    os.environ["KERASETTE_COMPILE_AHEAD_PARENT"] = str(parent)
    folder = _claims_dir()
    while _compile_next(folder):
        if os.getppid() != parent:
            return  # the parent ended: the rest waits for the next run
    if os.getppid() == parent:
        _marker().touch()
