"""LLVM's code pages given back after kernels load (`kerasette.backend.kernels._code_pages`) and
when the kernel loader does it (`kerasette.backend.kernels._loader`)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from kerasette.backend.kernels import _code_pages, _jit, _loader

linux_only = pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="reads /proc/self/smaps")


def _resident_kb(ranges):
    """Resident KB of this process's mappings that start at one of ``ranges``' starts."""
    starts = {start for start, _ in ranges}
    total, counting = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and ":" not in fields[0]:
                counting = int(fields[0].split("-")[0], 16) in starts
            elif counting and fields[0] == "Rss:":
                total += int(fields[1])
    return total


@linux_only
def test_only_read_only_segments_of_the_library_are_chosen():
    ranges = _code_pages.read_only_ranges()
    mappings = _code_pages._mappings(_code_pages.LIBRARY)
    writable = _code_pages._writable_file_ranges(mappings[0]["path"])
    chosen = [m for m in mappings if (m["start"], m["end"]) in ranges]
    assert any("x" in m["perms"] for m in chosen)  # the code itself
    for mapping in chosen:
        assert "w" not in mapping["perms"] and mapping["anonymous"] == 0
        first, last = mapping["offset"], mapping["offset"] + mapping["end"] - mapping["start"]
        assert not any(first < stop and start < last for start, stop in writable)
    # the relocated read-only data (from the writable segment) is never chosen
    assert all(m in chosen for m in mappings if "w" not in m["perms"] and m["anonymous"] == 0
               and not any(m["offset"] < stop and start < m["offset"] + m["end"] - m["start"]
                           for start, stop in writable))


def test_a_file_that_is_not_elf_has_no_segments(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("not an ELF file")
    assert _code_pages._writable_file_ranges(str(path)) is None


@linux_only
@pytest.mark.skipif(not _code_pages.enabled(), reason="KERASETTE_RELEASE_CODE_PAGES=0")
def test_release_unmaps_the_pages_and_llvm_still_compiles_after_it():
    # a new function compiled (and run) after the release: LLVM's code faults back in
    assert _code_pages.release() > 0
    assert _resident_kb(_code_pages._state["ranges"]) < 1024
    add = _jit.numba.njit(cache=False)(lambda x, y: x + y)
    assert add(np.arange(3.0), 1.0).tolist() == [1.0, 2.0, 3.0]
    assert _resident_kb(_code_pages._state["ranges"]) > 1024
    assert _code_pages.release() > 0


def test_a_process_that_released_runs_and_ends_cleanly():
    code = """
import numpy as np
from kerasette.backend.kernels import _code_pages, _jit
double = _jit.numba.njit(cache=False)(lambda x: 2 * x)
assert double(np.ones(4)).sum() == 8.0
released = _code_pages.release()
triple = _jit.numba.njit(cache=False)(lambda x: 3 * x)
print(released > 0, triple(np.ones(4)).sum(), _code_pages.release() == released)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    expected = "True" if os.path.exists("/proc/self/smaps") else "False"
    assert out.stdout.split() == [expected, "12.0", "True"]


def test_setting_it_off_releases_nothing():
    code = "from kerasette.backend.kernels import _code_pages, _jit; print(_code_pages.release())"
    env = dict(os.environ, KERASETTE_RELEASE_CODE_PAGES="0")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.stdout.strip() == "0", out.stderr


def test_passes_run_counts_compiles_not_calls():
    before = _code_pages.passes_run()
    negate = _jit.numba.njit(cache=False)(lambda x: -x)
    assert negate(2.0) == -2.0
    after = _code_pages.passes_run()
    assert after > before
    assert negate(3.0) == -3.0
    assert _code_pages.passes_run() == after


@pytest.fixture
def releases(monkeypatch):
    """The loader's releases, recorded instead of made (whenever the last compile was)."""
    monkeypatch.setattr(_code_pages, "QUIET_SECONDS", 0.0)
    made = []
    monkeypatch.setattr(_code_pages, "release", lambda: made.append(threading.current_thread().name) or 0)
    return made


def test_the_loader_releases_after_a_job_that_compiled_nothing(releases):
    assert _loader.run(divmod, 7, 2) == (3, 1)
    assert releases == ["kerasette-kernel-loader"]


def test_the_loader_keeps_the_pages_after_a_job_that_compiled(releases):
    halve = _jit.numba.njit(cache=False)(lambda x: x / 2)
    assert _loader.run(halve, 3.0) == 1.5
    assert releases == []


def test_the_loader_keeps_the_pages_for_a_while_after_a_compile_elsewhere(releases, monkeypatch):
    # a first run: compiles on the calling thread, loads of the helper's kernels between them
    monkeypatch.setattr(_code_pages, "QUIET_SECONDS", 60.0)
    _code_pages.passes_run()  # listening
    square = _jit.numba.njit(cache=False)(lambda x: x * x)
    assert square(3.0) == 9.0
    assert not _code_pages.quiet() and _code_pages.quiet(0.0)
    assert _loader.run(divmod, 9, 4) == (2, 1)
    assert releases == []
    monkeypatch.setattr(_code_pages, "QUIET_SECONDS", 0.0)
    assert _loader.run(divmod, 9, 4) == (2, 1)
    assert releases == ["kerasette-kernel-loader"]


def test_the_loader_releases_once_no_other_job_waits(releases):
    started, go = threading.Event(), threading.Event()

    def blocker():
        started.set()
        go.wait(30)

    first = threading.Thread(target=_loader.run, args=(blocker,))
    first.start()
    started.wait(30)
    second = threading.Thread(target=_loader.run, args=(divmod, 1, 1))
    second.start()
    while _loader._jobs.empty():  # the second job is queued behind the first
        threading.Event().wait(0.001)
    go.set()
    first.join(30)
    second.join(30)
    assert releases == ["kerasette-kernel-loader"]  # after the second job only
