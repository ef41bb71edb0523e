"""Compiling ahead, the helper's start (`kerasette.backend.kernels._ahead.start`): launched when the
kernels are first imported, handed its list at the first listed compile, gone when unused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from kerasette.backend.kernels import _ahead


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """No decision taken yet in this process, an empty cache folder (no marker for the list), and a
    `_launch` that records its calls and returns a live fake helper with its own folder."""
    monkeypatch.delenv(_ahead._ENV_DIR, raising=False)
    monkeypatch.delenv("KERASETTE_COMPILE_AHEAD", raising=False)
    (tmp_path / "cache").mkdir()
    monkeypatch.setattr(_ahead, "_cache_folder", lambda: tmp_path / "cache")
    for key in ("dir", "helper", "standby"):
        monkeypatch.setitem(_ahead._state, key, None)
    monkeypatch.setitem(_ahead._state, "entries", {"listed": ("m", "k", (), 0)})
    launches = []

    def launch():
        folder = tmp_path / f"shared{len(launches)}"
        folder.mkdir()
        launches.append(types.SimpleNamespace(poll=lambda: None, folder=folder))
        return launches[-1], folder

    monkeypatch.setattr(_ahead, "_launch", launch)
    return launches


def test_start_launches_one_standby_helper(fresh):
    _ahead.start()
    _ahead.start()
    assert len(fresh) == 1 and _ahead._state["standby"][0] is fresh[0]
    assert _ahead._state["helper"] is None  # not before it has its list


@pytest.mark.parametrize("reason", ["off", "marker", "helper"])
def test_start_launches_nothing_when_not_wanted(fresh, monkeypatch, reason):
    if reason == "off":
        monkeypatch.setenv("KERASETTE_COMPILE_AHEAD", "0")
    elif reason == "marker":
        _ahead._marker().touch()  # the cache holds the whole list already
    else:
        monkeypatch.setenv(_ahead._ENV_DIR, "/somewhere")  # this process is a helper
    _ahead.start()
    assert fresh == []


def test_the_first_listed_compile_hands_the_standby_its_list(fresh):
    _ahead.start()
    folder = _ahead._claims_dir()
    assert folder == fresh[0].folder and len(fresh) == 1
    assert Path(folder / _ahead._LIST).read_text() == str(_ahead.SIGNATURES)
    assert _ahead._state["helper"] is fresh[0]


def test_a_standby_that_has_ended_is_replaced(fresh):
    _ahead.start()
    fresh[0].poll = lambda: 0  # it waited longer than STANDBY_SECONDS
    folder = _ahead._claims_dir()
    assert len(fresh) == 2 and folder == fresh[1].folder
    assert (fresh[1].folder / _ahead._LIST).exists() and not (fresh[0].folder / _ahead._LIST).exists()


def test_no_helper_once_the_cache_holds_the_list(fresh):
    _ahead.start()
    _ahead._marker().touch()  # e.g. another run finished it meanwhile
    assert _ahead._claims_dir() is None
    assert _ahead._state["helper"] is None


def test_a_helper_without_a_list_leaves(monkeypatch, tmp_path):
    """The helper's side: no list within STANDBY_SECONDS, it returns without compiling or
    writing the marker."""
    monkeypatch.setenv(_ahead._ENV_DIR, str(tmp_path))
    monkeypatch.setattr(_ahead, "_cache_folder", lambda: tmp_path)
    monkeypatch.setenv("KERASETTE_COMPILE_AHEAD_PARENT", "0")  # restored after the test
    monkeypatch.setitem(_ahead._state, "dir", None)
    monkeypatch.setattr(_ahead, "STANDBY_SECONDS", 0.2)
    monkeypatch.setattr(_ahead, "_compile_next", lambda folder: pytest.fail("compiled without a list"))
    start = time.monotonic()
    _ahead._helper(os.getppid())
    assert 0.2 <= time.monotonic() - start < 5
    assert not list(tmp_path.glob("kerasette-ahead-*.done"))


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie nobody reaped counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_helper_ends_with_its_parent_even_in_a_long_task():
    """A process that runs `_exit_with` for its parent and then sleeps for a minute (as a long
    compile) ends with its parent (within 5 s here; it would sleep on for the minute without)."""
    child = ("import os, time; from kerasette.backend.kernels import _ahead; "
             "_ahead._exit_with(os.getppid()); print(os.getpid(), flush=True); time.sleep(60)")
    parent = ("import subprocess, sys; "
              f"p = subprocess.Popen([sys.executable, '-c', {child!r}], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True); "
              "print(p.stdout.readline().strip(), flush=True)")
    root = str(Path(_ahead.__file__).resolve().parents[3])
    env = dict(os.environ, PYTHONPATH=root, KERASETTE_COMPILE_AHEAD="0")
    out = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, env=env, timeout=60)
    helper = int(out.stdout.split()[-1])
    deadline = time.monotonic() + 5
    while not _gone(helper) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _gone(helper)
