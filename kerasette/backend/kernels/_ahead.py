"""Compiling ahead: on a first run, a second process compiles kernels into numba's on-disk cache
while this one works.

With an empty cache, a first training batch spends nearly all its time compiling kernels, one
after the other (numba compiles under one process-wide lock). Most of what it compiles is known
in advance: the float32 kernels of the common layers, with the array types they are always
called with. `SIGNATURES` (``ahead_signatures.json`` beside this module, written by
:func:`write_signatures`) lists them in the order a first batch needs them.

When the kernels are first imported (`_jit`, before it imports numba) and the cache does not yet
hold the whole list (no ``done`` marker for it in the cache folder), :func:`start` launches one
helper process (`_helper`), which imports numba and the kernel modules while this process does
the same, then waits. The first time this process is about to compile a listed kernel, it hands
the helper the list (a file in the folder the two share); the helper compiles it into the cache,
group by group (the kernels one benchmark model needs, then those the next adds), each group's
C functions first (`_jit.CFunction`: Winograd's transforms, large and needed on both sides),
then the rest *from its end*, while this process compiles what it needs as it goes. The two do
nothing twice: before compiling a listed kernel, each process claims it (a file created
exclusively in the shared folder); a kernel the other process claimed is waited for (its
``.done`` file) and then loaded from the cache.

Neither process idles while the model's group has work left: a process waiting for the other
compiles meanwhile the group's next unclaimed kernel in the order the model needs them
(`_steal`), when it holds no claim itself; a kernel's C functions are readied before the kernel
is claimed, and one whose C functions the other process is compiling is passed over for now.
Every wait is then a wait for a callee of a kernel being compiled; the call graph of kernels has
no cycles, so the two cannot wait on each other. A wait still ends after `WAIT_SECONDS`, or when
the other process has ended, and then compiles here.

The helper starts lean: it imports the kernel modules without running the ``__init__`` of the
``kerasette`` and ``kerasette.backend`` packages (layers, models... which it does not need),
about 0.3 s less, and numba's import overlaps this process's own.

Measured on the seed convnet's first batch (empty cache, a busy 2-core machine): this process's
CPU time went from 14-16 s to 9-10 s, the helper's was 8-11 s; the wall time gains only when a
second core is free. On ``examples/vgg_like.py``'s first batch (load 7.5 on 2 cores) the two
compile 13.5 s of CPU in all, 6.8 s each (14.3 s, 7.1 and 7.2, before the transforms became C
functions and the list had the kernels' callees, which both processes then compiled).
``tests/benchmarks/cold_start.py --log`` lists what each process compiled and waited for.

The helper stops when this process ends (one that never received a list then too), and writes
the cache folder's marker when it has compiled the whole list, so that later runs start no
helper. ``KERASETTE_COMPILE_AHEAD=0`` turns it off. Nothing here runs at ``import kerasette``:
the first import of the kernels starts it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import gc
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

from kerasette.backend.kernels import _loader

#: the list of kernels to compile ahead (module, function name, pickled argument types, group)
SIGNATURES = Path(__file__).with_name("ahead_signatures.json")
#: longest wait for a kernel the other process claimed, in seconds
WAIT_SECONDS = 120.0
#: longest wait of a helper for its list, in seconds: a process that imported the kernels but
#: compiles none of the listed ones in that time gets a new helper when it does
STANDBY_SECONDS = 60.0
_ENV_DIR = "KERASETTE_COMPILE_AHEAD_DIR"  # the shared claims folder, given to the helper
_LIST = "list"  # the file of the shared folder that hands the helper its list

#: The helper's program: the ``kerasette`` and ``kerasette.backend`` packages as empty stand-ins
#: (their ``__init__`` imports layers, models..., which compiling kernels does not need), then
#: the kernel modules, then `_helper`.
_BOOTSTRAP = """
import sys, types
for name, folder in (("kerasette", {package!r}), ("kerasette.backend", {backend!r})):
    if name not in sys.modules:
        module = types.ModuleType(name)
        module.__path__ = [folder]
        sys.modules[name] = module
