"""Gives back LLVM's machine-code pages once the kernel loader has nothing left to load.

Why: resident memory counts every page of a shared library that the process has touched, and
numba touches much of LLVM's (``libllvmlite.so``, 80 MB of code) once per process: before it
loads its first kernel from the cache it compiles its runtime's functions with the whole
optimisation pipeline and code generator (``rtsys.initialize``), 30 MB of code pages; each later
load or compile touches a few more. A training step never runs LLVM, yet those pages stayed in
the process's resident set until it ended: on ResNet-20's training benchmark they were 32 MB of
its 238 MB peak.

:func:`release` unmaps the resident pages of the library's read-only segments
(``madvise(MADV_DONTNEED)``). Those pages are never written, so the kernel maps them again from
the page cache (where they stay, shared with other processes) the next time LLVM runs: a minor
fault per 64 KB (the kernel maps the neighbouring pages of a fault too). Only the segments that
the library's ELF program headers load without write permission are released, and only
mappings with no page of their own (a page copied on write would lose its contents).
Linux only; elsewhere, or with ``KERASETTE_RELEASE_CODE_PAGES=0``, it does nothing.

The kernel loader releases them after a job that compiled nothing (:func:`passes_run`), when
nothing was compiled in the last `QUIET_SECONDS` either (:func:`quiet`): a first run's compiles
follow one another, with loads of what the compile-ahead helper compiled between them, and each
would fault back in the 30 MB that the one before it touched (released after every load, the
empty-cache start, ``cold_start.py``, took 1.5% longer).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
import struct
import sys
import time

#: the library whose code pages are released (llvmlite's, which holds LLVM)
LIBRARY = "libllvmlite"

_MADV_DONTNEED = 4
_PT_LOAD, _PF_W = 1, 2
#: how long after a compile pass the pages are kept (see the module docstring), in seconds
QUIET_SECONDS = 2.0
_state: dict = {"ranges": None, "madvise": None, "passes": 0, "listening": False, "last_pass": -math.inf}


def _writable_file_ranges(path: str) -> list[tuple[int, int]] | None:
    """The file ranges (page-aligned) that ``path``'s writable loadable segments come from, or
    None when ``path`` is not a 64-bit little-endian ELF file."""
    with open(path, "rb") as file:
        header = file.read(64)
        if header[:6] != b"\x7fELF\x02\x01":
            return None
        phoff, = struct.unpack_from("<Q", header, 32)
        entry_size, count = struct.unpack_from("<HH", header, 54)
        file.seek(phoff)
        table = file.read(entry_size * count)
    page = os.sysconf("SC_PAGE_SIZE")
    ranges = []
    for index in range(count):
        kind, flags, offset, _, _, file_size = struct.unpack_from("<IIQQQQ", table, index * entry_size)
        if kind == _PT_LOAD and flags & _PF_W:
            ranges.append((offset - offset % page, offset + file_size))
    return ranges


def _mappings(library: str) -> list[dict]:
    """The process's mappings of ``library``'s file: address range, permissions, file offset,
    path and pages of their own (``Anonymous``), from ``/proc/self/smaps``."""
    rows, current = [], None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" not in fields[0]:
                current = None
                if len(fields) > 5 and library in fields[5]:
                    start, end = (int(value, 16) for value in fields[0].split("-"))
                    current = {"start": start, "end": end, "perms": fields[1], "offset": int(fields[2], 16),
                               "path": fields[5], "anonymous": 0}
                    rows.append(current)
            elif current is not None and fields[0] == "Anonymous:":
                current["anonymous"] = int(fields[1])
    return rows


def read_only_ranges(library: str = LIBRARY) -> list[tuple[int, int]]:
    """The address ranges of ``library``'s mappings that can be released: private, not writable,
    from a segment loaded without write permission, with no page of their own."""
    mappings = _mappings(library)
    if not mappings:
        return []
    writable = _writable_file_ranges(mappings[0]["path"])
    if writable is None:
        return []
    ranges = []
    for mapping in mappings:
        first, last = mapping["offset"], mapping["offset"] + mapping["end"] - mapping["start"]
        if ("w" in mapping["perms"] or not mapping["perms"].endswith("p") or mapping["anonymous"]
                or any(first < stop and start < last for start, stop in writable)):
            continue
        ranges.append((mapping["start"], mapping["end"]))
    return ranges


def _madvise():
    """libc's ``madvise``, or None where there is none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    function = getattr(libc, "madvise", None)
    if function is not None:
        function.argtypes, function.restype = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int], ctypes.c_int
    return function


def enabled() -> bool:
    """Whether pages are released: on Linux, unless ``KERASETTE_RELEASE_CODE_PAGES=0``."""
    setting = os.environ.get("KERASETTE_RELEASE_CODE_PAGES", "1").strip().lower()
    return os.path.exists("/proc/self/smaps") and setting not in ("0", "false", "no", "off")


def release() -> int:
    """Unmaps the resident pages of `LIBRARY`'s read-only segments (see the module docstring);
    the bytes of address range released (0 when disabled or nothing was found).

    Example:
        >>> release() >= 0
        True
    """
    if _state["ranges"] is None:
        _state["ranges"] = read_only_ranges() if enabled() else []
        _state["madvise"] = _madvise() if _state["ranges"] else None
    madvise = _state["madvise"]
    if madvise is None:
        return 0
    return sum(end - start for start, end in _state["ranges"] if madvise(start, end - start, _MADV_DONTNEED) == 0)


def passes_run() -> int:
    """How many numba compiler passes have started in this process since this was first called
    (after numba's import; 0 before it): a change says that something was compiled."""
    if not _state["listening"]:
        event = sys.modules.get("numba.core.event")
        if event is None:
            return 0
        event.register("numba:run_pass", _pass_counter(event.Listener)())
        _state["listening"] = True
    return _state["passes"]


def quiet(seconds: float | None = None) -> bool:
    """Whether no compiler pass has run in the last ``seconds`` (default `QUIET_SECONDS`), as far
    as :func:`passes_run` has been listening."""
    seconds = QUIET_SECONDS if seconds is None else seconds
    return time.monotonic() - _state["last_pass"] >= seconds


def _pass_counter(listener_class):
    """A numba event listener class (deferred: numba is imported after this module) counting
    the passes started and noting when the last one started or ended."""

    class PassCounter(listener_class):
        def on_start(self, event) -> None:
            _state["passes"] += 1
            _state["last_pass"] = time.monotonic()

        def on_end(self, event) -> None:
            _state["last_pass"] = time.monotonic()

    return PassCounter
