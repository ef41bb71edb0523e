"""Times a masked sequence model whose middle is a nested functional model against the same
model built flat (the same weights), in one run: what nesting costs once nested models take
masks (`Model.call(..., mask=)`, `Model.compute_mask`).

Model: token ids (batch 32, 40 steps, 5 to 40 padded) -> ``Embedding(2000, 64, mask_zero=True)``
-> [``LSTM(64, return_sequences=True)`` -> ``Dense(32)``] -> ``GlobalAveragePooling1D`` ->
``Dense(1)``, the bracket a nested model in one variant. Inference (``predict_on_batch``) and a
training step (``train_on_batch``, SGD) are timed, flat and nested alternately, repeats each::

    python tests/benchmarks/nested_masks.py --repeats 7

Prints the versions, the load average before and after, that both variants predict the same,
and per case and variant the median and spread (min, max) of the time per call in ms, and the
nested/flat ratio of the medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

BATCH, STEPS, VOCABULARY, WIDTH = 32, 40, 2000, 64


def _models():
    from kerasette.layers import LSTM, Dense, Embedding, GlobalAveragePooling1D, Input
    from kerasette.models import Model
    from kerasette.optimizers import SGD

    def build(nested: bool):
        ids = Input((STEPS,))
        h = Embedding(VOCABULARY, WIDTH, mask_zero=True, name="embedding")(ids)
        lstm, dense = LSTM(64, return_sequences=True, name="lstm"), Dense(32, name="dense")
        if nested:
            inner_in = Input((STEPS, WIDTH))
            h = Model(inner_in, dense(lstm(inner_in)), name="inner")(h)
        else:
            h = dense(lstm(h))
        model = Model(ids, Dense(1, activation="sigmoid", name="out")(GlobalAveragePooling1D()(h)))
        model.compile(SGD(learning_rate=0.01), "binary_crossentropy")
        return model

    flat, nested = build(False), build(True)
    nested.set_weights(flat.get_weights())  # the same weights in the same order
    return {"flat": flat, "nested": nested}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()

    import kerasette

    print(f"python {platform.python_version()}, numpy {np.__version__}, kerasette {kerasette.__version__} "
          f"from {os.path.dirname(kerasette.__file__)}; load average before {os.getloadavg()}")
    rng = np.random.default_rng(0)
    ids = rng.integers(1, VOCABULARY, size=(BATCH, STEPS)).astype("float32")
    for i, length in enumerate(rng.integers(STEPS - 35, STEPS + 1, size=BATCH)):
        ids[i, length:] = 0.0
    y = rng.integers(0, 2, size=(BATCH, 1)).astype("float32")
    models = _models()
    predictions = {name: m.predict_on_batch(ids) for name, m in models.items()}
    print(f"max |nested - flat| prediction: {np.abs(predictions['nested'] - predictions['flat']).max():.2e}")

    cases = {"predict_on_batch": lambda m: m.predict_on_batch(ids),
             "train_on_batch": lambda m: m.train_on_batch(ids, y)}
    for case, fn in cases.items():
        times = {name: [] for name in models}
        for m in models.values():
            fn(m)  # warm: plans built, kernels compiled
        for _ in range(args.repeats):
            for name, m in models.items():  # alternately
                start = time.perf_counter()
                for _ in range(args.calls):
                    fn(m)
                times[name].append((time.perf_counter() - start) / args.calls * 1e3)
        medians = {name: statistics.median(t) for name, t in times.items()}
        for name, t in times.items():
            print(f"{case} {name}: median {medians[name]:.2f} ms per call (min {min(t):.2f}, max {max(t):.2f}, "
                  f"{args.repeats} repeats of {args.calls} calls)")
        print(f"{case} nested/flat: {medians['nested'] / medians['flat']:.3f}")
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
