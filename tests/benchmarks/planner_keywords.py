"""Times the planner's own cost per model call, for the change that made layer calls keep their
keyword arguments (``mask=`` a tensor of the graph): inference calls of a deep, narrow MLP
(where the per-layer bookkeeping dominates) and of an LSTM given a mask by hand.

Run it on two checkouts (or two ``git archive`` trees on ``PYTHONPATH``) alternately, and
compare the medians::

    python tests/benchmarks/planner_keywords.py --repeats 7

Prints the Python, numpy and kerasette versions, the machine's load, and per case the median
and spread (min, max) of the time per call over the repeats, in microseconds. The given-mask
case runs only where the checkout has the feature (else it prints ``n/a``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np


def _time(fn, calls: int, repeats: int) -> list[float]:
    fn()  # warm: plans built, kernels compiled
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls * 1e6)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()

    import kerasette
    from kerasette.backend.tensor import Tensor
    from kerasette.layers import LSTM, Dense, Input, Masking, ReLU
    from kerasette.models import Model

    print(f"python {platform.python_version()}, numpy {np.__version__}, kerasette {kerasette.__version__} "
          f"from {os.path.dirname(kerasette.__file__)}; load average {os.getloadavg()}")
    rng = np.random.default_rng(0)

    x = Input((16,))
    h = x
    for _ in range(30):
        h = Dense(16, activation="relu")(h)
    mlp = Model(x, h)
    batch = [Tensor(rng.normal(size=(8, 16)).astype("float32"))]
    cases = {"mlp_30_dense_batch8": lambda: mlp.call_graph(batch, training=False)}

    sequence, keep = Input((20, 8)), Input((20,))
    try:
        out = LSTM(16)(Masking()(sequence), mask=ReLU()(keep))
    except TypeError:  # a checkout without keyword arguments in layer calls
        out = None
    if out is not None:
        lstm = Model([sequence, keep], out)
        values = [Tensor(rng.normal(size=(8, 20, 8)).astype("float32")),
                  Tensor((rng.uniform(size=(8, 20)) > 0.3).astype("float32"))]
        cases["lstm_given_mask_batch8"] = lambda: lstm.call_graph(values, training=False)
    for name in ("mlp_30_dense_batch8", "lstm_given_mask_batch8"):
        if name not in cases:
            print(f"{name}: n/a")
            continue
        times = _time(cases[name], args.calls, args.repeats)
        print(f"{name}: median {statistics.median(times):.1f} us per call (min {min(times):.1f}, "
              f"max {max(times):.1f}, {args.repeats} repeats of {args.calls} calls)")


if __name__ == "__main__":
    main()
