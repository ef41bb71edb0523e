"""Parallelism over the batch: a small pool of threads, each computing whole images.

The convolution kernels split a batch into one contiguous chunk of images per core (`map_chunks`)
and run each chunk in its own thread with serial numba kernels (which release the GIL) and a single-threaded
BLAS. Compared with a multi-threaded BLAS fed by parallel packing kernels this keeps each core's
data in its own cache, synchronises once per op instead of once per matrix product, and does
not collapse when the machine is busy (BLAS and OpenMP worker threads spin while they wait,
which turns a shared core into a stall). Memory-bound passes (batch normalization, pooling)
split into pieces of a fixed size instead, which the threads take in turn as they finish
(`map_pieces`): a core busy with another program then delays the pass by at most one piece,
where a fixed half would wait for it.

The pool (`kerasette.backend.pool`) hands work over without sleeping in the usual case: its
threads wait spinning in native code for a while (as OpenMP's do) while they have their cores
to themselves, and sleep at once when the machine is busy.

The BLAS thread count is process-wide. kerasette sets it to 1 when it first uses the pool and
leaves it there: a multi-threaded BLAS call between two pool jobs leaves OpenBLAS's workers
spinning for a while afterwards, on the very cores the pool needs (that doubled the time of a
small convnet's step). Matrix products that would have used BLAS threads go through `matmul`,
which splits them over the pool instead. ``KERASETTE_NUM_THREADS`` (or `set_num_threads`) sets
the pool's size; `restore_blas_threads` gives BLAS its own threads back.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import itertools
import os

import numpy as np

from kerasette.backend import memory, state
from kerasette.backend.pool import Pool


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def num_threads() -> int:
    """Threads used for batch-parallel work: ``KERASETTE_NUM_THREADS`` or the available cores."""
    count = state.threads.count()
    if count is None:
        env = os.environ.get("KERASETTE_NUM_THREADS", "")
        count = int(env) if env.isdigit() and int(env) > 0 else available_cores()
        state.threads.set_count(count)
    return count


def set_num_threads(n: int) -> None:
    """Sets the number of threads for batch-parallel work (distributed ranks share the cores)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer; received {n!r}")
    state.threads.set_count(n)