from kerasette.backend.kernels import _ahead
_ahead._exit_with({parent})
from kerasette.backend.kernels import _jit
_ahead._helper({parent})
"""

_lock = threading.Lock()
#: the list, the claims folder (None: not decided, False: no helper), the helper once it has the
#: list, the helper started by `start` and its folder, the kernels being recorded, how many
#: claimed kernels this process is compiling (nested ones included), whether it is compiling one
#: while it waits (`_steal`), the listed kernels whose callees it is readying (`_prepare`), and
#: whether a kernel the other process claimed then raises `_BusyError` instead of being waited for
_state = {"entries": None, "dir": None, "helper": None, "standby": None, "recording": None, "held": 0,
          "stealing": False, "preparing": set(), "no_wait": False}
_raw: dict[int, object] = {}  # id(dispatcher): numba's own compile method
_prepares: dict[int, object] = {}  # id(dispatcher): its prepare (see `hook`)


def _text(module: str, name: str, args: tuple) -> str:
    """The identity of one (kernel, argument types)."""
    return f"{module}.{name}{args}"


def _key(text: str) -> str:
    """A file-name-safe key for `_text`."""
    return hashlib.sha1(text.encode()).hexdigest()[:24]


def hook(dispatcher, prepare=None) -> None:
    """Makes ``dispatcher`` compile each new signature through `compile_listed`, on the kernel
    loader's thread (`kerasette.backend.kernels._loader`); ``prepare``,
    when given, is called with the argument types before each compile or load from the cache
    (see `kerasette.backend.kernels._jit.kernel`'s ``calls``)."""
    raw = _without_gc(dispatcher.compile)
    if prepare is not None:
        _prepares[id(dispatcher)] = prepare
        numba_compile = raw

        def raw(sig):
            prepare(_args(sig))
            return numba_compile(sig)

    _raw[id(dispatcher)] = raw
    # on the loader thread: what loading allocates stays out of the arrays' heap (see `_loader`)
    dispatcher.compile = lambda sig: _loader.run(compile_listed, dispatcher, sig, raw)


def _without_gc(compile_fn):
    """``compile_fn`` with Python's cyclic garbage collector paused while it runs (restarted
    after, unless it was off before, or another thread's compile restarts it first).

    numba's compiler allocates millions of short-lived objects, whose count triggers a
    collection every 700 allocations (older generations scanned too, with numba's own objects);
    the compiler's garbage waits instead for the first collection after the compile. Measured:
    `kerasette.backend.kernels.direct`'s forward kernel compiled in 1.50-1.57 s instead of
    1.67-1.73 s (1.45-1.47 instead of 1.62-1.63 s CPU).
    """

    def compile_paused(sig):
        if not gc.isenabled():
            return compile_fn(sig)
        gc.disable()
        try:
            return compile_fn(sig)
        finally:
            gc.enable()

    return compile_paused


def _prepare(dispatcher, args: tuple) -> None:
    """Runs ``dispatcher``'s ``prepare`` (see `hook`) before the kernel is claimed, so that a wait
    for the other process's part of it is a wait holding no claim (see `compile_listed`)."""
    prepare = _prepares.get(id(dispatcher))
    if prepare is not None:
        prepare(args)


def _args(sig) -> tuple:
    """The argument types of ``sig`` (a tuple of types or numba's signature forms)."""
    if isinstance(sig, (tuple, list)):
        return tuple(sig)
    from numba.core import sigutils  # deferred: this module is imported before numba

    return tuple(sigutils.normalize_signature(sig)[0])


def _entries() -> dict[str, tuple]:
    """The listed kernels as {key text: (module, name, args)}, read once; empty when the list is
    missing or was written by another numba version."""
    if _state["entries"] is None:
        import numba  # deferred: this module is imported before numba (see `start`)

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
    """Where numba writes the kernels' cache (``NUMBA_CACHE_DIR`` or ``__pycache__`` here), known
    before numba is imported (`_jit` sets ``NUMBA_CACHE_DIR`` first when it chooses the folder)."""
    numba = sys.modules.get("numba")
    root = numba.config.CACHE_DIR if numba is not None else os.environ.get("NUMBA_CACHE_DIR")
    return Path(root) if root else Path(__file__).resolve().parent / "__pycache__"


def _marker() -> Path:
    digest = hashlib.sha1(SIGNATURES.read_bytes()).hexdigest()[:16]
    return _cache_folder() / f"kerasette-ahead-{digest}.done"


def _wanted() -> bool:
    """Whether this process should have a helper: compiling ahead is on, this is not the helper,
    and the cache lacks the list's marker."""
    if os.environ.get(_ENV_DIR) or os.environ.get("KERASETTE_COMPILE_AHEAD", "1") == "0":
        return False
    try:
        return SIGNATURES.is_file() and not _marker().exists()
    except OSError:
        return False


def _launch() -> tuple[subprocess.Popen, Path] | None:
    """Starts a helper process with a new shared folder; None when that fails."""
    try:
        folder = Path(tempfile.mkdtemp(prefix="kerasette-ahead-"))
    except OSError:
        return None
    atexit.register(shutil.rmtree, folder, True)  # the helper stops when it finds this process gone
    package = Path(__file__).resolve().parents[2]
    code = _BOOTSTRAP.format(package=str(package), backend=str(package / "backend"), parent=os.getpid())
    env = dict(os.environ, **{_ENV_DIR: str(folder)})
    try:
        process = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    # at this process's normal end, the helper ends at once rather than when its watch notices
    # (see `_exit_with`): a kernel it is compiling then takes no core from the process's exit
    atexit.register(process.kill)
    return process, folder


def start() -> None:
    """Starts the helper now, when this process will likely compile kernels soon (`_jit` calls it
    on the first import of the kernels, before importing numba): it then imports numba and the
    kernel modules while this process does, and waits for its list (see `_claims_dir`)."""
    with _lock:
        if _state["standby"] is None and _state["dir"] is None and _wanted():
            _state["standby"] = _launch() or False


def _claims_dir() -> Path | None:
    """The shared claims folder: the helper's from its environment; in the main process, on the
    first listed compile, the folder of a helper given the list now (the one `start` launched,
    else a new one), or None when compiling ahead is off or done."""
    if _state["dir"] is not None:
        return _state["dir"] or None
    folder = os.environ.get(_ENV_DIR)
    if folder:
        _state["dir"] = Path(folder)
        return _state["dir"]
    _state["dir"] = False
    if not (_wanted() and _entries()):
        return None
    standby = _state["standby"]
    launched = standby if standby and standby[0].poll() is None else _launch()
    if not launched:
        return None
    process, folder = launched
    try:
        (folder / f"{_LIST}.tmp").write_text(str(SIGNATURES))
        os.replace(folder / f"{_LIST}.tmp", folder / _LIST)  # whole, as the helper reads it
    except OSError:
        return None
    _state["helper"], _state["dir"] = process, folder
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
    args = _args(sig)
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
    from numba.core.compiler_lock import global_compiler_lock  # deferred: imported before numba

    # One thread of this process at a time (numba compiles under this lock anyway): a second
    # thread must not claim a kernel that the first will need while it cannot compile it.
    with global_compiler_lock:
        _state["preparing"].add(text)  # not to be taken up again by a compile while waiting
        try:
            _prepare(dispatcher, args)
        finally:
            _state["preparing"].discard(text)
        key = _key(text)
        if _claim(folder, key):
            return _compile_claimed(folder, key, compile_fn, sig)
        done = folder / f"{key}.done"
        if _state["no_wait"] and _state["held"] == 0 and not done.exists() and _other_alive():
            raise _BusyError(text)
        deadline = time.monotonic() + WAIT_SECONDS
        group = _entries()[text][3]
        # Meanwhile, what this model needs next, but only when this process is compiling no
        # claimed kernel (whose callee this may be): the two processes then only ever wait for a
        # kernel's callee, and the call graph has no cycles, so neither waits on itself.
        steal = _state["held"] == 0 and not _state["stealing"]
        while not done.exists() and time.monotonic() < deadline and _other_alive():
            if not (steal and _steal(folder, group)):
                time.sleep(0.005)
        return compile_fn(sig)  # from the cache when the other process wrote it


class _BusyError(Exception):
    """A kernel the other process is compiling, met while `_compile_next` readies the callees of
    another one: that one is left for later rather than waited for."""


def _steal(folder: Path, group: int) -> bool:
    """`_compile_next` for a process waiting for the other (one such compile at a time: a wait
    inside it only waits)."""
    _state["stealing"] = True
    try:
        return _compile_next(folder, group)
    finally:
        _state["stealing"] = False


def _claim(folder: Path, key: str) -> bool:
    """Claims a kernel for this process; False when the other process has it (or on an error)."""
    try:
        os.close(os.open(folder / f"{key}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except OSError:
        return False
    return True


def _compile_claimed(folder: Path, key: str, compile_fn, sig):
    """Compiles a claimed kernel, then says so (``.done``) even when compiling failed."""
    _state["held"] += 1
    try:
        return compile_fn(sig)
    finally:
        _state["held"] -= 1
        (folder / f"{key}.done").touch()


def _helper_order() -> list[tuple[str, tuple]]:
    """The listed kernels in the order the helper compiles them: group by group (the kernels a
    first model needs, then those a second one adds...), each group from its end, so that the
    helper starts where the model will be last and the two processes meet in the middle; but
    a group's C functions first (`kerasette.backend.kernels._jit.CFunction`: large, calling
    nothing, and needed by kernels on both sides of the middle)."""
    groups: dict[int, list] = {}
    for text, entry in _entries().items():
        groups.setdefault(entry[3], []).append((text, entry))
    return [item for group in sorted(groups)
            for item in sorted(reversed(groups[group]), key=lambda item: not _is_c_function(*item[1][:2]))]


def _find(module: str, name: str):
    """The hooked kernel (or C function) of ``module`` whose function is called ``name``, or None."""
    try:
        values = vars(importlib.import_module(module)).values()
    except ImportError:
        return None
    return next((v for v in values if id(v) in _raw and v.py_func.__qualname__ == name), None)


def _is_c_function(module: str, name: str) -> bool:
    return hasattr(_find(module, name), "symbol")


def _compile_next(folder: Path, group: int | None = None) -> bool:
    """Claims and compiles the next listed kernel nobody has claimed: in `_helper_order`, or,
    given a ``group`` (a process waiting for a kernel of it), the group's next in the list's
    order (what the model will call soonest). A kernel whose callees (see `hook`'s ``prepare``)
    the other process is compiling is passed over for now. False when none is left (or, with a
    ``group``, none can be compiled now)."""
    if group is None:
        order = _helper_order()
    else:
        order = [(text, entry) for text, entry in _entries().items() if entry[3] == group]
    busy = False
    for text, (module, name, args, _) in order:
        key = _key(text)
        if text in _state["preparing"] or (folder / f"{key}.claim").exists():
            continue
        dispatcher = _find(module, name)
        if dispatcher is None:
            continue
        _state["preparing"].add(text)
        no_wait, _state["no_wait"] = _state["no_wait"], True
        try:
            _prepare(dispatcher, args)
        except _BusyError:
            busy = True
            continue
        except Exception:  # noqa: BLE001 - as below
            pass
        finally:
            _state["preparing"].discard(text)
            _state["no_wait"] = no_wait
        if _claim(folder, key):
            try:
                _compile_claimed(folder, key, _raw[id(dispatcher)], args)
            except Exception:  # noqa: BLE001 - a kernel that fails here fails where it is called, with its message
                pass
            return True
    if busy and group is None:
        time.sleep(0.005)  # the helper: try those again once the other process is further on
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
    import numba  # deferred: this module is imported before numba

    path = SIGNATURES if path is None else path
    path.write_text(json.dumps({"numba": numba.__version__, "kernels": rows}, indent=0) + "\n")


#: how often the helper checks that its parent is still running, in seconds
PARENT_POLL_SECONDS = 0.01


def _exit_with(parent: int) -> None:
    """Ends this process (the helper) as soon as ``parent`` has ended, even in the middle of a
    compile (a thread checks every `PARENT_POLL_SECONDS`).

    Why: a kernel left unfinished is of no use to a process that has ended, and the helper would
    otherwise finish it (up to a second of CPU) at the same time as whatever runs next on the
    machine. numba writes each cache file whole (to a temporary file it then renames), and an
    index entry whose data file is missing is compiled again, so an end in the middle leaves no
    broken entry. `_helper` also checks between kernels.
    """

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="kerasette-ahead-parent", daemon=True).start()


def _helper(parent: int) -> None:
    """The helper process: waits for its list (the path the parent writes into the shared
    folder, see `_claims_dir`; at most `STANDBY_SECONDS`), compiles the listed kernels nobody
    has claimed, in `_helper_order`, into the cache while the parent runs, and writes the marker
    when none is left. Ends when the parent does."""
    global SIGNATURES
    os.environ["KERASETTE_COMPILE_AHEAD_PARENT"] = str(parent)
    folder = _claims_dir()
    handed = folder / _LIST
    start = time.monotonic()
    while not handed.exists():
        waited = time.monotonic() - start
        if os.getppid() != parent or waited > STANDBY_SECONDS:
            return  # the parent ended, or compiles none of the listed kernels for now
        time.sleep(0.005 if waited < 2 else 0.05)
    SIGNATURES = Path(handed.read_text())
    while _compile_next(folder):
        if os.getppid() != parent:
            return  # the parent ended: the rest waits for the next run
    if os.getppid() == parent:
        _marker().touch()
