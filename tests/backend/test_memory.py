"""malloc tuning: freed arrays are reused without page faults, and the opt-out works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Allocates, frees and re-allocates a 64 MiB array (above any mmap threshold); prints whether the tuning applied and the
# page faults taken by the second allocation's first touch.
_SCRIPT = """
import resource, numpy as np
from kerasette.backend import memory
applied = memory.keep_freed_memory()
a = np.ones(16 << 20, np.float32); del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = np.ones(16 << 20, np.float32)
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning")


def _run(**env):
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True,
                         cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), **env))
    applied, faults = out.stdout.split()
    return applied == "True", int(faults)


@glibc_only
def test_freed_arrays_are_reused_without_page_faults():
    applied, faults = _run()
    assert applied
    assert faults < 100  # 64 MiB is 16,384 pages


@glibc_only
def test_opt_out_leaves_malloc_alone():
    applied, _ = _run(KERASETTE_MALLOC_TUNING="0")
    assert not applied


def test_tuning_happens_once(monkeypatch):
    from kerasette.backend import memory

    monkeypatch.setattr(memory, "_state", {"done": True, "applied": True})
    monkeypatch.setattr(memory, "_mallopt", lambda: pytest.fail("mallopt called twice"))
    assert memory.keep_freed_memory()
