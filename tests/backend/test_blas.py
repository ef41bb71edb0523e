"""numpy's BLAS called from numba kernels (`kerasette.backend.kernels.blas`), and its fallback."""

import ctypes
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from kerasette.backend.kernels import blas


@numba.njit(cache=False)
def _product(a, b, c, trans_a, trans_b, beta):
    k = a.shape[0] if trans_a else a.shape[1]
    blas.gemm(trans_a, trans_b, c.shape[0], c.shape[1], k, a, 0, a.shape[1], b, 0, b.shape[1],
              beta, c, 0, c.shape[1])


@numba.njit(cache=False)
def _block_product(a, b, c):
    """Rows 1..3 of ``a`` (columns 2..4) times rows 2..4 of ``b`` into rows 1..3 of ``c``."""
    blas.gemm(False, False, 3, c.shape[1], 3, a, a.shape[1] + 2, a.shape[1], b, 2 * b.shape[1],
              b.shape[1], 0.0, c, c.shape[1], c.shape[1])


def check_products(dtype, python=False):
    """``python``: the same calls through numpy (what kernels do under ``NUMBA_DISABLE_JIT``)."""
    product = _product.py_func if python else _product
    block_product = _block_product.py_func if python else _block_product
    rng = np.random.default_rng(0)
    a = rng.standard_normal((7, 5)).astype(dtype)
    b = rng.standard_normal((5, 4)).astype(dtype)
    c0 = rng.standard_normal((7, 4)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for trans_a in (False, True):
        for trans_b in (False, True):
            for beta in (0.0, 1.0, 0.5):
                a_in = np.ascontiguousarray(a.T) if trans_a else a
                b_in = np.ascontiguousarray(b.T) if trans_b else b
                c = c0.copy()
                if beta == 0.0:
                    c[:] = np.nan  # BLAS does not read C when beta is 0
                product(a_in, b_in, c, trans_a, trans_b, beta)
                want = a @ b + (beta * c0 if beta else 0)
                np.testing.assert_allclose(c, want, rtol=tol, atol=tol)
                assert c.dtype == dtype
    c = np.zeros((7, 4), dtype)
    block_product(a, b, c)
    want = np.zeros_like(c)
    want[1:4] = a[1:4, 2:5] @ b[2:5]
    np.testing.assert_allclose(c, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("python", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_matches_numpy(dtype, python):
    check_products(dtype, python)


def test_numpy_blas_found():
    """numpy's wheels ship OpenBLAS with 64-bit integers; the kernels should use it."""
    assert blas.SOURCE is not None
    if "openblas" in str(np.show_config(mode="dicts")["Build Dependencies"]["blas"]).lower():
        assert blas.SOURCE != "numba loops"


def test_fallback_loops_give_the_same_results():
    """With ``KERASETTE_BLAS=loops`` the products come from numba loops, and convolutions agree."""
    code = (
        "import numpy as np\n"
        "from kerasette.backend.kernels import blas\n"
        "assert blas.SOURCE == 'numba loops', blas.SOURCE\n"
        "from tests.backend.test_blas import check_products\n"
        "check_products(np.float32); check_products(np.float64)\n"
        "from kerasette.backend.engine import conv\n"
        "from tests.backend.test_conv_kernels import ref_conv\n"
        "rng = np.random.default_rng(0)\n"
        "for cin in (3, 16):\n"
        "    x = rng.standard_normal((2, 9, 9, cin)); w = rng.standard_normal((3, 3, cin, 16))\n"
        "    np.testing.assert_allclose(conv.conv2d_forward(x, w), ref_conv(x, w, None, (1, 1), 'valid'),\n"
        "                               rtol=1e-9, atol=1e-9)\n"
        "print('ok')\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, KERASETTE_BLAS="loops", PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def test_gemm_from_python_checks_the_blocks_fit():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"a \(3, 4\) block at 2 with rows 4 apart does not fit"):
        blas.gemm(False, False, 3, 3, 4, a, 2, 4, a.T.copy(), 0, 3, 0.0, np.zeros((3, 3), np.float32), 0, 3)


@pytest.mark.parametrize("bad", ["strided", "dtype"])
def test_gemm_in_kernels_refuses_strided_or_mixed_arrays(bad):
    """BLAS reads blocks by address, so a strided view or another dtype is a typing error, not
    a wrong product."""
    a = np.ones((4, 4), np.float32)
    b = a[:, ::2] if bad == "strided" else a.astype(np.float64)
    with pytest.raises(numba.core.errors.TypingError, match="b must be a C-contiguous array of a's dtype"):
        _product(a, b, np.zeros((4, 2), np.float32), False, False, 0.0)


def test_int32_adapter_passes_every_argument():
    """BLAS builds with 32-bit integers (macOS's Accelerate) are called through an adapter."""
    seen = []
    i32, ptr = ctypes.c_int32, ctypes.c_void_p

    def record(*args):
        seen.append(args)

    fake = ctypes.CFUNCTYPE(None, i32, i32, i32, i32, i32, i32, ctypes.c_float, ptr, i32, ptr, i32,
                            ctypes.c_float, ptr, i32)(record)
    adapter = blas._int32_adapter(numba.types.float32, ctypes.cast(fake, ctypes.c_void_p).value)
    adapter.ctypes(101, 112, 111, 7, 5, 3, 1.0, 4096, 9, 8192, 11, 0.5, 12288, 13)
    assert seen == [(101, 112, 111, 7, 5, 3, 1.0, 4096, 9, 8192, 11, 0.5, 12288, 13)]


def test_a_blas_whose_products_are_wrong_is_not_used():
    @numba.cfunc(blas._SIG[numba.types.float32])
    def writes_nothing(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        pass

    assert not blas._multiplies(numba.types.float32, writes_nothing)
    for kind in blas._KINDS:
        assert blas._multiplies(kind, blas._loop_gemm(kind))


def test_no_blas_found_warns_and_falls_back(monkeypatch):
    monkeypatch.setattr(blas, "_candidate_libraries", lambda: [])
    try:
        with pytest.warns(RuntimeWarning, match="no usable cblas_sgemm/cblas_dgemm was found beside numpy"):
            assert blas.register() == "numba loops"
    finally:
        monkeypatch.undo()
        blas.register()
    assert blas.SOURCE != "numba loops" or not blas._find_cblas()


def test_numpy_bundled_blas_comes_first():
    from kerasette.backend import parallel

    paths = parallel.library_paths("openblas")
    root = os.path.dirname(np.__file__)
    bundled = os.path.join(os.path.dirname(root), "numpy.libs")
    if os.path.isdir(bundled) and any("openblas" in name.lower() for name in os.listdir(bundled)):
        assert os.path.realpath(paths[0]).startswith(os.path.realpath(bundled))
        assert os.path.realpath(blas.SOURCE).startswith(os.path.realpath(bundled))
    assert parallel.mapped_libraries("OpenBLAS") == parallel.mapped_libraries("openblas")
    assert len({os.path.realpath(p) for p in paths}) == len(paths)