def chunks(n_items: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous (start, stop) ranges covering ``range(n_items)``, sizes within one."""
    return list(_chunks(n_items, parts))


@functools.lru_cache(maxsize=1024)
def _chunks(n_items: int, parts: int) -> tuple[tuple[int, int], ...]:
    """`chunks` kept per size (1 us a dispatch where a training step makes ~100 of a few sizes)."""
    parts = max(1, min(parts, n_items))
    base, extra = divmod(n_items, parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + base + (i < extra)
        out.append((start, stop))
        start = stop
    return tuple(out)


def map_chunks(fn, n_items: int, min_work: int = 0, work_per_item: int = 1) -> list:
    """Runs ``fn(start, stop)`` on contiguous chunks of ``range(n_items)``, one per thread.

    The calling thread runs the first chunk itself while the pool runs the others (one hand-off
    fewer per call). Small work (``n_items * work_per_item < min_work``) or a single thread runs
    inline. Returns the results in chunk order; an exception in any chunk is raised after every
    chunk has finished.
    """
    threads = num_threads()
    _take_over_blas()
    if threads == 1 or n_items < 2 or n_items * work_per_item < min_work:
        return [fn(0, n_items)]
    parts = chunks(n_items, threads)
    others, first = _pool().run([_call(fn, a, b) for a, b in parts[1:]], _call(fn, *parts[0]))
    return [first] + others


def map_prepared(prepare, n_items: int, min_work: int = 0, work_per_item: int = 1) -> list:
    """`map_chunks` for work whose chunk is one kernel call: ``prepare(k, start, stop)`` returns
    a callable without arguments that makes chunk ``k``'s call (``functools.partial(kernel,
    *args)``), and the calling thread prepares every chunk before any runs.

    A worker handed a chunk's Python runs it with the caches of its core cold after its last
    pass (a Winograd chunk's few microseconds of slicing, scratch look-ups and checks took 19
    us), holding the GIL, which the caller must not take back meanwhile (`Pool.run`'s settle);
    a prepared call reaches its kernel, which releases the GIL, after its dispatch alone, so
    the caller waits less (``Pool.run(prepared=True)``). Chunk ``k`` runs in the calling thread
    for ``k = 0``, else in worker ``k``, or (another thread is using the pool) in the calling
    thread after chunk 0: a chunk's scratch arrays may be kept per calling thread and ``k``.

    A chunk may also be a tuple of such calls, made one after the other on its thread (a
    convolution's backward chunk: output pass, input gradient, kernel gradient, each pass
    reading what the last left in the core's cache); its result is then the list of theirs.

    Small work (``n_items * work_per_item < min_work``) or a single thread: one chunk, prepared
    and run here. Returns the calls' results in chunk order; an exception in any chunk is raised
    after every chunk has finished.
    """
    threads = num_threads()
    _take_over_blas()
    if threads == 1 or n_items < 2 or n_items * work_per_item < min_work:
        return [_one_task(prepare(0, 0, n_items))()]
    calls = [_one_task(prepare(k, start, stop)) for k, (start, stop) in enumerate(_chunks(n_items, threads))]
    others, first = _pool().run(calls[1:], calls[0], prepared=True)
    return [first] + others


def run_native(call) -> bool:
    """`Pool.run_native`: ``call(slots, spins)`` runs a native job with the pool's spinning
    workers (`kernels.native_jobs`); False (not called) with one thread, or when the pool cannot
    take it now."""
    if num_threads() == 1:
        return False
    _take_over_blas()
    return _pool().run_native(call)


def _one_task(calls):
    """A prepared chunk as one callable: a tuple of calls made in turn."""
    return functools.partial(in_turn, calls) if isinstance(calls, tuple) else calls


def in_turn(calls) -> list:
    """Makes ``calls`` (callables without arguments) one after the other; their results."""
    return [call() for call in calls]


def _pool() -> Pool:
    return state.threads.pool(Pool)


def _call(fn, *args):
    return lambda: fn(*args)


#: Elements of work per piece of a memory-bound pass split by `map_pieces` (4 MB of float32, as
#: `memory_bound_min`: the least work worth a hand-off). Each piece costs a few microseconds of
#: dispatch: pieces of 2**18 elements measured 3-10% slower than halves on an idle machine, 2**20
#: within 2%; a busy core holds the pass up by at most the piece it took.
PIECE_WORK = 1 << 20


def pieces(n_items: int, work_per_item: int = 1, piece_work: int | None = None) -> list[tuple[int, int]]:
    """The contiguous (start, stop) pieces `map_pieces` splits ``range(n_items)`` into: as many
    as hold about ``piece_work`` (default `PIECE_WORK`) each (at least one item), sizes within one.

    They depend on the sizes only, not on the thread count, so that a reduction summed piece by
    piece in piece order gives the same bits on any number of threads.

    Example:
        >>> pieces(10, 1 << 19)
        [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    """
    piece_work = PIECE_WORK if piece_work is None else piece_work
    total = n_items * max(1, work_per_item)
    return chunks(n_items, max(1, -(-total // max(1, piece_work))))


def map_pieces(fn, n_items: int, min_work: int = 0, work_per_item: int = 1,
               piece_work: int | None = None, ordered: bool = False) -> list:
    """Runs ``fn(start, stop)`` on every piece of `pieces` ``(n_items, work_per_item,
    piece_work)``, the calling thread and the pool's threads each taking the next piece not yet
    taken as soon as they finish their last: the split for memory-bound passes.

    A fixed split (`map_chunks`) waits for its slowest thread, and on a machine whose other core
    is busy that thread may not even start for a while: a pass split in halves then took longer
    on two threads than on one. Here the caller goes on taking pieces while the helpers are held
    up, and it waits at the end for at most the pieces they already hold; a helper that never
    got to start is cancelled.

    Small work (``n_items * work_per_item < min_work``) and a single thread run in the calling
    thread: ``fn(0, n_items)`` once, or, with ``ordered`` (a reduction, whose bits depend on
    where the pieces start), the same pieces one after the other, so that the result does not
    depend on the thread count or on which thread took which piece. Returns ``fn``'s results in
    piece order; an exception in a piece is raised after every running piece has finished
    (pieces not yet taken are then skipped).
    """
    threads = num_threads()
    _take_over_blas()
    serial = threads == 1 or n_items * work_per_item < min_work
    if serial and not ordered:
        return [fn(0, n_items)]
    parts = pieces(n_items, work_per_item, piece_work)
    results = [None] * len(parts)
    if serial or len(parts) == 1:
        for index, (start, stop) in enumerate(parts):
            results[index] = fn(start, stop)
        return results
    taken = itertools.count()  # next() on it is atomic: no two threads take the same piece
    failed = []

    def take() -> None:
        for index in taken:
            if index >= len(parts) or failed:
                return
            try:
                results[index] = fn(*parts[index])
            except BaseException:
                failed.append(True)
                raise

    helpers = min(threads, len(parts)) - 1
    _pool().run([take] * helpers, take, cancel_waiting=True)
    return results


def run_shared(fn, pieces: int, work: int, min_work: int = 0) -> None:
    """Runs ``fn()`` in the calling thread and in up to ``pieces - 1`` pool threads at once, for
    a kernel that shares its ``pieces`` out itself (an atomic counter each call takes pieces
    from until none is left: `kerasette.backend.kernels.spin.fetch_add`), so that a thread's
    pieces cost one call and one GIL hand-over in all, not one each. A thread that could not
    start before the caller finished is taken back. Small work (``work < min_work``) or a
    single thread: one call here, which takes every piece.
    """
    threads = num_threads()
    _take_over_blas()
    helpers = min(threads, pieces) - 1
    if helpers < 1 or work < min_work:
        fn()
        return
    _pool().run([fn] * helpers, fn, cancel_waiting=True)


def matmul_min_work() -> int:
    """Products with fewer multiply-adds than this run in the calling thread (default 2**24).

    A hand-off to a sleeping pool thread and back costs about 0.1 ms (two thread wake-ups and GIL
    hand-overs on a 2-core VM; 30 us with the pool's threads spinning), the time of a 16M
    multiply-add product on one core split in two: the seed convnet's dense layers at 32 x 32
    (13M) measured faster unsplit.
    """
    return state.parallel.matmul_min_work


def memory_bound_min() -> int:
    """Memory-bound passes (optimizer updates, resizing, sample normalization) over fewer
    elements than this run in the calling thread (default 2**20): below about a million floats,
    splitting saves less than the hand-off. The fused elementwise passes (dropout, the ReLU's
    gradient), batch normalization's and windowed pooling's split from
    `kerasette.backend.engine.elementwise.PASS_MIN` (2**18) or from this, whichever is lower."""
    return state.parallel.memory_bound_min


@contextlib.contextmanager
def parallel_settings(matmul_min_work: int | None = None, memory_bound_min: int | None = None):
    """Changes the work thresholds above for a ``with`` block (for tests and tuning; 0 splits
    everything over the pool), then restores them.

    Example:
        >>> with parallel_settings(memory_bound_min=0):
        ...     memory_bound_min()
        0
    """
    values = {"matmul_min_work": matmul_min_work, "memory_bound_min": memory_bound_min}
    for name, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"parallel_settings: argument `{name}` must be a non-negative integer; "
                             f"received {name}={value!r}")
    settings = state.parallel
    saved = (settings.matmul_min_work, settings.memory_bound_min)
    if matmul_min_work is not None:
        settings.matmul_min_work = matmul_min_work
    if memory_bound_min is not None:
        settings.memory_bound_min = memory_bound_min
    try:
        yield
    finally:
        settings.matmul_min_work, settings.memory_bound_min = saved


def matmul(a, b, out=None, min_work: int | None = None):
    """``a @ b`` for 2-D arrays, split over the pool from ``min_work`` multiply-adds (default
    :func:`matmul_min_work`): by the output's columns, or by its rows when it has more rows than
    columns (each thread then packs its own rows of ``a`` and all of ``b``, the smaller operand,
    rather than all of ``a``: a dense layer's kernel gradient ``x.T @ dy``, 1600x128 by 128x256,
    456 -> 400 us on two threads). The same bits as one product. Each thread's product is
    prepared by the calling thread (:func:`map_prepared`: the worker reaches BLAS, which releases
    the GIL, at once)."""
    m, k = a.shape
    n = b.shape[1]
    if out is None:
        out = np.empty((m, n), np.result_type(a.dtype, b.dtype))
    if min_work is None:
        min_work = state.parallel.matmul_min_work
    if m > n:
        map_prepared(lambda _, i, j: functools.partial(np.matmul, a[i:j], b, out=out[i:j]), m, min_work, n * k)
    else:
        map_prepared(lambda _, i, j: functools.partial(np.matmul, a, b[:, i:j], out=out[:, i:j]), n, min_work, m * k)
    return out


def _take_over_blas() -> None:
    """Makes BLAS single-threaded (once; see the module's docstring) and tunes malloc
    (`kerasette.backend.memory`)."""
    if state.blas.taken_from() is None:
        memory.keep_freed_memory()
        before = blas_threads() or 0
        state.blas.set_taken_from(before)
        if before > 1:
            set_blas_threads(1)


def restore_blas_threads() -> None:
    """Gives BLAS back the thread count it had before kerasette took it over."""
    before = state.blas.taken_from()
    if before:
        set_blas_threads(before)
    state.blas.set_taken_from(None)


# -- BLAS thread control -------------------------------------------------------------------------
def mapped_libraries(fragment: str) -> list[str]:
    """Paths of the files mapped into this process whose file name contains ``fragment`` (any
    case); empty where the OS does not list them (``/proc/self/maps``: Linux)."""
    fragment = fragment.lower()
    try:
        with open("/proc/self/maps") as maps:
            paths = {fields[5].strip() for fields in (line.split(None, 5) for line in maps) if len(fields) == 6}
    except OSError:
        return []
    return sorted(p for p in paths if fragment in os.path.basename(p).lower())


def library_paths(fragment: str) -> list[str]:
    """Shared libraries whose file name contains ``fragment`` (any case): those numpy's wheel
    bundles first (its OpenBLAS, on every OS), then the others mapped into the process."""
    fragment = fragment.lower()
    root = os.path.dirname(np.__file__)
    folders = (os.path.normpath(os.path.join(root, os.pardir, "numpy.libs")), os.path.join(root, ".dylibs"))
    bundled = [path for folder in folders for path in sorted(glob.glob(os.path.join(folder, "*")))
               if fragment in os.path.basename(path).lower()]
    seen = {os.path.realpath(path) for path in bundled}
    return bundled + [path for path in mapped_libraries(fragment) if os.path.realpath(path) not in seen]


def _openblas_setters() -> list[tuple]:
    """(set_num_threads, get_num_threads) of numpy's OpenBLAS and any other loaded in this process."""
    return state.blas.setters.run(_find_openblas_setters)


def _find_openblas_setters() -> list[tuple]:
    found = []
    for path in library_paths("openblas"):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("openblas", "scipy_openblas"):
            for suffix in ("", "64_", "_64"):
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    found.append((setter, getter))
    return found


def set_blas_threads(n: int) -> str | None:
    """Sets the BLAS library's thread count; returns how (``'openblas'``: OpenBLAS's own setter,
    found among the loaded libraries; ``'threadpoolctl'``: another BLAS, through threadpoolctl
    when it is installed) or None when it could not.

    The one place kerasette changes BLAS threads (the pool's take-over, `kerasette.distributed`).
    """
    setters = _openblas_setters()
    for setter, _ in setters:
        setter(n)
    if setters:
        return "openblas"
    try:
        from threadpoolctl import threadpool_limits  # deferred: optional package, only without OpenBLAS
    except ImportError:
        return None
    threadpool_limits(limits=n, user_api="blas")
    return "threadpoolctl"


def blas_threads() -> int | None:
    """The BLAS library's thread count (OpenBLAS's, else threadpoolctl's report), or None when
    it cannot be read."""
    setters = _openblas_setters()
    if setters:
        return int(setters[0][1]())
    try:
        from threadpoolctl import threadpool_info  # deferred: optional package, only without OpenBLAS
    except ImportError:
        return None
    counts = [lib["num_threads"] for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return counts[0] if counts else None

