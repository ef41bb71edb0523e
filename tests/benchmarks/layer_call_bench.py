"""The cost of one eager layer call in inference (issue "The layer catalogue": Python per call).

A script, not a test: ``python tests/benchmarks/layer_call_bench.py [--shape 2,4]`` (under
``chrt -f 10`` on a shared machine). On a tiny input the kernels cost next to nothing, so the
figures are the framework's: a BatchNormalization layer called on an eager tensor (gradient
recording on, as in a script, and under ``no_grad``), its op alone (``ops.batch_normalization``
with the moving statistics), and a Dense layer. Each figure is the median of 7 runs of 2,000
calls, in microseconds per call.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

from kerasette.backend import ops  # noqa: E402
from kerasette.backend.tensor import Tensor, no_grad  # noqa: E402
from kerasette.layers import BatchNormalization, Dense  # noqa: E402


def per_call_us(fn, calls: int = 2000, runs: int = 7) -> float:
    for _ in range(300):
        fn()
    return sorted(timeit.timeit(fn, number=calls) / calls for _ in range(runs))[runs // 2] * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="2,4", help="the input's shape, batch first (default 2,4)")
    args = parser.parse_args(argv)
    shape = tuple(int(s) for s in args.shape.split(","))
    x = Tensor(np.random.default_rng(0).random(shape, dtype=np.float32))
    bn, dense = BatchNormalization(), Dense(4)
    bn(x)
    dense(x)
    axes = tuple(range(len(shape) - 1))

    def op():
        return ops.batch_normalization(x, bn.gamma, bn.beta, axes, bn.epsilon, bn.moving_mean.data,
                                       bn.moving_variance.data)

    print(f"eager inference calls on an input of shape {shape}, us per call (median of 7 x 2000)")
    print(f"  BatchNormalization layer call           {per_call_us(lambda: bn(x)):7.2f}")
    print(f"  its op alone (ops.batch_normalization)  {per_call_us(op):7.2f}")
    with no_grad():
        print(f"  BatchNormalization layer call, no_grad  {per_call_us(lambda: bn(x)):7.2f}")
        print(f"  its op alone, no_grad                   {per_call_us(op):7.2f}")
    print(f"  Dense({dense.units}) layer call                    {per_call_us(lambda: dense(x)):7.2f}")


if __name__ == "__main__":
    main()
