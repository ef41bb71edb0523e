"""Runs test code in a fresh Python whose kernels are compiled for a CPU with narrower SIMD
vectors than this one (16 bytes: ``generic``; 32 bytes: ``haswell``, AVX2), with a numba cache
of its own, so that the explicit-vector kernels are checked at every width on an AVX-512 machine."""

from __future__ import annotations

import os
import subprocess
import sys

#: (CPU name, features) for ``pytest.mark.parametrize("cpu, features", NARROWER_CPUS)``
NARROWER_CPUS = [("generic", ""), ("haswell", "+avx,+avx2,+fma")]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_with_narrower_vectors(body: str, cpu: str, features: str, cache_dir) -> None:
    """Runs the statements ``body`` compiled for ``cpu`` (after checking that the kernels' vectors
    have its width) and asserts they ran to the end."""
    code = (
        "from kerasette.backend.kernels import simd\n"
        f"assert simd.VECTOR_BYTES == {16 if cpu == 'generic' else 32}, simd.VECTOR_BYTES\n"
        + body
        + "print('ok')\n"
    )
    env = dict(os.environ, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=features, NUMBA_CACHE_DIR=str(cache_dir),
               PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
