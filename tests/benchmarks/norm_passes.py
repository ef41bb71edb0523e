"""Times batch normalization's passes and the fused elementwise passes at ResNet-20's shapes, on
one thread and on two, to check where splitting a pass between the threads pays.

A script, not a test::

    python tests/benchmarks/norm_passes.py [--repeats 200] [--rounds 3]

For each shape (batch 32: 32x32x16, 16x16x32, 8x8x64, and 32x32x64) it prints the median
microseconds of each pass as `kerasette.backend.engine.normalization` and
`kerasette.backend.engine.elementwise` run it: ``stats`` (the statistics' reduction), ``affine``
(the forward map with a ReLU), ``sums``/``relu_sums`` (the backward reduction without and with the
ReLU's gradient inside), ``affine2``/``affine2_relu`` (the input gradient's map, into a new
array), ``affine2_relu_in`` (the same written over the output gradient), ``add_relu`` and
``relu_grad``; the columns ``1 thr`` and ``2 thr`` are the same call with the thread count
set to one and to two (a pass under ``PASS_MIN`` values runs on one thread either way). The two
settings take turns ``--rounds`` times, so that a busy spell falls on both. Run it under
``chrt -f 10`` on a shared machine.

With ``--ops`` it times the ops instead (`op_rows`): batch normalization's forward and backward
passes as a ResNet-20 training step runs them (on rows each pass one kernel call per thread:
`kerasette.backend.kernels.normalization_passes`), and the layer at inference on 32x32x32x64.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules, run as a script or not
from timing import samples  # noqa: E402

SHAPES = [(32, 32, 32, 16), (32, 16, 16, 32), (32, 8, 8, 64), (32, 32, 32, 64)]




def passes(shape):
    """The passes at ``shape`` (NHWC, float32) as (name, function of no arguments)."""
    from kerasette.backend.engine import elementwise, normalization

    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    view = normalization.channel_view(shape, (0, 1, 2))
    xv, gv = view.of(x), view.of(g)
    chans = shape[-1]
    scale, shift = np.linspace(0.5, 1.5, chans), np.linspace(-1, 1, chans)
    relu = view.tile(scale, np.float32), view.tile(shift, np.float32)  # the forward map's numbers
    zeros = np.zeros(chans)
    scratch = gv.copy()  # written over again and again (the values stay finite: a is 0, b small)
    return [
        ("stats", lambda: view.statistics(xv)),
        ("affine", lambda: view.affine(xv, scale, shift, relu=True)),
        ("sums", lambda: view.sums(gv, xv, zeros, shift)),
        ("relu_sums", lambda: view.relu_sums(gv, xv, *relu, shift)),
        ("affine2", lambda: view.affine2(gv, xv, scale, scale, shift)),
        ("affine2_relu", lambda: view.affine2(gv, xv, scale, scale, shift, relu=relu)),
        ("affine2_relu_in", lambda: view.affine2(scratch, xv, zeros, scale * 1e-3, shift, relu=relu, out=scratch)),
        ("add_relu", lambda: elementwise.add_relu(x, g)),
        ("relu_grad", lambda: elementwise.relu_grad(g, x)),
    ]


def _timed_with_setup(fn, setup, repeats: int) -> list[float]:
    """``repeats`` timings (us) of ``fn()``, each after an untimed ``setup()``, after two untimed calls."""
    times = []
    for k in range(repeats + 2):
        setup()
        start = time.perf_counter()
        fn()
        if k >= 2:
            times.append(1e6 * (time.perf_counter() - start))
    return times


def op_rows():
    """The batch normalization ops as a ResNet-20 training step runs them (batch 32, float32,
    channels last): (label, function, setup) for the op's forward pass and its backward pass,
    with the fused ReLU (whose output gradient the backward walk gives as scratch, written over)
    and without (a residual block's second normalization, whose gradient is shared); and the
    BatchNormalization layer at inference (given statistics, no gradient recorded) on
    32x32x32x64, the row of issue 14."""
    import kerasette.layers as layers
    from kerasette.backend.ops.normalization import BatchNorm
    from kerasette.backend.tensor import no_grad

    rng = np.random.default_rng(0)
    rows = []
    for shape in SHAPES[:3]:
        for relu in (True, False):
            x = rng.standard_normal(shape).astype(np.float32)
            g = rng.standard_normal(shape).astype(np.float32)
            gamma, beta = np.ones(shape[-1], np.float32), np.zeros(shape[-1], np.float32)
            op = BatchNorm((0, 1, 2), 1e-3, relu)
            op.needs_grad = (True, True, True)
            scratch = g.copy()

            def setup(op=op, scratch=scratch, g=g, relu=relu):
                np.copyto(scratch, g)
                op.grad_is_scratch = relu

            label = "x".join(map(str, shape)) + (" +relu" if relu else "")
            rows.append((label, "op forward", lambda op=op, x=x, gamma=gamma, beta=beta: op.forward(x, gamma, beta),
                         lambda: None))
            rows.append((label, "op backward", lambda op=op, scratch=scratch: op.backward(scratch), setup))
    x = rng.standard_normal(SHAPES[3]).astype(np.float32)
    layer = layers.BatchNormalization()
    layer(x[:1])

    def inference():
        with no_grad():
            layer(x, training=False)

    rows.append(("x".join(map(str, SHAPES[3])), "layer inference", inference, lambda: None))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="timings per pass, setting and round")
    parser.add_argument("--rounds", type=int, default=3, help="turns of the one- and two-thread settings")
    parser.add_argument("--ops", action="store_true",
                        help="time the ops (forward, backward, inference layer; see op_rows) instead of the passes")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
    from kerasette.backend import parallel
    from kerasette.backend.engine import elementwise

    saved = parallel.num_threads()
    print(f"median us of {args.repeats} x {args.rounds} calls; split from {elementwise.PASS_MIN} values "
          f"(maps: one prepared chunk per thread; reductions: pieces of elementwise.piece_work(n); "
          f"the ops' passes on rows: one kernel call per thread); pool threads available: {saved}")
    print(f"{'shape':16} {'pass':15} {'1 thr':>8} {'2 thr':>8} {'ratio':>6}")
    if args.ops:
        for label, name, fn, setup in op_rows():
            times = {1: [], 2: []}
            for round_ in range(args.rounds):
                for count in ((1, 2) if round_ % 2 == 0 else (2, 1)):
                    parallel.set_num_threads(min(count, saved))
                    times[count] += _timed_with_setup(fn, setup, args.repeats)
            one, two = statistics.median(times[1]), statistics.median(times[2])
            print(f"{label:16} {name:15} {one:8.1f} {two:8.1f} {one / two:6.2f}")
        parallel.set_num_threads(saved)
        return
    for shape in SHAPES:
        for name, fn in passes(shape):
            times = {1: [], 2: []}
            for round_ in range(args.rounds):
                for count in ((1, 2) if round_ % 2 == 0 else (2, 1)):
                    parallel.set_num_threads(min(count, saved))
                    times[count] += samples(fn, args.repeats, 1e6)
            one, two = statistics.median(times[1]), statistics.median(times[2])
            label = "x".join(map(str, shape))
            print(f"{label:16} {name:15} {one:8.1f} {two:8.1f} {one / two:6.2f}")
    parallel.set_num_threads(saved)


if __name__ == "__main__":
    main()
