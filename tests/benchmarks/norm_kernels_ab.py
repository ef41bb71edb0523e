"""Batch normalization's rows reductions against the plain loops they replaced, calls alternating
in one process: how much the sums held in vector registers (`kerasette.backend.kernels.normalization_sums`)
save, with the bits compared.

A script, not a test::

    python tests/benchmarks/norm_kernels_ab.py [--repeats 300]

Run it with ``NUMBA_CPU_NAME=haswell`` (or bench.py's AVX2 environment) for AVX2 code. On a shared
machine the two sides of each row take turns call by call, so a busy spell falls on both; the
figures are medians in microseconds. Rows: the statistics (`channel_stats_rows`) on one thread's
half of ResNet-20's passes (rows of 64 values: 32x32x32x16 seen four images' rows wide, 32x16x16x32,
32x8x8x64), and inference's backward sweep (`affine_backward_rows`) on the whole of the layers
benchmark's shapes, one thread. (The backward sums, `channel_sums_rows` and
`channel_sums_rows_relu`, stayed plain loops: held in registers they measured slower on
ResNet-20's largest pass.) ``plain`` is the loop as it was before (a4f6968), compiled here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's kerasette

from kerasette.backend.kernels import normalization_sums as sums  # noqa: E402
from kerasette.backend.kernels.simd import VECTOR_BYTES  # noqa: E402

SUM_BLOCK = sums.SUM_BLOCK


@numba.njit(nogil=True)
def plain_stats(a, a_center, s1, s2, p1, p2):
    rows, chans = a.shape
    for r0 in range(0, rows, SUM_BLOCK):
        r1 = min(r0 + SUM_BLOCK, rows)
        for c in range(chans):
            p1[c] = 0
            p2[c] = 0
        r = r0
        while r + 4 <= r1:
            a0, a1, a2, a3 = a[r], a[r + 1], a[r + 2], a[r + 3]
            for c in range(chans):
                k = a_center[c]
                d0 = a0[c] - k
                d1 = a1[c] - k
                d2 = a2[c] - k
                d3 = a3[c] - k
                p1[c] += (d0 + d1) + (d2 + d3)
                p2[c] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
            r += 4
        while r < r1:
            ar = a[r]
            for c in range(chans):
                d = ar[c] - a_center[c]
                p1[c] += d
                p2[c] += d * d
            r += 1
        for c in range(chans):
            s1[c] += p1[c]
            s2[c] += p2[c]


@numba.njit(nogil=True)
def plain_affine_backward(g, x, scale, dx, s1, s2, p1, p2):
    rows, chans = g.shape
    for r0 in range(0, rows, SUM_BLOCK):
        r1 = min(r0 + SUM_BLOCK, rows)
        for c in range(chans):
            p1[c] = 0
            p2[c] = 0
        for r in range(r0, r1):
            gr, xr, dr = g[r], x[r], dx[r]
            for c in range(chans):
                gv = gr[c]
                dr[c] = gv * scale[c]
                p1[c] += gv
                p2[c] += gv * xr[c]
        for c in range(chans):
            s1[c] += p1[c]
            s2[c] += p2[c]


def paired(calls, repeats: int) -> list[float]:
    """Median microseconds of each call, the calls taking turns ``repeats`` times."""
    for _ in range(20):
        for call in calls:
            call()
    times = [[] for _ in calls]
    for _ in range(repeats):
        for t, call in zip(times, calls):
            start = time.perf_counter()
            call()
            t.append(time.perf_counter() - start)
    return [1e6 * statistics.median(t) for t in times]


def rows(repeats: int):
    rng = np.random.default_rng(0)
    width = 64
    for n in (8192, 4096, 2048):  # one thread's half of 32x32x32x16, 32x16x16x32, 32x8x8x64
        a = (rng.standard_normal((n, width)) + 3).astype(np.float32)
        centre = a[0].copy()
        for name, (old, new) in {"stats": (plain_stats, sums.channel_stats_rows)}.items():
            out = [(np.zeros(width), np.zeros(width), np.empty(width, np.float32), np.empty(width, np.float32))
                   for _ in range(2)]
            calls = [lambda acc, f=f, a=a, centre=centre: f(a, centre, *acc) for f in (old, new)]
            for call, s in zip(calls, out):
                call(s)
            same = np.array_equal(out[0][0], out[1][0]) and np.array_equal(out[0][1], out[1][1])
            t = paired([lambda c=calls[0], s=out[0]: c(s), lambda c=calls[1], s=out[1]: c(s)], repeats)
            yield f"{name:10} {n:5d} x {width}", t, same
    for shape in [(32, 32, 32, 64), (8, 112, 112, 64)]:
        n = shape[0] * shape[1] * shape[2]
        g, x = rng.standard_normal((n, 64)).astype(np.float32), rng.standard_normal((n, 64)).astype(np.float32)
        scale = rng.uniform(0.5, 1.5, 64).astype(np.float32)
        outs = [(np.empty_like(g), np.zeros(64), np.zeros(64), np.empty(64, np.float32), np.empty(64, np.float32))
                for _ in range(2)]
        calls = [lambda f=f, o=o, g=g, x=x, scale=scale: f(g, x, scale, *o)
                 for f, o in zip((plain_affine_backward, sums.affine_backward_rows), outs)]
        for call in calls:
            call()
        same = all(np.array_equal(p, q) for p, q in zip(outs[0][:3], outs[1][:3]))
        yield f"{'inf. bwd':10} {'x'.join(map(str, shape))}", paired(calls, max(10, repeats // 20)), same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    print(f"{VECTOR_BYTES}-byte vectors; one thread; median us, the two sides' calls alternating")
    print(f"{'pass':27} {'plain':>9} {'registers':>10} {'ratio':>6}  same bits")
    for label, (old, new), same in rows(args.repeats):
        print(f"{label:27} {old:9.1f} {new:10.1f} {old / new:6.2f}  {same}")


if __name__ == "__main__":
    main()
