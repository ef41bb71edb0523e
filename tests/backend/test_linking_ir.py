"""Cache-loaded kernels keep their linking IR as bitcode (`kerasette.backend.kernels._linking_ir`):
freed after loading, parsed again when a new compile links the kernel."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from kerasette.backend.kernels import _jit, _linking_ir

_CALLEE = """
import numba

@numba.njit(cache=True)
def callee(x):
    return x * 2.0 + 1.0
"""

#: loads ``callee`` (cached by a first run), then compiles a caller that links it
_PROBE = """
import sys
sys.path.insert(0, {folder!r})
import numba
from kerasette.backend.kernels import _jit, _linking_ir
import callee_module
print("value", callee_module.callee(3.0))
library = callee_module.callee.overloads[(numba.float64,)].library
print("hits", sum(callee_module.callee.stats.cache_hits.values()))
print("kept", hasattr(library, _linking_ir._BITCODE), library._shared_module is None)
caller = numba.njit(cache=False)(lambda x: callee_module.callee(x) + 1.0)
print("caller", caller(3.0))
print("after", hasattr(library, _linking_ir._BITCODE), library._shared_module is None)
"""


def _run(folder, env):
    code = _PROBE.format(folder=str(folder))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    return dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())


def test_a_cache_loaded_kernel_keeps_bitcode_and_links_into_a_new_compile(tmp_path):
    (tmp_path / "callee_module.py").write_text(textwrap.dedent(_CALLEE))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), KERASETTE_COMPILE_AHEAD="0")
    first = _run(tmp_path, env)  # compiles and writes the cache: nothing loaded
    assert first["value"] == "7.0" and first["hits"] == "0" and first["kept"] == "False False"
    assert first["caller"] == "8.0"
    second = _run(tmp_path, env)  # loads it: bitcode kept, module freed, parsed when linked
    assert second["value"] == "7.0" and second["hits"] == "1"
    assert second["kept"] == "True True"
    assert second["caller"] == "8.0"
    assert second["after"] == "False False"
    off = _run(tmp_path, dict(env, KERASETTE_LAZY_LINKING_IR="0"))  # numba as it is
    assert off["hits"] == "1" and off["kept"] == "False False" and off["caller"] == "8.0"


def test_installed_once_in_this_process():
    library_class = _jit.numba.core.codegen.CPUCodeLibrary
    assert _linking_ir.enabled() == bool(getattr(library_class, "_kerasette_lazy_linking_ir", False))
    method = library_class._get_module_for_linking
    assert _linking_ir.install() == _linking_ir.enabled()
    assert library_class._get_module_for_linking is method  # not wrapped twice
